/**
 * The programmatic API as a user gets it: the built package entry, imported by the package's
 * name (`exports` lets the package refer to itself), and the README's TypeScript examples and
 * a typed handler type-checked against the built `.d.ts`, so that the README cannot drift
 * from the API again. Needs `npm run build` first (as every CLI test does).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { runInNewContext } from 'node:vm';
import { after, before, describe, test } from 'node:test';
import type { AccountConfig, LoadedHandler, MailMessage, ReportEvent } from '../src/index.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
// By the package's name, as a user imports it: the built entry. Typed from the source, so
// that type-checking the tests needs no build; the last test checks the built types.
const ENTRY = 'mailpoll';
const api = (await import(ENTRY)) as typeof import('../src/index.js');
const run = promisify(execFile);

const TYPED_HANDLER = `
import { defineHandler, type HandlerModule } from 'mailpoll';

export const parse: HandlerModule['parse'] = 'headers';

export default defineHandler(async (mailMessage, context) => {
  context.log(mailMessage.subject ?? '(no subject)');
  const first = mailMessage.from?.value[0]?.address;
  return first?.endsWith('@example.com') ? { action: 'move', folder: 'Customers' } : 4;
});
`;

/** The \`\`\`ts blocks of the README, in order. */
function typeScriptBlocks(readme: string): string[] {
  return [...readme.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((match) => match[1]!);
}

let dir: string;

before(async () => {
  // A user's project: mailpoll installed in node_modules (a link to this package).
  dir = await mkdtemp(join(tmpdir(), 'mailpoll-api-'));
  await mkdir(join(dir, 'node_modules', '@types'), { recursive: true });
  await symlink(ROOT, join(dir, 'node_modules', 'mailpoll'), 'dir');
  await symlink(join(ROOT, 'node_modules', '@types', 'node'), join(dir, 'node_modules', '@types', 'node'), 'dir');
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'user-project', type: 'module', private: true }));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the package entry', () => {
  test('is the bundled dist/bin/index.js, found by the package name', () => {
    assert.equal(import.meta.resolve(ENTRY), new URL('dist/bin/index.js', `file://${ROOT}`).href);
  });

  test('exports what a library user needs', () => {
    for (const name of [
      'loadConfig',
      'validateConfig',
      'resolvePasswords',
      'selectAccounts',
      'runOnce',
      'runWatch',
      'pollAccount',
      'checkAccounts',
      'openStore',
      'createMailbox',
      'createTextReporter',
      'createJsonReporter',
      'redact',
      'loadHandler',
      'defineHandler',
      'allowForcedCollection',
      'messageErrorCode',
    ] as const) {
      assert.equal(typeof api[name], 'function', name);
    }
    for (const name of ['MailpollError', 'ConfigError', 'HandlerError', 'HandlerThrewError', 'ParseError', 'StoreError'] as const) {
      assert.ok(api[name].prototype instanceof Error, name);
    }
    assert.equal(api.ExitCode.messageFailed, 1);
  });

  test('README examples and a typed handler type-check against the built types', async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const blocks = typeScriptBlocks(readme);
    assert.ok(blocks.length >= 3, `expected the README's TypeScript examples, found ${blocks.length}`);
    const files = blocks.map((_, index) => `readme-${index + 1}.ts`);
    for (const [index, block] of blocks.entries()) await writeFile(join(dir, files[index]!), block);
    await writeFile(join(dir, 'typed-handler.ts'), TYPED_HANDLER);
    await writeFile(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', lib: ['ES2023'], module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, types: ['node'] },
        files: [...files, 'typed-handler.ts'],
      }),
    );
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = await run(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { cwd: dir }).then(
      ({ stdout }) => ({ code: 0, stdout }),
      (error: { code?: unknown; stdout?: string; stderr?: string }) => ({ code: error.code, stdout: `${error.stdout ?? ''}${error.stderr ?? ''}` }),
    );
    assert.deepEqual(result, { code: 0, stdout: '' }, 'tsc found errors in the README examples or the typed handler');
  });

  test('a typed handler importing the package loads and runs', async () => {
    await writeFile(join(dir, 'typed-handler.ts'), TYPED_HANDLER);
    const loaded = await api.loadHandler(join(dir, 'typed-handler.ts'));
    assert.equal(loaded.parse, 'headers');
    const lines: string[] = [];
    const context = { account: 'support', dryRun: false, log: (line: unknown) => lines.push(String(line)) };
    const message = { subject: 'Hello', from: { value: [{ address: 'ann@example.com', name: 'Ann' }], text: 'Ann', html: '' } } as unknown as MailMessage;
    assert.deepEqual(await loaded.fn(message, context), { action: 'move', folder: 'Customers' });
    assert.deepEqual(lines, ['Hello']);
  });
});

describe('a library caller', () => {
  async function maildir(): Promise<string> {
    const path = join(dir, `Maildir-${Math.random().toString(36).slice(2)}`);
    for (const sub of ['new', 'cur', 'tmp']) await mkdir(join(path, sub), { recursive: true });
    const raw = 'From: a@example.com\r\nSubject: hello\r\nMessage-ID: <api@test>\r\n\r\nthe body\r\n';
    await writeFile(join(path, 'new', '1767000000.M1P1.test'), raw);
    return path;
  }

  function account(path: string, script?: string): AccountConfig {
    const { config, problems } = api.validateConfig(
      { accounts: [{ name: 'local', protocol: 'maildir', path, ...(script === undefined ? {} : { script }) }] },
      { file: undefined, dir, env: {}, displayName: 'inline' },
    );
    assert.deepEqual(problems, []);
    return config!.accounts[0]!;
  }

  test('a wrapped handler keeps the parse level its module asked for', async () => {
    await writeFile(join(dir, 'headers.mjs'), "export const parse = 'headers';\nexport default () => 'keep';\n");
    const loaded = await api.loadHandler(join(dir, 'headers.mjs'));
    const seen: string[] = [];
    const wrapped: LoadedHandler = {
      ...loaded,
      fn: (mailMessage, context) => {
        // Headers only: the body is not parsed, and reading it says so.
        assert.throws(() => mailMessage.text, /parse = 'headers'/);
        seen.push(mailMessage.subject ?? '');
        return loaded.fn(mailMessage, context);
      },
    };
    const target = account(await maildir());
    const store = api.openStore(join(dir, 'wrapped.db'));
    const events: ReportEvent[] = [];
    try {
      const result = await api.pollAccount(
        target,
        {
          mailbox: await api.createMailbox(target),
          handler: wrapped,
          reporter: { report: (event) => events.push(event) },
          store,
          runId: await store.beginRun({ pid: process.pid, command: 'test', dryRun: false }),
          archive: false,
        },
        { dryRun: false },
      );
      assert.equal(result.status, 'ok', result.error?.message);
    } finally {
      await store.close();
    }
    assert.deepEqual(seen, ['hello']);
    assert.deepEqual(events.map((event) => event.type === 'message' && [event.status, event.code]), [['ok', null]]);
  });

  test('importing and running leave V8 alone until the caller allows forced collections', async () => {
    const gcExposed = () => runInNewContext('typeof gc') === 'function';
    await writeFile(join(dir, 'keep.mjs'), "export default () => 'keep';\n");
    const runWith = async (name: string) => {
      const store = api.openStore(join(dir, `${name}.db`));
      try {
        return await api.runOnce({
          accounts: [account(await maildir(), join(dir, 'keep.mjs'))],
          reporter: { report: () => {} },
          store,
          retention: { retentionDays: 0, ledgerDays: 90 },
          dryRun: false,
        });
      } finally {
        await store.close();
      }
    };
    // Over the limit at which mailpoll would collect: only the opt-in decides.
    const ballast = Buffer.alloc(64 * 1024 * 1024, 1);
    assert.equal((await runWith('before')).exitCode, 0);
    assert.equal(gcExposed(), false, 'a library run set --expose-gc without being allowed to');
    api.allowForcedCollection();
    assert.equal((await runWith('after')).exitCode, 0);
    assert.equal(gcExposed(), true, 'allowed, the run collects as the CLI does');
    assert.equal(ballast.length, 64 * 1024 * 1024);
  });
});
