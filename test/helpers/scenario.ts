/** Test scenarios on a private Dovecot: fresh users with numbered messages, account configs, state checks. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AccountConfig } from '../../src/config/types.js';
import { accountConfig } from './account.js';
import { FIXTURES, runCli, writeConfig, type CliResult } from './cli.js';
import { message, type Dovecot } from './dovecot.js';
import { bySubject, readMaildir, type StoredMessage } from './maildir-state.js';

/** The handler whose result each message's subject dictates (see the fixture's header). */
export const SPEC_HANDLER = join(FIXTURES, 'handlers', 'spec-from-subject.mjs');

/** A config folder for the spec handler, and the file it logs its calls to ($HANDLER_LOG). */
export interface SpecSetup {
  dir: string;
  log: string;
}

/** A fresh folder whose config hands `account` to the spec handler; `top` adds top-level keys. */
export async function configureSpec(account: Record<string, unknown>, top: Record<string, unknown> = {}): Promise<SpecSetup> {
  const dir = await writeConfig({ script: SPEC_HANDLER, accounts: [account], ...top });
  return { dir, log: join(dir, 'calls.ndjson') };
}

/** One `--json` run of the CLI in `dir`, the spec handler logging its calls to `log`. */
export function runSpec(dir: string, log: string, args: string[] = [], env: Record<string, string> = {}): Promise<CliResult> {
  return runCli(['--json', ...args], { cwd: dir, env: { HANDLER_LOG: log, ...env } });
}

export interface Credentials {
  user: string;
  password: string;
}

let users = 0;

export function scenario(dovecot: Dovecot) {
  return {
    /** A fresh mailbox holding one message per subject, oldest first, message-ids `<mN.user@test>`. */
    async mailbox(subjects: string[], options: { seen?: string[] } = {}): Promise<Credentials> {
      users += 1;
      const user = `u${process.pid}x${users}`;
      const password = `pw-${users}-s3cret`;
      await dovecot.addUser(user, password);
      const base = Date.UTC(2026, 0, 1);
      for (const [index, subject] of subjects.entries()) {
        const date = new Date(base + index * 60_000);
        await dovecot.deliver(user, message({ subject, messageId: `<m${index}.${user}@test>`, date }), {
          seen: options.seen?.includes(subject) ?? false,
          date,
        });
      }
      return { user, password };
    },

    /** A fresh user with its own password and an empty INBOX. */
    user(): Promise<Credentials> {
      return this.mailbox([]);
    },

    /**
     * A resolved AccountConfig (the schema's defaults) over implicit TLS against this Dovecot,
     * for tests that drive an adapter directly. Without user and password: add them.
     */
    adapterAccount(protocol: 'imap' | 'pop3', overrides: Partial<AccountConfig> = {}): AccountConfig {
      const port = protocol === 'imap' ? dovecot.ports.imaps : dovecot.ports.pop3s;
      return accountConfig({ protocol, host: dovecot.host, port, ca: dovecot.caFile, ...overrides });
    },

    imapAccount(creds: Credentials, extra: Record<string, unknown> = {}): Record<string, unknown> {
      return {
        name: 'support',
        protocol: 'imap',
        host: '127.0.0.1',
        port: dovecot.ports.imaps,
        tls: 'implicit',
        ca: dovecot.caFile,
        user: creds.user,
        password: creds.password,
        ...extra,
      };
    },

    /** What Dovecot really holds for this user, read from its Maildir. */
    state(user: string): Promise<StoredMessage[]> {
      return readMaildir(dovecot.maildir(user));
    },
  };
}

export function expectMessage(messages: StoredMessage[], subject: string, where: { folder: string; seen: boolean }): void {
  const found = bySubject(messages, subject);
  assert.ok(found, `${subject} should still exist; have: ${messages.map((m) => m.subject).join(', ')}`);
  assert.equal(found.folder, where.folder, `${subject} folder`);
  assert.equal(found.flags.includes('S'), where.seen, `${subject} seen flag`);
}

/** The calls the spec handler logged to $HANDLER_LOG. */
export async function handlerCalls(file: string): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}
