// Benchmark handler (b): reads the whole parsed message, `text` and every attachment's
// content, as a handler that files tickets with their attachments would.
const action = process.env.MAILPOLL_BENCH_ACTION || undefined;

export default function handle(mailMessage) {
  let bytes = (mailMessage.text ?? '').length;
  for (const attachment of mailMessage.attachments ?? []) {
    bytes += attachment.content?.length ?? 0;
  }
  if (bytes === 0) return 'keep';
  return action;
}
