import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MIN_SECRET_LENGTH, SECRET_PLACEHOLDER, redact, registerSecret } from '../src/redact.js';

describe('redact', () => {
  it('replaces every occurrence of a secret with ***', () => {
    assert.equal(SECRET_PLACEHOLDER, '***');
    assert.equal(redact('pw=hunter2; again hunter2', ['hunter2']), 'pw=***; again ***');
  });

  it(`leaves secrets shorter than ${MIN_SECRET_LENGTH} characters alone, and masks those of exactly ${MIN_SECRET_LENGTH}`, () => {
    assert.equal(MIN_SECRET_LENGTH, 3);
    assert.equal(redact('a ab abc', ['a', 'ab']), 'a ab abc');
    assert.equal(redact('a ab abc', ['abc']), 'a ab ***');
    assert.equal(redact('nothing to hide', [undefined, '']), 'nothing to hide');
  });

  it('matches regular-expression metacharacters literally', () => {
    assert.equal(redact('abc a.c xa.cx', ['a.c']), 'abc *** x***x');
    assert.equal(redact('p(a+)*$ and p(a+)*$', ['(a+)*$']), 'p*** and p***');
    assert.equal(redact('x[^]\\d{2}|y', ['[^]\\d{2}|']), 'x***y');
  });

  it('masks the longest of several secrets first, so one inside another is hidden whole', () => {
    assert.equal(redact('correct horse, horse, correct', ['horse', 'correct horse']), '***, ***, correct');
    assert.equal(redact('correct horse', ['orr', 'correct horse']), '***');
  });

  it('without a list, masks the registered secrets (and their JSON-escaped form)', () => {
    assert.equal(redact('quo"te\\pw'), 'quo"te\\pw');
    registerSecret('quo"te\\pw');
    registerSecret('no');
    assert.equal(redact(`raw quo"te\\pw json ${JSON.stringify('quo"te\\pw')} no`), 'raw *** json "***" no');
  });
});
