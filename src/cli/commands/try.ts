/**
 * `mailpoll try MESSAGE`: one handler on one saved message (a file, `-` for stdin, or a ref
 * whose raw copy is in the store's archive), as a dry run. The handler is loaded, the
 * message parsed, the handler run and its result normalised and planned by the same
 * functions a poll uses; nothing touches a server, and the store (for a ref) is opened for
 * reading only.
 */
import { MAILDIR_FLAGS } from '../../mailbox/flag-name.js';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { WEBHOOK_DEFAULTS, accountDefaults } from '../../config/defaults.js';
import { selectAccounts } from '../../config/select.js';
import type { AccountConfig, Config } from '../../config/types.js';
import { planDecision } from '../../decision/plan.js';
import { describeError, ExitCode, MailpollError, messageErrorCode, UsageError } from '../../errors.js';
import { describeFailureDetail, firstHandlerFrame } from '../../handler/failure-detail.js';
import { loadAccountHandler } from '../../handler/load.js';
import { createHandlerInvoker } from '../../handler/invoke.js';
import { createHandlerContext } from '../../handler/run.js';
import type { LoadedHandler, MailMessage } from '../../handler/types.js';
import type { FetchedMessage, MailboxCapabilities } from '../../mailbox/types.js';
import { parseMessage } from '../../message/parse.js';
import { createOutput } from '../output.js';
import { loadConfigIfAny, openReadOnlyCliStore } from '../store.js';
import { describeMessage, formatTryJson, formatTryText, type TriedAttachment, type TryResult } from '../try-report.js';
import { parseRef } from './show.js';

export interface TryCommandOptions {
  config?: string | undefined;
  account?: string | undefined;
  script?: string | undefined;
  /** A command line, run by `/bin/sh -c` in the current folder. */
  command?: string | undefined;
  webhook?: string | undefined;
  webhookBody?: 'raw' | 'json' | undefined;
  store?: string | undefined;
  json?: boolean | undefined;
  verbose?: boolean | undefined;
}

/** The message to try, read before any handler runs. */
interface Source {
  fetched: FetchedMessage;
  /** How the report names it: the file, `-`, `ref 42`. */
  label: string;
  ref: number | undefined;
  /** The record's account, for a ref tried without a handler of its own. */
  account: string | undefined;
  folder: string | undefined;
}

const NAME_A_HANDLER = 'name the handler: -s FILE, --command LINE, --webhook URL, or -a ACCOUNT for the one in the config';

export async function tryCommand(source: string, options: TryCommandOptions): Promise<ExitCode> {
  const output = createOutput(options);
  const isRef = source !== '-' && /^\d+$/.test(source) && !existsSync(source);
  // A config only where it is needed: the account's keys, or where the store of a ref is.
  const config = options.account !== undefined || isRef ? await loadConfigIfAny(options.config) : undefined;
  const message = await readSource(source, isRef, options, config);
  const account = accountFor(options, config, message.account);
  const handler = await loadAccountHandler(account);
  if (handler === undefined) throw new UsageError(`try: account ${account.name} has no handler; ${NAME_A_HANDLER}`);

  const folder = message.folder ?? account.folder;
  const mailMessage = await parseMessage(message.fetched, { account: account.name, folder, headersOnly: handler.parse === 'headers' });
  if (message.ref !== undefined) mailMessage.ref = message.ref;
  const attachments = await attachmentsOf(mailMessage, handler, message.fetched, folder);

  const started = Date.now();
  const result: TryResult = {
    message: describeMessage(mailMessage, message.label, attachments),
    handler: describeHandler(account),
    status: 'ok',
    decision: undefined,
    error: null,
    code: null,
    location: null,
    stack: null,
    durationMs: 0,
  };
  try {
    // The poll's own path: a module runs in a worker thread, so a handler that exits or
    // loops fails here as it would in a run instead of ending `try` itself.
    const context = createHandlerContext(account.name, true, output.logger);
    const invoker = createHandlerInvoker({ ...account, folder, handlerConcurrency: 1 }, handler, context);
    let outcome;
    try {
      outcome = await invoker.invoke(message.fetched, mailMessage, message.ref);
    } finally {
      await invoker.close();
    }
    result.decision = planDecision(outcome, capabilitiesOf(account), account, (target) => isSameFolder(target, folder));
  } catch (error) {
    if (!(error instanceof MailpollError)) throw error;
    const stack = describeFailureDetail(error);
    Object.assign(result, { status: 'failed', error: describeError(error), code: messageErrorCode(error), location: firstHandlerFrame(stack) ?? null, stack: stack ?? null });
  }
  result.durationMs = Date.now() - started;

  if (options.json) output.print(formatTryJson(result));
  else for (const line of formatTryText(result)) output.print(line);
  return result.status === 'ok' ? ExitCode.ok : ExitCode.messageFailed;
}

async function readSource(source: string, isRef: boolean, options: TryCommandOptions, config: Config | undefined): Promise<Source> {
  if (isRef) return readArchived(parseRef(source), options, config);
  if (source === '-') {
    if (process.stdin.isTTY) throw new UsageError('try -: reads the message from stdin; pipe or redirect it (mailpoll try - -s handler.mjs < message.eml)');
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return fromBytes(Buffer.concat(chunks), 'stdin', 'stdin');
  }
  const file = path.resolve(source);
  const raw = await readFile(file).catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`try: cannot read ${file}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`);
  });
  return fromBytes(raw, path.basename(file), source);
}

function fromBytes(raw: Buffer, uid: string, label: string): Source {
  return { fetched: { uid, raw, size: raw.length, flags: [] }, label, ref: undefined, account: undefined, folder: undefined };
}

/** The archived raw copy of `ref`, from the store opened read-only. */
async function readArchived(ref: number, options: TryCommandOptions, config: Config | undefined): Promise<Source> {
  const store = await openReadOnlyCliStore({ store: options.store, config });
  try {
    const record = await store.get(ref);
    if (record === undefined) throw new UsageError(`no message with ref ${ref} in ${store.path}`);
    const raw = await store.raw(ref);
    if (raw === undefined) {
      throw new UsageError(`ref ${ref}: no raw copy in the archive (kept for retentionDays after fetching; this one was purged or never archived)`);
    }
    return { fetched: { uid: record.uid, raw, size: raw.length, flags: [] }, label: `ref ${ref}`, ref, account: record.account, folder: record.mailbox || undefined };
  } finally {
    await store.close();
  }
}

/**
 * The account whose keys the handler runs with: `-a NAME` from the config (its handler
 * replaced by one given on the command line), else, for a ref tried without a handler, the
 * account that received it, else the defaults with the handler given.
 */
function accountFor(options: TryCommandOptions, config: Config | undefined, recordAccount: string | undefined): AccountConfig {
  const given = handlerOf(options);
  const name = options.account ?? (given === undefined ? recordAccount : undefined);
  if (name !== undefined) {
    if (config === undefined) throw new UsageError(`try -a ${name}: no config found; give one with -c FILE, or ${NAME_A_HANDLER.replace('name the handler: ', '')}`);
    const [account] = selectAccounts(config, [name]);
    return given === undefined ? account! : { ...account!, ...given };
  }
  if (given === undefined) throw new UsageError(`try: ${NAME_A_HANDLER}`);
  return { ...accountDefaults('imap'), name: 'try', protocol: 'imap', ...given };
}

/** The handler named on the command line, as the four account keys (one set); undefined: none. */
function handlerOf(options: TryCommandOptions): Pick<AccountConfig, 'script' | 'command' | 'webhook' | 'deliver'> | undefined {
  const named = [options.script, options.command, options.webhook].filter((value) => value !== undefined);
  if (named.length > 1) throw new UsageError('try: -s, --command and --webhook name one handler each: give one of them');
  if (options.webhookBody !== undefined && options.webhook === undefined) throw new UsageError('try: --webhook-body goes with --webhook URL');
  if (options.script !== undefined) return { script: path.resolve(options.script), command: undefined, webhook: undefined, deliver: undefined };
  if (options.command !== undefined) {
    return { script: undefined, command: { argv: ['/bin/sh', '-c', options.command], shell: true, cwd: process.cwd() }, webhook: undefined, deliver: undefined };
  }
  if (options.webhook !== undefined) {
    const webhook = { url: options.webhook, method: WEBHOOK_DEFAULTS.method, headers: {}, body: options.webhookBody ?? WEBHOOK_DEFAULTS.body, timeout: WEBHOOK_DEFAULTS.timeout, secret: undefined, ca: undefined };
    return { script: undefined, command: undefined, webhook, deliver: undefined };
  }
  return undefined;
}

function describeHandler(account: AccountConfig): string {
  if (account.command !== undefined) return `command ${account.command.shell ? account.command.argv[2] : account.command.argv.join(' ')}`;
  if (account.deliver !== undefined) return `deliver ${account.deliver.display}`;
  if (account.webhook !== undefined) return `webhook ${account.webhook.method} ${account.webhook.url} (body ${account.webhook.body})`;
  return `module ${account.script ?? ''}`;
}

/**
 * Names, types and sizes of the attachments: from the handler's own parse, or (a handler
 * that asked for the header fields only) from a full parse made for this report. Null when
 * mailparser refused the message.
 */
async function attachmentsOf(message: MailMessage, handler: LoadedHandler, fetched: FetchedMessage, folder: string): Promise<TriedAttachment[] | null> {
  if (message.parseError !== undefined) return null;
  const full = handler.parse === 'headers' ? await parseMessage(fetched, { account: message.account, folder }) : message;
  return full.attachments.map((attachment) => ({ filename: attachment.filename ?? null, contentType: attachment.contentType, size: attachment.size }));
}

/** What the account's kind of mailbox can do, without connecting: POP3 neither moves, copies nor marks; a Maildir has two flags. */
function capabilitiesOf(account: AccountConfig): MailboxCapabilities {
  const server = account.protocol !== 'pop3';
  const flags = account.protocol === 'imap' ? 'any' : account.protocol === 'maildir' ? MAILDIR_FLAGS : [];
  return { move: server, markSeen: server, copy: server, flags, idle: false, commitEndsSession: !server };
}

/** The server compares folder names itself; INBOX is case-insensitive everywhere. */
function isSameFolder(target: string, polled: string): boolean {
  return target === polled || (target.toUpperCase() === 'INBOX' && polled.toUpperCase() === 'INBOX');
}
