/**
 * Cross-field checks on the parsed config: what each protocol needs once `defaults` are
 * inherited, keys that make no sense together. Pure: problem lines in, problem lines out
 * (`accounts[0].moveTo: is required when after is move`, no file name).
 */
import { afterProblems, skipKeywordProblem } from './after.js';
import type { Protocol } from '../domain.js';
import { formatDuration } from '../duration.js';
import { sameFolder } from '../mailbox/folder-name.js';
import { ACCOUNT_DEFAULTS, IMPLICIT_TLS_PORT, PLAIN_PORT } from './defaults.js';
import { checkOAuth2 } from './oauth2.js';
import { checkDeliver } from './schema-deliver.js';
import { proxyPasswordProblems } from './schema-transport.js';
import { checkSearch } from './search.js';
import { unknownConnection, withConnection, type ConnectionSet } from './connections.js';
import { ACCOUNT_KEY_DOCS, HANDLER_KEYS, PASSWORD_KEYS, formatPath, type AccountKey, type ParsedAccount, type ParsedDefaults } from './schema.js';

/** The parsed config as the rules see it. */
export interface RulesInput {
  /** In file order; `undefined` for an entry the schema rejected (its rules are skipped). None: left out (`accountsTable: true`). */
  accounts?: ReadonlyArray<ParsedAccount | undefined> | undefined;
  /** `undefined` when absent, or when the schema rejected it. */
  defaults?: ParsedDefaults | undefined;
  /**
   * The name of every entry, including those the schema rejected (undefined where there is
   * no usable name), for the duplicate check. Default: the names of `accounts`.
   */
  names?: ReadonlyArray<string | undefined> | undefined;
  /** The named connections (`connections` and `connectionsFile`); undefined: none. */
  namedConnections?: ConnectionSet | undefined;
}

/** An account with `defaults` applied: the keys it sets plus the ones it inherits. */
export interface MergedAccount extends ParsedDefaults {
  name: string;
  /** The keys whose value came from `defaults`. */
  inherited: ReadonlySet<AccountKey>;
}

/** Whether `key` means something for `protocol`. */
export function appliesTo(key: AccountKey, protocol: Protocol): boolean {
  return (ACCOUNT_KEY_DOCS[key].protocols as readonly Protocol[]).includes(protocol);
}

function isSet<T extends object>(object: T | undefined, key: keyof T): boolean {
  return object !== undefined && object[key] !== undefined;
}

/** When cycles start: `interval` or `schedule`, one setting like the password sources. */
export const TIMING_KEYS = ['interval', 'schedule'] as const;

type Backoff = NonNullable<ParsedDefaults['backoff']>;

/** `defaults.backoff` and the account's own, key by key (the account's values win). */
function mergeBackoff(own: Backoff | undefined, inherited: Backoff | undefined): Backoff | undefined {
  if (own === undefined || inherited === undefined) return own ?? inherited;
  return {
    initial: own.initial ?? inherited.initial,
    max: own.max ?? inherited.max,
  };
}

/**
 * Apply `defaults` to one account: the account's own value wins; an inherited key that
 * does not apply to the account's protocol is dropped; the four password keys are one
 * setting, so an account that names any password source inherits none, and so are
 * `interval` and `schedule`, and the handler kinds (`HANDLER_KEYS`). `backoff` is merged key by key.
 */
export function mergeDefaults(account: ParsedAccount, defaults: ParsedDefaults | undefined): MergedAccount {
  const merged: Record<string, unknown> = { ...account };
  const inherited = new Set<AccountKey>();
  const protocol = account.protocol ?? defaults?.protocol;
  const ownPassword = PASSWORD_KEYS.some((key) => isSet(account, key));
  const ownTiming = TIMING_KEYS.some((key) => isSet(account, key));
  const ownHandler = HANDLER_KEYS.some((key) => isSet(account, key));
  if (defaults !== undefined) {
    for (const key of Object.keys(defaults) as (keyof ParsedDefaults)[]) {
      if (defaults[key] === undefined) continue;
      if (protocol !== undefined && !appliesTo(key, protocol)) continue;
      if (key === 'backoff') {
        merged.backoff = mergeBackoff(account.backoff, defaults.backoff);
        if (account.backoff === undefined) inherited.add(key);
        continue;
      }
      if (account[key] !== undefined) continue;
      if (ownPassword && (PASSWORD_KEYS as readonly string[]).includes(key)) continue;
      if (ownTiming && (TIMING_KEYS as readonly string[]).includes(key)) continue;
      if (ownHandler && (HANDLER_KEYS as readonly string[]).includes(key)) continue;
      merged[key] = defaults[key];
      inherited.add(key);
    }
  }
  return { ...(merged as ParsedAccount), inherited };
}

/** Problem lines for conflicting password sources set on one object (an account or `defaults`). */
function checkPasswordSources(object: ParsedDefaults, path: readonly PropertyKey[]): string[] {
  const set = PASSWORD_KEYS.filter((key) => object[key] !== undefined);
  return set.slice(1).map((key) => `${formatPath([...path, key])}: conflicts with ${set[0]}; set only one password source`);
}

/** Problem lines for more than one handler kind set on one object (an account or `defaults`). */
function checkHandlerKinds(object: ParsedDefaults, path: readonly PropertyKey[]): string[] {
  const set = HANDLER_KEYS.filter((key) => object[key] !== undefined);
  return set.slice(1).map((key) => `${formatPath([...path, key])}: conflicts with ${set[0]}; set one handler kind (${HANDLER_KEYS.join(', ')})`);
}

/** Problem lines for both `interval` and `schedule` set on one object (an account or `defaults`). */
function checkTiming(object: ParsedDefaults, path: readonly PropertyKey[]): string[] {
  const set = TIMING_KEYS.filter((key) => object[key] !== undefined);
  return set.slice(1).map((key) => `${formatPath([...path, key])}: conflicts with ${set[0]}; set either interval or schedule`);
}

/**
 * Problem lines for a `backoff` (of an account or `defaults`) whose `initial` is longer than
 * its `max`, the keys it does not set coming from `inherited` (`defaults.backoff`), else the
 * built-in defaults. Nothing when the object sets no `backoff` of its own.
 */
function checkBackoff(own: Backoff | undefined, inherited: Backoff | undefined, path: readonly PropertyKey[]): string[] {
  if (own === undefined) return [];
  const initial = own.initial ?? inherited?.initial ?? ACCOUNT_DEFAULTS.backoff.initialMs;
  const max = own.max ?? inherited?.max ?? ACCOUNT_DEFAULTS.backoff.maxMs;
  if (initial <= max) return [];
  const origin = (key: keyof Backoff) => (own[key] !== undefined ? '' : inherited?.[key] !== undefined ? ', from defaults' : ', the default');
  if (own.initial !== undefined) {
    return [`${formatPath([...path, 'backoff', 'initial'])}: ${formatDuration(initial)} is longer than max (${formatDuration(max)}${origin('max')}); make initial at most max`];
  }
  return [`${formatPath([...path, 'backoff', 'max'])}: ${formatDuration(max)} is shorter than initial (${formatDuration(initial)}${origin('initial')}); make max at least initial`];
}

/** Why a key does not apply, where there is more to say than the protocols it applies to. */
const REASONS: Partial<Record<Protocol, Partial<Record<AccountKey, string>>>> = {
  pop3: {
    folder: 'POP3 has no folders; remove folder',
    onlyUnseen: 'POP3 has no seen flag, so every message on the server is listed; remove onlyUnseen',
    skipKeyword: 'POP3 has no flags or keywords to look for; remove skipKeyword',
    moveTo: 'POP3 has no folders to move to; remove moveTo and use after: keep or delete',
    idle: 'POP3 has no IDLE, so the server cannot announce new mail; remove idle (watch mode polls pop3 accounts every interval)',
    requireAuth: 'POP3 has no pre-authenticated sessions (every session starts by logging in); remove requireAuth',
  },
  maildir: {
    idle: 'idle keeps an IMAP connection open for the server to announce new mail, and a Maildir has no server; remove idle (watch mode polls it every interval)',
  },
};

function notApplicable(key: AccountKey, protocol: Protocol): string {
  const reason = REASONS[protocol]?.[key];
  if (reason !== undefined) return reason;
  const protocols = ACCOUNT_KEY_DOCS[key].protocols.join(' and ');
  return `does not apply to ${protocol} accounts (only to ${protocols}); remove it`;
}

/**
 * Problem lines for one account, its own keys and what it inherits; `base` is where it is
 * written (`['accounts', 0]` in the file, `['accountsTable', 'name']` in the store's table).
 */
export function checkAccountRules(own: ParsedAccount, base: readonly PropertyKey[], defaults: ParsedDefaults | undefined, connections: ConnectionSet | undefined): string[] {
  const problems: string[] = [];
  const named = withConnection(own, defaults, connections);
  if (named.name !== undefined) {
    const unknown = unknownConnection(named.name, connections);
    const where = own.connection !== undefined ? [...base, 'connection'] : ['defaults', 'connection'];
    // Without its connection, what the account lacks would be guesses: say only that.
    if (unknown !== undefined) return [`${formatPath(where)}: ${unknown}`];
  }
  const account = named.account;
  const at = (key: string) => formatPath([...base, key]);
  problems.push(...checkPasswordSources(account, base));
  problems.push(...checkTiming(account, base));
  problems.push(...checkHandlerKinds(account, base));
  problems.push(...checkBackoff(account.backoff, defaults?.backoff, base));

  const protocol = account.protocol ?? defaults?.protocol;
  if (protocol === undefined) {
    problems.push(`${at('protocol')}: is required (imap, pop3 or maildir)`);
    return problems;
  }

  for (const key of Object.keys(account) as AccountKey[]) {
    if (account[key] === undefined || appliesTo(key, protocol)) continue;
    const via = named.inherited.has(key) ? ` (from connection ${named.name})` : '';
    problems.push(`${at(key)}${via}: ${notApplicable(key, protocol)}`);
  }

  const merged = mergeDefaults(account, defaults);
  const from = (key: AccountKey) => (merged.inherited.has(key) ? ' (from defaults)' : '');

  if (protocol === 'imap' || protocol === 'pop3') {
    if (merged.host === undefined) problems.push(`${at('host')}: is required for ${protocol}`);
    const preauthenticated = merged.requireAuth === false && protocol === 'imap';
    if (merged.user === undefined && !preauthenticated) problems.push(`${at('user')}: is required for ${protocol}`);
    const own = PASSWORD_KEYS.filter((key) => account[key] !== undefined);
    problems.push(...checkOAuth2(merged, own, (...keys) => formatPath([...base, ...keys])));
    if (!preauthenticated && merged.auth !== 'oauth2' && !PASSWORD_KEYS.some((key) => merged[key] !== undefined)) {
      problems.push(`${at('password')}: a password source is required for ${protocol}: set password, passwordEnv, passwordFile, passwordCommand or passwordSecret (or auth: oauth2)`);
    }
    const tls = merged.tls ?? ACCOUNT_DEFAULTS.tls;
    const port = merged.port;
    if (port === IMPLICIT_TLS_PORT[protocol] && tls !== 'implicit') {
      problems.push(`${at('tls')}: port ${port}${from('port')} is the implicit TLS port; set tls: implicit or port: ${PLAIN_PORT[protocol]}`);
    } else if (port === PLAIN_PORT[protocol] && tls === 'implicit') {
      const tlsWhere = merged.tls === undefined ? ' (the default)' : from('tls');
      problems.push(
        `${at('tls')}: port ${port}${from('port')} is the plain ${protocol.toUpperCase()} port, but tls is implicit${tlsWhere}; set tls: starttls (or none), or port: ${IMPLICIT_TLS_PORT[protocol]}`,
      );
    }
    problems.push(...checkTlsKeys(merged, at));
    problems.push(...proxyPasswordProblems(merged, at));
  } else if (merged.path === undefined) {
    problems.push(`${at('path')}: is required for maildir`);
  }

  const after = merged.after?.action;
  if (protocol === 'pop3') {
    if (after === 'markSeen' || after === 'move') {
      const hint = merged.inherited.has('after') ? `after: ${after} comes from defaults; set after: keep or delete on this account` : 'use after: keep or delete';
      problems.push(`${at('after')}: POP3 has no folders/flags; ${hint}`);
    }
  } else if (after === 'move') {
    if (merged.moveTo === undefined) problems.push(`${at('moveTo')}: is required when after is move${from('after')}`);
  }

  if (merged.after !== undefined) for (const problem of afterProblems(protocol, merged.after)) problems.push(`${at('after')}: ${problem}${from('after')}`);
  const skipProblem = merged.skipKeyword === undefined ? undefined : skipKeywordProblem(protocol, merged.skipKeyword);
  if (skipProblem !== undefined) problems.push(`${at('skipKeyword')}: ${skipProblem}${from('skipKeyword')}`);
  problems.push(...checkDeliver({ ...merged, protocol }, at));
  if (protocol === 'pop3' && typeof merged.startFrom === 'number') {
    problems.push(`${at('startFrom')}${from('startFrom')}: POP3 does not say when a message arrived; use startFrom: now`);
  }
  if (merged.search !== undefined) {
    const where = merged.inherited.has('search') ? 'defaults.search' : at('search');
    problems.push(...checkSearch(merged.search, protocol, where).map((line) => (merged.inherited.has('search') ? line.replace(': not', ` (for ${at('search')}): not`) : line)));
  }

  if (merged.folder !== undefined && merged.folders !== undefined) {
    problems.push(`${at('folders')}${from('folders')}: cannot be used together with folder${from('folder')}; keep one (folders: [${merged.folder}, ...] lists several)`);
  }
  // A message moved into the folder being polled comes back as a new message on every run.
  // With `folders`, the names written out (patterns and `all` leave the targets out when matching).
  const polledFolders = merged.folders === undefined ? [merged.folder ?? ACCOUNT_DEFAULTS.folder] : merged.folders === 'all' ? [] : merged.folders;
  for (const key of ['moveTo', 'quarantineFolder'] as const) {
    const target = merged[key];
    if (protocol === 'imap' && target !== undefined && polledFolders.some((polled) => sameFolder(target, polled))) {
      problems.push(`${at(key)}: is the folder being polled ("${target}"${from(key)}); name another folder`);
    }
  }
  const copyTo = merged.after?.extras?.copyTo;
  if (protocol === 'imap' && copyTo !== undefined && polledFolders.some((polled) => sameFolder(copyTo, polled))) {
    problems.push(`${at('after')}: copies to the folder being polled ("${copyTo}"${from('after')}): the copy would be handed over as new mail on every run; name another folder`);
  }
  return problems;
}

/** A client certificate needs its key (and the reverse); certificates need TLS. */
function checkTlsKeys(merged: MergedAccount, at: (key: string) => string): string[] {
  const problems: string[] = [];
  if (merged.tlsCert !== undefined && merged.tlsKey === undefined) problems.push(`${at('tlsKey')}: is required with tlsCert (the client certificate's private key)`);
  if (merged.tlsKey !== undefined && merged.tlsCert === undefined) problems.push(`${at('tlsCert')}: is required with tlsKey (the client certificate)`);
  if (merged.tls === 'none') {
    for (const key of ['tlsFingerprint', 'tlsCert', 'tlsMinVersion'] as const) {
      if (merged[key] !== undefined) problems.push(`${at(key)}: needs TLS, but tls is none; set tls: implicit or starttls, or remove ${key}`);
    }
  }
  return problems;
}

/** Every cross-field problem of the config, in file order. */
export function checkRules(config: RulesInput): string[] {
  const problems: string[] = [];
  if (config.defaults !== undefined) {
    problems.push(...checkPasswordSources(config.defaults, ['defaults']));
    problems.push(...checkTiming(config.defaults, ['defaults']));
    problems.push(...checkHandlerKinds(config.defaults, ['defaults']));
    problems.push(...checkBackoff(config.defaults.backoff, undefined, ['defaults']));
  }
  const accounts = config.accounts ?? [];
  accounts.forEach((account, index) => {
    if (account !== undefined) problems.push(...checkAccountRules(account, ['accounts', index], config.defaults, config.namedConnections));
  });
  const names = config.names ?? accounts.map((account) => account?.name);
  const firstIndex = new Map<string, number>();
  names.forEach((name, index) => {
    if (name === undefined) return;
    const first = firstIndex.get(name);
    if (first === undefined) firstIndex.set(name, index);
    else problems.push(`${formatPath(['accounts', index, 'name'])}: "${name}" is already used by accounts[${first}]; names must be unique`);
  });
  return problems;
}
