/**
 * A small JSON Schema checker for the keywords the config's generated schema uses. No JSON
 * Schema validator is among the project's dependencies; this one refuses any keyword it does
 * not know, so a schema that grows one fails the test instead of passing unchecked.
 */

export type JsonSchema = Record<string, unknown>;

const ANNOTATIONS = new Set(['$schema', 'title', 'description', 'default', 'examples']);

/** The problems of `value` against `schema`, each `path: what`; empty when it is valid. */
export function checkJsonSchema(schema: JsonSchema, value: unknown, path = '$', root: JsonSchema = schema): string[] {
  const problems: string[] = [];
  const check = (inner: JsonSchema, item: unknown, at: string): string[] => checkJsonSchema(inner, item, at, root);
  for (const [keyword, rule] of Object.entries(schema)) {
    if (ANNOTATIONS.has(keyword)) continue;
    switch (keyword) {
      case 'definitions':
        // Named schemas, checked where a `$ref` points at them (the search's `or`/`not` nest).
        break;
      case '$ref':
        problems.push(...check(resolveRef(root, rule as string), value, path));
        break;
      case 'type':
        if (!hasType(value, rule as string)) problems.push(`${path}: expected ${String(rule)}`);
        break;
      case 'enum':
        if (!(rule as unknown[]).includes(value)) problems.push(`${path}: not one of ${JSON.stringify(rule)}`);
        break;
      case 'anyOf':
        if (!(rule as JsonSchema[]).some((option) => check(option, value, path).length === 0)) problems.push(`${path}: matches no alternative`);
        break;
      case 'pattern':
        if (typeof value === 'string' && !new RegExp(rule as string, 'u').test(value)) problems.push(`${path}: does not match ${String(rule)}`);
        break;
      case 'minLength':
        if (typeof value === 'string' && [...value].length < (rule as number)) problems.push(`${path}: shorter than ${String(rule)}`);
        break;
      case 'minimum':
      case 'maximum':
      case 'exclusiveMinimum': {
        if (typeof value !== 'number') break;
        const limit = rule as number;
        const ok = keyword === 'minimum' ? value >= limit : keyword === 'maximum' ? value <= limit : value > limit;
        if (!ok) problems.push(`${path}: ${keyword} ${limit}`);
        break;
      }
      case 'minItems':
        if (Array.isArray(value) && value.length < (rule as number)) problems.push(`${path}: fewer than ${String(rule)} items`);
        break;
      case 'items':
        if (Array.isArray(value)) value.forEach((item, index) => problems.push(...check(rule as JsonSchema, item, `${path}[${index}]`)));
        break;
      case 'required':
        if (isObject(value)) for (const key of rule as string[]) if (!(key in value)) problems.push(`${path}.${key}: required`);
        break;
      case 'properties':
        if (isObject(value)) {
          for (const [key, inner] of Object.entries(rule as Record<string, JsonSchema>)) {
            if (key in value) problems.push(...check(inner, value[key], `${path}.${key}`));
          }
        }
        break;
      case 'propertyNames':
        if (isObject(value)) for (const key of Object.keys(value)) problems.push(...check(rule as JsonSchema, key, `${path}{${key}}`));
        break;
      case 'additionalProperties':
        if (isObject(value)) {
          const known = new Set(Object.keys((schema.properties as Record<string, unknown> | undefined) ?? {}));
          for (const [key, inner] of Object.entries(value)) {
            if (known.has(key)) continue;
            if (rule === false) problems.push(`${path}.${key}: unknown key`);
            else if (isObject(rule)) problems.push(...check(rule, inner, `${path}.${key}`));
          }
        }
        break;
      default:
        throw new Error(`${path}: the checker does not know the keyword ${keyword}`);
    }
  }
  return problems;
}

/** `#/definitions/name` in `root`. */
function resolveRef(root: JsonSchema, ref: string): JsonSchema {
  const match = /^#\/definitions\/(.+)$/.exec(ref);
  const target = match ? (root.definitions as Record<string, JsonSchema> | undefined)?.[match[1]!] : undefined;
  if (target === undefined) throw new Error(`the checker cannot resolve $ref ${ref}`);
  return target;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function hasType(value: unknown, type: string): boolean {
  switch (type) {
    case 'object':
      return isObject(value);
    case 'array':
      return Array.isArray(value);
    case 'string':
      return typeof value === 'string';
    case 'boolean':
      return typeof value === 'boolean';
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'integer':
      return Number.isInteger(value);
    case 'null':
      return value === null;
    default:
      throw new Error(`the checker does not know the type ${type}`);
  }
}
