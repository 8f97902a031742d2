/**
 * A resolved AccountConfig with the config's defaults, for tests that drive adapters
 * directly. A key added to the config gets its default in src/config/defaults.ts.
 */
import { accountDefaults } from '../../src/config/defaults.js';
import type { AccountConfig } from '../../src/config/types.js';

export function accountConfig(overrides: Partial<AccountConfig> & Pick<AccountConfig, 'protocol'>): AccountConfig {
  return {
    name: 'support',
    ...accountDefaults(overrides.protocol),
    // Shorter than the defaults: a test that hangs fails within a minute.
    connectTimeout: 10_000,
    fetchTimeout: 60_000,
    handlerTimeout: 60_000,
    ...overrides,
  };
}
