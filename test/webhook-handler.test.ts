/**
 * Webhook handlers: the real CLI against a Maildir account, posting to a real local HTTP(S)
 * server started here. What the server receives and what it answers are both checked.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { messageEvents, runCli, writeConfig } from './helpers/cli.js';
import { openssl } from './helpers/dovecot.js';
import { readMaildir } from './helpers/maildir-state.js';
import { makeTempDir } from './helpers/temp.js';

/** 8-bit bytes and CRLF: what arrives must be these bytes exactly. */
const RAW = Buffer.concat([
  Buffer.from('From: Ann <a@example.com>\r\nTo: b@example.com\r\nSubject: hook\r\nMessage-ID: <hook@test>\r\nDate: Thu, 01 Jan 2026 10:00:00 +0000\r\n'),
  Buffer.from('MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\nd'),
  Buffer.from([0xe9, 0x6a, 0xe0]),
  Buffer.from(' vu\r\n--B\r\nContent-Type: application/octet-stream; name=a.bin\r\nContent-Disposition: attachment; filename=a.bin\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC/w==\r\n--B--\r\n'),
]);

interface Received {
  method: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}
type Respond = (request: Received, response: http.ServerResponse, count: number) => void;

const servers: Array<http.Server> = [];
after(() => {
  for (const server of servers) server.close();
});

/** A server answering with `respond`; every request is kept in `received`. */
async function startServer(respond: Respond, tls?: { key: string; cert: string }): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const listener = (request: http.IncomingMessage, response: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const entry = { method: request.method ?? '', headers: request.headers, body: Buffer.concat(chunks) };
      received.push(entry);
      respond(entry, response, received.length);
    });
  };
  const server = tls ? https.createServer(tls, listener) : http.createServer(listener);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `${tls ? 'https' : 'http'}://${tls ? 'localhost' : '127.0.0.1'}:${port}/hook`, received };
}

async function maildir(): Promise<string> {
  const path = join(await makeTempDir('webhook'), 'Maildir');
  for (const sub of ['new', 'cur', 'tmp']) await mkdir(join(path, sub), { recursive: true });
  await writeFile(join(path, 'new', '1767000000.M1P1.test'), RAW);
  return path;
}

/** One run of a Maildir account whose handler is `webhook`. */
async function run(webhook: Record<string, unknown>, options: { account?: Record<string, unknown>; args?: string[]; env?: Record<string, string>; path?: string; dir?: string } = {}) {
  const path = options.path ?? (await maildir());
  const dir = await writeConfig({ accounts: [{ name: 'hooked', protocol: 'maildir', path, webhook, ...options.account }] }, options.dir);
  const result = await runCli(['--json', ...(options.args ?? [])], { cwd: dir, env: options.env });
  return { result, path, dir, events: messageEvents(result), stored: await readMaildir(path) };
}

const answer = (status: number, body = '', headers: Record<string, string> = {}): Respond => (_request, response) => {
  response.writeHead(status, headers);
  response.end(body);
};

describe('webhook handler', () => {
  test('raw: the source byte for byte as message/rfc822, signed over "<timestamp>.<body>"; 204 -> after', async () => {
    const server = await startServer(answer(204));
    const { result, events, stored } = await run({ url: server.url, secret: 's3cret-key' });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(events.map((e) => [e.status, e.action]), [['ok', 'markSeen']]);
    assert.equal(stored[0]?.flags, 'S');
    const [request] = server.received;
    assert.equal(request?.method, 'POST');
    assert.equal(request?.headers['content-type'], 'message/rfc822');
    assert.equal(request?.headers['x-mailpoll-dry-run'], '0');
    assert.ok(request?.body.equals(RAW), 'raw body differs from the source');
    // What a receiver does: recompute the HMAC and compare in constant time.
    const timestamp = String(request?.headers['x-mailpoll-timestamp']);
    assert.ok(Math.abs(Date.now() / 1000 - Number(timestamp)) < 60);
    const expected = `sha256=${createHmac('sha256', 's3cret-key').update(`${timestamp}.`).update(request!.body).digest('hex')}`;
    assert.equal(request?.headers['x-mailpoll-signature'], expected);
  });

  test('json: metadata, text, html and attachments in one document; a JSON reply is the decision', async () => {
    const server = await startServer(answer(200, JSON.stringify({ action: 'move', folder: 'Done' }), { 'Content-Type': 'application/json' }));
    const { result, events, stored } = await run({ url: server.url, body: 'json', method: 'PUT' });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(events.map((e) => [e.status, e.action, e.moveTo]), [['ok', 'move', 'Done']]);
    assert.equal(stored[0]?.folder, 'Done');
    const request = server.received[0]!;
    assert.equal(request.method, 'PUT');
    assert.equal(request.headers['content-type'], 'application/json');
    assert.equal(request.headers['x-mailpoll-signature'], undefined);
    const document = JSON.parse(request.body.toString('utf8')) as Record<string, unknown>;
    assert.deepEqual(
      { ...document, uid: typeof document.uid, text: String(document.text).trim() },
      {
        account: 'hooked',
        folder: 'INBOX',
        uid: 'string',
        ref: events[0]?.ref,
        messageId: '<hook@test>',
        from: '"Ann" <a@example.com>',
        subject: 'hook',
        date: '2026-01-01T10:00:00.000Z',
        size: RAW.length,
        flags: [],
        dryRun: false,
        text: 'déjà vu',
        html: null,
        savedAttachments: null,
        attachments: [{ filename: 'a.bin', contentType: 'application/octet-stream', size: 4, content: 'AAEC/w==' }],
      },
    );
  });

  test('--dry-run: said in the document and in X-Mailpoll-Dry-Run; the message untouched whatever the reply', async () => {
    const server = await startServer(answer(200, '{"action":"delete"}', { 'Content-Type': 'application/json' }));
    const { result, events, stored } = await run({ url: server.url, body: 'json' }, { args: ['--dry-run'] });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(events.map((e) => [e.status, e.action]), [['dry-run', 'delete']]);
    assert.equal(server.received[0]?.headers['x-mailpoll-dry-run'], '1');
    const document = JSON.parse(server.received[0]!.body.toString('utf8')) as { dryRun: boolean; ref: unknown };
    assert.deepEqual([document.dryRun, document.ref], [true, null]);
    assert.deepEqual(stored.map((m) => [m.folder, m.flags]), [['', '']]);
  });

  test('4xx: a failure that counts (maxAttempts 1 quarantines); an Authorization header from ${VARS} is masked in -v output', async () => {
    const token = 'tok-4f9a1c27e3';
    // The server echoes the header back: the failure quotes it, mailpoll must not show it.
    const server = await startServer((request, response) => {
      response.writeHead(422, { 'Content-Type': 'text/plain' });
      response.end(`bad request, auth was ${String(request.headers.authorization)}`);
    });
    const { result, events, stored } = await run(
      { url: server.url, headers: { Authorization: 'Bearer ${HOOK_TOKEN}' } },
      { account: { maxAttempts: 1 }, args: ['-v'], env: { HOOK_TOKEN: token } },
    );
    assert.equal(result.code, 1, result.stderr);
    assert.equal(server.received[0]?.headers.authorization, `Bearer ${token}`);
    assert.equal(events[0]?.status, 'quarantined');
    assert.equal(events[0]?.code, 'E_HANDLER_THREW');
    assert.match(String(events[0]?.error), /webhook answered 422 Unprocessable Entity: bad request, auth was \*\*\*/);
    assert.ok(!`${result.stdout}${result.stderr}`.includes(token), 'the token is shown');
    assert.equal(stored[0]?.flags, '');
  });

  test('5xx and refused connections: failures that do not count, the message untouched', async () => {
    const server = await startServer(answer(503, 'down for maintenance'));
    const path = await maildir();
    const dir = await makeTempDir('webhook-temporary');
    let ref: unknown;
    for (let attempt = 0; attempt < 2; attempt += 1) {
      // retryDelay 1h: a counted failure would hold the message back on the second run.
      const { result, events } = await run({ url: server.url }, { account: { maxAttempts: 1, retryDelay: '1h' }, path, dir });
      assert.equal(result.code, 1, result.stderr);
      assert.deepEqual(events.map((e) => [e.status, e.code]), [['failed', 'E_HANDLER_TEMPORARY']]);
      assert.match(String(events[0]?.error), /webhook answered 503 Service Unavailable: down for maintenance; tried again on the next run/);
      ref = events[0]?.ref;
    }
    assert.equal(server.received.length, 2, 'the message is handed over on every run, never quarantined');
    // Recorded for show and history, not counted.
    const show = await runCli(['show', String(ref), '--json'], { cwd: dir });
    const record = JSON.parse(show.stdout) as Record<string, unknown>;
    assert.deepEqual([record.state, record.attempts], ['received', 0]);
    assert.match(String(record.lastError), /webhook answered 503 Service Unavailable/);
    const history = await runCli(['history', '--status', 'received'], { cwd: dir });
    assert.match(history.stdout, new RegExp(`ref:${String(ref)} .* received .*\\(webhook answered 503`));

    // A port nobody listens on: the server above, closed.
    const closed = await startServer(answer(204));
    servers.pop()?.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const refused = await run({ url: closed.url }, { account: { maxAttempts: 1 }, path });
    assert.deepEqual(refused.events.map((e) => [e.status, e.code]), [['failed', 'E_HANDLER_TEMPORARY']]);
    assert.match(String(refused.events[0]?.error), /ECONNREFUSED/);
    assert.equal(refused.stored[0]?.flags, '');
  });

  test('429 with Retry-After within handlerTimeout: waited for and tried again in the same run', async () => {
    const server = await startServer((_request, response, count) => {
      if (count === 1) response.writeHead(429, { 'Retry-After': '1' }).end('slow down');
      else response.writeHead(204).end();
    });
    const started = Date.now();
    const { result, events } = await run({ url: server.url }, { account: { handlerTimeout: '10s' } });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(events.map((e) => e.status), ['ok']);
    assert.equal(server.received.length, 2);
    assert.ok(Date.now() - started >= 1000);

    // A Retry-After beyond handlerTimeout is not waited for: a temporary failure at once.
    const later = await startServer(answer(429, '', { 'Retry-After': '3600' }));
    const refused = await run({ url: later.url }, { account: { handlerTimeout: '10s' } });
    assert.deepEqual(refused.events.map((e) => [e.status, e.code]), [['failed', 'E_HANDLER_TEMPORARY']]);
    assert.equal(later.received.length, 1);
  });

  test('a server slower than timeout: a temporary failure, the message untouched', async () => {
    const server = await startServer((_request, response) => {
      setTimeout(() => response.writeHead(204).end(), 5000).unref();
    });
    const { result, events, stored } = await run({ url: server.url, timeout: '500ms' });
    assert.equal(result.code, 1, result.stderr);
    assert.deepEqual(events.map((e) => [e.status, e.code]), [['failed', 'E_HANDLER_TEMPORARY']]);
    assert.match(String(events[0]?.error), /webhook did not answer within 500ms/);
    assert.equal(stored[0]?.flags, '');
  });

  test('TLS: verified; a certificate from webhook.ca is trusted, the same without it is refused', async () => {
    const dir = await makeTempDir('webhook-ca');
    await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=mailpoll test CA'], { cwd: dir });
    await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost'], { cwd: dir });
    await writeFile(join(dir, 'ext.cnf'), 'subjectAltName=DNS:localhost\n');
    await openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'ext.cnf'], { cwd: dir });
    const tls = { key: await readFile(join(dir, 'server.key'), 'utf8'), cert: await readFile(join(dir, 'server.pem'), 'utf8') };
    const server = await startServer(answer(204), tls);

    const trusted = await run({ url: server.url, ca: join(dir, 'ca.pem') });
    assert.equal(trusted.result.code, 0, trusted.result.stderr);
    assert.deepEqual(trusted.events.map((e) => e.status), ['ok']);

    const untrusted = await run({ url: server.url });
    assert.deepEqual(untrusted.events.map((e) => [e.status, e.code]), [['failed', 'E_HANDLER_TEMPORARY']]);
    assert.match(String(untrusted.events[0]?.error), /certificate/i);
    assert.equal(server.received.length, 1, 'nothing is sent over an unverified connection');
  });

  test('script and webhook on one account: a config error naming both', async () => {
    const { result } = await run({ url: 'http://127.0.0.1:9/hook' }, { account: { script: './handler.mjs' } });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /accounts\[0\]\.webhook: conflicts with script; set one handler kind/);
  });
});
