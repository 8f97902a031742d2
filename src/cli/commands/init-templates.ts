/** What `mailpoll init` writes: an annotated config and a handler to start from. */

export const CONFIG_FILE = 'mailpoll.config.yaml';
export const HANDLER_FILE = 'handler.mjs';

export const CONFIG_TEMPLATE = `# mailpoll configuration. Reference: https://www.npmjs.com/package/mailpoll (README, "Config reference").
# Check it with:   mailpoll validate
# Try a login:     mailpoll check
# One cycle:       mailpoll            (or: mailpoll --dry-run, to change nothing on the server)

# The handler every account uses unless it names its own (relative to this file).
script: ./handler.mjs

# Inherited by every account; an account's own value wins.
defaults:
  tls: implicit            # implicit (993/995) | starttls (143/110) | none (plaintext: avoid)
  connectTimeout: 30s      # TCP + TLS + greeting + login
  fetchTimeout: 2m

accounts:
  - name: support
    protocol: imap
    host: imap.example.com
    user: support@example.com
    # login: support          # only when the login name differs from the address
    passwordEnv: SUPPORT_IMAP_PASSWORD   # or password / passwordFile / passwordCommand
    folder: INBOX            # or a folder as your mail client shows it: Incidents, Support/Incidents
    onlyUnseen: true         # only messages not yet read
    after: markSeen          # when the handler returns nothing: markSeen | delete | move | keep
    # after: move
    # moveTo: Processed
    # maxMessages: 100       # per run; the rest waits for the next run

  # A local Maildir: no server needed, handy to try a handler on saved mail.
  - name: local
    protocol: maildir
    path: ./Maildir
    enabled: false           # enable it, or run: mailpoll -a local
`;

export const HANDLER_TEMPLATE = `// mailpoll handler: called once per new message. README, "Handler API".
//
// mailMessage: the parsed message (subject, from, to, text, html, attachments, headers, ...)
//              plus uid, account, folder, flags, size and raw (the RFC 822 source, a Buffer).
// context:     { account, dryRun, log(...) }   (log writes to stderr)
//
// Return what should happen to the message on the server:
//   1 delete + transition   2 keep + transition   3 delete   4 keep
//   'delete' | 'keep' | 'markSeen' | 'move:Folder/Sub'   or   { action, folder?, transition? }
//   nothing: the account's \`after\` (default markSeen)
// Throw (or reject) to leave the message exactly as it was: it is retried on the next run.

export default async function handle(mailMessage, context) {
  context.log(\`\${mailMessage.uid}: \${mailMessage.subject ?? '(no subject)'} from \${mailMessage.from?.text ?? '?'}\`);

  if (/unsubscribe/i.test(mailMessage.subject ?? '')) return 3; // delete, nothing follows

  // ... hand the message to your system here (create a ticket, store the invoice, ...) ...

  return 'markSeen';
}
`;
