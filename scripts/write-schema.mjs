// Third step of `npm run build`: the config's JSON Schema, generated from the zod schema that
// tsc compiled to dist/, written to schema.json at the package root (shipped in the package;
// `mailpoll init` points the config's yaml-language-server line at it).
import { writeFile } from 'node:fs/promises';

const { configJsonSchema } = await import(new URL('../dist/config/json-schema.js', import.meta.url).href);
await writeFile(new URL('../schema.json', import.meta.url), `${JSON.stringify(configJsonSchema(), null, 2)}\n`);
