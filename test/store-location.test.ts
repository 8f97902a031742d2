/**
 * Which store a command uses (`chooseStore`: --store > MAILPOLL_STORE > store: > the default
 * file) and the command line a run records, its secrets masked whatever the store.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { recordedCommandLine } from '../src/cli/command-line.js';
import { registerSecret } from '../src/redact.js';
import { chooseStore, defaultStorePath } from '../src/store/path.js';

describe('chooseStore', () => {
  const env = { XDG_STATE_HOME: '/state' };
  test('--store, then MAILPOLL_STORE, then store:, then the default', () => {
    const named = { flag: 'flag.db', configured: '/conf/store.db' };
    const withVariable = { ...env, MAILPOLL_STORE: 'postgres://u@h/db' };
    assert.equal(chooseStore(named, withVariable, '/cwd'), '/cwd/flag.db');
    assert.equal(chooseStore({ configured: '/conf/store.db' }, withVariable, '/cwd'), 'postgres://u@h/db');
    assert.equal(chooseStore({ configured: '/conf/store.db' }, env, '/cwd'), '/conf/store.db');
    assert.equal(chooseStore({}, env, '/cwd'), defaultStorePath(env));
  });

  test('a MAILPOLL_STORE path is against the current folder; an empty one is unset', () => {
    assert.equal(chooseStore({}, { ...env, MAILPOLL_STORE: 'here.db' }, '/cwd'), '/cwd/here.db');
    assert.equal(chooseStore({ configured: '/conf/store.db' }, { ...env, MAILPOLL_STORE: '' }, '/cwd'), '/conf/store.db');
  });
});

describe('recordedCommandLine', () => {
  test('masks a store URL password (as an argument or after =) and every registered secret', () => {
    registerSecret('hunter2-secret');
    const line = recordedCommandLine(['--store', 'postgres://ann:pw%40x@db:5432/mail', '--store=postgres://ann:other@db/mail?sslpassword=k', '-a', 'hunter2-secret']);
    assert.equal(line, 'mailpoll --store postgres://ann:***@db:5432/mail --store=postgres://ann:***@db/mail?sslpassword=*** -a ***');
  });
});
