/**
 * What both network adapters share for `auth: oauth2`: a login the server refused is tried
 * once more with a fresh access token (a cached token may have been revoked before its
 * expiry), and the SASL initial responses of OAUTHBEARER (RFC 7628) and XOAUTH2.
 */
import type { AccountConfig } from '../config/types.js';
import { AuthError } from '../errors.js';
import { OAuth2Error } from '../oauth2/token-endpoint.js';
import { invalidateAccessToken } from '../oauth2/tokens.js';
import type { Mailbox } from './types.js';

/** `mailbox`, its `open()` retried once after the server refused the access token. */
export function retryRefusedToken(mailbox: Mailbox, account: AccountConfig): Mailbox {
  const open = mailbox.open.bind(mailbox);
  mailbox.open = async () => {
    try {
      return await open();
    } catch (error) {
      // OAuth2Error: the token endpoint itself refused; a new attempt would be refused too.
      if (!(error instanceof AuthError) || error instanceof OAuth2Error) throw error;
      invalidateAccessToken(account);
      return await open();
    }
  };
  return mailbox;
}

export type OAuthMechanism = 'OAUTHBEARER' | 'XOAUTH2';

/** The SASL initial response (not yet base64) of `mechanism` for `user` and `token` at `host:port`. */
export function saslInitialResponse(mechanism: OAuthMechanism, user: string, token: string, host: string, port: number): string {
  if (mechanism === 'XOAUTH2') return `user=${user}\x01auth=Bearer ${token}\x01\x01`;
  // GS2 header: "," and "=" in the authzid are escaped (RFC 5801 section 4).
  const authzid = user.replace(/=/g, '=3D').replace(/,/g, '=2C');
  return `n,a=${authzid},\x01host=${host}\x01port=${port}\x01auth=Bearer ${token}\x01\x01`;
}
