/**
 * The YAML config loader, with limits that keep a hostile or mistaken file from taking
 * the machine: the size cap of limits.ts before parsing, and caps on alias expansion (a
 * "billion laughs" file of nine levels of nine aliases would otherwise grow to gigabytes).
 * YAML is read with the `yaml` package (YAML 1.2, merge keys `<<` on).
 */
import { LineCounter, parseDocument, visit, type Document, type YAMLError } from 'yaml';
import { ConfigLimitError, checkConfigSize } from './limits.js';

/** Most alias expansions per anchor (the `yaml` package's count): hundreds of `<<: *defaults` pass. */
export const MAX_ALIAS_COUNT = 1000;
/** Most values (objects, lists, scalars) in the loaded data, aliases counted at each use. */
export const MAX_CONFIG_VALUES = 100_000;

/** `YAMLError` as one line ending in `(line:column)`, like the other parsers' messages. */
function describe(error: YAMLError): string {
  const first = error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
  const at = error.linePos?.[0];
  return at === undefined ? first : `${first} (${at.line}:${at.col})`;
}

/** Parse YAML `content` into plain data, within the limits; `undefined` for a file of only comments. */
export function parseYaml(content: string): unknown {
  checkConfigSize(content);
  const lineCounter = new LineCounter();
  const doc = parseDocument(content, { merge: true, prettyErrors: true, lineCounter });
  // Warnings (an unknown `!tag`) are errors here, as they were with js-yaml.
  const [problem] = [...doc.errors, ...doc.warnings];
  if (problem !== undefined) throw new Error(describe(problem));
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    if (error instanceof ReferenceError && /alias count/i.test(error.message)) {
      throw new ConfigLimitError(`its YAML aliases (*name) expand beyond the limit of ${MAX_ALIAS_COUNT}, set against files built to exhaust memory; write the values out`);
    }
    const at = unresolvedAlias(doc, lineCounter);
    if (at !== undefined) throw new Error(`no anchor &${at.name} before the alias *${at.name} (${at.line}:${at.col})`);
    throw error;
  }
  checkValueCount(data);
  return data ?? undefined;
}

/** The first alias without an anchor before it, and where it is (1-based line and column). */
function unresolvedAlias(doc: Document, lineCounter: LineCounter): { name: string; line: number; col: number } | undefined {
  let found: { name: string; line: number; col: number } | undefined;
  visit(doc, {
    Alias(_key, node) {
      if (node.resolve(doc) !== undefined) return undefined;
      found = { name: node.source, ...lineCounter.linePos(node.range?.[0] ?? 0) };
      return visit.BREAK;
    },
  });
  return found;
}

/**
 * Refuse data of more than MAX_CONFIG_VALUES values. Aliases load as shared objects, but
 * everything after the loader walks them as trees, so each use counts.
 */
function checkValueCount(data: unknown): void {
  let count = 1;
  const stack: unknown[] = [data];
  while (stack.length > 0) {
    const value = stack.pop();
    if (value === null || typeof value !== 'object') continue;
    const items: unknown[] = Array.isArray(value) ? value : Object.values(value);
    count += items.length;
    if (count > MAX_CONFIG_VALUES) {
      throw new ConfigLimitError(`holds more than ${MAX_CONFIG_VALUES} values once its YAML aliases are expanded, far more than any config; write it without them`);
    }
    for (const item of items) stack.push(item);
  }
}
