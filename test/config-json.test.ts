/** JSON configs that do not parse: the loader names line, column and the mistake. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findJsonMistake, parseJsonConfig } from '../src/config/json.js';

test('each mistake at its place, in words', () => {
  const cases: Array<[string, string]> = [
    ['{"a": 1,}', 'line 1, column 8: a trailing comma before "}" (JSON allows none)'],
    ['{\n  "a": [1,\n  ]\n}', 'line 2, column 10: a trailing comma before "]" (JSON allows none)'],
    ['{"a": 1 "b": 2}', 'line 1, column 9: expected "," or "}", found "\\""'],
    ["{'a': 1}", 'line 1, column 2: expected a key in double quotes, found "\'"'],
    ['{"a": \'x\'}', 'line 1, column 7: expected a value, found "\'" (JSON strings take double quotes)'],
    ['{"a": tru}', 'line 1, column 7: expected a value, found "t"'],
    ['{"a": "x', 'line 1, column 7: a string that never ends (a missing closing ")'],
    ['{"a": 1', 'line 1, column 8: expected "," or "}", found the end of the file'],
    ['{"a": 1} x', 'line 1, column 10: unexpected "x" after the end of the config'],
    ['{"a" 1}', 'line 1, column 6: expected ":" after the key, found "1"'],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseJsonConfig(text), { message }, text);
  }
});

test('the scanner finds no mistake where JSON.parse finds none', () => {
  for (const text of ['{}', '[]', ' {"a": [1, -2.5e3, true, false, null, "x\\u00e9\\n"], "b": {"c": {}}} ', '"s"', '0']) {
    assert.equal(findJsonMistake(text), undefined, text);
    assert.deepEqual(parseJsonConfig(text), JSON.parse(text));
  }
});
