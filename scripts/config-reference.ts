/**
 * The README's config reference, rendered from the key docs (`src/config/schema-docs.ts` and
 * the files it gathers) so the README and `mailpoll schema` cannot drift. Written between
 * the README's config-reference markers by `npm run docs`; test/config-reference.test.ts
 * fails when the README differs.
 */
import { ACCOUNT_KEY_DOCS, BACKOFF_KEY_DOCS, TOP_LEVEL_KEY_DOCS, WEBHOOK_KEY_DOCS } from '../src/config/schema.js';
import { OAUTH2_KEY_DOCS } from '../src/config/oauth2.js';
import { SAVE_ATTACHMENTS_KEY_DOCS } from '../src/config/schema-deliver.js';
import { SEARCH_KEY_DOCS } from '../src/config/search.js';
import { listAnchors } from './readme-anchors.js';

export const REFERENCE_START = '<!-- config-reference:start -->';
export const REFERENCE_END = '<!-- config-reference:end -->';

interface Doc {
  description: string;
  default?: string;
  protocols?: readonly string[];
}

/** One table of the reference: a heading and the docs of its keys. */
interface Section {
  heading: string;
  intro: string;
  docs: Record<string, Doc>;
  /** How a key is written in the first column (`backoff.initial`). */
  prefix?: string;
}

const SECTIONS: readonly Section[] = [
  { heading: 'Top-level keys', intro: 'The keys of the config file itself.', docs: TOP_LEVEL_KEY_DOCS },
  {
    heading: 'Account keys',
    intro: 'The keys of each entry of `accounts`, and of `defaults` (all but `name`): an account inherits what `defaults` sets and its own value wins.',
    docs: ACCOUNT_KEY_DOCS,
  },
  { heading: '`backoff` keys', intro: 'The keys of an account\'s `backoff` object.', docs: BACKOFF_KEY_DOCS, prefix: 'backoff.' },
  { heading: '`webhook` keys', intro: 'The keys of an account\'s `webhook` object (see [Webhook handlers](#webhook-handlers)).', docs: WEBHOOK_KEY_DOCS, prefix: 'webhook.' },
  { heading: '`oauth2` keys', intro: 'The keys of an account\'s `oauth2` object (see [OAuth2](#oauth2)).', docs: OAUTH2_KEY_DOCS, prefix: 'oauth2.' },
  { heading: '`search` keys', intro: 'The keys of an account\'s `search` object, of each entry of its `or` and of its `not` (see [Choosing messages: search](#choosing-messages-search)).', docs: SEARCH_KEY_DOCS, prefix: 'search.' },
  { heading: '`saveAttachments` keys', intro: 'The keys of an account\'s `saveAttachments` object (see [Saved attachments](#saved-attachments)).', docs: SAVE_ATTACHMENTS_KEY_DOCS, prefix: 'saveAttachments.' },
];

/**
 * The whole reference, markers included. `README, "Title"` in a description (how the key
 * docs point to a section from `mailpoll schema`) becomes a link to the heading that starts
 * with Title when `readme` has one.
 */
export function renderConfigReference(readme: string): string {
  const parts = [REFERENCE_START, '<!-- Generated from src/config/schema-docs.ts by `npm run docs`: edit the key docs there, not here. -->'];
  for (const section of SECTIONS) parts.push('', `#### ${section.heading}`, '', section.intro, '', ...renderTable(section, readme));
  parts.push('', REFERENCE_END);
  return parts.join('\n');
}

function renderTable(section: Section, readme: string): string[] {
  const anchors = [...listAnchors(readme)];
  const withProtocols = Object.values(section.docs).some((doc) => doc.protocols !== undefined);
  const header = withProtocols ? ['key', 'default', 'protocols', 'meaning'] : ['key', 'default', 'meaning'];
  const rows = [row(header), row(header.map(() => '---'))];
  for (const [key, doc] of Object.entries(section.docs)) {
    const cells = [`\`${section.prefix ?? ''}${key}\``, doc.default === undefined ? '' : renderDefault(doc.default)];
    if (withProtocols) cells.push(doc.protocols === undefined ? '' : doc.protocols.join(', '));
    cells.push(linkSections(cell(doc.description), anchors));
    rows.push(row(cells));
  }
  return rows;
}

/** A value a user would write (`true`, `30s`, `INBOX`) as code; words as they are. */
function renderDefault(text: string): string {
  return /^[^\s$`]+$/.test(text) ? `\`${text}\`` : cell(text);
}

function linkSections(text: string, anchors: ReadonlyArray<[string, string]>): string {
  return text.replace(/README, "([^"]+)"/g, (whole, title: string) => {
    const found = anchors.find(([, heading]) => heading.startsWith(title));
    return found === undefined ? whole : `see [${found[1]}](#${found[0]})`;
  });
}

function row(cells: readonly string[]): string {
  return `| ${cells.join(' | ')} |`;
}

/** A table cell: a `|` would end the cell early, a line break the row. */
function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

/** The README with its reference replaced by the rendered one; throws without both markers. */
export function replaceConfigReference(readme: string): string {
  const start = readme.indexOf(REFERENCE_START);
  const end = readme.indexOf(REFERENCE_END);
  if (start < 0 || end < start) throw new Error(`README.md: no ${REFERENCE_START} ... ${REFERENCE_END} markers`);
  return readme.slice(0, start) + renderConfigReference(readme) + readme.slice(end + REFERENCE_END.length);
}
