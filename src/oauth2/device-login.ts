/**
 * The device-code sign-in (RFC 8628): ask the device authorization endpoint for a code, tell
 * the user where to enter it, and poll the token endpoint until they have (or refuse, or the
 * code expires). Used by `mailpoll auth login` where the provider has a device endpoint.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { OAuth2Config } from '../config/oauth2.js';
import { ConnectionError, UsageError } from '../errors.js';
import { describeRefusal, OAuth2Error, postForm, readTokenAnswer, type TokenAnswer } from './token-endpoint.js';

export interface SignInOptions {
  /** Where the instructions go (stderr). */
  tell: (line: string) => void;
  signal?: AbortSignal | undefined;
  now?: () => number;
}

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/** Sign `account` in with the device-code flow; the tokens the endpoint issued. */
export async function signInWithDeviceCode(account: string, oauth2: OAuth2Config, options: SignInOptions): Promise<TokenAnswer> {
  const now = options.now ?? Date.now;
  const url = oauth2.deviceAuthorizationUrl!;
  const started = await postForm(account, url, { client_id: oauth2.clientId, scope: oauth2.scope });
  if (!started.ok) throw new OAuth2Error(`${account}: the device authorization endpoint ${url} refused (${describeRefusal(started.refusal)}). Check clientId, scope and that the app registration allows public client flows.`, { account });
  const body = started.body;
  const deviceCode = body.device_code;
  const userCode = body.user_code;
  // Google spells it verification_url.
  const verification = body.verification_uri ?? body.verification_url;
  if (typeof deviceCode !== 'string' || typeof userCode !== 'string' || typeof verification !== 'string') {
    throw new ConnectionError(`${account}: the device authorization endpoint ${url} answered without device_code, user_code and verification_uri.`, { account });
  }
  let interval = Number(body.interval);
  if (!Number.isFinite(interval) || interval < 0) interval = 5;
  const expiresIn = Number(body.expires_in);
  const deadline = now() + (Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : 900) * 1000;
  options.tell(`To sign in ${account}, open ${verification} and enter the code ${userCode}`);
  options.tell(`waiting for the sign-in (until ${new Date(deadline).toISOString()}; Ctrl-C cancels)...`);
  const tokenUrl = oauth2.tokenUrl!;
  for (;;) {
    try {
      await sleep(interval * 1000, undefined, { signal: options.signal });
    } catch {
      throw new UsageError('sign-in cancelled; nothing stored');
    }
    const answer = await postForm(account, tokenUrl, { grant_type: DEVICE_GRANT, device_code: deviceCode, client_id: oauth2.clientId, client_secret: oauth2.clientSecret });
    if (answer.ok) return readTokenAnswer(account, tokenUrl, answer.body, now());
    const { error } = answer.refusal;
    if (error === 'authorization_pending') {
      if (now() > deadline) break;
      continue;
    }
    if (error === 'slow_down') {
      interval += 5;
      continue;
    }
    if (error === 'expired_token') break;
    if (error === 'access_denied') throw new OAuth2Error(`${account}: the sign-in was declined. Run \`mailpoll auth login ${account}\` again.`, { account });
    throw new OAuth2Error(`${account}: the token endpoint ${tokenUrl} refused the sign-in (${describeRefusal(answer.refusal)}).`, { account });
  }
  throw new OAuth2Error(`${account}: the code expired before the sign-in was completed. Run \`mailpoll auth login ${account}\` again.`, { account });
}
