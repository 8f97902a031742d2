/**
 * POP3 AUTH with an OAuth2 access token (RFC 5034): OAUTHBEARER when the server lists it in
 * CAPA's SASL line, else XOAUTH2. The initial response rides on the AUTH line when the line
 * stays within RFC 5034's 255 octets, else it answers the server's first empty challenge. A
 * refusal comes as a `+ <base64 JSON>` challenge, answered with the mechanism's abort
 * (RFC 7628: a single %x01; XOAUTH2: an empty line), then `-ERR`.
 */
import { AuthError } from '../../errors.js';
import { saslInitialResponse, type OAuthMechanism } from '../oauth2-login.js';
import type { ConnectionGuard } from '../connection-utils.js';
import type { Pop3Connection } from './connection.js';
import { loginRefused } from './errors.js';

const MAX_COMMAND_OCTETS = 255;

/** The SASL mechanisms of a CAPA body (`SASL PLAIN OAUTHBEARER`), upper-cased. */
export function saslMechanisms(body: Buffer | undefined): Set<string> {
  const line = (body ?? Buffer.alloc(0)).toString('latin1').split(/\r?\n/).find((entry) => /^SASL\b/i.test(entry.trim()));
  return new Set((line ?? '').trim().split(/\s+/).slice(1).map((word) => word.toUpperCase()));
}

/** Log in with `token` as `user`; throws AuthError when the server refuses it. */
export async function authenticateWithToken(guard: ConnectionGuard, connection: Pop3Connection, user: string, token: string): Promise<OAuthMechanism> {
  const capa = await connection.command({ line: 'CAPA', multiline: true });
  const offered = capa.ok ? saslMechanisms(capa.body) : new Set<string>();
  const mechanism: OAuthMechanism | undefined = offered.has('OAUTHBEARER') ? 'OAUTHBEARER' : offered.has('XOAUTH2') ? 'XOAUTH2' : undefined;
  if (mechanism === undefined) {
    const listed = offered.size === 0 ? 'no SASL mechanisms' : `SASL ${[...offered].join(' ')}`;
    throw new AuthError(`${guard.name} (${guard.where}): the server offers neither OAUTHBEARER nor XOAUTH2 (CAPA lists ${listed}), so auth: oauth2 cannot log in. Check host and port, or use a password.`, {
      account: guard.name,
    });
  }
  const encoded = Buffer.from(saslInitialResponse(mechanism, user, token, guard.host, guard.port), 'utf8').toString('base64');
  const hidden = `AUTH ${mechanism} (* credentials hidden *)`;
  const inline = `AUTH ${mechanism} ${encoded}`;
  let reply =
    inline.length + 2 <= MAX_COMMAND_OCTETS
      ? await connection.command({ line: inline, logAs: hidden, expectContinuation: true })
      : await connection.command({ line: `AUTH ${mechanism}`, expectContinuation: true });
  if (reply.continuation && reply.text === '') {
    reply = await connection.command({ line: encoded, logAs: '(* credentials hidden *)', expectContinuation: true });
  }
  if (reply.continuation) {
    // The server's error details (base64 JSON), then the abort the mechanism defines.
    reply = await connection.command({ line: mechanism === 'OAUTHBEARER' ? 'AQ==' : '', expectContinuation: true });
  }
  if (reply.ok) return mechanism;
  throw loginRefused(guard, reply.continuation ? '-ERR' : reply.text);
}
