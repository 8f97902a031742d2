/**
 * The config's JSON Schema (`mailpoll schema`, schema.json in the package): generated from the
 * zod schema, it accepts every config of examples/ and test/fixtures/ the loader accepts, and
 * refuses what the loader refuses for a key's shape. Checked with test/helpers/json-schema-check.ts
 * (no JSON Schema validator is a dependency), which refuses keywords it does not know.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { CONFIG_DEFAULTS } from '../src/config/defaults.js';
import { configJsonSchema } from '../src/config/json-schema.js';
import { validateConfig } from '../src/config/load.js';
import { FIXTURES, runCli } from './helpers/cli.js';
import { checkJsonSchema, type JsonSchema } from './helpers/json-schema-check.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Every config file in examples/ and test/fixtures/config/, but the one that is not YAML at all. */
const CONFIGS = [
  join(ROOT, 'examples', 'mailpoll.yaml'),
  ...['cjs/mailpoll.config.cjs', 'invalid/mailpoll.config.yaml', 'js/mailpoll.config.js', 'json/mailpoll.config.json', 'mjs/mailpoll.config.mjs',
    'paths/mailpoll.config.yaml', 'pkg/package.json', 'rc/.mailpollrc', 'rc-json/.mailpollrc.json', 'rc-yaml/.mailpollrc.yaml',
    'secrets/mailpoll.config.yaml', 'yaml/mailpoll.config.yaml', 'yml/mailpoll.config.yml'].map((file) => join(FIXTURES, 'config', file)),
];

async function readConfig(file: string): Promise<unknown> {
  const extension = extname(file);
  if (['.js', '.mjs', '.cjs'].includes(extension)) return ((await import(pathToFileURL(file).href)) as { default: unknown }).default;
  const text = await readFile(file, 'utf8');
  if (basename(file) === 'package.json') return (JSON.parse(text) as { mailpoll: unknown }).mailpoll;
  return extension === '.json' ? JSON.parse(text) : parseYaml(text);
}

const schema = configJsonSchema() as JsonSchema;

describe('the config JSON Schema', () => {
  test('every example and fixture config: the schema agrees with the loader', async () => {
    let valid = 0;
    for (const file of CONFIGS) {
      const raw = await readConfig(file);
      const loader = validateConfig(raw, { file, dir: dirname(file), env: { HOME_PASS: 'x' }, displayName: basename(file) });
      const problems = checkJsonSchema(schema, raw);
      if (loader.problems.length === 0) {
        valid += 1;
        assert.deepEqual(problems, [], `${file}: the loader accepts it, the schema must too`);
      } else {
        assert.notDeepEqual(problems, [], `${file}: the loader refuses it (${loader.problems.join('; ')}), so must the schema`);
      }
    }
    assert.ok(valid >= 10, 'most fixtures are valid configs');
  });

  test('the invalid fixture: each key whose shape is wrong is named', async () => {
    const problems = checkJsonSchema(schema, await readConfig(join(FIXTURES, 'config', 'invalid', 'mailpoll.config.yaml')));
    for (const at of ['$.accounts[0].pasword: unknown key', '$.accounts[1].port', '$.accounts[1].tls', '$.colour: unknown key']) {
      assert.ok(problems.some((problem) => problem.startsWith(at)), `${at} in:\n${problems.join('\n')}`);
    }
  });

  test('values the loader takes as text: durations, sizes, flags, numbers, ${VARS}', () => {
    const config = (account: Record<string, unknown>) => ({ accounts: [{ name: 'a', protocol: 'imap', host: 'h', user: 'u', password: 'p', ...account }] });
    for (const account of [{ connectTimeout: '30s' }, { connectTimeout: 90 }, { maxMessageSize: '25MB' }, { enabled: 'false' }, { maxAttempts: '3' }, { port: '${PORT}' }]) {
      assert.deepEqual(checkJsonSchema(schema, config(account)), [], JSON.stringify(account));
      assert.deepEqual(validateConfig(config(account), { file: undefined, dir: ROOT, env: { PORT: '993' }, displayName: 'inline' }).problems, [], JSON.stringify(account));
    }
    for (const account of [{ connectTimeout: 'soon' }, { maxMessageSize: 'big' }, { enabled: 'yes' }, { maxAttempts: 0 }, { handlerConcurrency: 1.5 }]) {
      assert.notDeepEqual(checkJsonSchema(schema, config(account)), [], JSON.stringify(account));
      assert.notDeepEqual(validateConfig(config(account), { file: undefined, dir: ROOT, env: {}, displayName: 'inline' }).problems, [], JSON.stringify(account));
    }
  });

  test('descriptions on every key, defaults as values where the key has a plain one', () => {
    const top = schema.properties as Record<string, JsonSchema>;
    const account = (top.accounts!.items as JsonSchema).properties as Record<string, JsonSchema>;
    const defaults = top.defaults!.properties as Record<string, JsonSchema>;
    for (const [key, property] of [...Object.entries(top), ...Object.entries(account), ...Object.entries(defaults)]) {
      assert.equal(typeof property.description, 'string', `${key} has a description`);
    }
    assert.equal(account.enabled!.default, true);
    assert.equal(account.connectTimeout!.default, '30s');
    assert.equal(account.tls!.default, 'implicit');
    assert.equal(top.retentionDays!.default, CONFIG_DEFAULTS.retentionDays);
    assert.equal(defaults.fetchTimeout!.default, account.fetchTimeout!.default);
    // A default that is no value of the key is told in words.
    assert.equal(account.maxMessages!.default, undefined);
    assert.match(String(account.maxMessages!.description), /Default: no limit\./);
    assert.deepEqual(top.accounts!.type, 'array');
    assert.deepEqual((top.accounts!.items as JsonSchema).required, ['name']);
  });

  test('mailpoll schema prints it, and the build wrote the same as schema.json', async () => {
    const printed = await runCli(['schema']);
    assert.equal(printed.code, 0, printed.stderr);
    assert.deepEqual(JSON.parse(printed.rawStdout), schema, 'a document: no time prefix');
    assert.deepEqual(JSON.parse(await readFile(join(ROOT, 'schema.json'), 'utf8')), schema);
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { files: string[] };
    assert.ok(pkg.files.includes('schema.json'), 'shipped in the package');
  });
});
