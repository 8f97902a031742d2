/**
 * Floor: imapflow-fetch.ts plus mailparser's `simpleParser` on every message, as it
 * arrives (what any handler that looks at the parsed message costs at least). Same
 * parameters (BENCH_PARAMS) and output (`{"messages":N,"bytes":B,"attachments":A}`).
 */
import { readFileSync } from 'node:fs';
import { ImapFlow } from 'imapflow';
import { simpleParser } from 'mailparser';

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
let attachments = 0;
if (mailbox.exists > 0) {
  for await (const message of client.fetch('1:*', { uid: true, source: true }, { uid: true })) {
    if (!message.source) continue;
    const parsed = await simpleParser(message.source);
    messages += 1;
    bytes += message.source.length;
    attachments += parsed.attachments.length;
  }
  if (params.action === 'markSeen') await client.messageFlagsAdd('1:*', ['\\Seen'], { uid: true });
  else if (params.action === 'delete') await client.messageDelete('1:*', { uid: true });
}
await client.logout();
process.stdout.write(`${JSON.stringify({ messages, bytes, attachments })}\n`);
