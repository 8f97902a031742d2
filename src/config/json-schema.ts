/**
 * The config file's JSON Schema, generated from the zod schema (`schema.ts`) so the two cannot
 * drift: what editors use to complete and check a config (`mailpoll schema`, `schema.json` in
 * the package, the `yaml-language-server` line `mailpoll init` writes). It describes the file
 * as written: `${VARS}` are allowed where a value is checked after substitution, and the
 * cross-field rules (`rules.ts`: one password source, what each protocol needs) stay with
 * `mailpoll validate`.
 */
import * as z from 'zod';
import { ACCOUNT_KEY_DOCS, BACKOFF_KEY_DOCS, TOP_LEVEL_KEY_DOCS, WEBHOOK_KEY_DOCS, accountSchema, configSchema } from './schema.js';

type JsonObject = Record<string, unknown>;

interface Docs {
  [key: string]: { description: string; default?: string };
}

/** The JSON Schema (draft 7, what yaml-language-server reads) of a mailpoll config file. */
export function configJsonSchema(): JsonObject {
  const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any', target: 'draft-7' }) as JsonObject;
  const top = properties(schema);
  const account = properties(child(top, 'accounts', 'items'));
  const defaults = properties(child(top, 'defaults'));
  addDefaults(top, TOP_LEVEL_KEY_DOCS, configSchema.shape);
  for (const keys of [account, defaults]) {
    addDefaults(keys, ACCOUNT_KEY_DOCS, accountSchema.shape);
    addDefaults(properties(child(keys, 'webhook')), WEBHOOK_KEY_DOCS, accountSchema.shape.webhook.unwrap().shape);
    addDefaults(properties(child(keys, 'backoff')), BACKOFF_KEY_DOCS, accountSchema.shape.backoff.unwrap().shape);
  }
  return { $schema: schema.$schema, title: 'mailpoll config', description: 'mailpoll: poll IMAP, POP3 and Maildir mailboxes and hand each new message to a handler.', ...schema };
}

function child(keys: JsonObject, key: string, inner?: string): JsonObject {
  const value = keys[key] as JsonObject | undefined;
  if (value === undefined) throw new Error(`config JSON Schema: no property ${key}`);
  return inner === undefined ? value : (value[inner] as JsonObject);
}

function properties(schema: JsonObject): JsonObject {
  const found = schema.properties as JsonObject | undefined;
  if (found === undefined) throw new Error('config JSON Schema: an object without properties');
  return found;
}

/**
 * Each key's documented default: as JSON Schema `default` when it is a value the key accepts
 * (`30s`, `true`, `5`), else (`no limit`, one per protocol) in words after the description.
 */
function addDefaults(keys: JsonObject, docs: Docs, shape: Record<string, z.ZodType>): void {
  for (const [key, doc] of Object.entries(docs)) {
    const property = keys[key] as JsonObject | undefined;
    const field = shape[key];
    if (property === undefined || field === undefined || doc.default === undefined) continue;
    const value = asValue(doc.default);
    // A word that names no place (`$XDG_STATE_HOME/...` is where, not what to write).
    const literal = typeof value !== 'string' || /^[^\s$`]+$/.test(value);
    if (literal && field.safeParse(value).success) property.default = value;
    else property.description = `${doc.description} Default: ${doc.default}.`;
  }
}

/** `true` -> true, `5` -> 5, anything else the text itself. */
function asValue(text: string): unknown {
  if (text === 'true' || text === 'false') return text === 'true';
  if (/^\d+$/.test(text)) return Number(text);
  return text;
}
