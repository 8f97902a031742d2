/**
 * The rows of the accounts table (`accountsTable: true`, store/accounts-table.ts) checked as
 * entries of the config's `accounts`: the same schema, and secrets only by reference. Pure:
 * rows in, the account entries (`name` set) and the problems out, each as
 * `accountsTable.NAME.key: message`. The loader then treats the entries as the file's own
 * (defaults, named connections, the cross-field rules) and refuses a name the file also uses.
 */
import type { TableAccount } from '../store/accounts-table.js';
import { buildAccountEntry, type AccountBuildContext } from './build-account.js';
import { checkAccountRules } from './rules.js';
import { accountSchema, formatIssue, formatPath, type ParsedAccount } from './schema.js';
import type { AccountConfig, RefusedTableAccount, TableAccountRow, TableAccountsBuilder } from './types.js';

export interface TableAccountsResult {
  /** The valid rows as `accounts` entries, in the rows' order. */
  accounts: ParsedAccount[];
  /** One line per problem; a row with any problem is left out of `accounts`. */
  problems: string[];
}

/** Where a table row names its secrets instead of holding them. */
const BY_REFERENCE = 'passwordEnv, passwordFile, passwordCommand or passwordSecret';

export function validateTableAccounts(rows: readonly Pick<TableAccount, 'name' | 'account'>[]): TableAccountsResult {
  const accounts: ParsedAccount[] = [];
  const problems: string[] = [];
  for (const row of rows) {
    const at = (...keys: string[]): string => formatPath(['accountsTable', row.name, ...keys]);
    const own = literalSecretsOf(row.account).map((keys) => `${at(...keys)}: the accounts table holds no secret itself; name where it is (${BY_REFERENCE})`);
    const entry = { ...row.account, name: row.name };
    if (row.account.name !== undefined && row.account.name !== row.name) own.push(`${at('name')}: differs from the row's name "${row.name}"; leave it out`);
    const parsed = accountSchema.safeParse(entry);
    if (!parsed.success) {
      const root = { accountsTable: { [row.name]: entry } };
      for (const issue of parsed.error.issues) own.push(...formatIssue({ ...issue, path: ['accountsTable', row.name, ...issue.path] }, root));
    }
    if (own.length > 0) problems.push(...own);
    else if (parsed.success) accounts.push(parsed.data);
  }
  return { accounts, problems };
}

export interface TableBuildContext extends AccountBuildContext {
  /** The names of the file's `accounts`, in file order: a row may not reuse one. */
  fileAccounts: readonly string[];
  /** Whether a file (`ca`, `tlsCert`, `tlsKey`) can be read: undefined when it can, else why. */
  checkReadable?: ((file: string) => string | undefined) | undefined;
}

/**
 * How rows become accounts under this config: each row checked by the schema, then by the
 * same rules as a file account (with the file's `defaults` and named connections), then
 * resolved as one. A row with any problem is refused on its own; the others are unaffected.
 */
export function tableAccountsBuilder(context: TableBuildContext): TableAccountsBuilder {
  return (rows) => {
    const accounts: AccountConfig[] = [];
    const refused: RefusedTableAccount[] = [];
    for (const row of rows) {
      const { entry, problems } = checkRow(row, context);
      if (entry === undefined || problems.length > 0) refused.push({ account: row.name, problems });
      else accounts.push(buildAccountEntry(entry, ['accountsTable', row.name], context));
    }
    return { accounts, refused };
  };
}

function checkRow(row: TableAccountRow, context: TableBuildContext): { entry?: ParsedAccount | undefined; problems: string[] } {
  const base = ['accountsTable', row.name];
  const index = context.fileAccounts.indexOf(row.name);
  if (index >= 0) {
    const problem = `${formatPath(base)}: "${row.name}" is also the name of accounts[${index}] in ${context.displayName}; names must be unique across the file and the table (rename or delete one)`;
    return { problems: [problem] };
  }
  const { accounts: [entry], problems } = validateTableAccounts([row]);
  if (entry === undefined) return { problems };
  const found = checkAccountRules(entry, base, context.defaults, context.connections);
  const checkReadable = context.checkReadable;
  if (checkReadable !== undefined) {
    for (const key of ['ca', 'tlsCert', 'tlsKey'] as const) {
      const value = entry[key];
      const file = value === undefined ? undefined : context.resolvePath(value);
      const reason = file === undefined ? undefined : checkReadable(file);
      if (reason !== undefined) found.push(`${formatPath([...base, key])}: cannot read ${file}: ${reason}`);
    }
  }
  return { entry, problems: found };
}

/**
 * The key paths of secrets written into a row: `password`, `oauth2.clientSecret`, a password
 * in `proxy`. The table refuses them too; this names them for rows of another backend.
 */
function literalSecretsOf(account: Record<string, unknown>): string[][] {
  const found: string[][] = [];
  if (account.password !== undefined) found.push(['password']);
  const oauth2 = account.oauth2;
  if (oauth2 !== null && typeof oauth2 === 'object' && 'clientSecret' in oauth2) found.push(['oauth2', 'clientSecret']);
  if (typeof account.proxy === 'string' && /^[a-z0-9+.-]+:\/\/[^:@/]*:[^@/]*@/i.test(account.proxy)) found.push(['proxy']);
  return found;
}
