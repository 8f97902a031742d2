/**
 * Built-in delivery to a Maildir and an mbox file, and saved attachments, through the real
 * CLI polling a local Maildir (no server needed): what lands on disk is compared byte for
 * byte with the source.
 */
import assert from 'node:assert/strict';
import { lstat, mkdir, readFile, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { messageEvents, runCli, writeConfig } from './helpers/cli.js';
import { maildirWith } from './helpers/maildir-source.js';
import { makeTempDir } from './helpers/temp.js';
import { safeFileName } from '../src/handler/save-attachments.js';

/** A message with CRLF line ends, 8-bit bytes, and body lines mboxrd must quote. */
function source(index: number): Buffer {
  return Buffer.concat([
    Buffer.from(`Return-Path: <bounce${index}@example.org>\r\nFrom: Ann <ann@example.com>\r\nTo: bob@example.com\r\nSubject: message ${index}\r\nMessage-ID: <deliver${index}@test>\r\n\r\n`),
    Buffer.from('caf\xe9 in latin-1\r\nFrom the start of a line\r\n>From already quoted once\r\n>>From twice\r\n From with a space first\r\n', 'latin1'),
    Buffer.from(`last line ${index}\r\n`),
  ]);
}

/** The messages of an mboxrd file: From lines dropped, one level of `>From ` quoting undone, the separator line removed. */
function readMbox(content: Buffer): Array<{ fromLine: string; raw: Buffer }> {
  const text = content.toString('latin1');
  const entries = text.split(/^(?=From )/m).filter((part) => part !== '');
  return entries.map((entry) => {
    const newline = entry.indexOf('\n');
    const body = entry.slice(newline + 1);
    assert.ok(body.endsWith('\n\n'), 'each message is followed by an empty line');
    return { fromLine: entry.slice(0, newline), raw: Buffer.from(body.slice(0, -1).replace(/^>(>*From )/gm, '$1'), 'latin1') };
  });
}

async function filesIn(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [])).sort();
}

describe('deliver: maildir and mbox', () => {
  test('maildir: each message byte-identical in new/, under a unique Maildir name; then after applies', async () => {
    const sources = [source(1), source(2), source(3)];
    const path = await maildirWith(sources);
    const target = join(await makeTempDir('deliver'), 'Mail');
    const dir = await writeConfig({ accounts: [{ name: 'local', protocol: 'maildir', path, deliver: `maildir:${target}`, after: 'delete' }] });
    const result = await runCli(['--json'], { cwd: dir });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(messageEvents(result).map((e) => [e.action, e.status]), [['delete', 'ok'], ['delete', 'ok'], ['delete', 'ok']]);
    const names = await filesIn(join(target, 'new'));
    assert.equal(names.length, 3);
    assert.deepEqual(await filesIn(join(target, 'tmp')), [], 'nothing is left in tmp/');
    for (const name of names) assert.match(name, /^\d+\.M\d+P\d+Q\d+\.[^/:]+$/);
    const delivered = await Promise.all(names.map((name) => readFile(join(target, 'new', name))));
    assert.deepEqual(delivered.map((raw) => raw.toString('hex')).sort(), sources.map((raw) => raw.toString('hex')).sort());
    assert.deepEqual(await filesIn(join(path, 'new')), [], 'after: delete removed the sources once delivered');
  });

  test('mbox: From line with the envelope sender, >From quoting that reads back to the source byte for byte', async () => {
    const sources = [source(1), source(2)];
    const path = await maildirWith(sources);
    const file = join(await makeTempDir('deliver'), 'inbox.mbox');
    const dir = await writeConfig({ accounts: [{ name: 'local', protocol: 'maildir', path, deliver: `mbox:${file}` }] });
    const result = await runCli(['--json'], { cwd: dir });
    assert.equal(result.code, 0, result.stderr);
    const content = await readFile(file);
    assert.match(content.toString('latin1'), /^>From the start of a line\r$/m, 'a From line in the body is quoted');
    assert.match(content.toString('latin1'), /^>>From already quoted once\r$/m, 'a quoted one gets one more >');
    const entries = readMbox(content);
    assert.equal(entries.length, 2);
    entries.forEach((entry, index) => {
      assert.match(entry.fromLine, new RegExp(`^From bounce${index + 1}@example\\.org [A-Z][a-z]{2} [A-Z][a-z]{2} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d \\d{4}$`));
      assert.equal(entry.raw.toString('hex'), sources[index]!.toString('hex'));
    });
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    await assert.rejects(stat(`${file}.lock`), 'the dotlock is gone');
  });

  test('mbox: several mailpoll processes appending at once never interleave', async () => {
    const writers = 4;
    const perWriter = 12;
    const file = join(await makeTempDir('deliver'), 'shared.mbox');
    const sources = new Map<string, string>();
    const runs = [];
    for (let writer = 0; writer < writers; writer += 1) {
      const messages = Array.from({ length: perWriter }, (_, index) => {
        // Large enough that one write is not one page: interleaving would show.
        const raw = Buffer.concat([source(writer * 100 + index), Buffer.from(`${'x'.repeat(200)}\r\n`.repeat(400))]);
        sources.set(raw.toString('hex'), `${writer}/${index}`);
        return raw;
      });
      const path = await maildirWith(messages, `w${writer}`);
      const dir = await writeConfig({ accounts: [{ name: `w${writer}`, protocol: 'maildir', path, deliver: `mbox:${file}`, handlerConcurrency: 4 }] });
      runs.push(runCli(['--json'], { cwd: dir }));
    }
    for (const result of await Promise.all(runs)) assert.equal(result.code, 0, result.stderr);
    const entries = readMbox(await readFile(file));
    assert.equal(entries.length, writers * perWriter);
    const seen = new Set(entries.map((entry) => sources.get(entry.raw.toString('hex')) ?? 'not a source'));
    assert.equal(seen.has('not a source'), false, 'every entry is one whole source');
    assert.equal(seen.size, writers * perWriter, 'each source exactly once');
  });

  test('--dry-run delivers nothing and changes nothing', async () => {
    const path = await maildirWith([source(1)]);
    const base = await makeTempDir('deliver');
    const dir = await writeConfig({ accounts: [{ name: 'local', protocol: 'maildir', path, deliver: `mbox:${join(base, 'x.mbox')}` }] });
    const result = await runCli(['--json', '--dry-run'], { cwd: dir });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /would deliver to mbox:/);
    assert.deepEqual(await filesIn(base), []);
  });

  test('validate: one handler kind; deliverTo needs a network deliver; a bad target is named', async () => {
    const dir = await writeConfig({
      accounts: [
        { name: 'a', protocol: 'maildir', path: './m', deliver: 'mbox:./x', script: './h.mjs' },
        { name: 'b', protocol: 'maildir', path: './m', deliver: 'smtp://localhost:25' },
        { name: 'c', protocol: 'maildir', path: './m', deliver: 'ftp://x', deliverTo: 'me@example.com' },
        { name: 'd', protocol: 'maildir', path: './m', deliver: 'maildir:./M', saveAttachments: { dir: './a', mach: ['*.pdf'] } },
      ],
    });
    const result = await runCli(['validate'], { cwd: dir });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /accounts\[0\]\.deliver: conflicts with script; set one handler kind \(script, command, webhook, deliver\)/);
    assert.match(result.stderr, /accounts\[1\]\.deliverTo: is required with deliver: smtp:\/\/localhost:25/);
    assert.match(result.stderr, /accounts\[2\]\.deliver: expected maildir:\/path, mbox:\/path, smtp:\/\/host:port/);
    assert.match(result.stderr, /accounts\[3\]\.saveAttachments\.mach: unknown key \(did you mean "match"\?\)/);
  });
});

/** A multipart message with one attachment per [filename, type, content]; names given as RFC 2231 UTF-8. */
function withAttachments(files: Array<[string, string, string]>): string {
  const parts = files.map(([name, type, content]) => {
    const encoded = encodeURIComponent(name).replace(/'/g, '%27');
    return `--b\r\nContent-Type: ${type}\r\nContent-Disposition: attachment; filename*=utf-8''${encoded}\r\nContent-Transfer-Encoding: base64\r\n\r\n${Buffer.from(content).toString('base64')}\r\n`;
  });
  return `From: ann@example.com\r\nTo: bob@example.com\r\nSubject: files\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n${parts.join('')}--b--\r\n`;
}

async function treeOf(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    out.push(join(entry.parentPath, entry.name).slice(dir.length + 1));
  }
  return out.sort();
}

describe('saveAttachments', () => {
  test('safeFileName: hostile names from mail', () => {
    assert.equal(safeFileName('../../etc/passwd', 'f'), 'passwd');
    assert.equal(safeFileName('/abs', 'f'), 'abs');
    assert.equal(safeFileName('..\\..\\win.ini', 'f'), 'win.ini');
    assert.equal(safeFileName('..', 'f'), 'f');
    assert.equal(safeFileName('.hidden', 'f'), 'hidden');
    assert.equal(safeFileName('CON.txt', 'f'), '_CON.txt');
    assert.equal(safeFileName('nul', 'f'), '_nul');
    assert.equal(safeFileName('com1.tar.gz', 'f'), '_com1.tar.gz');
    assert.equal(safeFileName('a\u0000b', 'f'), 'ab');
    assert.equal(safeFileName('a\u001b[31mred', 'f'), 'a[31mred');
    const long = safeFileName(`${'é'.repeat(150)}.pdf`, 'f');
    assert.ok(Buffer.byteLength(long) <= 200, 'at most 200 bytes');
    assert.ok(long.endsWith('.pdf'), 'the extension is kept');
    assert.equal(Buffer.from(long).toString('utf8'), long, 'never half a UTF-8 sequence');
  });

  test('matching attachments saved 0600 in 0700 folders, hostile names made safe, paths in the command handler environment', async () => {
    const raw = withAttachments([
      ['../../etc/passwd', 'image/png', 'one'],
      ['/abs.pdf', 'application/pdf', 'two'],
      ['CON.txt', 'image/png', 'three'],
      ['a\u0000b.pdf', 'application/pdf', 'four'],
      [`${'n'.repeat(300)}.pdf`, 'application/pdf', 'five'],
      ['same.pdf', 'application/pdf', 'six'],
      ['same.pdf', 'application/pdf', 'seven'],
      ['skipped.zip', 'application/zip', 'eight'],
      ['big.pdf', 'application/pdf', 'x'.repeat(2000)],
    ]);
    const path = await maildirWith([raw]);
    const base = await makeTempDir('attach');
    const saveDir = join(base, 'saved');
    const out = join(base, 'env.txt');
    const dir = await writeConfig({
      accounts: [{
        name: 'local', protocol: 'maildir', path,
        command: ['/bin/sh', '-c', `printf '%s' "$MAILPOLL_ATTACHMENTS" > '${out}'`],
        saveAttachments: { dir: saveDir, match: ['*.pdf', 'image/*'], maxSize: 1000 },
      }],
    });
    const result = await runCli(['--json'], { cwd: dir });
    assert.equal(result.code, 0, result.stderr);
    const [event] = messageEvents(result);
    const ref = String(event?.ref);
    const folder = join(saveDir, 'local', ref);
    const long = `${'n'.repeat(196)}.pdf`;
    const expected = ['passwd', 'abs.pdf', '_CON.txt', 'ab.pdf', long, 'same.pdf', 'same-2.pdf'];
    assert.deepEqual((await readFile(out, 'utf8')).split('\n'), expected.map((name) => join(folder, name)));
    assert.deepEqual(await treeOf(saveDir), ['local', `local/${ref}`, ...expected.map((name) => `local/${ref}/${name}`)].sort());
    assert.equal(await readFile(join(folder, 'same-2.pdf'), 'utf8'), 'seven');
    assert.equal(await readFile(join(folder, 'passwd'), 'utf8'), 'one');
    for (const name of expected) assert.equal((await stat(join(folder, name))).mode & 0o777, 0o600, name);
    for (const sub of [join(saveDir, 'local'), folder]) assert.equal((await stat(sub)).mode & 0o777, 0o700, sub);
  });

  test('a JS handler gets savedAttachments; a symbolic link in the way fails the message and writes nothing outside dir; a dry run writes nothing', async () => {
    const raw = withAttachments([['report.pdf', 'application/pdf', 'pdf bytes']]);
    const base = await makeTempDir('attach');
    const handler = join(base, 'handler.mjs');
    await writeFile(handler, `import { writeFileSync } from 'node:fs';\nexport default (m) => { writeFileSync(${JSON.stringify(join(base, 'seen.json'))}, JSON.stringify(m.savedAttachments)); return 'keep'; };\n`);
    const saveDir = join(base, 'saved');

    const dry = await writeConfig({ accounts: [{ name: 'local', protocol: 'maildir', path: await maildirWith([raw]), script: handler, saveAttachments: { dir: saveDir } }] });
    assert.equal((await runCli(['--json', '--dry-run'], { cwd: dry })).code, 0);
    assert.deepEqual(JSON.parse(await readFile(join(base, 'seen.json'), 'utf8')), []);
    await assert.rejects(lstat(saveDir), 'a dry run creates nothing');

    const elsewhere = join(base, 'elsewhere');
    await mkdir(elsewhere);
    await mkdir(saveDir);
    await symlink(elsewhere, join(saveDir, 'local'));
    const dir = await writeConfig({ accounts: [{ name: 'local', protocol: 'maildir', path: await maildirWith([raw]), script: handler, saveAttachments: { dir: saveDir } }] });
    const refused = await runCli(['--json'], { cwd: dir });
    assert.equal(refused.code, 1);
    assert.equal(messageEvents(refused)[0]?.status, 'failed');
    assert.match(String(messageEvents(refused)[0]?.error), /saving attachments under .*is not a folder/);
    assert.deepEqual(await readdir(elsewhere), []);

    const okDir = await writeConfig({ accounts: [{ name: 'ok', protocol: 'maildir', path: await maildirWith([raw]), script: handler, saveAttachments: { dir: saveDir } }] });
    const ok = await runCli(['--json'], { cwd: okDir });
    assert.equal(ok.code, 0, ok.stderr);
    const saved = JSON.parse(await readFile(join(base, 'seen.json'), 'utf8')) as string[];
    assert.deepEqual(saved, [join(saveDir, 'ok', String(messageEvents(ok)[0]?.ref), 'report.pdf')]);
    assert.equal(await readFile(saved[0]!, 'utf8'), 'pdf bytes');
  });
});

