/**
 * Delivery over SMTP or LMTP through nodemailer's SMTP transport: the message source goes
 * unchanged (`raw`), with its own envelope. STARTTLS is used whenever the server offers it
 * (nodemailer's default), required with `requireTls`; `smtps://` is TLS from the first byte.
 *
 * The server's answer decides: 2xx for every recipient is a delivery; a 4xx (or no answer:
 * refused connection, timeout) is a temporary failure, not counted towards `maxAttempts`;
 * a 5xx is a failure that counts. LMTP answers the message once per recipient: each refusal
 * is named; one 5xx among them makes the failure a counted one.
 */
import type { ServerDeliverTarget } from '../../config/types.js';
import { HandlerThrewError, TemporaryHandlerError } from '../../errors.js';


/** What nodemailer's errors and results carry that we read. */
interface ServerAnswer {
  message?: string;
  code?: string;
  responseCode?: number;
  response?: string;
  recipient?: string;
}

/** Sends `raw` from `sender` to `target.to`; throws TemporaryHandlerError or HandlerThrewError when it was not accepted for everyone. */
export async function deliverOverSmtp(target: ServerDeliverTarget, raw: Buffer, sender: string, timeoutMs: number, account: string): Promise<void> {
  // Loaded on the first delivery: a run that delivers nothing pays nothing for it.
  const { createTransport } = await import('nodemailer');
  const transport = createTransport({
    host: target.host,
    port: target.port,
    secure: target.secure,
    requireTLS: target.requireTls,
    lmtp: target.kind === 'lmtp',
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
    // An IP address has no name to check the certificate against; a host name is checked.
    tls: { servername: /^[\d.:]+$/.test(target.host) ? undefined : target.host },
  });
  try {
    const info = (await transport.sendMail({ envelope: { from: sender, to: target.to }, raw })) as { rejectedErrors?: ServerAnswer[] };
    const refused = info.rejectedErrors ?? [];
    if (refused.length > 0) throw failureOf(refused, target, account);
  } catch (error) {
    if (error instanceof HandlerThrewError || error instanceof TemporaryHandlerError) throw error;
    const answer = error as ServerAnswer;
    throw failureOf(answer.code === 'EENVELOPE' && Array.isArray((error as { rejectedErrors?: unknown }).rejectedErrors) ? (error as { rejectedErrors: ServerAnswer[] }).rejectedErrors : [answer], target, account);
  } finally {
    transport.close();
  }
}

/** The refusals as one failure: temporary unless some answer was 5xx. */
function failureOf(answers: ServerAnswer[], target: ServerDeliverTarget, account: string): Error {
  const permanent = answers.some((answer) => (answer.responseCode ?? 0) >= 500);
  const parts = answers.map((answer) => {
    const who = answer.recipient === undefined ? '' : `${answer.recipient}: `;
    return `${who}${answer.response?.trim() || answer.message || 'no answer'}`;
  });
  const text = `${target.kind.toUpperCase()} delivery to ${target.display} failed: ${parts.join('; ')}`;
  if (permanent) return new HandlerThrewError(text, { account });
  return new TemporaryHandlerError(`${text}; tried again on the next run`, { account });
}
