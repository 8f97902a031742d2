/**
 * The POP3 adapter against a real private Dovecot (test/helpers/dovecot.ts). What the
 * server really did is read from Dovecot's session summary (`retr=N/bytes, del=N/M`) and
 * from the Maildir on disk. Network conditions Dovecot cannot produce on loopback (a
 * terminator split across TCP reads, a server that stops sending, CAPA without PIPELINING
 * or STLS, a cut connection) come from a small TCP relay in front of Dovecot; a server
 * without UIDL (Dovecot always has it) is a tiny scripted POP3 server.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import net from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import type { AccountConfig } from '../src/config/types.js';
import { AuthError, ConnectionError, MailboxError, TimeoutError, TlsError } from '../src/errors.js';
import { createMailbox } from '../src/mailbox/open.js';
import { createPop3Mailbox } from '../src/mailbox/pop3/mailbox.js';
import { BodyCollector, ResponseReader } from '../src/mailbox/pop3/reader.js';
import type { Mailbox } from '../src/mailbox/types.js';
import { message } from './helpers/dovecot.js';
import { useDovecot } from './helpers/use-dovecot.js';
import { readMaildir } from './helpers/maildir-state.js';
import { startScriptedPop3 } from './helpers/pop3-server.js';
import { listen, listenWith, startRelay, type RelayOptions } from './helpers/tcp-relay.js';
import { collect, openError as openErrorOf, rejection } from './helpers/mailbox.js';
import { scenario } from './helpers/scenario.js';

const dovecot = useDovecot();

const world = scenario(dovecot);
const newUser = () => world.user();
const account = (overrides: Partial<AccountConfig> = {}) => world.adapterAccount('pop3', overrides);
const openError = (config: AccountConfig) => openErrorOf(createPop3Mailbox(config));

/** Run `work` with an opened mailbox; committed (QUIT) afterwards: a failing commit is the test's failure. */
async function withMailbox<T>(config: AccountConfig, work: (mailbox: Mailbox) => Promise<T>, debug?: (line: string) => void): Promise<T> {
  const mailbox = createPop3Mailbox(config, { logger: { debug } });
  await mailbox.open();
  let result: T;
  try {
    result = await work(mailbox);
  } catch (error) {
    await mailbox.close();
    throw error;
  }
  await mailbox.commit();
  await mailbox.close();
  return result;
}


/** Dovecot's session summary for `user` (the last one, once it is logged): retr/del counts. */
async function sessionSummary(user: string, sessions = 1): Promise<{ retr: number; retrBytes: number; del: number; total: number; line: string }> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const lines = (await dovecot.logLines()).filter((line) => line.includes(`pop3(${user})`) && line.includes('Disconnected'));
    const line = lines[sessions - 1];
    if (line) {
      const match = /retr=(\d+)\/(\d+), del=(\d+)\/(\d+)/.exec(line);
      assert.ok(match, line);
      return { retr: Number(match[1]), retrBytes: Number(match[2]), del: Number(match[3]), total: Number(match[4]), line };
    }
    if (Date.now() > deadline) assert.fail(`no session summary for ${user}:\n${(await dovecot.logLines()).slice(-10).join('\n')}`);
    await sleep(20);
  }
}

/** Messages in the user's Maildir on disk. */
async function stored(user: string): Promise<string[]> {
  return (await readMaildir(dovecot.maildir(user))).map((entry) => entry.subject);
}

/** A deterministic pseudo-random generator (mulberry32), so failures reproduce. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A message body of about `size` bytes: CRLF lines of 8-bit bytes (no NUL, CR or LF, which
 * a server may rewrite), some starting with dots, some exactly `.` or `..`.
 */
function body8bit(size: number, next: () => number): Buffer {
  const parts: Buffer[] = [];
  let length = 0;
  while (length < size) {
    const roll = next();
    let line: Buffer;
    if (roll < 0.03) line = Buffer.from('.', 'latin1');
    else if (roll < 0.05) line = Buffer.from('..', 'latin1');
    else {
      const width = Math.floor(next() * 100);
      line = Buffer.alloc(width);
      for (let i = 0; i < width; i += 1) {
        let byte = 0x20 + Math.floor(next() * 0xe0);
        if (byte === 0x7f) byte = 0x09;
        line[i] = byte;
      }
      if (roll < 0.15 && width > 0) line[0] = 0x2e;
    }
    parts.push(line, Buffer.from('\r\n'));
    length += line.length + 2;
  }
  return Buffer.concat(parts);
}

/** A whole message with 8-bit `body`, CRLF throughout and a final CRLF: what Dovecot serves unchanged. */
function message8bit(subject: string, body: Buffer): Buffer {
  const head = message({ subject, body: '' }).replace('charset=utf-8', 'charset=iso-8859-1');
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

/** Client writes that held more than one command of `name`: proof of pipelining. */
function pipelinedWrites(chunks: Buffer[], name: string): number[] {
  return chunks
    .map((chunk) => chunk.toString('latin1').split('\r\n').filter((line) => line.startsWith(`${name} `)).length)
    .filter((count) => count > 1);
}

// ---------------------------------------------------------------------------------------

test('reader: the same responses whatever the TCP chunking (every split into three pieces)', () => {
  // RETR answer with stuffed lines and a line ".\r" + "x", a -ERR, an empty body, a CAPA.
  const stream = Buffer.from(
    '+OK 40 octets\r\n..\r\n...two\r\n.\rx\r\nplain \xe9\r\n\r\n.\r\n-ERR no such message\r\n+OK\r\n.\r\n+OK\r\nTOP\r\n.\r\n',
    'latin1',
  );
  const expected = [
    { status: '+OK 40 octets', body: '.\r\n..two\r\n\rx\r\nplain \xe9\r\n\r\n' },
    { status: '-ERR no such message', body: undefined },
    { status: '+OK', body: '' },
    { status: '+OK', body: 'TOP\r\n' },
  ];
  const parse = (pieces: Buffer[]): Array<{ status: string; body: string | undefined }> => {
    const out: Array<{ status: string; body: string | undefined }> = [];
    let collector: BodyCollector | undefined;
    const reader = new ResponseReader({
      status: (line) => {
        const multiline = line.startsWith('+OK');
        out.push({ status: line, body: undefined });
        collector = multiline ? new BodyCollector(line.includes('octets') ? 7 : undefined) : undefined;
        return multiline;
      },
      body: (data) => collector!.push(data),
      end: () => {
        out.at(-1)!.body = collector!.finish().toString('latin1');
      },
    });
    for (const piece of pieces) reader.push(piece);
    assert.equal(reader.midResponse, false);
    return out;
  };
  assert.deepEqual(parse([stream]), expected);
  for (let i = 0; i <= stream.length; i += 1) {
    for (let j = i; j <= stream.length; j += 1) {
      const pieces = [stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)];
      assert.deepEqual(parse(pieces), expected, `split at ${i}/${j}`);
    }
  }
});

test('open over implicit TLS, STLS and plaintext: STAT, list and byte-identical fetch', async () => {
  const { user, password } = await newUser();
  const raws = [message({ subject: 'one' }), message({ subject: 'two' })];
  for (const raw of raws) await dovecot.deliver(user, raw);

  for (const [tls, port] of [
    ['implicit', dovecot.ports.pop3s],
    ['starttls', dovecot.ports.pop3],
    ['none', dovecot.ports.pop3],
  ] as const) {
    const lines: string[] = [];
    await withMailbox(
      account({ user, password, tls, port }),
      async (mailbox) => {
        const status = await mailbox.open();
        // STAT's size is the stored size (Dovecot's own count, as LIST gives it).
        const bytes = raws.reduce((sum, raw) => sum + Buffer.byteLength(raw), 0);
        const { certificate, ...counts } = status;
        assert.deepEqual(counts, { folder: 'INBOX', total: 2, unseen: undefined, bytes });
        // Over TLS (implicit or STLS) the server's certificate is noted, for `mailpoll check`.
        assert.equal(certificate?.subject, tls === 'none' ? undefined : 'CN=localhost', tls);
        const candidates = await mailbox.list({ onlyUnseen: false });
        assert.equal(candidates.length, 2);
        const fetched = await collect(mailbox.fetch(candidates));
        assert.deepEqual(
          fetched.map((item) => item.raw.toString('latin1')),
          raws,
          tls,
        );
      },
      (line) => lines.push(line),
    );
    if (tls === 'starttls') {
      assert.ok(lines.includes('C: STLS'), lines.join('\n'));
      assert.ok(lines.indexOf('C: STLS') < lines.indexOf('C: PASS (* hidden *)'), 'STLS before the password');
    }
    if (tls === 'none') assert.ok(!lines.includes('C: STLS'));
    assert.ok(!lines.some((line) => line.includes(password)), 'the password is never logged');
  }
  assert.equal((await stored(user)).length, 2, 'nothing deleted');
});

test('capabilities and the lazily loaded adapter through createMailbox', async () => {
  const { user, password } = await newUser();
  const mailbox = await createMailbox(account({ user, password }));
  assert.equal(mailbox.protocol, 'pop3');
  assert.deepEqual(mailbox.capabilities, { move: false, markSeen: false, copy: false, flags: [], idle: false, commitEndsSession: true });
  await mailbox.close(); // never opened: nothing to do
});

test('TLS without the CA is refused: TlsError for STLS and for implicit TLS', async () => {
  const { user, password } = await newUser();
  for (const [tls, port] of [
    ['starttls', dovecot.ports.pop3],
    ['implicit', dovecot.ports.pop3s],
  ] as const) {
    const error = await openError(account({ user, password, tls, port, ca: undefined }));
    assert.ok(error instanceof TlsError, `${tls}: ${String(error)}`);
    assert.match(error.message, /^support \(127\.0\.0\.1:\d+\): TLS certificate not trusted \(\w+\)\. Set ca:/);
  }
});

test('STLS not offered in CAPA is a TlsError, and nothing is sent in plaintext', async () => {
  const { user, password } = await newUser();
  const relay = await startRelay(dovecot.ports.pop3, {
    rewrite: (chunk) => Buffer.from(chunk.toString('latin1').replace(/^STLS\r\n/m, ''), 'latin1'),
  });
  const error = await openError(account({ user, password, tls: 'starttls', port: relay.port }));
  assert.ok(error instanceof TlsError, String(error));
  assert.match(error.message, /the server does not offer STLS\. Use tls: implicit/);
  const sent = Buffer.concat(relay.clientChunks).toString('latin1');
  assert.doesNotMatch(sent, /USER|PASS/);
});

test('wrong password: AuthError with the server text, and the socket does not keep the process alive', async () => {
  const { user } = await newUser();
  const error = await openError(account({ user, password: 'wrong-password' }));
  assert.ok(error instanceof AuthError, String(error));
  assert.match(error.message, /^support \(127\.0\.0\.1:\d+\): login failed: \[AUTH\] Authentication failed\. Check user\/login and password\.$/);
  assert.doesNotMatch(error.message, /wrong-password/);

  // In a process of its own: it must end by itself right after the rejection.
  const adapter = new URL('../src/mailbox/pop3/mailbox.ts', import.meta.url).href;
  const config = JSON.stringify(account({ user, password: 'wrong-password' }));
  const script = `
    import { createPop3Mailbox } from ${JSON.stringify(adapter)};
    const started = Date.now();
    await createPop3Mailbox(${config}).open().catch((error) => console.log(error.code, Date.now() - started));
  `;
  const started = Date.now();
  const output = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: fileURLToPath(new URL('..', import.meta.url)), timeout: 20_000 },
      (failure, stdout, stderr) => (failure ? reject(new Error(`${failure.message}\n${stderr}`)) : resolve(stdout)),
    );
  });
  const [code, rejectedAfter] = output.trim().split(' ');
  assert.equal(code, 'E_AUTH');
  // The child exits as soon as the rejection is printed; the loader's start-up is most of it.
  assert.ok(Date.now() - started < Number(rejectedAfter) + 10_000, 'exited without waiting for a socket');
});

test('list: oldest first, skip applied before limit, present()', async () => {
  const { user, password } = await newUser();
  for (let index = 1; index <= 5; index += 1) await dovecot.deliver(user, message({ subject: `m${index}`, body: 'x'.repeat(index * 100) }));

  await withMailbox(account({ user, password }), async (mailbox) => {
    const all = await mailbox.list({ onlyUnseen: false });
    assert.equal(all.length, 5);
    // Dovecot's UIDL is %08Xu%08Xv: the UID first, so sorting is oldest first.
    assert.deepEqual(all.map((candidate) => candidate.uid), [...all.map((candidate) => candidate.uid)].sort());
    assert.ok(all.every((candidate) => /^[0-9A-F]{16}$/i.test(candidate.uid) && candidate.flags.length === 0));
    assert.ok(all[0]!.size! < all[4]!.size!);

    const limited = await mailbox.list({ onlyUnseen: false, limit: 2 });
    assert.deepEqual(limited.map((candidate) => candidate.uid), all.slice(0, 2).map((candidate) => candidate.uid));

    const done = new Set([all[0]!.uid, all[2]!.uid]);
    const skipped = await mailbox.list({ onlyUnseen: false, limit: 2, skip: async (uids) => new Set(uids.filter((uid) => done.has(uid))) });
    assert.deepEqual(skipped.map((candidate) => candidate.uid), [all[1]!.uid, all[3]!.uid]);
    assert.deepEqual(await mailbox.list({ onlyUnseen: false, limit: 0 }), []);

    const present = await mailbox.present([all[1]!.uid, 'FFFFFFFFFFFFFFFF']);
    assert.deepEqual([...present], [all[1]!.uid]);

    const fetched = await collect(mailbox.fetch([all[3]!, all[1]!]));
    assert.deepEqual(fetched.map((item) => item.uid), [all[3]!.uid, all[1]!.uid], 'in the order asked for');
  });
});

test('fetch: 8-bit bytes, dot-stuffed lines and the final CRLF come back byte-identical', async () => {
  const { user, password } = await newUser();
  const latin1 = message8bit('latin1', Buffer.from('Gr\xfc\xdfe aus K\xf6ln, caf\xe9, \xa9 \xff\xfe\x80\r\n', 'latin1'));
  const dots = Buffer.from(
    message({ subject: 'dots', body: '.\n..\n...\n.leading dot\n..two dots\n. space\nend.\n.\r\n' }).replace(/\r\n\.\r\n$/, '\r\n.\r\n'),
    'latin1',
  );
  const noFinalNewline = Buffer.from(message({ subject: 'no final newline', body: 'last line without CRLF' }), 'latin1');
  const empty = Buffer.from(message({ subject: 'empty body', body: '' }), 'latin1');
  for (const raw of [latin1, dots, noFinalNewline, empty]) await dovecot.deliver(user, raw);

  await withMailbox(account({ user, password }), async (mailbox) => {
    const candidates = await mailbox.list({ onlyUnseen: false });
    const [a, b, c, d] = await collect(mailbox.fetch(candidates));
    assert.ok(a!.raw.equals(latin1), 'latin1 bytes unchanged (never decoded as UTF-8)');
    assert.ok(b!.raw.equals(dots), 'dot-stuffing undone');
    assert.ok(d!.raw.equals(empty));
    // Observed: Dovecot ends every message with CRLF on the wire (RFC 1939 requires it);
    // its LIST size is that of the stored file, two bytes less.
    assert.ok(c!.raw.equals(Buffer.concat([noFinalNewline, Buffer.from('\r\n')])), JSON.stringify(c!.raw.toString('latin1').slice(-30)));
    assert.equal(candidates[2]!.size, noFinalNewline.length);
    assert.equal(c!.size, noFinalNewline.length + 2);
  });
});

test('fetch: a 20 MB message, held once', async (t) => {
  const { user, password } = await newUser();
  const raw = message8bit('big', body8bit(20 * 1024 * 1024, random(20)));
  await dovecot.deliver(user, raw);

  await withMailbox(account({ user, password }), async (mailbox) => {
    const [candidate] = await mailbox.list({ onlyUnseen: false });
    assert.equal(candidate!.size, raw.length);
    // A real gc() (the test runs without --expose-gc), so the numbers are not GC timing.
    v8.setFlagsFromString('--expose-gc');
    const collectGarbage = vm.runInNewContext('gc') as () => void;
    // Buffers are freed by a background sweeper: collect, let it run, collect again.
    const gc = async (): Promise<void> => {
      collectGarbage();
      await sleep(100);
      collectGarbage();
    };
    await gc();
    const before = process.memoryUsage();
    const started = Date.now();
    let peak = 0;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    }, 2);
    const [fetched] = await collect(mailbox.fetch([candidate!]));
    const elapsed = Date.now() - started;
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    await gc();
    const held = process.memoryUsage().arrayBuffers - before.arrayBuffers;
    assert.ok(fetched!.raw.equals(raw), 'byte-identical');
    const mb = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);
    const growth = (peak - before.arrayBuffers) / 1024 / 1024;
    t.diagnostic(`20 MB message: ${elapsed} ms, buffers +${mb(peak - before.arrayBuffers)} MB at peak, +${mb(held)} MB held after gc`);
    // One copy of the message plus socket chunks in flight; far from the quadratic 380 MB.
    assert.ok(held < 1.5 * raw.length, `held ${mb(held)} MB`);
    assert.ok(growth < 3 * (raw.length / 1024 / 1024), `buffers grew by ${growth.toFixed(1)} MB`);
  });
});

test('delete: DELE is answered (pending), and the message is gone only after QUIT (commit)', async () => {
  const { user, password } = await newUser();
  for (const subject of ['keep me', 'delete me', 'delete me too']) await dovecot.deliver(user, message({ subject }));

  const mailbox = createPop3Mailbox(account({ user, password }));
  await mailbox.open();
  const [keep, first, second] = await mailbox.list({ onlyUnseen: false });
  const results = await mailbox.apply([
    { uid: keep!.uid, action: 'keep' },
    { uid: first!.uid, action: 'delete' },
    { uid: second!.uid, action: 'delete' },
    { uid: keep!.uid, action: 'markSeen' },
    { uid: keep!.uid, action: 'move', folder: 'Archive' },
    { uid: 'FFFFFFFFFFFFFFFF', action: 'delete' },
  ]);
  assert.deepEqual(
    results.map((result) => result.status),
    ['done', 'pending', 'pending', 'failed', 'failed', 'done'],
  );
  assert.ok(results[3]!.error instanceof MailboxError && /no read flag/.test(results[3]!.error.message));
  assert.ok(results[4]!.error instanceof MailboxError && /no folders/.test(results[4]!.error.message));
  // Deleted in this session: no longer listed, present, or deleted twice (still pending).
  assert.deepEqual((await mailbox.list({ onlyUnseen: false })).map((candidate) => candidate.uid), [keep!.uid]);
  assert.deepEqual([...(await mailbox.present([keep!.uid, first!.uid]))], [keep!.uid]);
  assert.deepEqual((await mailbox.apply([{ uid: first!.uid, action: 'delete' }]))[0]!.status, 'pending');
  assert.equal((await stored(user)).length, 3, 'still there before QUIT');

  assert.deepEqual((await mailbox.commit()).sort(), [first!.uid, second!.uid].sort());
  assert.deepEqual(await mailbox.commit(), [], 'the session is over: nothing more to confirm');
  await mailbox.close();
  await mailbox.close(); // safe twice
  assert.deepEqual(await stored(user), ['keep me']);
  const summary = await sessionSummary(user);
  assert.equal(summary.del, 2, summary.line);
});

test('delete: the connection is lost before QUIT -> commit() throws and the messages stay', async () => {
  const { user, password } = await newUser();
  await dovecot.deliver(user, message({ subject: 'a' }));
  await dovecot.deliver(user, message({ subject: 'b' }));

  // The server's session ends (Dovecot killed).
  const mailbox = createPop3Mailbox(account({ user, password }));
  await mailbox.open();
  const candidates = await mailbox.list({ onlyUnseen: false });
  const results = await mailbox.apply(candidates.map((candidate) => ({ uid: candidate.uid, action: 'delete' as const })));
  assert.ok(results.every((result) => result.status === 'pending'));
  await dovecot.killSessions();
  const error = await rejection(mailbox.commit());
  assert.ok(error instanceof ConnectionError, String(error));
  assert.match(error.message, /^support: (cannot log out from|logging out from) 127\.0\.0\.1:\d+ .*The 2 deletions of this session (were not carried out|are not confirmed)/);
  await mailbox.close(); // safe after a failure
  assert.deepEqual(await mailbox.commit(), [], 'nothing confirmed after a failed commit');
  assert.deepEqual(await stored(user), ['a', 'b']);
  const killed = await sessionSummary(user);
  assert.equal(killed.del, 0, `DELE answered but never carried out: ${killed.line}`);

  // The network fails (relay cut), under STLS.
  const relay = await startRelay(dovecot.ports.pop3);
  const cut = createPop3Mailbox(account({ user, password, tls: 'starttls', port: relay.port }));
  await cut.open();
  const listed = await cut.list({ onlyUnseen: false });
  assert.equal((await cut.apply([{ uid: listed[0]!.uid, action: 'delete' }]))[0]!.status, 'pending');
  relay.cut();
  await sleep(50);
  const afterCut = await rejection(cut.commit());
  assert.ok(afterCut instanceof ConnectionError, String(afterCut));
  assert.match(afterCut.message, /The 1 deletion of this session was not carried out/);
  assert.deepEqual(await stored(user), ['a', 'b']);

  // Operations on a lost connection fail with a ConnectionError instead of hanging.
  const relay2 = await startRelay(dovecot.ports.pop3);
  const lost = createPop3Mailbox(account({ user, password, tls: 'none', port: relay2.port }));
  await lost.open();
  relay2.cut();
  await sleep(50);
  const listError = await rejection(lost.list({ onlyUnseen: false }));
  assert.ok(listError instanceof ConnectionError, String(listError));
  const applied = await lost.apply([{ uid: listed[0]!.uid, action: 'delete' }]);
  assert.ok(applied[0]!.status === 'failed' && applied[0]!.error instanceof ConnectionError);
  assert.ok((await rejection(lost.commit())) instanceof ConnectionError);
  await lost.close();
});

test('pipelining: RETR and DELE go out several per write when CAPA says PIPELINING; not otherwise', async () => {
  const { user, password } = await newUser();
  const raws = Array.from({ length: 20 }, (_, index) => message({ subject: `p${index}`, body: `body ${index}\n`.repeat(50) }));
  for (const raw of raws) await dovecot.deliver(user, raw);

  for (const pipelining of [true, false]) {
    const relay = await startRelay(dovecot.ports.pop3, {
      rewrite: pipelining ? undefined : (chunk) => Buffer.from(chunk.toString('latin1').replace(/^PIPELINING\r\n/m, ''), 'latin1'),
    });
    await withMailbox(account({ user, password, tls: 'none', port: relay.port }), async (mailbox) => {
      const candidates = await mailbox.list({ onlyUnseen: false });
      const fetched = await collect(mailbox.fetch(candidates));
      assert.deepEqual(
        fetched.map((item) => item.raw.toString('latin1')),
        raws,
      );
      // The first session only fetches; the second also deletes five, one DELE per round trip.
      if (!pipelining) {
        const results = await mailbox.apply(candidates.slice(0, 5).map((candidate) => ({ uid: candidate.uid, action: 'delete' as const })));
        assert.ok(results.every((result) => result.status === 'pending'));
      }
    });
    const retr = pipelinedWrites(relay.clientChunks, 'RETR');
    if (pipelining) {
      assert.ok(retr.length > 0, 'several RETR in one write');
      assert.ok(Math.max(...retr) >= 10, `RETRs per write: ${retr.join(', ')}`);
    } else {
      assert.deepEqual(retr, [], 'one command per round trip without PIPELINING');
      assert.deepEqual(pipelinedWrites(relay.clientChunks, 'DELE'), []);
    }
  }
  const first = await sessionSummary(user, 1);
  const second = await sessionSummary(user, 2);
  assert.equal(first.retr, 20, first.line);
  assert.equal(second.retr, 20, second.line);
  assert.equal(second.del, 5, second.line);

  // DELE pipelined too.
  const relay = await startRelay(dovecot.ports.pop3);
  await withMailbox(account({ user, password, tls: 'none', port: relay.port }), async (mailbox) => {
    const candidates = await mailbox.list({ onlyUnseen: false });
    const results = await mailbox.apply(candidates.map((candidate) => ({ uid: candidate.uid, action: 'delete' as const })));
    assert.ok(results.every((result) => result.status === 'pending'));
  });
  assert.ok(pipelinedWrites(relay.clientChunks, 'DELE').length > 0);
  assert.deepEqual(await stored(user), []);
});

test('responses split anywhere across TCP reads (byte by byte, inside CRLF.CRLF) do not hang or corrupt', async () => {
  const { user, password } = await newUser();
  const raws = [
    message8bit('split 1', Buffer.from('.\r\n..\r\nline\r\n.end\r\n', 'latin1')),
    message8bit('split 2', Buffer.from('caf\xe9\r\n', 'latin1')),
    message8bit('split 3', Buffer.from('\r\n.\r\n\r\n', 'latin1')),
  ];
  for (const raw of raws) await dovecot.deliver(user, raw);

  const terminator = Buffer.from('\r\n.\r\n');
  const splitters: Array<[string, RelayOptions]> = [
    ['byte by byte', { split: (chunk) => [...chunk].map((byte) => Buffer.from([byte])), pause: () => new Promise((resolve) => setImmediate(resolve)) }],
    [
      'inside every CRLF.CRLF',
      {
        split: (chunk) => {
          const pieces: Buffer[] = [];
          let from = 0;
          for (let at = chunk.indexOf(terminator); at !== -1; at = chunk.indexOf(terminator, at + 1)) {
            pieces.push(chunk.subarray(from, at + 1), chunk.subarray(at + 1, at + 3));
            from = at + 3;
          }
          pieces.push(chunk.subarray(from));
          return pieces.filter((piece) => piece.length > 0);
        },
        pause: () => sleep(5),
      },
    ],
  ];
  for (const [label, options] of splitters) {
    const relay = await startRelay(dovecot.ports.pop3, options);
    await withMailbox(account({ user, password, tls: 'none', port: relay.port, fetchTimeout: 10_000 }), async (mailbox) => {
      const candidates = await mailbox.list({ onlyUnseen: false });
      const fetched = await collect(mailbox.fetch(candidates));
      assert.equal(fetched.length, 3, label);
      fetched.forEach((item, index) => assert.ok(item.raw.equals(raws[index]!), `${label}: message ${index + 1}`));
    });
  }
});

test('a server that stops sending: TimeoutError within fetchTimeout, connection ended, commit() throws', async () => {
  const { user, password } = await newUser();
  await dovecot.deliver(user, message8bit('stall', body8bit(2 * 1024 * 1024, random(7))));
  await dovecot.deliver(user, message({ subject: 'second' }));
  const relay = await startRelay(dovecot.ports.pop3);
  const mailbox = createPop3Mailbox(account({ user, password, tls: 'none', port: relay.port, fetchTimeout: 1000 }));
  await mailbox.open();
  const candidates = await mailbox.list({ onlyUnseen: false });
  relay.stall();
  const started = Date.now();
  const error = await rejection(collect(mailbox.fetch(candidates)));
  const elapsed = Date.now() - started;
  assert.ok(error instanceof TimeoutError, String(error));
  assert.match(error.message, /^support: fetch of uid \S+ \(message 1\) timed out after 1s on 127\.0\.0\.1:\d+/);
  assert.ok(elapsed < 5000, `gave up after ${elapsed} ms`);
  // Every later call fails at once with the same error; commit() reports the lost QUIT.
  assert.equal(await rejection(mailbox.list({ onlyUnseen: false })), error);
  const closing = await rejection(mailbox.commit());
  assert.ok(closing instanceof ConnectionError, String(closing));
  assert.match(closing.message, /after a timeout/);
});

test('a consumer that stops early: the pipelined answers are drained, later commands still work', async () => {
  const { user, password } = await newUser();
  for (let index = 0; index < 30; index += 1) await dovecot.deliver(user, message({ subject: `early ${index}`, body: 'y'.repeat(5000) }));
  await withMailbox(account({ user, password }), async (mailbox) => {
    const candidates = await mailbox.list({ onlyUnseen: false });
    for await (const item of mailbox.fetch(candidates)) {
      assert.equal(item.uid, candidates[0]!.uid);
      break;
    }
    const results = await mailbox.apply([{ uid: candidates[0]!.uid, action: 'delete' }]);
    assert.equal(results[0]!.status, 'pending');
    const [again] = await collect(mailbox.fetch([candidates[29]!]));
    assert.ok(again!.raw.toString('latin1').includes('Subject: early 29'));
  });
  const summary = await sessionSummary(user);
  assert.equal(summary.del, 1, summary.line);
  assert.equal((await stored(user)).length, 29);
});

test('connection refused is a ConnectionError', async () => {
  const { port, server } = await listenWith(() => undefined);
  server.close();
  await sleep(20);
  const error = await openError(account({ user: 'x', password: 'y', tls: 'none', port }));
  assert.ok(error instanceof ConnectionError, String(error));
  assert.match(error.message, /^support: cannot connect to 127\.0\.0\.1:\d+ \(connection refused\)/);
});

test('connect timeout: a server that never greets', async () => {
  const port = await listen(() => undefined);
  const started = Date.now();
  const error = await openError(account({ user: 'x', password: 'y', tls: 'none', port, connectTimeout: 500 }));
  assert.ok(error instanceof TimeoutError, String(error));
  assert.match(error.message, /^support: connecting to 127\.0\.0\.1:\d+ timed out after 500ms \(no greeting: .*set tls: implicit\)/);
  assert.ok(Date.now() - started < 3000);
});

// ---------------------------------------------------------------------------------------
// A scripted POP3 server without UIDL (Dovecot always has it): helpers/pop3-server.ts.

test('no UIDL: uids are fingerprints from TOP n 0, stable across sessions, told apart when identical', async () => {
  const date = 'Tue, 02 Jan 2024 10:00:00 +0000';
  const twin = Buffer.from(message({ subject: 'twin', messageId: '<twin@example.com>', date: new Date(date) }), 'latin1');
  const store: Buffer[] = [
    Buffer.from(message({ subject: 'first', messageId: '<first@example.com>' }), 'latin1'),
    twin,
    Buffer.from(twin),
    Buffer.from('Subject: no id\r\nReceived: from a by b\r\n\r\n.dotted\r\n', 'latin1'),
  ];
  for (const options of [
    { capa: true, pipelining: true },
    { capa: true, pipelining: false },
    { capa: false, pipelining: false },
  ]) {
    const copy = store.map((raw) => Buffer.from(raw));
    const server = await startScriptedPop3(copy, options);
    const config = account({ user: 'u', password: 'p', tls: 'none', port: server.port });
    const lines: string[] = [];
    const first = await withMailbox(
      config,
      async (mailbox) => {
        const candidates = await mailbox.list({ onlyUnseen: false });
        await mailbox.list({ onlyUnseen: false, limit: 1 });
        const fetched = await collect(mailbox.fetch([candidates[3]!, candidates[0]!]));
        assert.ok(fetched[0]!.raw.equals(copy[3]!) && fetched[1]!.raw.equals(copy[0]!));
        return candidates;
      },
      (line) => lines.push(line),
    );
    const label = JSON.stringify(options);
    assert.equal(first.length, 4, label);
    assert.ok(first.every((candidate) => /^fp:[0-9a-f]{32}(\.\d+)?$/.test(candidate.uid)), label);
    assert.equal(new Set(first.map((candidate) => candidate.uid)).size, 4, 'identical copies get distinct uids');
    assert.equal(first[2]!.uid, `${first[1]!.uid}.2`);
    assert.equal(first[1]!.messageId, '<twin@example.com>');
    assert.equal(first[1]!.sentDate, date);
    assert.equal(first[3]!.messageId, undefined);
    assert.equal(lines.filter((line) => /has no UIDL/.test(line)).length, 1, `told once: ${label}`);
    assert.equal(server.commands.includes('UIDL'), !options.capa, `UIDL tried only without CAPA: ${label}`);

    // A second session sees the same uids; skip and limit work on them; delete one.
    const second = await withMailbox(config, async (mailbox) => {
      const candidates = await mailbox.list({ onlyUnseen: false });
      assert.deepEqual(
        candidates.map((candidate) => candidate.uid),
        first.map((candidate) => candidate.uid),
      );
      const skipped = await mailbox.list({ onlyUnseen: false, limit: 1, skip: async (uids) => new Set(uids.filter((uid) => uid === first[0]!.uid)) });
      assert.deepEqual(skipped.map((candidate) => candidate.uid), [first[1]!.uid]);
      const results = await mailbox.apply([{ uid: first[0]!.uid, action: 'delete' }]);
      assert.equal(results[0]!.status, 'pending');
      return candidates;
    });
    assert.equal(second.length, 4);
    assert.equal(copy.length, 3, 'deleted at QUIT');

    // A fresh mailbox object (as after a restart) that goes straight to present().
    await withMailbox(config, async (mailbox) => {
      const present = await mailbox.present(first.map((candidate) => candidate.uid));
      assert.deepEqual([...present].sort(), first.slice(1).map((candidate) => candidate.uid).sort());
    });
  }
});

test('1,000 messages of mixed sizes in one list + fetch: all byte-identical, in order', async (t) => {
  const { user, password } = await newUser();
  const next = random(1000);
  const raws: Buffer[] = [];
  for (let index = 0; index < 1000; index += 1) {
    const roll = next();
    const size = roll < 0.9 ? 200 + Math.floor(next() * 20_000) : roll < 0.99 ? 20_000 + Math.floor(next() * 180_000) : 1_000_000 + Math.floor(next() * 1_000_000);
    const raw = message8bit(`bulk ${index}`, body8bit(size, next));
    raws.push(raw);
    await dovecot.deliver(user, raw);
  }
  const total = raws.reduce((sum, raw) => sum + raw.length, 0);

  const started = Date.now();
  let count = 0;
  await withMailbox(account({ user, password }), async (mailbox) => {
    const candidates = await mailbox.list({ onlyUnseen: false });
    assert.equal(candidates.length, 1000);
    for await (const item of mailbox.fetch(candidates)) {
      assert.equal(item.uid, candidates[count]!.uid);
      assert.ok(item.raw.equals(raws[count]!), `message ${count} differs`);
      count += 1;
    }
  });
  assert.equal(count, 1000);
  t.diagnostic(`1000 messages, ${(total / 1024 / 1024).toFixed(1)} MB, implicit TLS: list + fetch + QUIT in ${Date.now() - started} ms`);
  const summary = await sessionSummary(user);
  assert.equal(summary.retr, 1000, summary.line);
  // Dovecot counts the bytes on the wire: stuffed dots and terminators included.
  assert.ok(summary.retrBytes >= total, summary.line);
});

test('the mailbox refuses use before open and after close', async () => {
  const { user, password } = await newUser();
  const mailbox = createPop3Mailbox(account({ user, password }));
  assert.ok((await rejection(mailbox.list({ onlyUnseen: false }))) instanceof MailboxError);
  await mailbox.open();
  await mailbox.close();
  assert.ok((await rejection(mailbox.present(['x']))) instanceof MailboxError);
  const results = await mailbox.apply([{ uid: 'x', action: 'delete' }]);
  assert.ok(results[0]!.status === 'failed' && results[0]!.error instanceof MailboxError);
  await mailbox.close();
});
