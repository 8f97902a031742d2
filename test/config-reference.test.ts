/**
 * The README's config reference is generated from the key docs (`npm run docs`), so the two
 * cannot drift; and every `#anchor` link in the README and CONTRIBUTING.md leads to a heading
 * that exists, so moving sections around breaks no link silently.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { ACCOUNT_KEY_DOCS, TOP_LEVEL_KEY_DOCS } from '../src/config/schema.js';
import { REFERENCE_END, REFERENCE_START, renderConfigReference, replaceConfigReference } from '../scripts/config-reference.js';
import { listAnchors } from '../scripts/readme-anchors.js';

const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');

/** The text between the markers, or the whole reference when asked for it. */
function section(text: string): string {
  const start = text.indexOf(REFERENCE_START);
  const end = text.indexOf(REFERENCE_END);
  assert.ok(start >= 0 && end > start, `README.md has no ${REFERENCE_START} ... ${REFERENCE_END} markers`);
  return text.slice(start, end + REFERENCE_END.length);
}

describe('the README config reference', () => {
  test('is what the generator writes from the key docs', () => {
    assert.equal(section(readme), renderConfigReference(readme), 'README.md\'s config reference differs from the key docs: run `npm run docs` and commit README.md');
  });

  test('has a row for every account and top-level key', () => {
    const rows = section(readme).split('\n');
    for (const key of Object.keys({ ...ACCOUNT_KEY_DOCS, ...TOP_LEVEL_KEY_DOCS })) {
      assert.ok(rows.some((line) => line.startsWith(`| \`${key}\` |`)), `no row for ${key}`);
    }
  });

  test('replacing keeps the text around the markers and refuses a README without them', () => {
    const around = `before\n${REFERENCE_START}\nold table\n${REFERENCE_END}\nafter\n`;
    const written = replaceConfigReference(around);
    assert.ok(written.startsWith('before\n') && written.endsWith('\nafter\n'));
    assert.ok(!written.includes('old table'));
    assert.ok(written.includes('| `retryDelay` | `10m` |'));
    assert.throws(() => replaceConfigReference('no markers'), /config-reference:start/);
  });
});

describe('links inside the documents', () => {
  for (const name of ['README.md', 'CONTRIBUTING.md']) {
    test(`every #anchor link of ${name} names a heading of its target`, async () => {
      const texts = {
        'README.md': readme,
        'CONTRIBUTING.md': await readFile(new URL('../CONTRIBUTING.md', import.meta.url), 'utf8'),
      };
      const broken: string[] = [];
      for (const match of texts[name as keyof typeof texts].matchAll(/\]\(((?:README|CONTRIBUTING)\.md)?#([^)\s]+)\)/g)) {
        const target = (match[1] ?? name) as keyof typeof texts;
        if (!listAnchors(texts[target]).has(match[2]!)) broken.push(`${target}#${match[2]}`);
      }
      assert.deepEqual(broken, [], `${name} links to headings that do not exist`);
    });
  }
});
