// (Re)create examples/work/Maildir from examples/mail/*.eml, so `npm run example`
// always starts from the same mailbox.
import { mkdir, readdir, readFile, rm, writeFile, utimes } from 'node:fs/promises';

const here = new URL('./', import.meta.url);
const work = new URL('work/', here);
await rm(work, { recursive: true, force: true });
for (const sub of ['tmp', 'new', 'cur']) await mkdir(new URL(`Maildir/${sub}/`, work), { recursive: true });

const names = (await readdir(new URL('mail/', here))).filter((name) => name.endsWith('.eml')).sort();
const start = Date.UTC(2026, 0, 1) / 1000;
for (const [index, name] of names.entries()) {
  const file = new URL(`Maildir/new/${start + index}.M${index}P1.example`, work);
  await writeFile(file, await readFile(new URL(`mail/${name}`, here)));
  await utimes(file, start + index, start + index); // oldest first = file order
}
console.error(`example: ${names.length} messages in examples/work/Maildir/new`);
