/**
 * The deployment examples in examples/deploy/: systemd units checked by `systemd-analyze
 * verify` where it is installed, the configs they name validated by the real CLI, the
 * Kubernetes, compose and GitHub Actions files parsed as YAML and read for what they must
 * say, and the Dockerfile read for its structure (no image can be built here: base images
 * come from a registry this machine cannot reach, and hadolint is in neither npm nor Debian),
 * its HEALTHCHECK command run against a real watch.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { chmod, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { BIN, runCli, startCli, writeConfig } from './helpers/cli.js';
import { makeTempDir } from './helpers/temp.js';

const DEPLOY = fileURLToPath(new URL('../examples/deploy/', import.meta.url));
const UNITS = ['mailpoll.service', 'mailpoll.timer', 'mailpoll-watch.service'];
const run = promisify(execFile);

/** `Key=value` lines of a unit file, by key (a key given twice keeps both). */
async function unitKeys(file: string): Promise<Map<string, string[]>> {
  const keys = new Map<string, string[]>();
  for (const line of (await readFile(join(DEPLOY, file), 'utf8')).split('\n')) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (match === null) continue;
    keys.set(match[1]!, [...(keys.get(match[1]!) ?? []), match[2]!]);
  }
  return keys;
}

async function yamlDocuments(file: string): Promise<Array<Record<string, unknown>>> {
  const documents = parseAllDocuments(await readFile(join(DEPLOY, file), 'utf8'));
  const list = Array.isArray(documents) ? documents : [documents];
  for (const document of list) assert.deepEqual(document.errors, [], `${file}: ${document.errors.join('; ')}`);
  return list.map((document) => document.toJS() as Record<string, unknown>);
}

/** A nested value by path, or undefined. */
function at(value: unknown, ...path: Array<string | number>): unknown {
  let here: unknown = value;
  for (const key of path) here = here === null || typeof here !== 'object' ? undefined : (here as Record<string | number, unknown>)[key];
  return here;
}

const hasAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

describe('systemd units', () => {
  test('systemd-analyze verify: no error and no warning', { skip: hasAnalyze ? false : 'systemd-analyze is not installed' }, async () => {
    // verify also checks that ExecStart's program exists: the installed path becomes this checkout's bin.
    const dir = await makeTempDir('units');
    for (const unit of UNITS) {
      const text = await readFile(join(DEPLOY, unit), 'utf8');
      await writeFile(join(dir, unit), text.replaceAll('/usr/local/bin/mailpoll', BIN));
    }
    const { stderr } = await run('systemd-analyze', ['verify', ...UNITS], { cwd: dir });
    assert.equal(stderr, '');
  });

  test('the services run the installed binary as their own user, hardened, with the password as a credential', async () => {
    for (const unit of ['mailpoll.service', 'mailpoll-watch.service']) {
      const keys = await unitKeys(unit);
      const one = (key: string) => keys.get(key)?.join(' ');
      assert.match(one('ExecStart') ?? '', /^\/usr\/local\/bin\/mailpoll /, unit);
      assert.equal(one('User'), 'mailpoll', unit);
      assert.equal(one('StateDirectory'), 'mailpoll', unit);
      assert.equal(one('WorkingDirectory'), '/var/lib/mailpoll', unit);
      assert.match(one('LoadCredential') ?? '', /^imap-password:\/etc\/mailpoll\/credentials\/imap-password$/, unit);
      assert.equal(one('Restart'), 'on-failure', unit);
      for (const [key, value] of [['NoNewPrivileges', 'yes'], ['ProtectSystem', 'strict'], ['ProtectHome', 'yes'], ['PrivateTmp', 'yes']]) {
        assert.equal(one(key!), value, `${unit}: ${key}`);
      }
    }
    const watch = await unitKeys('mailpoll-watch.service');
    assert.deepEqual([watch.get('Type'), watch.get('NotifyAccess')], [['notify'], ['all']]);
    assert.match(watch.get('ExecStart')?.[0] ?? '', / --watch /);
    assert.ok(watch.has('WatchdogSec'));
    assert.equal((await unitKeys('mailpoll.service')).get('Type')?.[0], 'oneshot');
    assert.equal((await unitKeys('mailpoll.timer')).get('Unit')?.[0], 'mailpoll.service');
  });

  test('the config the units name reads its password from $CREDENTIALS_DIRECTORY', async () => {
    const credentials = await makeTempDir('credentials');
    await writeFile(join(credentials, 'imap-password'), 'a-password-from-systemd', { mode: 0o600 });
    // The handler it names lives in /etc/mailpoll once installed: -s points at the example's copy.
    const result = await runCli(['validate', '--config', join(DEPLOY, 'mailpoll.config.yaml'), '-s', join(DEPLOY, 'handler.mjs')], {
      env: { CREDENTIALS_DIRECTORY: credentials },
    });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /"passwordSource": "passwordFile"/);
    assert.doesNotMatch(result.stdout, /a-password-from-systemd/);

    const without = await runCli(['validate', '--config', join(DEPLOY, 'mailpoll.config.yaml'), '-s', join(DEPLOY, 'handler.mjs')], { env: { CREDENTIALS_DIRECTORY: undefined } });
    assert.equal(without.code, 2);
    assert.match(without.stderr, /CREDENTIALS_DIRECTORY/);
  });
});

describe('containers and schedulers', () => {
  test('Kubernetes: a CronJob, and a Deployment of --watch with /healthz liveness and /readyz readiness probes', async () => {
    const config = await yamlDocuments('kubernetes/config.yaml');
    assert.deepEqual(config.map((document) => document.kind), ['ConfigMap', 'PersistentVolumeClaim']);

    const [deployment] = await yamlDocuments('kubernetes/deployment.yaml');
    assert.equal(deployment?.kind, 'Deployment');
    const container = at(deployment, 'spec', 'template', 'spec', 'containers', 0);
    assert.deepEqual(at(container, 'args'), ['--watch', '--config', '/config/mailpoll.config.yaml', '--listen', '0.0.0.0:9464']);
    assert.equal(at(container, 'livenessProbe', 'httpGet', 'path'), '/healthz');
    assert.equal(at(container, 'readinessProbe', 'httpGet', 'path'), '/readyz');
    assert.equal(at(deployment, 'spec', 'replicas'), 1);
    assert.equal(at(deployment, 'spec', 'template', 'spec', 'securityContext', 'runAsNonRoot'), true);

    const [cronjob] = await yamlDocuments('kubernetes/cronjob.yaml');
    assert.equal(cronjob?.kind, 'CronJob');
    assert.equal(at(cronjob, 'spec', 'concurrencyPolicy'), 'Forbid');
    assert.deepEqual(at(cronjob, 'spec', 'jobTemplate', 'spec', 'template', 'spec', 'containers', 0, 'args'), ['--config', '/config/mailpoll.config.yaml']);
  });

  test('the configs of the ConfigMap and of compose are valid mailpoll configs, with their handler', async () => {
    const [configMap] = await yamlDocuments('kubernetes/config.yaml');
    const dir = await makeTempDir('k8s-config');
    const secrets = join(dir, 'secrets');
    await mkdir(secrets);
    await writeFile(join(secrets, 'imap-password'), 'pw-from-a-secret', { mode: 0o600 });
    const data = at(configMap, 'data') as Record<string, string>;
    await writeFile(join(dir, 'handler.mjs'), data['handler.mjs']!);
    const cases = [
      ['kubernetes', data['mailpoll.config.yaml']!.replaceAll('/run/secrets/mailpoll/', `${secrets}/`)],
      ['compose', (await readFile(join(DEPLOY, 'config.compose.yaml'), 'utf8')).replaceAll('/run/secrets/', `${secrets}/`)],
    ] as const;
    for (const [name, text] of cases) {
      const file = join(dir, `${name}.config.yaml`);
      await writeFile(file, text.replaceAll('/config/handler.mjs', join(dir, 'handler.mjs')));
      await chmod(file, 0o600);
      const result = await runCli(['validate', '--config', file]);
      assert.equal(result.code, 0, `${name}: ${result.stderr}`);
    }
  });

  test('compose: the image of the Dockerfile, the config bind-mounted read-only, state in a volume, the password a secret', async () => {
    const [compose] = await yamlDocuments('compose.yaml');
    const service = at(compose, 'services', 'mailpoll');
    assert.equal(at(service, 'build', 'dockerfile'), 'examples/deploy/Dockerfile');
    assert.deepEqual(at(service, 'volumes'), ['./config:/config:ro', 'mailpoll-state:/var/lib/mailpoll']);
    assert.deepEqual(at(service, 'secrets'), ['imap-password']);
    assert.deepEqual(at(service, 'ports'), ['127.0.0.1:9464:9464']);
  });

  test('GitHub Actions: installs mailpoll and runs check --json with the password from the repository secrets', async () => {
    const [workflow] = await yamlDocuments('github-actions/mailpoll-check.yml');
    const steps = at(workflow, 'jobs', 'check', 'steps') as Array<Record<string, unknown>>;
    const check = steps.find((step) => String(step.run ?? '').startsWith('mailpoll check --json'));
    assert.ok(check !== undefined, JSON.stringify(steps));
    assert.equal(at(check, 'env', 'IMAP_PASSWORD'), '${{ secrets.IMAP_PASSWORD }}');
    assert.ok(steps.some((step) => String(step.run ?? '').startsWith('npm install --global')));
    assert.ok(steps.every((step) => !/\bnpx\b/.test(String(step.run ?? ''))));
  });

  test('Dockerfile: multi-stage, a numeric non-root user, state in a volume, HEALTHCHECK on /healthz', async () => {
    const lines = (await readFile(join(DEPLOY, 'Dockerfile'), 'utf8')).replace(/\\\n/g, ' ').split('\n').filter((line) => line.trim() !== '' && !line.startsWith('#'));
    const instructions = lines.map((line) => /^([A-Z]+)\s+(.*)$/.exec(line)).map((match) => [match?.[1], match?.[2]] as const);
    assert.ok(instructions.every(([keyword]) => keyword !== undefined), 'every line is an instruction');
    const stages = instructions.filter(([keyword]) => keyword === 'FROM');
    assert.ok(stages.length >= 2, 'multi-stage');
    const final = instructions.slice(instructions.findLastIndex(([keyword]) => keyword === 'FROM'));
    const user = final.find(([keyword]) => keyword === 'USER')?.[1];
    assert.match(user ?? '', /^[1-9]\d*:[1-9]\d*$/);
    assert.deepEqual(final.find(([keyword]) => keyword === 'VOLUME')?.[1], '["/var/lib/mailpoll"]');
    assert.match(final.find(([keyword]) => keyword === 'HEALTHCHECK')?.[1] ?? '', /http:\/\/127\.0\.0\.1:9464\/healthz/);
    assert.match(final.find(([keyword]) => keyword === 'CMD')?.[1] ?? '', /"--watch".*"--listen", "0\.0\.0\.0:9464"/);
    assert.ok(instructions.every(([, rest]) => !/\bnpx\b/.test(rest ?? '')));
    // Every file the build copies from the context exists.
    const root = fileURLToPath(new URL('..', import.meta.url));
    const files = await readdir(root);
    for (const name of ['package.json', 'package-lock.json', '.dockerignore']) assert.ok(files.includes(name), name);
  });

  test("the Dockerfile's HEALTHCHECK command: 0 while the watch is healthy, 1 when nothing answers", async () => {
    const dockerfile = await readFile(join(DEPLOY, 'Dockerfile'), 'utf8');
    const script = /CMD \["node", "-e", "(.*)"\]/.exec(dockerfile)?.[1];
    assert.ok(script !== undefined);
    const root = await makeTempDir('healthcheck');
    const path = join(root, 'Maildir');
    for (const sub of ['new', 'cur', 'tmp']) await mkdir(join(path, sub), { recursive: true });
    const dir = await writeConfig({ script: join(DEPLOY, 'handler.mjs'), accounts: [{ name: 'local', protocol: 'maildir', path, interval: '1s' }] });
    const cli = startCli(['--watch', '--json', '--listen', '127.0.0.1:0'], { cwd: dir });
    await cli.waitFor((e) => e.type === 'cycle' && e.status === 'ok', 'the first cycle');
    const port = /at http:\/\/127\.0\.0\.1:(\d+)\//.exec(cli.stderr())?.[1];
    assert.ok(port !== undefined, cli.stderr());
    const healthcheck = () => spawnSync(process.execPath, ['-e', script.replace(':9464/', `:${port}/`)]).status;
    assert.equal(healthcheck(), 0);
    cli.signal('SIGTERM');
    assert.equal((await cli.exited).code, 0);
    assert.equal(healthcheck(), 1);
  });
});
