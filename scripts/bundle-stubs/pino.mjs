// In the bundle, instead of pino: imapflow builds a pino logger only when it is given none,
// and mailpoll always gives it one (src/mailbox/imap/log.ts, createLogger). ~150 KB less to load
// on every IMAP run. If that ever changes, this says so instead of failing obscurely.
export default function pino() {
  throw new Error('mailpoll bundle: pino is not included; pass imapflow a logger (src/mailbox/imap/log.ts)');
}
