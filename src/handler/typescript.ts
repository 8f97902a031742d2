/**
 * Importing a TypeScript handler (`.ts`, `.mts`, `.cts`). Node 23.6 and newer strip types
 * themselves (22.6 to 23.5 with `--experimental-strip-types`): there the module is imported as
 * any other. Elsewhere tsx, an optional peer dependency, does it: found next to mailpoll
 * (`npm install tsx` in the same project, or globally beside a global mailpoll), else next
 * to the handler. Without either, the error says how to get one.
 *
 * Type stripping only erases types: syntax that needs code (an `enum`, a `namespace`,
 * constructor parameter properties) fails there with ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX, and
 * such a module goes through tsx when it is installed.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { HandlerLoadError } from '../errors.js';

type TsImport = (specifier: string, parentURL: string) => Promise<unknown>;

/** Whether this Node strips types from `.ts` modules it imports. */
export function stripsTypesNatively(): boolean {
  // `process.features.typescript` ('strip', 'transform' or false) exists from Node 22.10 on.
  const feature = (process.features as { typescript?: unknown }).typescript;
  if (feature !== undefined) return feature !== false;
  const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  return flags.includes('--experimental-strip-types') || flags.includes('--experimental-transform-types');
}

/** Import the TypeScript module at the absolute path `file`, natively or through tsx. */
export async function importTypeScript(file: string): Promise<unknown> {
  const url = pathToFileURL(file).href;
  if (!stripsTypesNatively()) return (await loadTsx(file))(url, import.meta.url);
  try {
    return await import(url);
  } catch (error) {
    if (errorCode(error) !== 'ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX') throw error;
    const tsx = await loadTsx(file).catch(() => undefined);
    if (!tsx) throw error;
    return tsx(url, import.meta.url);
  }
}

/** tsx's `tsImport`, from beside mailpoll or else beside the handler; a HandlerLoadError saying how to install it. */
async function loadTsx(file: string): Promise<TsImport> {
  try {
    return (await import('tsx/esm/api')).tsImport;
  } catch (error) {
    if (!isMissingTsx(error)) throw error;
  }
  try {
    const beside = createRequire(file).resolve('tsx/esm/api');
    return ((await import(pathToFileURL(beside).href)) as { tsImport: TsImport }).tsImport;
  } catch (error) {
    if (!isMissingTsx(error)) throw error;
  }
  throw new HandlerLoadError(
    `handler ${file}: a TypeScript handler needs tsx on Node ${process.versions.node}, which does not strip types: ` +
      'run: npm install tsx (where mailpoll is installed), or use Node 23.6 or newer (22.6 or newer with --experimental-strip-types), or compile the handler to .js',
  );
}

function isMissingTsx(error: unknown): boolean {
  const code = errorCode(error);
  return (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && /\btsx\b/.test(String((error as Error).message));
}

function errorCode(error: unknown): unknown {
  return typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
}
