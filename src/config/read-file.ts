/**
 * Finding and reading the config file: `-c FILE` (a YAML or JSON file read here; a JS module
 * or package.json through cosmiconfig), or cosmiconfig's search from the current folder up to
 * the home folder, then the user config folder. Size limits apply before a file is read whole.
 */
import { accessSync, constants as fsConstants, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import type { Loader } from 'cosmiconfig';
import { ConfigError, ConfigNotFoundError } from '../errors.js';
import { parseJsonConfig } from './json.js';
import { ConfigLimitError, MAX_CONFIG_BYTES, checkConfigSize, tooLarge } from './limits.js';

/** Where the search looks in each folder, in order. */
export const SEARCH_PLACES = [
  'package.json',
  '.mailpollrc',
  '.mailpollrc.json',
  '.mailpollrc.yaml',
  '.mailpollrc.yml',
  'mailpoll.config.yaml',
  'mailpoll.config.yml',
  'mailpoll.config.json',
  'mailpoll.config.js',
  'mailpoll.config.mjs',
  'mailpoll.config.cjs',
];

const LOADABLE_EXTENSIONS = new Set(['', '.yaml', '.yml', '.json', '.js', '.mjs', '.cjs']);


export interface ReadResult {
  file: string;
  raw: unknown;
  displayName: string;
}

/** How problems name `file`: relative to cwd when inside it, else absolute. */
export function displayNameOf(file: string, cwd: string): string {
  const relative = path.relative(cwd, file);
  const shown = relative === '' || relative.startsWith('..') || path.isAbsolute(relative) ? file : relative;
  return path.basename(file) === 'package.json' ? `${shown}#mailpoll` : shown;
}

/** The user config folder cosmiconfig also searches (env-paths, without suffix). */
function globalConfigDir(): string {
  const home = homedir();
  if (process.platform === 'darwin') return path.join(home, 'Library', 'Preferences', 'mailpoll');
  if (process.platform === 'win32') return path.join(process.env.APPDATA || path.join(home, 'AppData', 'Roaming'), 'mailpoll', 'Config');
  return path.join(process.env.XDG_CONFIG_HOME || path.join(home, '.config'), 'mailpoll');
}

function errorReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  // cosmiconfig prefixes "YAML Error in FILE:\n" / "JSON Error in FILE:\n".
  const lines = message.split('\n').map((line) => line.trim());
  const useful = lines.filter((line) => line !== '' && !/^(YAML|JSON) Error in /.test(line));
  // "Transform failed with 1 error:" and the like say more on the next line.
  if (useful.length > 1 && useful[0]!.endsWith(':')) return `${useful[0]} ${useful[1]}`;
  return useful[0] ?? message;
}

/** YAML and JSON files named with `-c`: read here, without loading cosmiconfig (a cron run's cold start). */
const DATA_EXTENSIONS = new Set(['', '.yaml', '.yml', '.json']);

async function readDataFile(file: string, cwd: string): Promise<ReadResult> {
  const displayName = displayNameOf(file, cwd);
  const content = readFileSync(file, 'utf8');
  if (content.trim() === '') throw new ConfigError(`${displayName}: is empty; run \`mailpoll init\` for a commented example`);
  let raw: unknown;
  try {
    if (path.extname(file) === '.json') {
      checkConfigSize(content);
      raw = parseJsonConfig(content);
    } else {
      const { parseYaml } = await import('./yaml.js');
      raw = parseYaml(content);
    }
  } catch (error) {
    if (error instanceof ConfigLimitError) throw new ConfigError(`${displayName}: ${error.message}`, { cause: error });
    throw new ConfigError(`${displayName}: cannot parse: ${errorReason(error)}`, { cause: error });
  }
  if (raw === undefined || raw === null) throw new ConfigError(`${displayName}: is empty; run \`mailpoll init\` for a commented example`);
  return { file, raw, displayName };
}

export async function readConfigFile(cwd: string, configFile: string | undefined): Promise<ReadResult> {
  if (configFile !== undefined) {
    const file = path.resolve(cwd, configFile);
    checkNamedFile(file, configFile);
    if (DATA_EXTENSIONS.has(path.extname(file)) && path.basename(file) !== 'package.json') return readDataFile(file, cwd);
  }
  const { cosmiconfig, parseYaml } = await import('./cosmiconfig.js');
  // A YAML file holding only comments loads as undefined, not null (which cosmiconfig takes
  // for "no config here" and skips), so that it is reported as empty rather than passed over.
  const yaml: Loader = (_file, content) => parseYaml(content);
  const json: Loader = (file, content) => {
    // package.json is the project's, not ours to limit.
    if (path.basename(file) !== 'package.json') checkConfigSize(content);
    return parseJsonConfig(content);
  };
  const explorer = cosmiconfig('mailpoll', {
    loaders: { '.yaml': yaml, '.yml': yaml, noExt: yaml, '.json': json },
    searchPlaces: SEARCH_PLACES,
    searchStrategy: 'global',
    stopDir: homedir(),
    ignoreEmptySearchPlaces: false,
    cache: false,
  });

  let result: Awaited<ReturnType<typeof explorer.search>>;
  let file: string | undefined;
  if (configFile !== undefined) {
    file = path.resolve(cwd, configFile);
  }
  try {
    result = file === undefined ? await explorer.search(cwd) : await explorer.load(file);
  } catch (error) {
    const failed = (error as { filepath?: unknown }).filepath;
    const where = displayNameOf(typeof failed === 'string' ? failed : (file ?? cwd), cwd);
    if (error instanceof ConfigLimitError) throw new ConfigError(`${where}: ${error.message}`, { cause: error });
    const verb = /\.(c|m)?js$/.test(typeof failed === 'string' ? failed : (file ?? '')) ? 'cannot load' : 'cannot parse';
    throw new ConfigError(`${where}: ${verb}: ${errorReason(error)}`, { cause: error });
  }
  if (result === null) {
    if (configFile !== undefined) throw new ConfigError(`${configFile}: has no "mailpoll" key`);
    const stop = homedir();
    const within = path.relative(stop, cwd).startsWith('..') ? 'and its parent folders' : `and its parent folders up to ${stop}`;
    throw new ConfigNotFoundError(
      `no config file found in ${cwd} ${within}, nor in ${globalConfigDir()}: looked for mailpoll.config.{yaml,yml,json,js,mjs,cjs}, ` +
        '.mailpollrc[.yaml|.yml|.json] and a "mailpoll" key in package.json. Run `mailpoll init` to create one, or pass -c FILE.',
    );
  }
  const displayName = displayNameOf(result.filepath, cwd);
  if (result.isEmpty === true || result.config === undefined || result.config === null) {
    throw new ConfigError(`${displayName}: is empty; run \`mailpoll init\` for a commented example`);
  }
  return { file: result.filepath, raw: result.config as unknown, displayName };
}

/** A file named with `-c`: a kind mailpoll reads, there, readable, and not too large to read whole. */
function checkNamedFile(file: string, configFile: string): void {
  const extension = path.extname(file);
  if (!LOADABLE_EXTENSIONS.has(extension)) {
    throw new ConfigError(`${configFile}: unsupported config file type "${extension}"; use .yaml, .yml, .json, .js, .mjs or .cjs`);
  }
  const reason = checkReadable(file);
  if (reason === 'no such file') throw new ConfigError(`${configFile}: config file not found`);
  if (reason !== undefined) throw new ConfigError(`${configFile}: cannot read the config file: ${reason}`);
  const { size } = statSync(file);
  if (size > MAX_CONFIG_BYTES) throw new ConfigError(`${configFile}: ${tooLarge(size)}`);
}

export function checkReadable(file: string): string | undefined {
  try {
    if (statSync(file).isDirectory()) return 'is a folder';
    accessSync(file, fsConstants.R_OK);
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (code ?? String(error));
  }
}
