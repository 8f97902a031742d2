/**
 * A resolved AccountConfig with the config schema's defaults, for tests that drive adapters
 * directly. One place to update when a config key is added.
 */
import type { AccountConfig } from '../../src/config/types.js';

export function accountConfig(overrides: Partial<AccountConfig> & Pick<AccountConfig, 'protocol'>): AccountConfig {
  return {
    name: 'support',
    enabled: true,
    host: undefined,
    port: undefined,
    tls: 'implicit',
    tlsRejectUnauthorized: true,
    ca: undefined,
    user: undefined,
    login: undefined,
    password: undefined,
    passwordSpec: undefined,
    folder: 'INBOX',
    path: undefined,
    onlyUnseen: overrides.protocol !== 'pop3',
    after: overrides.protocol === 'pop3' ? 'keep' : 'markSeen',
    moveTo: undefined,
    maxMessages: undefined,
    connectTimeout: 10_000,
    fetchTimeout: 60_000,
    handlerTimeout: 60_000,
    script: undefined,
    reprocess: false,
    maxAttempts: 5,
    retryDelay: 600_000,
    quarantineFolder: undefined,
    maxMessageSize: undefined,
    interval: 60_000,
    schedule: undefined,
    idle: false,
    idleHealthCheck: 300_000,
    backoff: { initialMs: 1000, maxMs: 3_600_000 },
    ...overrides,
  };
}
