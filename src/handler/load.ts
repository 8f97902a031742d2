/**
 * Load a user's handler module: `export default async (mailMessage, context) => result`.
 *
 * JavaScript (`.js`, `.mjs`, `.cjs`) goes through Node's own `import()`. TypeScript
 * (`.ts`, `.mts`, `.cts`) goes through typescript.ts: Node's own type stripping where it has
 * it, else tsx (an optional peer, imported only then, so that a JS handler never pays for
 * esbuild; it looks for a tsconfig.json from the current directory, as `tsx` itself does).
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AccountConfig } from '../config/types.js';
import { HandlerLoadError } from '../errors.js';
import { loadCommandHandler } from './command.js';
import { describeLoadError, formatLoadError } from './load-error.js';
import type { Handler, LoadedHandler } from './types.js';
import { importTypeScript } from './typescript.js';
import { createWebhookHandler } from './webhook.js';
import { createDeliverHandler } from './deliver.js';

const TS_EXTENSIONS = new Set(['.ts', '.mts', '.cts']);

/** One load per absolute path and process; a failed load is forgotten so it can be retried. */
const cache = new Map<string, Promise<LoadedHandler>>();

/**
 * The account's handler, whichever kind it names: its webhook, its command, its built-in delivery, else its module.
 * Undefined when it names none (the caller says what to set).
 */
export async function loadAccountHandler(account: Pick<AccountConfig, 'script' | 'command' | 'webhook' | 'deliver' | 'handlerTimeout'>): Promise<LoadedHandler | undefined> {
  if (account.command !== undefined) return loadCommandHandler(account.command, account);
  if (account.webhook !== undefined) return createWebhookHandler(account.webhook, account.handlerTimeout);
  if (account.deliver !== undefined) return createDeliverHandler(account.deliver, account.handlerTimeout);
  if (account.script === undefined) return undefined;
  // Imported here too: a module that does not load is a usage error before any server is contacted.
  const loaded = await loadHandler(account.script);
  return { ...loaded, module: path.resolve(account.script) };
}

/**
 * Import the handler module at `file` (resolved against the current directory) and
 * return its default export with its `parse` level. Throws HandlerLoadError: `handler /abs/x.mjs: file not found`,
 * `...: no default export function (...)`, or the first line of an import error; a syntax error
 * as `handler /abs/x.mjs:3:12: SyntaxError: ...` with the offending line in `detail`.
 */
export function loadHandler(file: string): Promise<LoadedHandler> {
  const absolute = path.resolve(file);
  let loading = cache.get(absolute);
  if (!loading) {
    loading = importHandler(absolute);
    cache.set(absolute, loading);
    loading.catch(() => cache.delete(absolute));
  }
  return loading;
}

/** Import and check the module at the absolute path `file` (uncached: a handler worker imports it once itself). */
export async function importHandler(file: string): Promise<LoadedHandler> {
  const info = await stat(file).catch(() => undefined);
  if (!info) throw new HandlerLoadError(`handler ${file}: file not found`);
  if (!info.isFile()) throw new HandlerLoadError(`handler ${file}: not a file`);

  const url = pathToFileURL(file).href;
  let namespace: unknown;
  try {
    namespace = TS_EXTENSIONS.has(path.extname(file).toLowerCase()) ? await importTypeScript(file) : await import(url);
  } catch (error) {
    if (error instanceof HandlerLoadError) throw error;
    const description = describeLoadError(error, file);
    throw new HandlerLoadError(`handler ${formatLoadError(description, file)}`, { cause: error, detail: description.frame });
  }

  const handler = pickDefault(namespace);
  if (!handler) {
    throw new HandlerLoadError(
      `handler ${file}: no default export function (export default async (mailMessage, context) => ...)`,
    );
  }
  const parse = propertyOf(namespace, 'parse');
  if (parse !== undefined && parse !== 'headers' && parse !== 'full') {
    throw new HandlerLoadError(`handler ${file}: export const parse must be 'headers' or 'full', not ${JSON.stringify(parse) ?? String(parse)}`);
  }
  return { fn: handler, parse: parse ?? 'full' };
}

/**
 * The default export. `module.exports = fn` arrives as `{ default: fn }`; CommonJS with
 * `exports.default = fn`, and TypeScript compiled as CommonJS by tsx (a `.ts` file outside
 * a `"type": "module"` package, or `.cts`), arrive as `{ default: { default: fn } }`:
 * one level of `default` is unwrapped when the first is not a function.
 */
function pickDefault(namespace: unknown): Handler | undefined {
  const first = propertyOf(namespace, 'default');
  if (typeof first === 'function') return first as Handler;
  const second = propertyOf(first, 'default');
  if (typeof second === 'function') return second as Handler;
  return undefined;
}

function propertyOf(value: unknown, key: string): unknown {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return undefined;
  return (value as Record<string, unknown>)[key];
}
