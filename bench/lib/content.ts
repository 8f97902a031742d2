/**
 * Deterministic test mail: the same seed, index and size always give the same bytes, so
 * every machine and every run measures the same mailbox.
 *
 * Each message has realistic headers (From, To, Subject, Date, Message-ID, MIME-Version,
 * Content-Type), a plain-text body of pseudo-random words and, for about a quarter of them,
 * a base64 attachment (multipart/mixed). Sizes vary around the requested size (+-20 %).
 */

/** mulberry32: a small, fast, seedable PRNG (32-bit state). Returns floats in [0, 1). */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = (
  'the order invoice delivery account password login server customer support ticket ' +
  'please thanks regards meeting monday tuesday report quarter budget shipment missing ' +
  'update attached document review contract payment reminder urgent question answer ' +
  'project deadline schedule team release version error problem since yesterday morning ' +
  'could would should check again today tomorrow week month number reference status ' +
  'received sent forward reply kind best hello dear colleague office price quote offer'
).split(' ');

const FIRST = ['Alice', 'Bob', 'Carla', 'David', 'Emma', 'Farid', 'Greta', 'Hugo', 'Ines', 'Jonas', 'Katja', 'Liam'];
const LAST = ['Martin', 'Schmidt', 'Rossi', 'Dubois', 'Novak', 'Jensen', 'Garcia', 'Müller', 'Okafor', 'Tanaka'];
const DOMAINS = ['customer.example', 'supplier.example', 'partner.example', 'example.org', 'vendor.example'];
const ATTACHMENTS: Array<[string, string]> = [
  ['report.pdf', 'application/pdf'],
  ['photo.jpg', 'image/jpeg'],
  ['data.xlsx', 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'],
  ['archive.zip', 'application/zip'],
];

/** Share of messages that carry an attachment. */
export const ATTACHMENT_SHARE = 0.25;

function pick<T>(random: () => number, list: readonly T[]): T {
  return list[Math.floor(random() * list.length)] as T;
}

function words(random: () => number, count: number): string {
  const out: string[] = [];
  for (let i = 0; i < count; i += 1) out.push(pick(random, WORDS));
  return out.join(' ');
}

/** Text lines (<= 76 chars) adding up to about `bytes` bytes. */
function textBody(random: () => number, bytes: number): string {
  const lines: string[] = [];
  let size = 0;
  while (size < bytes) {
    let line = '';
    while (line.length < 60) line += (line ? ' ' : '') + pick(random, WORDS);
    if (random() < 0.1) line = line.charAt(0).toUpperCase() + line.slice(1) + '.';
    lines.push(line);
    size += line.length + 1;
  }
  return lines.join('\n');
}

/** `bytes` pseudo-random bytes, base64 in 76-character lines. */
function base64Body(random: () => number, bytes: number): string {
  const data = Buffer.allocUnsafe(bytes);
  let i = 0;
  for (; i + 4 <= bytes; i += 4) data.writeUInt32LE(Math.floor(random() * 4294967296), i);
  for (; i < bytes; i += 1) data[i] = Math.floor(random() * 256);
  const encoded = data.toString('base64');
  const lines: string[] = [];
  for (let pos = 0; pos < encoded.length; pos += 76) lines.push(encoded.slice(pos, pos + 76));
  return lines.join('\n');
}

function rfc2822Date(date: Date): string {
  const day = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][date.getUTCDay()];
  const month = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][date.getUTCMonth()];
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${day}, ${date.getUTCDate()} ${month} ${date.getUTCFullYear()} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`;
}

/** RFC 2047 encoded-word for a header value that is not ASCII. */
function headerText(value: string): string {
  return /^[\x20-\x7e]*$/.test(value) ? value : `=?UTF-8?B?${Buffer.from(value, 'utf8').toString('base64')}?=`;
}

export interface GeneratedMessage {
  raw: Buffer;
  hasAttachment: boolean;
}

const BASE_DATE = Date.UTC(2026, 0, 5, 8, 0, 0);

/**
 * Message number `index` (0-based) of the mailbox seeded with `seed`, about `size` bytes.
 * `attachmentBytes`, when given, forces one attachment of exactly that many (decoded) bytes.
 */
export function generateMessage(seed: number, index: number, size: number, attachmentBytes?: number): GeneratedMessage {
  // One PRNG per message: message i does not depend on how many came before.
  const random = prng((seed * 0x9e3779b1) ^ (index * 0x85ebca6b) ^ 0x5bd1e995);
  const target = Math.max(600, Math.round(size * (0.8 + random() * 0.4)));
  const first = pick(random, FIRST);
  const last = pick(random, LAST);
  const domain = pick(random, DOMAINS);
  const from = `${headerText(`${first} ${last}`)} <${first.toLowerCase()}.${index}@${domain}>`;
  const subjectWords = words(random, 3 + Math.floor(random() * 6));
  const subject = `${subjectWords.charAt(0).toUpperCase()}${subjectWords.slice(1)} #${index + 1}`;
  const date = new Date(BASE_DATE + index * 61_000);
  const hasAttachment = attachmentBytes !== undefined || random() < ATTACHMENT_SHARE;

  const headers = [
    'Return-Path: <' + `${first.toLowerCase()}.${index}@${domain}` + '>',
    `Received: from mx.${domain} (mx.${domain} [192.0.2.${(index % 250) + 1}])\n\tby mail.bench.example with ESMTPS id ${(seed * 100003 + index).toString(36).toUpperCase()}\n\tfor <bench@bench.example>; ${rfc2822Date(date)}`,
    `From: ${from}`,
    'To: Bench Inbox <bench@bench.example>',
    `Subject: ${subject}`,
    `Date: ${rfc2822Date(date)}`,
    `Message-ID: <${index + 1}.${seed}.${(index * 2654435761) >>> 0}@${domain}>`,
    'MIME-Version: 1.0',
  ];

  let body: string;
  if (!hasAttachment) {
    const headerBytes = headers.join('\n').length + 80;
    headers.push('Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit');
    body = textBody(random, Math.max(100, target - headerBytes));
  } else {
    const boundary = `----=_Part_${seed}_${index}_${Math.floor(random() * 1e9)}`;
    const [filename, type] = pick(random, ATTACHMENTS);
    const textBytes = attachmentBytes !== undefined ? 2000 : Math.max(200, Math.round(target * (0.15 + random() * 0.2)));
    // base64 grows by 4/3 plus a newline every 76 characters.
    const binaryBytes = attachmentBytes ?? Math.max(100, Math.floor((target - textBytes - 900) * 0.74));
    headers.push(`Content-Type: multipart/mixed; boundary="${boundary}"`);
    body = [
      'This is a multi-part message in MIME format.',
      '',
      `--${boundary}`,
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
      '',
      textBody(random, textBytes),
      '',
      `--${boundary}`,
      `Content-Type: ${type}; name="${filename}"`,
      'Content-Transfer-Encoding: base64',
      `Content-Disposition: attachment; filename="${filename}"`,
      '',
      base64Body(random, binaryBytes),
      '',
      `--${boundary}--`,
      '',
    ].join('\n');
  }
  return { raw: Buffer.from(`${headers.join('\n')}\n\n${body}\n`, 'utf8'), hasAttachment };
}
