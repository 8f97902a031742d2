/**
 * One line on stderr from outside a command's output (the entry point's errors and signal
 * notes, the store's notices): a password masked, control characters escaped, and the time
 * prefix as --timestamps/--no-timestamps or the stream decide (timestamps.ts).
 */
import { redact } from '../redact.js';
import { escapeControls } from '../report/sanitize.js';
import { outputClock, stampLines, timestampsFlag, wantsTimestamps } from './timestamps.js';

const stamped = wantsTimestamps(timestampsFlag(process.argv.slice(2)), process.stderr);

export function writeDiagnostic(line: string): void {
  const text = escapeControls(redact(line));
  process.stderr.write(`${stamped ? stampLines(text, outputClock()) : text}\n`);
}

/** commander's own messages (an unknown option): already formatted, stamped the same way. */
export function writeCommanderDiagnostic(text: string): void {
  process.stderr.write(stamped ? `${stampLines(text.replace(/\n$/, ''), outputClock())}\n` : text);
}
