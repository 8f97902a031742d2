/**
 * The browser sign-in with a loopback redirect and PKCE (RFC 8252, RFC 7636), for providers
 * without a device flow for mail (Google): mailpoll listens on 127.0.0.1 on a free port,
 * prints the authorization URL, takes the code the browser brings back (checking `state`),
 * and exchanges it with the code verifier at the token endpoint.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { OAuth2Config } from '../config/oauth2.js';
import { UsageError } from '../errors.js';
import type { SignInOptions } from './device-login.js';
import { describeRefusal, OAuth2Error, postForm, readTokenAnswer, type TokenAnswer } from './token-endpoint.js';

const base64url = (bytes: Buffer) => bytes.toString('base64url');

/** Sign `account` in through the browser; the tokens the endpoint issued. */
export async function signInWithBrowser(account: string, oauth2: OAuth2Config, options: SignInOptions): Promise<TokenAnswer> {
  const verifier = base64url(randomBytes(32));
  const challenge = base64url(createHash('sha256').update(verifier).digest());
  const state = base64url(randomBytes(16));
  const server = http.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  try {
    const redirectUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const url = new URL(oauth2.authorizationUrl!);
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('client_id', oauth2.clientId ?? '');
    url.searchParams.set('redirect_uri', redirectUri);
    url.searchParams.set('scope', oauth2.scope ?? '');
    url.searchParams.set('state', state);
    url.searchParams.set('code_challenge', challenge);
    url.searchParams.set('code_challenge_method', 'S256');
    // Google issues a refresh token only with these.
    url.searchParams.set('access_type', 'offline');
    url.searchParams.set('prompt', 'consent');
    options.tell(`To sign in ${account}, open this URL in a browser on this machine:`);
    options.tell(url.toString());
    options.tell(`waiting for the browser to come back to ${redirectUri} (Ctrl-C cancels)...`);
    const code = await waitForCode(server, state, account, options.signal);
    const tokenUrl = oauth2.tokenUrl!;
    const answer = await postForm(account, tokenUrl, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: redirectUri,
      client_id: oauth2.clientId,
      client_secret: oauth2.clientSecret,
      code_verifier: verifier,
    });
    if (!answer.ok) throw new OAuth2Error(`${account}: the token endpoint ${tokenUrl} refused the sign-in (${describeRefusal(answer.refusal)}).`, { account });
    return readTokenAnswer(account, tokenUrl, answer.body, (options.now ?? Date.now)());
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

/** The `code` of the first redirect carrying our `state`; other requests get a 400. */
function waitForCode(server: http.Server, state: string, account: string, signal: AbortSignal | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(new UsageError('sign-in cancelled; nothing stored'));
    signal?.addEventListener('abort', onAbort, { once: true });
    server.on('request', (request, response) => {
      const query = new URL(request.url ?? '/', 'http://127.0.0.1').searchParams;
      const page = (status: number, text: string) => {
        response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
        response.end(`${text}\n`);
      };
      if (query.get('state') !== state) return page(400, 'mailpoll: this is not the sign-in mailpoll is waiting for.');
      signal?.removeEventListener('abort', onAbort);
      const error = query.get('error');
      if (error !== null) {
        page(400, `mailpoll: the sign-in failed (${error}). You can close this window.`);
        return reject(new OAuth2Error(`${account}: the sign-in failed (${error}${query.get('error_description') ? `: ${query.get('error_description')}` : ''}).`, { account }));
      }
      const code = query.get('code');
      if (code === null || code === '') return page(400, 'mailpoll: no code in this answer.');
      page(200, 'mailpoll: signed in. You can close this window.');
      resolve(code);
    });
  });
}
