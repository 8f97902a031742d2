/**
 * `tlsRejectUnauthorized: false` is said on stderr every time an account with it is about to
 * be used (run, check, each watch start or reload): a setting that turns verification off
 * should never become silent.
 */
import type { AccountConfig } from '../config/types.js';

/** One warning line per selected server account that does not verify its server's certificate. */
export function insecureTlsWarnings(accounts: readonly AccountConfig[]): string[] {
  return accounts
    .filter((account) => account.protocol !== 'maildir' && account.tls !== 'none' && !account.tlsRejectUnauthorized)
    .map((account) => {
      const only = account.tlsFingerprint === undefined ? 'anyone on the network path can read the password and the mail' : 'only the pinned tlsFingerprint is checked';
      return `warning: ${account.name}: tlsRejectUnauthorized is false: the server certificate is not verified (${only}). Set ca: to the server's CA instead.`;
    });
}
