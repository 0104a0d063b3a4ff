/**
 * Bearer-token authentication and role checks. Tokens come from config.API_TOKENS (role:token pairs) and are
 * compared in constant time on SHA-256 digests; only a short digest (`clientId`) ever leaves this file, for
 * rate limiting and subscription ownership. The Authorization header is never logged.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ApiToken, Role } from '../../shared/config.ts';
import { HttpError } from './errors.ts';

export interface Principal {
  role: Role;
  /** Stable, non-reversible id of the token (first 16 hex chars of SHA-256 of a digest). */
  clientId: string;
}

/** What a route requires. `ops`: no auth, no rate limit (health, docs, dashboard). */
export type Access = { kind: 'ops' } | { kind: 'read' } | { kind: 'write'; roles: Role[] } | { kind: 'read'; roles: Role[] };

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest();

export interface Authenticator {
  /** undefined = no Authorization header; throws 401 for a malformed or unknown token. */
  identify(header: string | undefined): Principal | undefined;
  /** Throws 401/403 unless the principal may use a route with this access. */
  authorise(access: Access, principal: Principal | undefined, readAuth: boolean): void;
}

export function createAuthenticator(tokens: ApiToken[]): Authenticator {
  const entries = tokens.map((t) => {
    const digest = sha256(t.token);
    return { role: t.role, digest, clientId: `tok_${createHash('sha256').update(digest).digest('hex').slice(0, 16)}` };
  });

  return {
    identify(header) {
      if (header === undefined || header === '') return undefined;
      const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
      if (!m) throw new HttpError('unauthorized', 'Authorization header must be "Bearer <token>"', undefined, { 'WWW-Authenticate': 'Bearer realm="kezek", error="invalid_request"' });
      const digest = sha256(m[1]!);
      let found: (typeof entries)[number] | undefined;
      // compare against every entry (no early exit) so timing does not reveal which one matched
      for (const e of entries) if (timingSafeEqual(e.digest, digest) && !found) found = e;
      if (!found) throw new HttpError('unauthorized', 'invalid token', undefined, { 'WWW-Authenticate': 'Bearer realm="kezek", error="invalid_token"' });
      return { role: found.role, clientId: found.clientId };
    },
    authorise(access, principal, readAuth) {
      if (access.kind === 'ops') return;
      const roles = 'roles' in access ? access.roles : undefined;
      if (access.kind === 'read' && !roles) {
        if (!readAuth || principal) return;
        throw new HttpError('unauthorized', 'this API requires a token for reads (Authorization: Bearer <token>)');
      }
      if (!principal) throw new HttpError('unauthorized', `a token with role ${roles!.join(' or ')} is required`);
      if (principal.role === 'admin' || roles!.includes(principal.role)) return;
      throw new HttpError('forbidden', `role ${principal.role} may not do this (needs ${roles!.join(' or ')})`);
    },
  };
}
