// The handler the deploy examples name (/etc/mailpoll/handler.mjs, /config/handler.mjs in a
// container): replace it with your own. Returning 'keep' leaves the message where it is
// (marked as handled in the ledger, so it is not handed over again).
export default async function handle(message, context) {
  context.log(`${message.from?.text ?? 'unknown sender'}: ${message.subject ?? '(no subject)'}`);
  return 'keep';
}
