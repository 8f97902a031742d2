/**
 * IMAP flags and keywords as handlers and the config write them (`$Processed`, `\Flagged`),
 * checked before any server sees them: a name no server could store is refused at `validate`
 * time and as an invalid handler result, not by the server run after run.
 */

/** The system flags a handler may set or clear, in their canonical spelling. `\Deleted` is `delete`'s, `\Recent` the server's. */
export const SETTABLE_SYSTEM_FLAGS: readonly string[] = ['\\Seen', '\\Answered', '\\Flagged', '\\Draft'];

/** The flags a Maildir stores in its file names (F and S) that a handler may set or clear; it has no keywords of its own. */
export const MAILDIR_FLAGS: readonly string[] = ['\\Seen', '\\Flagged'];

// RFC 3501 atom-specials, `]` and the control characters: none may be in a keyword.
const NOT_IN_KEYWORD = /[\u0000-\u0020\u007f-\u009f(){%*"\\\]]/;

/** The longest keyword accepted (Dovecot's own limit is higher; a longer one is a mistake). */
const MAX_KEYWORD = 100;

/**
 * The flag as the server spells it (`\seen` -> `\Seen`), or why it cannot be one: the
 * reason ends "expected a keyword or one of \Seen, ...".
 */
export function readFlagName(name: string): { flag: string } | { problem: string } {
  if (name.startsWith('\\')) {
    const system = SETTABLE_SYSTEM_FLAGS.find((flag) => flag.toLowerCase() === name.toLowerCase());
    if (system !== undefined) return { flag: system };
    if (name.toLowerCase() === '\\deleted') return { problem: `\\Deleted is set by the action delete; return 'delete' instead` };
    return { problem: `${name} is not a flag a client may set; expected a keyword such as $Processed or one of ${SETTABLE_SYSTEM_FLAGS.join(', ')}` };
  }
  if (name === '') return { problem: 'the flag name is empty' };
  if (name.length > MAX_KEYWORD) return { problem: `a keyword is at most ${MAX_KEYWORD} characters` };
  if (NOT_IN_KEYWORD.test(name)) return { problem: `a keyword cannot contain spaces, control characters or any of ( ) { % * " \\ ]` };
  return { flag: name };
}
