/**
 * Access tokens (docs/protocols.md §4): compact JWS, header
 * { alg: EdDSA, typ: at+jwt, kid }, claims iss, sub, aud, iat, exp, jti, sid,
 * amr. Lifetime 5 minutes by default, at most 1 hour; a token is accepted
 * only while its session is live. Signed and verified with jose.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT, jwtVerify, errors as joseErrors, exportJWK, type JWK } from 'jose';
import { KeyholdError } from '../errors.js';
import type { SigningKeys } from './signing-keys.js';
import type { Session, Sessions } from './sessions.js';
import type { Confirmation } from './principal.js';

export const TOKEN_TYPE = 'at+jwt';
export const MAX_TOKEN_TTL_SECONDS = 3600;

export interface AccessClaims {
  sub: string;
  sid: string;
  amr: string[];
  exp: number;
  iat: number;
  jti: string;
  cnf?: { jkt: string } | { 'x5t#S256': string };
}

/** The public `cnf` claim of a binding (the JWK itself stays in the session). */
export function cnfClaim(cnf: Confirmation | undefined): AccessClaims['cnf'] {
  if (cnf === undefined) return undefined;
  return 'jkt' in cnf ? { jkt: cnf.jkt } : { 'x5t#S256': cnf['x5t#S256'] };
}

export interface TokenOptions {
  issuer: string;
  audience: string;
  ttlSeconds: number;
}

export class AccessTokens {
  readonly #keys: SigningKeys;
  readonly #sessions: Sessions;
  readonly #options: TokenOptions;

  constructor(keys: SigningKeys, sessions: Sessions, options: TokenOptions) {
    if (options.ttlSeconds < 1 || options.ttlSeconds > MAX_TOKEN_TTL_SECONDS) throw new TypeError('token lifetime must be 1 s to 1 h');
    this.#keys = keys;
    this.#sessions = sessions;
    this.#options = options;
  }

  get ttlSeconds(): number {
    return this.#options.ttlSeconds;
  }

  async issue(session: Session, now = Date.now()): Promise<{ token: string; expiresAt: number }> {
    const key = await this.#keys.active();
    const iat = Math.floor(now / 1000);
    // A token never outlives its session.
    const ttl = Math.min(session.tokenTtlSeconds ?? this.#options.ttlSeconds, MAX_TOKEN_TTL_SECONDS);
    const exp = Math.min(iat + ttl, Math.floor(session.expiresAt / 1000));
    const cnf = cnfClaim(session.cnf);
    const token = await new SignJWT({ sid: session.sid, amr: [...session.amr], ...(cnf === undefined ? {} : { cnf }) })
      .setProtectedHeader({ alg: 'EdDSA', typ: TOKEN_TYPE, kid: key.kid })
      .setIssuer(this.#options.issuer)
      .setAudience(this.#options.audience)
      .setSubject(session.sub)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .setJti(randomUUID())
      .sign(key.privateKey);
    return { token, expiresAt: exp * 1000 };
  }

  /**
   * @throws KeyholdError KH_AUTH_TOKEN_EXPIRED, KH_AUTH_SESSION_REVOKED, or KH_AUTH_TOKEN_INVALID for anything else.
   */
  async verify(token: string, now = Date.now()): Promise<{ claims: AccessClaims; session: Session }> {
    const published = await this.#keys.published(now);
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(
        token,
        async (header) => {
          const key = published.find((k) => k.kid === header.kid);
          if (key === undefined) throw new Error('unknown kid');
          return key.publicKey;
        },
        { issuer: this.#options.issuer, audience: this.#options.audience, typ: TOKEN_TYPE, algorithms: ['EdDSA'], currentDate: new Date(now), requiredClaims: ['exp', 'iat', 'sub', 'jti'] },
      ));
    } catch (e) {
      if (e instanceof joseErrors.JWTExpired) throw new KeyholdError('KH_AUTH_TOKEN_EXPIRED', undefined, { cause: e });
      throw new KeyholdError('KH_AUTH_TOKEN_INVALID', undefined, { cause: e });
    }
    const { sub, sid, amr, exp, iat, jti } = payload;
    if (typeof sid !== 'string' || typeof sub !== 'string' || !Array.isArray(amr) || typeof exp !== 'number' || typeof iat !== 'number' || typeof jti !== 'string')
      throw new KeyholdError('KH_AUTH_TOKEN_INVALID');
    const session = await this.#sessions.live(sid, now);
    if (session === undefined) throw new KeyholdError('KH_AUTH_SESSION_REVOKED');
    const cnf = cnfClaim(session.cnf);
    return { claims: { sub, sid, amr: amr.map(String), exp, iat, jti, ...(cnf === undefined ? {} : { cnf }) }, session };
  }

  /** The JWKS: every published key (active and those in their overlap). */
  async jwks(now = Date.now()): Promise<{ keys: JWK[] }> {
    const keys = await this.#keys.published(now);
    return { keys: await Promise.all(keys.map(async (k) => ({ ...(await exportJWK(k.publicKey)), kid: k.kid, alg: 'EdDSA', use: 'sig' }))) };
  }
}
