// Benchmark handler (a): reads only `subject` and `from`, decides keep/delete-style.
// The action for a normal message comes from MAILPOLL_BENCH_ACTION (markSeen, delete, keep),
// set by bench/run.ts to match the case; a message without sender or subject is kept.
const action = process.env.MAILPOLL_BENCH_ACTION || undefined;

// What the README tells a handler like this one to declare: only the header block is
// parsed. (A mailpoll without the option ignores the export and parses everything.)
export const parse = 'headers';

export default function handle(mailMessage) {
  const subject = mailMessage.subject;
  const from = mailMessage.from?.value?.[0]?.address;
  if (!subject || !from) return 'keep';
  return action;
}
