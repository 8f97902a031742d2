/**
 * A first word that names no command. Without this, `mailpoll chek` reaches the default
 * command (`run`) as an argument and commander answers "too many arguments for 'run'".
 */
import type { Command } from 'commander';
import { UsageError } from '../errors.js';

/** Throws a UsageError naming the closest command when `args[0]` is a word that is not one. */
export async function checkCommandName(program: Command, args: readonly string[]): Promise<void> {
  const word = args[0];
  if (word === undefined || word.startsWith('-')) return;
  const names = program.commands.flatMap((command) => [command.name(), ...command.aliases()]);
  if (names.includes(word) || word === 'help') return;
  // The did-you-mean of config keys, loaded only on this error path (it brings zod).
  const { closest } = await import('../config/schema.js');
  const suggestion = closest(word, names);
  const hint = suggestion === undefined ? `commands: ${names.join(', ')}; mailpoll --help for more` : `did you mean '${suggestion}'?`;
  throw new UsageError(`unknown command '${word}' (${hint})`);
}
