/**
 * Requests to an OAuth2 token endpoint (RFC 6749 section 4.4 and 6, RFC 8628 section 3.4): a
 * form POST, a JSON answer. Every token in an answer is registered with `redact` before
 * anything else sees it. Failures become our errors: the endpoint refusing the grant an
 * `OAuth2Error` (exit 3, no retry), an unreachable or failing endpoint a `ConnectionError`.
 */
import { AuthError, ConnectionError, describeError } from '../errors.js';
import { registerSecret } from '../redact.js';

/** A refused login that refreshing cannot fix (a revoked refresh token, a wrong client secret): never retried. */
export class OAuth2Error extends AuthError {}

/** A successful token answer. */
export interface TokenAnswer {
  accessToken: string;
  /** Milliseconds since the epoch, when the endpoint said `expires_in`. */
  expiresAt: number | undefined;
  /** A new (rotated) refresh token, when the endpoint sent one. */
  refreshToken: string | undefined;
}

/** The endpoint's error answer (`{"error": "invalid_grant", ...}`), for the device flow's polling. */
export interface TokenRefusal {
  error: string;
  description: string | undefined;
  status: number;
}

const REQUEST_TIMEOUT_MS = 30_000;

/**
 * POST `form` to `url`; the JSON answer or the endpoint's refusal. `account` names the
 * account in errors. Network failures, 5xx and non-JSON answers throw a ConnectionError.
 */
export async function postForm(account: string, url: string, form: Record<string, string | undefined>): Promise<{ ok: true; body: Record<string, unknown> } | { ok: false; refusal: TokenRefusal }> {
  const body = new URLSearchParams();
  for (const [key, value] of Object.entries(form)) if (value !== undefined) body.set(key, value);
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : describeError(error);
    throw new ConnectionError(`${account}: cannot reach the token endpoint ${url} (${cause}). Check tokenUrl and the network.`, { account, cause: error });
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const json = parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : undefined;
  for (const key of ['access_token', 'refresh_token', 'id_token']) if (typeof json?.[key] === 'string') registerSecret(json[key]);
  if (response.ok && json !== undefined) return { ok: true, body: json };
  if (response.status >= 400 && response.status < 500 && typeof json?.error === 'string') {
    const description = typeof json.error_description === 'string' ? json.error_description.split(/\r?\n/)[0]!.slice(0, 300) : undefined;
    return { ok: false, refusal: { error: json.error, description, status: response.status } };
  }
  throw new ConnectionError(`${account}: the token endpoint ${url} answered HTTP ${response.status}${json === undefined ? ' without JSON' : ''}. Try again later; check tokenUrl if it persists.`, { account });
}

/** The token answer of a successful request, or an error when it has no access token. */
export function readTokenAnswer(account: string, url: string, body: Record<string, unknown>, now: number): TokenAnswer {
  const accessToken = body.access_token;
  if (typeof accessToken !== 'string' || accessToken === '') {
    throw new ConnectionError(`${account}: the token endpoint ${url} answered without an access_token. Check tokenUrl.`, { account });
  }
  const expiresIn = Number(body.expires_in);
  return {
    accessToken,
    expiresAt: Number.isFinite(expiresIn) && expiresIn > 0 ? now + expiresIn * 1000 : undefined,
    refreshToken: typeof body.refresh_token === 'string' && body.refresh_token !== '' ? body.refresh_token : undefined,
  };
}

/** `invalid_grant: the token was revoked` from a refusal. */
export function describeRefusal(refusal: TokenRefusal): string {
  return refusal.description === undefined ? refusal.error : `${refusal.error}: ${refusal.description}`;
}
