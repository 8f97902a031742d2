/**
 * Named connections: an account with `connection: NAME` inherits the connection keys (host,
 * port, TLS, proxy, login and credentials) of `connections.NAME` (from the config or from
 * `connectionsFile`), its own keys winning. Applied before `defaults`, so that the order is
 * account, then connection, then defaults. Pure: no I/O.
 */
import type * as z from 'zod';
import type { Protocol } from '../domain.js';
import { closest } from './did-you-mean.js';
import { CONNECTION_KEYS } from './schema-transport.js';
import { PASSWORD_KEYS, type connectionSchema, type ParsedAccount, type ParsedDefaults } from './schema.js';

export type ParsedConnection = z.output<typeof connectionSchema>;

/** Every named connection: the config's `connections` and the entries of `connectionsFile`. */
export type ConnectionSet = ReadonlyMap<string, ParsedConnection>;

/** The connection an account names (its own `connection`, else the one of `defaults`). */
export function connectionName(account: ParsedAccount, defaults: ParsedDefaults | undefined): string | undefined {
  return account.connection ?? defaults?.connection;
}

/** Why `name` is not a connection, with a did-you-mean, or undefined when it is one. */
export function unknownConnection(name: string, connections: ConnectionSet | undefined): string | undefined {
  const names = [...(connections?.keys() ?? [])];
  if (names.includes(name)) return undefined;
  if (names.length === 0) return `unknown connection "${name}": the config has no connections (define it under connections: or in connectionsFile)`;
  const suggestion = closest(name, names);
  const hint = suggestion === undefined ? `connections: ${names.join(', ')}` : `did you mean "${suggestion}"?`;
  return `unknown connection "${name}" (${hint})`;
}

export interface WithConnection {
  account: ParsedAccount;
  /** The keys the account took from its connection, and the connection's name. */
  inherited: ReadonlySet<string>;
  name: string | undefined;
}

/**
 * `account` with the keys of its named connection filled in where it sets none. The password
 * keys are one setting: an account that names a password source takes none from the connection.
 * A Maildir account takes only `protocol`; a POP3 account takes `requireAuth` only when it is
 * false, so that the rules can refuse it.
 */
export function withConnection(account: ParsedAccount, defaults: ParsedDefaults | undefined, connections: ConnectionSet | undefined): WithConnection {
  const name = connectionName(account, defaults);
  const connection = name === undefined ? undefined : connections?.get(name);
  if (connection === undefined) return { account, inherited: new Set(), name };
  const protocol: Protocol | undefined = account.protocol ?? connection.protocol ?? defaults?.protocol;
  const ownPassword = PASSWORD_KEYS.some((key) => account[key as keyof ParsedAccount] !== undefined);
  const merged: Record<string, unknown> = { ...account };
  const inherited = new Set<string>();
  for (const key of CONNECTION_KEYS) {
    const value = connection[key];
    if (value === undefined || merged[key] !== undefined) continue;
    if (ownPassword && (PASSWORD_KEYS as readonly string[]).includes(key)) continue;
    if (protocol === 'maildir' && key !== 'protocol') continue;
    // A shared connection may say requireAuth: true; only false means something POP3 cannot do.
    if (protocol === 'pop3' && key === 'requireAuth' && value !== false) continue;
    merged[key] = value;
    inherited.add(key);
  }
  return { account: merged as ParsedAccount, inherited, name };
}
