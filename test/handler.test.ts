import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Outcome } from '../src/decision/types.js';
import { HandlerError, HandlerLoadError } from '../src/errors.js';
import { loadHandler } from '../src/handler/load.js';
import { describeValue, normaliseResult } from '../src/handler/result.js';
import { createHandlerContext, runHandler } from '../src/handler/run.js';
import type { Handler, MailMessage } from '../src/handler/types.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'handlers');
const fixture = (name: string) => path.join(fixtures, name);

const account = { after: 'markSeen', moveTo: 'Processed' } as const;
const outcome = (action: Outcome['action'], transition: boolean, folder?: string): Outcome => ({
  action,
  folder,
  transition,
});

describe('normaliseResult', () => {
  const valid: [string, unknown, Outcome][] = [
    ['1', 1, outcome('delete', true)],
    ['2', 2, outcome('keep', true)],
    ['3', 3, outcome('delete', false)],
    ['4', 4, outcome('keep', false)],
    ["'delete'", 'delete', outcome('delete', true)],
    ["'keep'", 'keep', outcome('keep', true)],
    ["'markSeen'", 'markSeen', outcome('markSeen', true)],
    ["'move' (account moveTo)", 'move', outcome('move', true, 'Processed')],
    ["'move:Archive/2024'", 'move:Archive/2024', outcome('move', true, 'Archive/2024')],
    ['{ action: delete }', { action: 'delete' }, outcome('delete', true)],
    ['{ action: keep, transition: false }', { action: 'keep', transition: false }, outcome('keep', false)],
    ['{ action: markSeen, transition: true }', { action: 'markSeen', transition: true }, outcome('markSeen', true)],
    ['{ action: move } (account moveTo)', { action: 'move' }, outcome('move', true, 'Processed')],
    ['{ action: move, folder }', { action: 'move', folder: 'Spam' }, outcome('move', true, 'Spam')],
    [
      '{ action: move, folder, transition: false }',
      { action: 'move', folder: 'A/B', transition: false },
      outcome('move', false, 'A/B'),
    ],
    ['{ action: keep, folder: undefined }', { action: 'keep', folder: undefined }, outcome('keep', true)],
    ['object without prototype', Object.assign(Object.create(null) as object, { action: 'keep' }), outcome('keep', true)],
    ['undefined (account after)', undefined, outcome('markSeen', true)],
    ["'copy:Archive/2024'", 'copy:Archive/2024', { ...outcome('keep', true), extras: { flags: [], unflags: [], copyTo: 'Archive/2024' } }],
    ["'flag:$Processed'", 'flag:$Processed', { ...outcome('keep', true), extras: { flags: ['$Processed'], unflags: [], copyTo: undefined } }],
    ["'flag:\\flagged' (system flag, any case)", 'flag:\\flagged', { ...outcome('keep', true), extras: { flags: ['\\Flagged'], unflags: [], copyTo: undefined } }],
    ["'unflag:\\Seen'", 'unflag:\\Seen', { ...outcome('keep', true), extras: { flags: [], unflags: ['\\Seen'], copyTo: undefined } }],
    [
      '{ action: keep, flags, unflags, copyTo }',
      { action: 'keep', flags: ['$Processed', '$Processed'], unflags: ['$Todo'], copyTo: 'Archive' },
      { ...outcome('keep', true), extras: { flags: ['$Processed'], unflags: ['$Todo'], copyTo: 'Archive' } },
    ],
    ['{ action: move, flags } (flags travel with the move)', { action: 'move', flags: ['$Done'] }, { ...outcome('move', true, 'Processed'), extras: { flags: ['$Done'], unflags: [], copyTo: undefined } }],
    ['{ action: keep, flags: [] } (nothing besides)', { action: 'keep', flags: [] }, outcome('keep', true)],
  ];
  for (const [name, result, expected] of valid) {
    it(`accepts ${name}`, () => assert.deepEqual(normaliseResult(result, account), expected));
  }

  it("uses after: move with moveTo for undefined", () => {
    assert.deepEqual(normaliseResult(undefined, { after: 'move', moveTo: 'Done' }), outcome('move', true, 'Done'));
    assert.deepEqual(normaliseResult(undefined, { after: 'delete', moveTo: 'Done' }), outcome('delete', true));
  });

  it('uses the flags and copy of after for undefined', () => {
    const extras = { flags: ['$Processed'], unflags: [], copyTo: 'Archive' };
    assert.deepEqual(normaliseResult(undefined, { after: 'keep', afterExtras: extras, moveTo: undefined }), { ...outcome('keep', true), extras });
  });

  it("leaves the folder of 'move' undefined when moveTo is not set (the planner reports it)", () => {
    assert.deepEqual(normaliseResult('move', { after: 'keep', moveTo: undefined }), outcome('move', true));
  });

  const invalid: [string, unknown, RegExp][] = [
    ['5', 5, /^handler returned 5; expected 1, 2, 3, 4, 'delete'/],
    ['0', 0, /^handler returned 0;/],
    ['1.5', 1.5, /^handler returned 1\.5;/],
    ['NaN', Number.NaN, /^handler returned NaN;/],
    ["'foo'", 'foo', /^handler returned "foo";/],
    ["'Delete' (case-sensitive)", 'Delete', /^handler returned "Delete";/],
    ["' keep' (exact)", ' keep', /^handler returned " keep";/],
    ["'move:'", 'move:', /^handler returned "move:" \(the folder after move: is empty\);/],
    ['{}', {}, /^handler returned \{\} \(action is missing\);/],
    ['null', null, /^handler returned null;/],
    ['true', true, /^handler returned true;/],
    ['an array', [1], /^handler returned \[1\];/],
    ['{ action: nuke }', { action: 'nuke' }, /^handler returned \{"action":"nuke"\} \(action must be one of delete, keep, markSeen, move\);/],
    ['{ action: keep, folder }', { action: 'keep', folder: 'x' }, /\(folder is only allowed with action 'move'\)/],
    ['{ action: move, folder: "" }', { action: 'move', folder: '' }, /\(folder must be a non-empty string\)/],
    ['{ action: move, folder: 42 }', { action: 'move', folder: 42 }, /\(folder must be a non-empty string\)/],
    ['{ action: keep, transition: "yes" }', { action: 'keep', transition: 'yes' }, /\(transition must be true or false\)/],
    ['{ action: keep, extra }', { action: 'keep', flag: 1, why: 2 }, /\(unknown keys flag, why\)/],
    ["'copy:'", 'copy:', /\(the folder after copy: is empty\)/],
    ["'copy:A/*'", 'copy:A/*', /\(a folder name cannot contain the IMAP wildcards/],
    ["'flag:'", 'flag:', /\(flag: the flag name is empty\)/],
    ["'flag:two words'", 'flag:two words', /\(flag: a keyword cannot contain spaces/],
    ["'flag:\\Deleted'", 'flag:\\Deleted', /\\Deleted is set by the action delete/],
    ["'unflag:\\Recent'", 'unflag:\\Recent', /\\Recent is not a flag a client may set/],
    ['{ flags: a string }', { action: 'keep', flags: '$Processed' }, /\(flags must be a list of flag names/],
    ['{ a flag set and cleared }', { action: 'keep', flags: ['$A'], unflags: ['$A'] }, /\(\$A is both in flags and in unflags\)/],
    ['{ copyTo: 42 }', { action: 'keep', copyTo: 42 }, /\(copyTo must be a folder name\)/],
    ['a Date', new Date(0), /^handler returned "1970-01-01T00:00:00.000Z";/],
    ['a function', () => 1, /^handler returned a function;/],
    ['a bigint', 1n, /^handler returned 1n;/],
  ];
  for (const [name, result, pattern] of invalid) {
    it(`rejects ${name}`, () => {
      assert.throws(
        () => normaliseResult(result, account),
        (error: unknown) => {
          assert.ok(error instanceof HandlerError, `not a HandlerError: ${String(error)}`);
          assert.match(error.message, pattern);
          assert.match(error.message, /expected 1, 2, 3, 4, 'delete', 'keep', 'markSeen', 'move', 'move:<Folder>', 'copy:<Folder>', 'flag:<keyword>', 'unflag:<keyword>', \{ action, folder\?, transition\?, flags\?, unflags\?, copyTo\? \} or nothing$/);
          assert.equal(error.message.includes('\n'), false);
          return true;
        },
      );
    });
  }

  it('truncates long values to about 80 characters', () => {
    const text = describeValue({ action: 'keep', note: 'x'.repeat(500) });
    assert.equal(text.length, 80);
    assert.ok(text.endsWith('…'));
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    assert.equal(describeValue(circular), '[object Object]');
  });
});

describe('loadHandler', () => {
  let cjsDir: string;

  before(async () => {
    // A folder outside any "type": "module" package: tsx compiles .ts there as CommonJS.
    // Written at test time because tsc (verbatimModuleSyntax) rejects ESM syntax in such files.
    cjsDir = await mkdtemp(path.join(tmpdir(), 'mailpoll-handlers-'));
    await writeFile(path.join(cjsDir, 'package.json'), '{ "name": "user-handlers" }\n');
    await writeFile(
      path.join(cjsDir, 'handler.ts'),
      [
        'interface Message { subject?: string }',
        "type Result = 1 | 2 | 3 | 4 | 'keep';",
        'export default async function handler(mailMessage: Message): Promise<Result> {',
        "  return mailMessage.subject === 'spam' ? 3 : 'keep';",
        '}',
        '',
      ].join('\n'),
    );
    await writeFile(path.join(cjsDir, 'handler.cts'), "const handler = (): number => 1;\nexport default handler;\n");
    await writeFile(path.join(cjsDir, 'broken.ts'), 'export default function (mailMessage: ) {\n  return 1;\n}\n');
  });

  after(async () => {
    await rm(cjsDir, { recursive: true, force: true });
  });

  const message = { subject: 'spam' } as MailMessage;
  const context = createHandlerContext('test', false, { info: () => {} });

  it('loads an ES module (.mjs)', async () => {
    const { fn: handler } = await loadHandler(fixture('esm.mjs'));
    assert.equal(await handler({ subject: 'Out of toner', uid: '1' } as MailMessage, context), 1);
  });

  it('loads CommonJS module.exports = fn (.cjs)', async () => {
    const { fn: handler } = await loadHandler(fixture('module-exports.cjs'));
    assert.equal(await handler(message, context), 2);
  });

  it('loads CommonJS exports.default = fn (.cjs), unwrapping one default', async () => {
    const { fn: handler } = await loadHandler(fixture('exports-default.cjs'));
    assert.equal(await handler(message, context), 3);
  });

  it('loads TypeScript in a "type": "module" package (.ts)', async () => {
    const { fn: handler } = await loadHandler(fixture('typed.ts'));
    assert.equal(await handler({ subject: 'Invoice 7' } as MailMessage, context), 'move:Archive/2024');
  });

  it('loads TypeScript as ESM (.mts)', async () => {
    const { fn: handler } = await loadHandler(fixture('typed.mts'));
    assert.deepEqual(await handler(message, context), { action: 'markSeen', transition: false });
  });

  it('loads TypeScript outside a "type": "module" package (.ts compiled as CommonJS)', async () => {
    const { fn: handler } = await loadHandler(path.join(cjsDir, 'handler.ts'));
    assert.equal(await handler(message, context), 3);
  });

  it('loads TypeScript as CommonJS (.cts)', async () => {
    const { fn: handler } = await loadHandler(path.join(cjsDir, 'handler.cts'));
    assert.equal(await handler(message, context), 1);
  });

  it('resolves a relative path against the current directory', async () => {
    const relative = path.relative(process.cwd(), fixture('module-exports.cjs'));
    assert.equal(await loadHandler(relative), await loadHandler(fixture('module-exports.cjs')));
  });

  it('loads a module once per path', async () => {
    const first = await loadHandler(fixture('counted.mjs'));
    const second = await loadHandler(fixture('counted.mjs'));
    assert.equal(first, second);
    assert.equal((globalThis as { __mailpollCountedLoads?: number }).__mailpollCountedLoads, 1);
  });

  const failures: [string, () => string, RegExp][] = [
    ['a missing file', () => fixture('nope.mjs'), /^handler \/.*\/nope\.mjs: file not found$/],
    ['a directory', () => fixtures, /: not a file$/],
    [
      'a module without default export',
      () => fixture('named-only.mjs'),
      /^handler \/.*\/named-only\.mjs: no default export function \(export default async \(mailMessage, context\) => \.\.\.\)$/,
    ],
    ['a default export that is not a function', () => fixture('default-not-function.mjs'), /: no default export function/],
    ['a syntax error (.mjs)', () => fixture('syntax-error.mjs'), /^handler \/.*\/syntax-error\.mjs:1:\d+: SyntaxError: \S/],
    ['a syntax error (.ts)', () => path.join(cjsDir, 'broken.ts'), /^handler \/.*\/broken\.ts:1:39: SyntaxError: Unexpected "\)"$/],
    [
      'a missing import',
      () => fixture('missing-import.mjs'),
      /^handler \/.*\/missing-import\.mjs: Cannot find package 'mailpoll-no-such-package' imported from /,
    ],
    ['a module that throws while loading', () => fixture('throws-on-load.mjs'), /: TypeError: config\.json is missing$/],
  ];
  for (const [name, file, pattern] of failures) {
    it(`reports ${name} as HandlerLoadError`, async () => {
      await assert.rejects(loadHandler(file()), (error: unknown) => {
        assert.ok(error instanceof HandlerLoadError, `not a HandlerLoadError: ${String(error)}`);
        assert.match(error.message, pattern);
        assert.equal(error.message.includes('\n'), false);
        assert.equal(error.exitCode, 2);
        return true;
      });
    });
  }

  it('shows the offending line of a syntax error with a caret under its column', async () => {
    for (const [file, line] of [
      [fixture('syntax-error.mjs'), 'export default async function (mailMessage {'],
      [path.join(cjsDir, 'broken.ts'), 'export default function (mailMessage: ) {'],
    ] as const) {
      await assert.rejects(loadHandler(file), (error: unknown) => {
        assert.ok(error instanceof HandlerLoadError);
        const column = Number(/:1:(\d+): SyntaxError/.exec(error.message)?.[1]);
        assert.deepEqual(error.detail, [`  1 | ${line}`, `    | ${' '.repeat(column - 1)}^`]);
        return true;
      });
    }
  });

  it('tries again after a failed load (the file may have appeared)', async () => {
    const file = path.join(cjsDir, 'late.mjs');
    await assert.rejects(loadHandler(file), /file not found/);
    await writeFile(file, 'export default () => 4;\n');
    const { fn: handler } = await loadHandler(file);
    assert.equal(await handler(message, context), 4);
  });
});

describe('runHandler', () => {
  const message = { uid: '7', subject: 'hello' } as MailMessage;
  const context = createHandlerContext('support', false, { info: () => {} });
  const options = { timeoutMs: 1000 };

  it('returns the normalised result of a sync or async handler', async () => {
    assert.deepEqual(await runHandler(() => 1, message, context, account, options), outcome('delete', true));
    assert.deepEqual(await runHandler(async () => 'move:X' as const, message, context, account, options), outcome('move', true, 'X'));
    assert.deepEqual(await runHandler(() => undefined, message, context, account, options), outcome('markSeen', true));
  });

  it('passes the message and the context', async () => {
    let seen: unknown[] = [];
    await runHandler((...args) => void (seen = args), message, context, account, options);
    assert.equal(seen[0], message);
    assert.equal(seen[1], context);
  });

  const failing: [string, Handler, RegExp][] = [
    ['a throw', () => { throw new Error('no database'); }, /^handler failed: no database$/],
    ['a rejection', async () => Promise.reject(new RangeError('bad range\nmore details')), /^handler failed: bad range$/],
    ['a thrown string', () => { throw 'oops'; }, /^handler failed: threw "oops" \(not an Error\)$/],
    ['a thrown object', () => { throw { code: 42 }; }, /^handler failed: threw \{"code":42\} \(not an Error\)$/],
    ['a rejection with undefined', () => Promise.reject(undefined), /^handler failed: threw undefined \(not an Error\)$/],
    ['an invalid result', () => 5 as never, /^handler returned 5; expected/],
  ];
  for (const [name, handler, pattern] of failing) {
    it(`turns ${name} into a HandlerError`, async () => {
      await assert.rejects(runHandler(handler, message, context, account, options), (error: unknown) => {
        assert.ok(error instanceof HandlerError, `not a HandlerError: ${String(error)}`);
        assert.match(error.message, pattern);
        assert.equal(error.account, 'support');
        return true;
      });
    });
  }

  it('keeps the thrown error as cause', async () => {
    const thrown = new Error('with stack');
    await assert.rejects(
      runHandler(() => { throw thrown; }, message, context, account, options),
      (error: unknown) => error instanceof HandlerError && error.cause === thrown,
    );
  });

  it('times out a handler that never answers', async () => {
    const started = Date.now();
    await assert.rejects(
      runHandler(() => new Promise(() => {}), message, context, account, { timeoutMs: 50 }),
      (error: unknown) => error instanceof HandlerError && error.message === 'handler timed out after 50ms',
    );
    assert.ok(Date.now() - started < 1000);
  });

  it('has no limit with timeoutMs 0 or Infinity, and caps huge values instead of firing at once', async () => {
    const later = () => new Promise<1>((resolve) => setTimeout(() => resolve(1), 30));
    for (const timeoutMs of [0, Number.POSITIVE_INFINITY, 30 * 86_400_000]) {
      assert.deepEqual(await runHandler(later, message, context, account, { timeoutMs }), outcome('delete', true));
    }
  });

  it('stops waiting when the signal aborts, with the signal reason', async () => {
    const controller = new AbortController();
    const reason = new Error('interrupted');
    const running = runHandler(() => new Promise(() => {}), message, context, account, {
      timeoutMs: 10_000,
      signal: controller.signal,
    });
    controller.abort(reason);
    await assert.rejects(running, (error: unknown) => error === reason);
  });

  it('does not call the handler when the signal is already aborted', async () => {
    let called = false;
    const signal = AbortSignal.abort(new Error('stop'));
    await assert.rejects(
      runHandler(() => void (called = true), message, context, account, { timeoutMs: 1000, signal }),
      { message: 'stop' },
    );
    assert.equal(called, false);
  });
});

describe('createHandlerContext', () => {
  it('logs with the account prefix, formatted like console.log, every line prefixed', () => {
    const lines: string[] = [];
    const context = createHandlerContext('support', true, { info: (line) => lines.push(line) });
    assert.equal(context.account, 'support');
    assert.equal(context.dryRun, true);
    context.log('uid %s has', '42', { size: 3 });
    context.log('two\nlines');
    assert.deepEqual(lines, ['[support] uid 42 has { size: 3 }', '[support] two\n[support] lines']);
  });
});
