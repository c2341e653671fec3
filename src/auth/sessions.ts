/**
 * Server-side sessions. A login creates one; access tokens name it (`sid`)
 * and are refused as soon as it is revoked: every token check consults the
 * session (held in memory, so revocation costs nothing to check and takes
 * effect on the very next request). Records live at auth/sessions/<sid>.
 */
import { randomUUID } from 'node:crypto';
import type { Barrier, BarrierView } from '../barrier/barrier.js';
import { utf8 } from '../crypto/bytes.js';
import { subjectOf, type Confirmation, type Principal } from './principal.js';

export interface Session {
  readonly sid: string;
  /** `<type>:<id>`, the token's `sub`. */
  readonly sub: string;
  readonly type: Principal['type'];
  readonly id: string;
  /** Groups as they were at login: changing a user's groups takes effect at its next login. */
  readonly groups: readonly string[];
  readonly amr: readonly string[];
  readonly cnf?: Confirmation;
  readonly attrs?: Readonly<Record<string, string | boolean>>;
  /** Lifetime of this session's access tokens when it differs from the configured one (workload roles). */
  readonly tokenTtlSeconds?: number;
  readonly createdAt: number;
  readonly expiresAt: number;
  revokedAt?: number;
}

/** The principal a live session's tokens act as. */
export function sessionPrincipal(s: Session): Principal {
  return { type: s.type, id: s.id, groups: s.groups, amr: s.amr, sid: s.sid, ...(s.cnf === undefined ? {} : { cnf: s.cnf }), ...(s.attrs === undefined ? {} : { attrs: s.attrs }) };
}

export class Sessions {
  readonly #view: BarrierView;
  readonly #cache = new Map<string, Session>();
  readonly #maxAgeMs: number;

  constructor(barrier: Barrier, maxAgeMs: number) {
    this.#view = barrier.view('auth/sessions/');
    this.#maxAgeMs = maxAgeMs;
    barrier.onSeal(() => this.#cache.clear());
  }

  async create(who: Omit<Principal, 'sid'>, now = Date.now(), options: { tokenTtlSeconds?: number } = {}): Promise<Session> {
    const session: Session = {
      sid: randomUUID(),
      sub: subjectOf(who),
      type: who.type,
      id: who.id,
      groups: [...who.groups],
      amr: [...who.amr],
      ...(who.cnf === undefined ? {} : { cnf: who.cnf }),
      ...(who.attrs === undefined ? {} : { attrs: who.attrs }),
      ...(options.tokenTtlSeconds === undefined ? {} : { tokenTtlSeconds: options.tokenTtlSeconds }),
      createdAt: now,
      expiresAt: now + this.#maxAgeMs,
    };
    await this.#save(session);
    return session;
  }

  async #save(session: Session): Promise<void> {
    await this.#view.put(session.sid, utf8(JSON.stringify(session)));
    this.#cache.set(session.sid, session);
  }

  async get(sid: string): Promise<Session | undefined> {
    if (!/^[0-9a-f-]{36}$/.test(sid)) return undefined;
    const cached = this.#cache.get(sid);
    if (cached !== undefined) return cached;
    const bytes = await this.#view.get(sid);
    if (bytes === undefined) return undefined;
    const session = JSON.parse(new TextDecoder().decode(bytes)) as Session;
    this.#cache.set(sid, session);
    return session;
  }

  /** The session if it exists, is not revoked and has not reached its maximum age. */
  async live(sid: string, now = Date.now()): Promise<Session | undefined> {
    const s = await this.get(sid);
    return s !== undefined && s.revokedAt === undefined && s.expiresAt > now ? s : undefined;
  }

  /** Revokes the sessions selected; returns how many were live. */
  async revoke(select: { sid: string } | { sub: string } | { all: true }, now = Date.now()): Promise<number> {
    const sids = 'sid' in select ? [select.sid] : await this.#view.list();
    let n = 0;
    for (const sid of sids) {
      const s = await this.get(sid);
      if (s === undefined || s.revokedAt !== undefined) continue;
      if ('sub' in select && s.sub !== select.sub) continue;
      s.revokedAt = now;
      await this.#save(s);
      n++;
    }
    return n;
  }
}
