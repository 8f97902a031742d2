/**
 * A small OAuth2 provider for tests, one node:http server on 127.0.0.1: a token endpoint
 * (refresh_token with rotation, client_credentials, device_code, authorization_code with
 * PKCE), a device authorization endpoint, and the RFC 7662 introspection endpoint Dovecot's
 * oauth2 passdb asks about every token. Tokens are random; the test decides which are valid.
 *
 *   const provider = await startOAuth2Server();
 *   const dovecot = await startDovecot({ oauth2: { introspectionUrl: provider.introspectionUrl, mechanisms: ['oauthbearer'] } });
 *   const refresh = provider.issueRefreshToken('ann');
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TokenRequest {
  grant_type: string;
  [key: string]: string;
}

export interface OAuth2Server {
  url: string;
  tokenUrl: string;
  deviceUrl: string;
  introspectionUrl: string;
  /** Every form POSTed to the token endpoint, in order. */
  tokenRequests: TokenRequest[];
  /** Every token Dovecot asked about, in order. */
  introspected: string[];
  /** A refresh token for `user`, valid until used (when rotating) or revoked. */
  issueRefreshToken(user: string): string;
  /** An access token for `user` that introspection accepts; `length`: at least this long (real ones are 1-3 KB). */
  issueAccessToken(user: string, length?: number): string;
  revoke(token: string): void;
  /** Issue a new refresh token with each refresh, revoking the one used. Default true. */
  rotate: boolean;
  /** `expires_in` of issued access tokens. Default 3600. */
  expiresIn: number;
  /** `client_credentials`: the client id and secret it accepts, and the user its tokens log in as. */
  client: { id: string; secret: string; user: string };
  /** Called before an introspection is answered (a test may kill the client there). */
  onIntrospect: ((token: string) => void) | undefined;
  /** The device flow: approve the pending request that showed `userCode` for `user`. */
  approveDevice(userCode: string, user: string): void;
  /** The browser flow: a code for `user`, bound to the PKCE `challenge` and `redirectUri`. */
  issueAuthorizationCode(user: string, challenge: string, redirectUri: string): string;
  close(): Promise<void>;
}

const token = (prefix: string) => `${prefix}-${randomBytes(18).toString('base64url')}`;

export async function startOAuth2Server(): Promise<OAuth2Server> {
  const access = new Map<string, string>();
  const refresh = new Map<string, string>();
  const devices = new Map<string, { userCode: string; user: string | undefined }>();
  const codes = new Map<string, { user: string; challenge: string; redirectUri: string }>();
  const server = http.createServer();
  const state: OAuth2Server = {
    url: '',
    tokenUrl: '',
    deviceUrl: '',
    introspectionUrl: '',
    tokenRequests: [],
    introspected: [],
    rotate: true,
    expiresIn: 3600,
    client: { id: 'mailpoll-test', secret: 'client-secret-value', user: '' },
    onIntrospect: undefined,
    issueRefreshToken(user) {
      const value = token('rt');
      refresh.set(value, user);
      return value;
    },
    issueAccessToken(user, length = 0) {
      const short = token('at');
      const value = short.length >= length ? short : `${short}.${randomBytes(length).toString('base64url').slice(0, length - short.length - 1)}`;
      access.set(value, user);
      return value;
    },
    revoke(value) {
      access.delete(value);
      refresh.delete(value);
    },
    approveDevice(userCode, user) {
      for (const device of devices.values()) if (device.userCode === userCode) device.user = user;
    },
    issueAuthorizationCode(user, challenge, redirectUri) {
      const value = token('code');
      codes.set(value, { user, challenge, redirectUri });
      return value;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };

  const tokensFor = (user: string, withRefresh: boolean) => {
    const answer: Record<string, unknown> = { token_type: 'Bearer', access_token: state.issueAccessToken(user), expires_in: state.expiresIn };
    if (withRefresh) answer.refresh_token = state.issueRefreshToken(user);
    return answer;
  };

  const answerToken = (form: TokenRequest): [number, Record<string, unknown>] => {
    switch (form.grant_type) {
      case 'refresh_token': {
        const user = refresh.get(form.refresh_token ?? '');
        if (user === undefined) return [400, { error: 'invalid_grant', error_description: 'The refresh token has been revoked.' }];
        if (state.rotate) refresh.delete(form.refresh_token!);
        return [200, tokensFor(user, state.rotate)];
      }
      case 'client_credentials':
        if (form.client_id !== state.client.id || form.client_secret !== state.client.secret) return [401, { error: 'invalid_client' }];
        return [200, tokensFor(state.client.user, false)];
      case 'urn:ietf:params:oauth:grant-type:device_code': {
        const device = devices.get(form.device_code ?? '');
        if (device === undefined) return [400, { error: 'expired_token' }];
        if (device.user === undefined) return [400, { error: 'authorization_pending' }];
        devices.delete(form.device_code!);
        return [200, tokensFor(device.user, true)];
      }
      case 'authorization_code': {
        const code = codes.get(form.code ?? '');
        const challenge = createHash('sha256').update(form.code_verifier ?? '').digest('base64url');
        if (code === undefined || code.challenge !== challenge || code.redirectUri !== form.redirect_uri) return [400, { error: 'invalid_grant' }];
        codes.delete(form.code!);
        return [200, tokensFor(code.user, true)];
      }
      default:
        return [400, { error: 'unsupported_grant_type' }];
    }
  };

  server.on('request', (request, response) => {
    let body = '';
    request.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      const form = Object.fromEntries(new URLSearchParams(body)) as TokenRequest;
      const send = (status: number, json: unknown) => {
        response.writeHead(status, { 'content-type': 'application/json' });
        response.end(JSON.stringify(json));
      };
      if (request.url === '/token') {
        state.tokenRequests.push(form);
        const [status, json] = answerToken(form);
        return send(status, json);
      }
      if (request.url === '/device') {
        const deviceCode = token('dc');
        const userCode = randomBytes(4).toString('hex').toUpperCase();
        devices.set(deviceCode, { userCode, user: undefined });
        return send(200, { device_code: deviceCode, user_code: userCode, verification_uri: `${state.url}/verify`, expires_in: 300, interval: 1 });
      }
      if (request.url === '/introspect') {
        const value = form.token ?? '';
        state.introspected.push(value);
        state.onIntrospect?.(value);
        const user = access.get(value);
        return send(200, user === undefined ? { active: false } : { active: true, username: user });
      }
      send(404, { error: 'not_found' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.tokenUrl = `${state.url}/token`;
  state.deviceUrl = `${state.url}/device`;
  state.introspectionUrl = `${state.url}/introspect`;
  return state;
}
