/**
 * Floor: the least an imapflow client can do. One connection, one `UID FETCH 1:*
 * (UID BODY.PEEK[])`, every source consumed and counted, then the action on the whole range
 * (`markSeen`: one UID STORE +FLAGS \Seen; `delete`: UID STORE \Deleted + UID EXPUNGE;
 * `keep`: nothing). Parameters in the env var BENCH_PARAMS (JSON, see Params); prints
 * `{"messages":N,"bytes":B}`.
 *
 * bench/run.ts transpiles this file to plain JS before running it, so tsx's start-up is
 * not part of the floor.
 */
import { readFileSync } from 'node:fs';
import { ImapFlow } from 'imapflow';

interface Params {
  host: string;
  port: number;
  user: string;
  password: string;
  /** Implicit TLS; false: plain, no STARTTLS. */
  tls: boolean;
  caFile: string;
  action: 'keep' | 'markSeen' | 'delete';
}

const params = JSON.parse(process.env.BENCH_PARAMS ?? '{}') as Params;

const client = new ImapFlow({
  host: params.host,
  port: params.port,
  ...(params.tls
    ? { secure: true, tls: { ca: readFileSync(params.caFile, 'utf8'), servername: 'localhost' } }
    : { secure: false, doSTARTTLS: false }),
  auth: { user: params.user, pass: params.password },
  logger: false,
});

await client.connect();
const mailbox = await client.mailboxOpen('INBOX');
let messages = 0;
let bytes = 0;
if (mailbox.exists > 0) {
  for await (const message of client.fetch('1:*', { uid: true, source: true }, { uid: true })) {
    messages += 1;
    bytes += message.source?.length ?? 0;
  }
  if (params.action === 'markSeen') await client.messageFlagsAdd('1:*', ['\\Seen'], { uid: true });
  else if (params.action === 'delete') await client.messageDelete('1:*', { uid: true });
}
await client.logout();
process.stdout.write(`${JSON.stringify({ messages, bytes })}\n`);
