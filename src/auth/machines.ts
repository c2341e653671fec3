/**
 * Machine identities: a name, a public key (Ed25519 or ECDSA P-256) and
 * groups. A machine logs in by signing a fresh server challenge with its
 * private key (which never reaches Keyhold); its tokens are bound to that
 * key (`cnf.jkt`), so each request must also be signed with it.
 *
 * Records live at auth/machines/<HMAC(index key, name)>. Challenges are
 * in memory, single-use, valid for 60 s, and bound to the machine name.
 */
import type { JsonWebKey } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { KeyholdError } from '../errors.js';
import type { Barrier, BarrierView } from '../barrier/barrier.js';
import { fromBase64Strict, utf8 } from '../crypto/bytes.js';
import { checkGroups, checkIdentityName, IDENTITY_NAME } from './users.js';
import { parseClientKey, verifyClientSignature, type ClientKey } from './client-key.js';

interface MachineRecord {
  name: string;
  jwk: JsonWebKey;
  groups: string[];
  createdAt: string;
}

export interface MachineInfo {
  name: string;
  publicKeyJwk: Record<string, string>;
  jkt: string;
  alg: string;
  groups: string[];
  createdAt: string;
}

export const CHALLENGE_TTL_MS = 60_000;
const MAX_CHALLENGES = 10_000;

/** The bytes a machine signs: domain-separated so a login signature is useless anywhere else. */
export function machineLoginMessage(issuer: string, name: string, challenge: string): Uint8Array {
  return utf8(`keyhold-machine-login-v1\n${issuer}\n${name}\n${challenge}`);
}

export class Machines {
  readonly #onDelete: ((name: string) => void)[] = [];
  readonly #view: BarrierView;
  readonly #issuer: string;
  readonly #challenges = new Map<string, { name: string; expiresAt: number }>();

  constructor(barrier: Barrier, issuer: string) {
    this.#view = barrier.view('auth/machines/');
    this.#issuer = issuer;
    barrier.onSeal(() => this.#challenges.clear());
  }

  #path(name: string): string {
    return this.#view.indexPath('machine', name);
  }

  async #get(name: string): Promise<MachineRecord | undefined> {
    if (!IDENTITY_NAME.test(name)) return undefined;
    const bytes = await this.#view.get(this.#path(name));
    return bytes === undefined ? undefined : (JSON.parse(new TextDecoder().decode(bytes)) as MachineRecord);
  }

  async #info(r: MachineRecord): Promise<MachineInfo> {
    const key = await parseClientKey(r.jwk);
    // parseClientKey builds the JWK from string members only.
    return { name: r.name, publicKeyJwk: key.jwk as Record<string, string>, jkt: key.jkt, alg: key.alg, groups: r.groups, createdAt: r.createdAt };
  }

  async create(name: string, publicKey: string | JsonWebKey, groups: readonly string[]): Promise<MachineInfo> {
    checkIdentityName(name);
    const clean = checkGroups(groups);
    const key = await parseClientKey(publicKey);
    if ((await this.#get(name)) !== undefined) throw new KeyholdError('KH_IDENTITY_EXISTS');
    const record: MachineRecord = { name, jwk: key.jwk, groups: clean, createdAt: new Date().toISOString() };
    await this.#view.put(this.#path(name), utf8(JSON.stringify(record)));
    return this.#info(record);
  }

  async read(name: string): Promise<MachineInfo> {
    const r = await this.#get(name);
    if (r === undefined) throw new KeyholdError('KH_IDENTITY_NOT_FOUND');
    return this.#info(r);
  }

  /** Groups of a registered machine (used for certificate identities of the same name). */
  async groupsOf(name: string): Promise<string[]> {
    return (await this.#get(name))?.groups ?? [];
  }

  async delete(name: string): Promise<void> {
    if ((await this.#get(name)) === undefined) throw new KeyholdError('KH_IDENTITY_NOT_FOUND');
    await this.#view.delete(this.#path(name));
    for (const listener of this.#onDelete) listener(name);
  }

  /** Called after a machine is deleted, so caches of its facts (access keys) drop them at once. */
  onDelete(listener: (name: string) => void): void {
    this.#onDelete.push(listener);
  }

  async list(): Promise<MachineInfo[]> {
    const out: MachineInfo[] = [];
    for (const path of await this.#view.list()) {
      const bytes = await this.#view.get(path);
      if (bytes !== undefined) out.push(await this.#info(JSON.parse(new TextDecoder().decode(bytes)) as MachineRecord));
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * A fresh challenge for `name`. Issued whether or not the machine exists,
   * so the endpoint does not reveal which names are registered.
   */
  challenge(name: string, now = Date.now()): { challenge: string; expiresIn: number } {
    if (this.#challenges.size >= MAX_CHALLENGES) {
      for (const [c, v] of this.#challenges) if (v.expiresAt <= now) this.#challenges.delete(c);
      // Still full: drop the oldest (Map order is insertion order); they are the closest to expiry.
      while (this.#challenges.size >= MAX_CHALLENGES) this.#challenges.delete(this.#challenges.keys().next().value!);
    }
    const challenge = randomBytes(32).toString('base64url');
    this.#challenges.set(challenge, { name, expiresAt: now + CHALLENGE_TTL_MS });
    return { challenge, expiresIn: CHALLENGE_TTL_MS / 1000 };
  }

  /**
   * Checks a signed challenge; the challenge is spent whatever the outcome.
   * @throws KeyholdError KH_AUTH_CHALLENGE_INVALID
   */
  async login(name: string, challenge: string, signatureB64: string, now = Date.now()): Promise<{ key: ClientKey; groups: string[] }> {
    const pending = this.#challenges.get(challenge);
    this.#challenges.delete(challenge);
    const record = await this.#get(name);
    const signature = fromBase64Strict(signatureB64.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(signatureB64.length / 4) * 4, '='));
    if (pending === undefined || pending.expiresAt <= now || pending.name !== name || record === undefined || signature === undefined)
      throw new KeyholdError('KH_AUTH_CHALLENGE_INVALID');
    const key = await parseClientKey(record.jwk);
    if (!verifyClientSignature(key, machineLoginMessage(this.#issuer, name, challenge), signature)) throw new KeyholdError('KH_AUTH_CHALLENGE_INVALID');
    return { key, groups: record.groups };
  }
}
