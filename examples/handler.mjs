// The example handler: every support mail becomes a ticket line in work/tickets.ndjson.
// Newsletters are deleted without a ticket (code 3), invoices are filed into the
// Invoices folder, and a message without a sender is left alone (code 4).
import { appendFile } from 'node:fs/promises';

const tickets = new URL('./work/tickets.ndjson', import.meta.url);

export default async function handle(mailMessage, context) {
  const from = mailMessage.from?.value[0]?.address;
  if (!from) return 4; // keep, no transition: a human should look at it

  // mailparser gathers the List-* headers under 'list'.
  if (mailMessage.headers.get('list')?.unsubscribe) return 3; // a newsletter: delete, nothing follows

  if (/invoice/i.test(mailMessage.subject ?? '')) {
    context.log(`filing invoice ${mailMessage.messageId}`);
    return { action: 'move', folder: 'Invoices', transition: true };
  }

  const ticket = {
    from,
    subject: mailMessage.subject ?? '(no subject)',
    attachments: mailMessage.attachments.map((a) => a.filename),
    messageId: mailMessage.messageId,
  };
  if (!context.dryRun) await appendFile(tickets, `${JSON.stringify(ticket)}\n`);
  return 'move'; // into moveTo (Processed), with transition
}
