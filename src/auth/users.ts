/**
 * Human users: a name, an scrypt password hash (VSSM `$s0$` format) and the
 * groups policies grant to. Records live at auth/users/<HMAC(index key,
 * name)>, so storage never holds a username in the clear.
 *
 * The configured admin (auth.admin) is a built-in user in group "admins":
 * it comes from the configuration file, cannot be created or deleted here,
 * and a stored user can never take its name, nor that of a built-in
 * principal (root, vssm-admin: principal.ts RESERVED_USER_IDS).
 */
import { KeyholdError } from '../errors.js';
import type { Barrier, BarrierView } from '../barrier/barrier.js';
import { constantTimeEqual, utf8 } from '../crypto/bytes.js';
import { hashPassword, verifyPassword } from './password.js';
import { isReservedUserId, RESERVED_USER_IDS } from './principal.js';

export interface UserRecord {
  name: string;
  passwordHash: string;
  groups: string[];
  createdAt: string;
}

export interface UserInfo {
  name: string;
  groups: string[];
  createdAt: string;
  builtIn: boolean;
}

export const ADMINS_GROUP = 'admins';
export const IDENTITY_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;
export const GROUP_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
// Verified against every unknown name so that a miss costs the same scrypt work as a hit.
const DECOY_HASH = '$s0$f0801$c2FsdHNhbHRzYWx0c2FsdA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';

export function checkIdentityName(name: string): void {
  if (!IDENTITY_NAME.test(name)) throw new KeyholdError('KH_INPUT_INVALID', 'names are 1-128 characters: letters, digits, ".", "_", "@", "-", starting with a letter or digit');
}

export function checkGroups(groups: readonly string[]): string[] {
  for (const g of groups) if (!GROUP_NAME.test(g)) throw new KeyholdError('KH_INPUT_INVALID', `group names are 1-64 characters: letters, digits, ".", "_", "-"`);
  return [...new Set(groups)].sort();
}

export class Users {
  readonly #onDelete: ((name: string) => void)[] = [];
  readonly #view: BarrierView;
  readonly #admin: { username: string; passwordHash: string } | undefined;

  constructor(barrier: Barrier, admin: { username: string; passwordHash: string } | undefined) {
    this.#view = barrier.view('auth/users/');
    this.#admin = admin;
  }

  #path(name: string): string {
    return this.#view.indexPath('user', name);
  }

  #isAdmin(name: string): boolean {
    return this.#admin !== undefined && constantTimeEqual(utf8(name), utf8(this.#admin.username));
  }

  async #get(name: string): Promise<UserRecord | undefined> {
    const bytes = await this.#view.get(this.#path(name));
    return bytes === undefined ? undefined : (JSON.parse(new TextDecoder().decode(bytes)) as UserRecord);
  }

  /** True when password login is possible at all (an admin or at least one user). */
  async anyLogin(): Promise<boolean> {
    return this.#admin !== undefined || (await this.#view.list()).length > 0;
  }

  /**
   * Checks a password; returns the user's groups, or undefined. Unknown names
   * cost the same scrypt work as known ones.
   */
  async authenticate(name: string, password: string): Promise<{ groups: string[] } | undefined> {
    if (this.#isAdmin(name)) return (await verifyPassword(password, this.#admin!.passwordHash)) ? { groups: [ADMINS_GROUP] } : undefined;
    const record = IDENTITY_NAME.test(name) ? await this.#get(name) : undefined;
    const ok = await verifyPassword(password, record?.passwordHash ?? DECOY_HASH);
    return ok && record !== undefined ? { groups: record.groups } : undefined;
  }

  async create(name: string, password: string, groups: readonly string[]): Promise<UserInfo> {
    checkIdentityName(name);
    const clean = checkGroups(groups);
    if (isReservedUserId(name)) throw new KeyholdError('KH_IDENTITY_NAME_RESERVED', `"${name}" is the name of a built-in principal (${RESERVED_USER_IDS.join(', ')})`);
    if (this.#isAdmin(name) || (await this.#get(name)) !== undefined) throw new KeyholdError('KH_IDENTITY_EXISTS');
    const record: UserRecord = { name, passwordHash: await hashPassword(password), groups: clean, createdAt: new Date().toISOString() };
    await this.#view.put(this.#path(name), utf8(JSON.stringify(record)));
    return { name, groups: clean, createdAt: record.createdAt, builtIn: false };
  }

  async setPassword(name: string, password: string): Promise<void> {
    const record = await this.#required(name);
    await this.#view.put(this.#path(name), utf8(JSON.stringify({ ...record, passwordHash: await hashPassword(password) })));
  }

  async read(name: string): Promise<UserInfo> {
    if (this.#isAdmin(name)) return { name, groups: [ADMINS_GROUP], createdAt: '', builtIn: true };
    const r = await this.#required(name);
    return { name: r.name, groups: r.groups, createdAt: r.createdAt, builtIn: false };
  }

  async delete(name: string): Promise<void> {
    await this.#required(name);
    await this.#view.delete(this.#path(name));
    for (const listener of this.#onDelete) listener(name);
  }

  /** Called after a user is deleted, so caches of its facts (access keys) drop them at once. */
  onDelete(listener: (name: string) => void): void {
    this.#onDelete.push(listener);
  }

  async list(): Promise<UserInfo[]> {
    const out: UserInfo[] = this.#admin === undefined ? [] : [{ name: this.#admin.username, groups: [ADMINS_GROUP], createdAt: '', builtIn: true }];
    for (const path of await this.#view.list()) {
      const bytes = await this.#view.get(path);
      if (bytes === undefined) continue;
      const r = JSON.parse(new TextDecoder().decode(bytes)) as UserRecord;
      out.push({ name: r.name, groups: r.groups, createdAt: r.createdAt, builtIn: false });
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  async #required(name: string): Promise<UserRecord> {
    if (this.#isAdmin(name)) throw new KeyholdError('KH_INPUT_INVALID', 'the configured admin is managed in the configuration file');
    const record = IDENTITY_NAME.test(name) ? await this.#get(name) : undefined;
    if (record === undefined) throw new KeyholdError('KH_IDENTITY_NOT_FOUND');
    return record;
  }
}
