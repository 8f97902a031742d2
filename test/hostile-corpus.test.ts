/**
 * The hostile-mail corpus (test/fixtures/hostile/, see generate.mjs for what each message
 * probes) through the real CLI over IMAP, POP3 and Maildir: one private Dovecot, one mailbox
 * per protocol, one run each with a handler that records what it received and deletes, keeps
 * or refuses each message by a rule on its bytes. For every message:
 * - a clear outcome: one `message` event, `ok`, or `failed`/`quarantined` with a reason;
 * - nothing on the server changed without a decision: what was not deleted by a recorded
 *   `delete` is still there, byte for byte (and, for IMAP and Maildir, with its flags);
 * - `mailpoll show REF --raw` is byte-identical to what the server serves, which is the
 *   source itself except where Dovecot converts it (see `dovecotServes`);
 * - no terminal control from mail in the text
 *   report, `history` or `show`.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { BIN, FIXTURES, messageEvents, runCli, writeConfig, type CliResult } from './helpers/cli.js';
import { useDovecot } from './helpers/use-dovecot.js';
import { makeTempDir } from './helpers/temp.js';
import { cases as corpusCases, type HostileCase } from './fixtures/hostile/generate.mjs';

const CORPUS = join(FIXTURES, 'hostile');
const HANDLER = join(FIXTURES, 'handlers', 'hostile-recorder.mjs');
const PROTOCOLS = ['imap', 'pop3', 'maildir'] as const;
type Protocol = (typeof PROTOCOLS)[number];

interface Case extends HostileCase {
  bytes: Buffer;
}

/** One message of a mailbox: its case, what the server serves, and its file in the Maildir. */
interface Placed {
  case: Case;
  /** The uid mailpoll reports: IMAP UID, POP3 UIDL, Maildir unique name. */
  uid: string;
  /** What a client reads from the server (for Maildir: the file). */
  served: Buffer;
  /** The file's unique name (Maildir base name, before `:2,`). */
  base: string;
  /** The file before the run: where it was and its bytes. */
  before: { path: string; bytes: Buffer };
}

interface HandlerCall {
  uid: string;
  subject: string | null;
  size: number;
  rawBytes: number;
  sha256: string;
  parseError: string | null;
  decision: 'delete' | 'keep' | 'throw';
}

interface Outcome {
  placed: Placed[];
  /** The Maildir the files live in (Dovecot's for IMAP/POP3). */
  maildir: string;
  dryText: BytesResult;
  run: CliResult;
  calls: HandlerCall[];
  /** A second run right after: retries of the refused ones only. */
  rerun: CliResult;
  recalls: HandlerCall[];
  history: BytesResult;
  /** `show REF --raw` and, for the terminal cases, `show REF`, by uid. */
  showRaw: Map<string, BytesResult>;
  showText: Map<string, BytesResult>;
}

let corpus: Case[];
const outcomes = new Map<Protocol, Outcome>();

const dovecot = useDovecot({}, async () => {
  corpus = await loadCorpus();
  // The three mailboxes are independent: work on them side by side.
  await Promise.all(PROTOCOLS.map(async (protocol) => outcomes.set(protocol, await exercise(protocol))));
});

/** The committed `.eml` files as they are on disk, the large cases built now. */
async function loadCorpus(): Promise<Case[]> {
  return Promise.all(corpusCases.map(async (c) => ({
    ...c,
    bytes: c.committed === false ? c.build() : await readFile(join(CORPUS, `${c.name}.eml`)),
  })));
}

// --- running the CLI with byte-exact stdout -------------------------------------------

interface BytesResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

function runCliBytes(args: string[], cwd: string): Promise<BytesResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd,
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: undefined, XDG_STATE_HOME: join(cwd, 'state') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr });
    });
  });
}

/** `work` over `items`, `limit` at a time (CLI processes on a shared machine). */
async function pool<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) {
      const item = items[next]!;
      next += 1;
      await work(item);
    }
  }));
}

// --- placing the corpus -----------------------------------------------------------------

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** Every message file of a Maildir (no subfolders): base name -> path. */
async function maildirFiles(root: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const sub of ['new', 'cur']) {
    for (const name of await readdir(join(root, sub))) files.set(name.split(':2,')[0]!, join(root, sub, name));
  }
  return files;
}

async function snapshot(root: string, base: string): Promise<{ path: string; bytes: Buffer }> {
  const path = (await maildirFiles(root)).get(base);
  assert.ok(path, `${base} is in ${root}`);
  return { path, bytes: await readFile(path) };
}

/** Dovecot's `dovecot-uidlist`: UID -> Maildir base name. */
async function uidList(root: string): Promise<Map<number, string>> {
  const text = await readFile(join(root, 'dovecot-uidlist'), 'latin1');
  const map = new Map<number, string>();
  for (const line of text.split('\n').slice(1)) {
    const at = line.indexOf(' :');
    if (at > 0) map.set(Number(line.slice(0, line.indexOf(' '))), line.slice(at + 2));
  }
  return map;
}

async function placeMaildir(dir: string): Promise<{ root: string; placed: Placed[] }> {
  const root = join(dir, 'Maildir');
  for (const sub of ['new', 'cur', 'tmp']) await mkdir(join(root, sub), { recursive: true });
  const placed: Placed[] = [];
  for (const [index, c] of corpus.entries()) {
    const base = c.maildirName ?? `${1_767_225_600 + index}.M${index}P1.${c.name}`;
    await writeFile(join(root, 'new', base), c.bytes);
    placed.push({ case: c, uid: base, served: c.bytes, base, before: await snapshot(root, base) });
  }
  return { root, placed };
}

async function placeDovecot(protocol: 'imap' | 'pop3'): Promise<{ root: string; placed: Placed[]; user: string; password: string }> {
  const user = `hostile-${protocol}`;
  const password = `pw-${protocol}-s3cret`;
  await dovecot.addUser(user, password);
  const bases = new Map<string, Case>();
  for (const c of corpus) {
    const file = await dovecot.deliver(user, c.bytes);
    bases.set(file.slice(file.lastIndexOf('/') + 1), c);
  }
  const root = dovecot.maildir(user);
  // What a client reads, fetched without mailpoll; it also makes Dovecot assign the UIDs.
  const served = protocol === 'imap' ? await imapServed(user, password) : await pop3Served(user, password);
  const uids = await uidList(root);
  const placed: Placed[] = [];
  for (const [uid, bytes] of served) {
    const number = protocol === 'imap' ? Number(uid) : Number.parseInt(uid.slice(0, 8), 16);
    const base = uids.get(number);
    const c = base === undefined ? undefined : bases.get(base);
    assert.ok(base !== undefined && c, `${protocol} uid ${uid} maps to a delivered file`);
    placed.push({ case: c, uid, served: bytes, base, before: await snapshot(root, base) });
  }
  assert.equal(placed.length, corpus.length, `${protocol}: the server lists every message`);
  return { root, placed, user, password };
}

/** UID -> BODY.PEEK[] as an independent IMAP client reads it. */
async function imapServed(user: string, password: string): Promise<Map<string, Buffer>> {
  const client = dovecot.imapClient(user, password);
  await client.connect();
  const served = new Map<string, Buffer>();
  try {
    await client.mailboxOpen('INBOX');
    for await (const message of client.fetch('1:*', { source: true, uid: true })) {
      served.set(String(message.uid), message.source ?? Buffer.alloc(0));
    }
  } finally {
    await client.logout();
  }
  return served;
}

/**
 * UIDL -> RETR body as a bare POP3 client reads it: the bytes between the status line and
 * the terminating `.` line, dot-stuffing undone, the line break before the terminator kept.
 */
async function pop3Served(user: string, password: string): Promise<Map<string, Buffer>> {
  const socket = net.connect({ host: '127.0.0.1', port: dovecot.ports.pop3 });
  let buffer = Buffer.alloc(0);
  let wake: (() => void) | undefined;
  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    wake?.();
  });
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.on('error', () => wake?.());
  const response = async (multi: boolean): Promise<{ status: string; body: Buffer }> => {
    for (;;) {
      const lineEnd = buffer.indexOf('\r\n');
      if (lineEnd >= 0) {
        const status = buffer.subarray(0, lineEnd).toString('latin1');
        if (!status.startsWith('+OK')) throw new Error(`POP3: ${status}`);
        if (!multi) {
          buffer = buffer.subarray(lineEnd + 2);
          return { status, body: Buffer.alloc(0) };
        }
        // The terminator: a line of one dot; the body starts after the status line.
        const end = buffer.subarray(lineEnd).indexOf('\r\n.\r\n');
        if (end >= 0) {
          const body = buffer.subarray(lineEnd + 2, lineEnd + end + 2);
          buffer = buffer.subarray(lineEnd + end + 5);
          return { status, body: unstuff(body) };
        }
      }
      await new Promise<void>((resolve) => (wake = resolve));
    }
  };
  const command = (line: string, multi = false) => {
    socket.write(`${line}\r\n`);
    return response(multi);
  };
  try {
    await response(false);
    await command(`USER ${user}`);
    await command(`PASS ${password}`);
    const uidl = (await command('UIDL', true)).body.toString('latin1').split('\r\n').filter(Boolean);
    const served = new Map<string, Buffer>();
    for (const line of uidl) {
      const [number, id] = line.split(' ');
      served.set(id!, (await command(`RETR ${number}`, true)).body);
    }
    await command('QUIT');
    return served;
  } finally {
    socket.end();
    await closed;
  }
}

function unstuff(body: Buffer): Buffer {
  return Buffer.from(body.toString('latin1').replace(/(^|\r\n)\./g, '$1'), 'latin1');
}

// --- one protocol's run -----------------------------------------------------------------

async function exercise(protocol: Protocol): Promise<Outcome> {
  const dir = await makeTempDir(`hostile-${protocol}`);
  let account: Record<string, unknown>;
  let placement: { root: string; placed: Placed[] };
  if (protocol === 'maildir') {
    placement = await placeMaildir(dir);
    account = { name: 'hostile', protocol, path: placement.root };
  } else {
    const { user, password, ...rest } = await placeDovecot(protocol);
    placement = rest;
    account = {
      name: 'hostile',
      protocol,
      host: '127.0.0.1',
      port: protocol === 'imap' ? dovecot.ports.imaps : dovecot.ports.pop3s,
      tls: 'implicit',
      ca: dovecot.caFile,
      user,
      password,
    };
  }
  await writeConfig({ script: HANDLER, accounts: [account] }, dir);
  const jsonRun = async (log: string) => {
    const result = await runCli(['--json'], { cwd: dir, env: { HANDLER_LOG: join(dir, log), XDG_STATE_HOME: join(dir, 'state') } });
    const calls = (await readFile(join(dir, log), 'utf8').catch(() => ''))
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as HandlerCall);
    return { result, calls };
  };

  // The text report of a dry run shows every message's subject and sender as a real run would.
  const dryText = await runCliBytes(['--dry-run'], dir);
  const { result: run, calls } = await jsonRun('calls.ndjson');
  const { result: rerun, calls: recalls } = await jsonRun('recalls.ndjson');
  const history = await runCliBytes(['history'], dir);

  const showRaw = new Map<string, BytesResult>();
  const showText = new Map<string, BytesResult>();
  // `show` prints the same parsed fields for every protocol: the Maildir one (whose file
  // names are hostile too) is enough for the text check.
  const terminal = new Set(protocol === 'maildir' ? placement.placed.filter((p) => p.case.terminal).map((p) => p.uid) : []);
  await pool(messageEvents(run).filter((e) => typeof e.ref === 'number'), 3, async (event) => {
    const uid = String(event.uid);
    showRaw.set(uid, await runCliBytes(['show', String(event.ref), '--raw'], dir));
    if (terminal.has(uid)) showText.set(uid, await runCliBytes(['show', String(event.ref)], dir));
  });
  return { placed: placement.placed, maildir: placement.root, dryText, run, calls, rerun, recalls, history, showRaw, showText };
}

// --- what Dovecot serves ----------------------------------------------------------------

/**
 * The bytes Dovecot 2.3 serves for a Maildir file (measured; see the report in this test):
 * - IMAP BODY[]: every bare LF becomes CRLF; a NUL becomes 0x80;
 * - POP3 RETR: every bare LF becomes CRLF, and a message that does not end with a line
 *   break (the 0-byte one too) gets CRLF added before the terminator: a client cannot tell
 *   it was missing.
 * Bare CRs and everything else pass through. Maildir accounts read the file as it is.
 * Delivering by IMAP APPEND instead would not give the source back either: Dovecot stores
 * appended mail with LF endings (a bare CR was lost, binary grew) and refuses a 0-byte
 * message; a Maildir drop at least keeps the delivered bytes on disk.
 */
function dovecotServes(source: Buffer, protocol: Protocol): Buffer {
  if (protocol === 'maildir') return source;
  let text = source.toString('latin1').replace(/(?<!\r)\n/g, '\r\n');
  if (protocol === 'imap') text = text.replace(/\0/g, '\x80');
  if (protocol === 'pop3' && !text.endsWith('\r\n')) text += '\r\n';
  return Buffer.from(text, 'latin1');
}

// --- the checks -------------------------------------------------------------------------

function outcome(protocol: Protocol): Outcome {
  const found = outcomes.get(protocol);
  assert.ok(found, `${protocol} was exercised`);
  return found;
}

function eventFor(o: Outcome, placed: Placed): Record<string, unknown> {
  const events = messageEvents(o.run).filter((e) => e.uid === placed.uid);
  assert.equal(events.length, 1, `${placed.case.name}: exactly one message event (got ${events.length}); stderr: ${o.run.stderr.slice(0, 2000)}`);
  return events[0]!;
}

/** Terminal controls that mail must never get onto the operator's screen. */
const CONTROLS = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;

function controlsIn(output: Buffer): string[] {
  return output
    .toString('utf8')
    .split('\n')
    .filter((line) => CONTROLS.test(line))
    .map((line) => JSON.stringify(line).slice(0, 160));
}

test('the committed .eml files are exactly what generate.mjs writes', () => {
  for (const c of corpus.filter((k) => k.committed !== false)) {
    assert.ok(c.bytes.equals(c.build()), `${c.name}.eml differs from its generator: run node test/fixtures/hostile/generate.mjs`);
  }
  assert.ok(corpus.length >= 35, `${corpus.length} cases`);
  assert.equal(new Set(corpus.map((c) => c.name)).size, corpus.length, 'case names are unique');
});

for (const protocol of PROTOCOLS) {
  describe(`${protocol}: the whole corpus in one run`, () => {
    test('the run completes: exit 1 (refused messages), the account ok, every message fetched', () => {
      const o = outcome(protocol);
      assert.equal(o.run.code, 1, `exit code; stderr:\n${o.run.stderr.slice(0, 4000)}`);
      const account = o.run.events.find((e) => e.type === 'account');
      assert.equal(account?.status, 'ok', JSON.stringify(account));
      assert.equal(account?.fetched, corpus.length);
      assert.equal(o.dryText.code, 1, `dry run exit code; stderr:\n${o.dryText.stderr.slice(0, 4000)}`);
    });

    test('every message has a clear outcome: ok as decided, or failed/quarantined with a reason', () => {
      const o = outcome(protocol);
      for (const placed of o.placed) {
        const name = placed.case.name;
        const event = eventFor(o, placed);
        assert.ok(['ok', 'failed', 'quarantined'].includes(String(event.status)), `${name}: status ${String(event.status)}`);
        if (event.status !== 'ok') assert.ok(typeof event.error === 'string' && event.error.trim() !== '', `${name}: a reason for ${String(event.status)}`);
        assert.equal(typeof event.ref, 'number', `${name}: a ref`);
        const calls = o.calls.filter((call) => call.uid === placed.uid);
        assert.ok(calls.length <= 1, `${name}: handed over at most once`);
        const call = calls[0];
        if (call === undefined) {
          // Only a message the parser refused may miss the handler, and then it says so.
          assert.notEqual(event.status, 'ok', `${name}: ok without a handler call`);
          continue;
        }
        // The handler got exactly what the server serves.
        assert.equal(call.sha256, sha256(placed.served), `${name}: the handler's raw is the served bytes`);
        assert.equal(call.rawBytes, placed.served.length, `${name}: raw length`);
        assert.equal(call.size, placed.served.length, `${name}: size`);
        if (call.decision === 'throw') {
          assert.notEqual(event.status, 'ok', `${name}: the handler threw`);
          assert.match(String(event.error), /refused by design/, `${name}: the handler's reason`);
        } else {
          assert.equal(event.status, 'ok', `${name}: ${String(event.error)}`);
          assert.equal(event.action, call.decision, `${name}: the action is the handler's decision`);
        }
      }
    });

    // The twin look-alikes (same Message-ID, Date and size) once made a second IMAP run fail as a
    // whole: the fingerprint fallback took one for the other, renumbered.
    test('a second run hands over only what was refused; what was done stays done', () => {
      const o = outcome(protocol);
      assert.ok(o.rerun.code === 0 || o.rerun.code === 1, `exit code ${String(o.rerun.code)}; stdout:\n${o.rerun.stdout.slice(0, 4000)}\nstderr:\n${o.rerun.stderr.slice(0, 4000)}`);
      assert.equal(o.rerun.events.find((e) => e.type === 'account')?.status, 'ok');
      for (const placed of o.placed) {
        if (eventFor(o, placed).status !== 'ok') continue;
        const name = placed.case.name;
        assert.equal(o.recalls.filter((call) => call.uid === placed.uid).length, 0, `${name}: not handed over again`);
        assert.deepEqual(messageEvents(o.rerun).filter((e) => e.uid === placed.uid), [], `${name}: no second event`);
      }
      for (const event of messageEvents(o.rerun)) {
        if (event.status === 'failed' || event.status === 'quarantined') {
          assert.ok(typeof event.error === 'string' && event.error.trim() !== '', `${String(event.uid)}: a reason`);
        }
      }
    });

    test('after both runs nothing on the server changed without a decision; the deleted ones are the ones decided so', async () => {
      const o = outcome(protocol);
      const now = await maildirFiles(o.maildir);
      const okEvents = [...messageEvents(o.run), ...messageEvents(o.rerun)].filter((e) => e.status === 'ok');
      const deletedOk = new Set(okEvents.filter((e) => e.action === 'delete').map((e) => String(e.uid)));
      const decidedDelete = new Set([...o.calls, ...o.recalls].filter((call) => call.decision === 'delete').map((call) => call.uid));
      const deleted = (placed: Placed) => decidedDelete.has(placed.uid) && deletedOk.has(placed.uid);
      for (const placed of o.placed) {
        const name = placed.case.name;
        const path = now.get(placed.base);
        if (deleted(placed)) {
          assert.equal(path, undefined, `${name}: deleted as decided`);
          continue;
        }
        assert.ok(path !== undefined, `${name}: must still be on the server (decision ${o.calls.find((c) => c.uid === placed.uid)?.decision ?? 'none'})`);
        assert.ok((await readFile(path)).equals(placed.before.bytes), `${name}: bytes unchanged`);
        // POP3 has no flags of its own: Dovecot sets \Seen on any RETR, ours or not.
        if (protocol !== 'pop3') assert.equal(path, placed.before.path, `${name}: same folder and flags`);
      }
      assert.equal(now.size, o.placed.length - o.placed.filter(deleted).length, 'no other file appeared or vanished');
    });

    test('show REF --raw is byte-identical to what the server serves', () => {
      const o = outcome(protocol);
      for (const placed of o.placed) {
        const name = placed.case.name;
        const shown = o.showRaw.get(placed.uid);
        assert.ok(shown, `${name}: show --raw ran`);
        assert.equal(shown.code, 0, `${name}: show --raw exit code; ${shown.stderr}`);
        assert.ok(shown.stdout.equals(placed.served), `${name}: show --raw (${shown.stdout.length} bytes, sha ${sha256(shown.stdout).slice(0, 12)}) = served (${placed.served.length} bytes, sha ${sha256(placed.served).slice(0, 12)})`);
      }
    });

    test('what the server serves is the source, up to the conversions Dovecot is known to make', () => {
      const o = outcome(protocol);
      for (const placed of o.placed) {
        const expected = dovecotServes(placed.case.bytes, protocol);
        assert.ok(placed.served.equals(expected), `${placed.case.name}: served ${placed.served.length} bytes, expected ${expected.length} (source ${placed.case.bytes.length})`);
        // On disk, Dovecot keeps what was delivered.
        assert.ok(placed.before.bytes.equals(placed.case.bytes), `${placed.case.name}: stored as delivered`);
      }
    });

    test('text output carries no terminal control characters from mail', () => {
      const o = outcome(protocol);
      const found: string[] = [];
      for (const [what, output] of [['run (text, dry run)', o.dryText.stdout], ['history', o.history.stdout]] as const) {
        found.push(...controlsIn(output).map((line) => `${what}: ${line}`));
      }
      for (const [uid, shown] of o.showText) found.push(...controlsIn(shown.stdout).map((line) => `show (uid ${JSON.stringify(uid)}): ${line}`));
      if (protocol === 'maildir') assert.ok(o.showText.size > 0, 'show ran for the terminal cases');
      assert.deepEqual(found, []);
      // A line break from mail (a Maildir file name may hold one) would start a forged line.
      const lines = o.dryText.stdout.toString('utf8').split('\n').filter(Boolean);
      assert.equal(lines.length, corpus.length + 2, 'one line per message, the account line and the summary');
    });
  });
}
