// `npm run docs`: writes the config reference into README.md from the key docs.
import { readFile, writeFile } from 'node:fs/promises';
import { replaceConfigReference } from './config-reference.js';

const readmeUrl = new URL('../README.md', import.meta.url);
const readme = await readFile(readmeUrl, 'utf8');
const written = replaceConfigReference(readme);
if (written !== readme) await writeFile(readmeUrl, written);
console.log(written === readme ? 'README.md: config reference up to date' : 'README.md: config reference rewritten');
