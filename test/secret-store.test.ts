/** `SecretStore` on real files: values round-trip, writers at once lose nothing, a value is bound to its name, the key formats. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseKey } from '../src/secrets/key.js';
import { SecretStore, secretsBeside } from '../src/secrets/store.js';
import { makeTempDir } from './helpers/temp.js';

describe('SecretStore', () => {
  it('round-trips values; writers at once (two stores on one file) lose none of them', async () => {
    const location = secretsBeside(join(await makeTempDir('secrets'), 'mailpoll.db'));
    const a = new SecretStore(location, {});
    const b = new SecretStore(location, {});
    await Promise.all(Array.from({ length: 20 }, (_, index) => (index % 2 === 0 ? a : b).set(`name-${index}`, `value-${index}`)));
    assert.equal((await a.list()).length, 20);
    for (let index = 0; index < 20; index += 1) assert.equal(await b.get(`name-${index}`), `value-${index}`);
    assert.equal(await a.get('absent'), undefined);
    assert.equal(await a.delete('name-0'), true);
    assert.equal(await a.delete('name-0'), false);
    assert.equal((await stat(location.file)).mode & 0o777, 0o600);
  });

  it('a value moved to another name does not decrypt', async () => {
    const location = secretsBeside(join(await makeTempDir('secrets'), 'mailpoll.db'));
    const store = new SecretStore(location, {});
    await store.set('one', 'first-value');
    await store.set('two', 'second-value');
    const file = JSON.parse(await readFile(location.file, 'utf8')) as { secrets: Record<string, unknown> };
    file.secrets.two = file.secrets.one;
    await writeFile(location.file, JSON.stringify(file));
    await assert.rejects(store.get('two'), /cannot decrypt the secret "two"/);
    assert.equal(await store.get('one'), 'first-value');
  });

  it('MAILPOLL_KEY: 64 hex digits or base64 of 32 bytes, nothing else', () => {
    const key = randomBytes(32);
    assert.deepEqual(parseKey(key.toString('hex')), key);
    assert.deepEqual(parseKey(key.toString('base64')), key);
    assert.deepEqual(parseKey(key.toString('base64').replace(/=$/, '')), key);
    assert.equal(parseKey(randomBytes(16).toString('hex')), undefined);
    assert.equal(parseKey(randomBytes(31).toString('base64')), undefined);
  });
});
