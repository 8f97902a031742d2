/**
 * The webhook handler: each message is sent to an HTTP endpoint and its answer is the
 * decision (README, "Webhook handlers").
 *
 * Requests go through `node:http`/`node:https` rather than the global `fetch`: Node's `fetch`
 * takes no per-request CA without the `undici` package, and `webhook.ca` must add a CA for
 * one endpoint only. Both are built in: no HTTP dependency.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { rootCertificates } from 'node:tls';
import type { WebhookConfig } from '../config/types.js';
import { formatDuration } from '../duration.js';
import { HandlerLoadError, HandlerThrewError, TemporaryHandlerError } from '../errors.js';
import { describeValue } from './result.js';
import type { HandlerContext, HandlerResult, LoadedHandler, MailMessage } from './types.js';

/** Kept short of `handlerTimeout`, so that the webhook's own temporary failure wins the race. */
const DEADLINE_MARGIN_MS = 100;
/** The part of an error answer quoted in the failure. */
const MAX_QUOTED = 200;

interface Answer {
  status: number;
  statusText: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * A LoadedHandler that POSTs each message to `webhook.url`. `handlerTimeoutMs` bounds the
 * whole exchange, waits for `Retry-After` included.
 */
export function createWebhookHandler(webhook: WebhookConfig, handlerTimeoutMs: number): LoadedHandler {
  if (!URL.canParse(webhook.url)) throw new HandlerLoadError(`webhook ${webhook.url}: not a URL (expected http://host/path or https://host/path)`);
  const agent = agentFor(webhook);
  return {
    parse: webhook.body === 'json' ? 'full' : 'headers',
    fn: async (message: MailMessage, context: HandlerContext): Promise<HandlerResult> => {
      const deadline = Date.now() + (handlerTimeoutMs > 0 && Number.isFinite(handlerTimeoutMs) ? handlerTimeoutMs - DEADLINE_MARGIN_MS : Infinity);
      const { body, contentType } = bodyOf(webhook, message, context);
      for (;;) {
        // The raw body cannot say it: a receiver must know not to act on a dry run.
        const headers = { ...webhook.headers, 'Content-Type': contentType, 'X-Mailpoll-Dry-Run': context.dryRun ? '1' : '0', ...signatureHeaders(webhook.secret, body) };
        const answer = await send(webhook, agent, headers, body, Math.min(webhook.timeout, deadline - Date.now()), context.account);
        if (answer.status >= 200 && answer.status < 300) return decisionOf(answer, context.account);
        const failure = `webhook answered ${answer.status}${answer.statusText ? ` ${answer.statusText}` : ''}${quote(answer.body)}`;
        if (answer.status !== 429 && answer.status < 500) throw new HandlerThrewError(failure, { account: context.account });
        const waitMs = retryAfterMs(answer.headers['retry-after']);
        if (waitMs === undefined || Date.now() + waitMs >= deadline) throw new TemporaryHandlerError(`${failure}; tried again on the next run`, { account: context.account });
        await new Promise((resolve) => setTimeout(resolve, waitMs));
      }
    },
  };
}

/** An agent trusting `webhook.ca` besides the system CAs; undefined: Node's default agent. */
function agentFor(webhook: WebhookConfig): https.Agent | undefined {
  if (webhook.ca === undefined) return undefined;
  let pem: string;
  try {
    pem = readFileSync(webhook.ca, 'utf8');
  } catch (error) {
    throw new HandlerLoadError(`webhook ca ${webhook.ca}: ${describeValue(error)}`, { cause: error });
  }
  return new https.Agent({ ca: [...rootCertificates, pem], keepAlive: true });
}

function bodyOf(webhook: WebhookConfig, message: MailMessage, context: HandlerContext): { body: Buffer; contentType: string } {
  if (webhook.body === 'raw') return { body: message.raw, contentType: 'message/rfc822' };
  const document = {
    account: message.account,
    folder: message.folder,
    uid: message.uid,
    ref: message.ref ?? null,
    messageId: message.messageId ?? null,
    from: message.from?.text ?? null,
    subject: message.subject ?? null,
    date: message.date?.toISOString() ?? null,
    size: message.size,
    flags: message.flags,
    dryRun: context.dryRun,
    text: message.text ?? null,
    html: message.html === false ? null : (message.html ?? null),
    savedAttachments: message.savedAttachments ?? null,
    attachments: message.attachments.map((attachment) => ({
      filename: attachment.filename ?? null,
      contentType: attachment.contentType,
      size: attachment.size,
      content: attachment.content.toString('base64'),
    })),
  };
  return { body: Buffer.from(JSON.stringify(document)), contentType: 'application/json' };
}

/**
 * Stripe's scheme: the HMAC covers `<timestamp>.<body>`, so a receiver that checks the
 * timestamp's age also refuses a captured request replayed later (GitHub's body-only HMAC
 * cannot tell a replay).
 */
function signatureHeaders(secret: string | undefined, body: Buffer): Record<string, string> {
  if (secret === undefined) return {};
  const timestamp = String(Math.floor(Date.now() / 1000));
  const hmac = createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
  return { 'X-Mailpoll-Timestamp': timestamp, 'X-Mailpoll-Signature': `sha256=${hmac}` };
}

/** One request. Refused connections, TLS failures and timeouts are temporary failures. */
function send(webhook: WebhookConfig, agent: https.Agent | undefined, headers: Record<string, string>, body: Buffer, timeoutMs: number, account: string): Promise<Answer> {
  const url = new URL(webhook.url);
  const client = url.protocol === 'https:' ? https : http;
  return new Promise<Answer>((resolve, reject) => {
    const request = client.request(url, { method: webhook.method, headers: { ...headers, 'Content-Length': String(body.length) }, ...(agent ? { agent } : {}) }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', fail);
      response.on('end', () => {
        clearTimeout(timer);
        resolve({ status: response.statusCode ?? 0, statusText: response.statusMessage ?? '', headers: response.headers, body: Buffer.concat(chunks).toString('utf8') });
      });
    });
    const timer = setTimeout(() => {
      request.destroy();
      reject(new TemporaryHandlerError(`webhook did not answer within ${formatDuration(Math.max(0, timeoutMs))}; tried again on the next run`, { account }));
    }, Math.max(0, timeoutMs));
    function fail(error: Error) {
      clearTimeout(timer);
      reject(new TemporaryHandlerError(`webhook ${url.origin}: ${error.message}; tried again on the next run`, { account, cause: error }));
    }
    request.on('error', fail);
    request.end(body);
  });
}

/** A 2xx answer: nothing (or not JSON) -> the account's `after`; a JSON `{action, ...}` -> that result. */
function decisionOf(answer: Answer, account: string): HandlerResult {
  const type = String(answer.headers['content-type'] ?? '');
  if (answer.body.trim() === '' || !/\bjson\b/i.test(type)) return undefined;
  let reply: unknown;
  try {
    reply = JSON.parse(answer.body);
  } catch {
    throw new HandlerThrewError(`webhook answered ${answer.status} with JSON that cannot be read${quote(answer.body)}`, { account });
  }
  // Checked and normalised by runHandler, as a JS handler's result is.
  return reply as HandlerResult;
}

/** `Retry-After` in milliseconds: seconds or an HTTP date; undefined when absent or unreadable. */
function retryAfterMs(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function quote(body: string): string {
  const line = body.trim().split('\n')[0] ?? '';
  if (line === '') return '';
  return `: ${line.length > MAX_QUOTED ? `${line.slice(0, MAX_QUOTED - 1)}…` : line}`;
}
