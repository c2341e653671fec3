/**
 * One loaded PKCS#11 library per process, shared by every Pkcs11Client that
 * names it (PKCS#11 v2.40 base spec §5.4: C_Initialize / C_Finalize).
 *
 * Why shared: dlopen() returns the same library for the same file, so its
 * Cryptoki state is per process, not per pkcs11js object. A second
 * C_Initialize answers CKR_CRYPTOKI_ALREADY_INITIALIZED, and one C_Finalize
 * ends every session of every user of the library. So the library is loaded
 * once, initialised once, and re-initialised in one place:
 *
 * - `generation` counts re-initialisations. Sessions and object handles are
 *   valid only in the generation that made them; a client that sees a newer
 *   generation forgets its sessions without closing them (after C_Finalize
 *   the same handle numbers may name someone else's new sessions).
 * - `reinitialize(seen)` runs C_Finalize + C_Initialize at most once per
 *   generation, after every in-flight call (`enter`/`leave`) has finished:
 *   finalising while a worker thread is inside the library would be a
 *   use-after-free in the module.
 * - The library is never dlclose()d: unloading a module that started threads
 *   or registered atexit handlers (SoftHSM2 links OpenSSL) can crash the
 *   process. An unused library is finalised and stays mapped.
 *
 * C_Initialize is called with CKF_OS_LOCKING_OK because the client runs the
 * slow calls (key generation, private-key operations) with pkcs11js's *Async
 * variants on libuv worker threads, so the library is entered from several
 * threads at once.
 */
import { realpathSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import pkcs11js from 'pkcs11js';
import { KeyholdError } from '../../errors.js';
import { ckrName, toKeyholdError } from './pkcs11-errors.js';

const loaded = new Map<string, LoadedModule>();

export class LoadedModule {
  readonly path: string;
  readonly api: pkcs11js.PKCS11;
  #generation = 0;
  #initialized = false;
  #refs = 0;
  #active = 0;
  #drained: (() => void)[] = [];
  #reinit: Promise<void> | null = null;

  private constructor(path: string, api: pkcs11js.PKCS11) {
    this.path = path;
    this.api = api;
  }

  /**
   * Loads (once per process) and initialises the module at `modulePath`, and
   * counts one more user of it. Pair with {@link release}.
   *
   * @throws KeyholdError KH_HSM_MODULE_INVALID when the file is missing or is
   *   not a PKCS#11 library; any C_Initialize failure, mapped.
   */
  static acquire(modulePath: string): LoadedModule {
    if (!isAbsolute(modulePath)) {
      // dlopen() would search LD_LIBRARY_PATH or the working directory for a
      // relative name; a seal must load exactly the file it was configured with.
      throw new KeyholdError('KH_HSM_MODULE_INVALID', 'The PKCS#11 module path must be absolute.');
    }
    let real: string;
    try {
      real = realpathSync(modulePath);
    } catch (cause) {
      throw new KeyholdError('KH_HSM_MODULE_INVALID', `The PKCS#11 module ${modulePath} does not exist.`, { cause });
    }
    let mod = loaded.get(real);
    if (!mod) {
      const api = new pkcs11js.PKCS11();
      try {
        api.load(real);
      } catch (cause) {
        // pkcs11js keeps a half-loaded object when C_GetFunctionList is missing,
        // and any later call on it dereferences a null function list
        // (segfault). Drop the handle and never touch the object again.
        try {
          api.close();
        } catch {
          /* nothing more to release */
        }
        throw new KeyholdError('KH_HSM_MODULE_INVALID', `${modulePath} is not a loadable PKCS#11 library.`, { cause });
      }
      mod = new LoadedModule(real, api);
      loaded.set(real, mod);
    }
    if (!mod.#initialized) mod.#initialize();
    mod.#refs++;
    return mod;
  }

  get generation(): number {
    return this.#generation;
  }

  get initialized(): boolean {
    return this.#initialized;
  }

  /** One user fewer; the last one finalises the library (it stays loaded). */
  release(): void {
    this.#refs--;
    if (this.#refs > 0 || !this.#initialized) return;
    this.#initialized = false;
    this.#generation++;
    try {
      this.api.C_Finalize();
    } catch {
      /* already finalised behind our back: nothing to undo */
    }
  }

  /** Marks a call into the library; waits while a re-initialisation is pending. Pair with {@link leave}. */
  async enter(): Promise<void> {
    while (this.#reinit) await this.#reinit.catch(() => undefined);
    this.#active++;
  }

  /**
   * enter() for a synchronous caller that runs to completion within this
   * turn of the event loop: no re-initialisation can start meanwhile.
   */
  enterNow(): void {
    this.#active++;
  }

  leave(): void {
    this.#active--;
    if (this.#active === 0) for (const wake of this.#drained.splice(0)) wake();
  }

  /**
   * C_Finalize + C_Initialize, once for generation `seen`: if another client
   * already re-initialised since, this only waits for that. Waits for every
   * in-flight call to leave first, so a caller must not hold an `enter`.
   *
   * @throws KeyholdError the mapped C_Initialize failure (the library is then
   *   left uninitialised and the next call tries again).
   */
  async reinitialize(seen: number): Promise<void> {
    while (this.#reinit) await this.#reinit.catch(() => undefined);
    if (this.#generation !== seen && this.#initialized) return;
    const run = (async () => {
      if (this.#active > 0) await new Promise<void>((resolve) => this.#drained.push(resolve));
      this.#initialized = false;
      this.#generation++;
      try {
        this.api.C_Finalize();
      } catch {
        /* CKR_CRYPTOKI_NOT_INITIALIZED: someone finalised it already */
      }
      this.#initialize();
    })();
    this.#reinit = run;
    try {
      await run;
    } finally {
      if (this.#reinit === run) this.#reinit = null;
    }
  }

  #initialize(): void {
    try {
      this.api.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
    } catch (error) {
      // Initialised elsewhere in this process (another pkcs11js object on the
      // same file, e.g. a test's fault injector): the state is shared, so it is ours too.
      if (ckrName(error) !== 'CKR_CRYPTOKI_ALREADY_INITIALIZED') {
        const mapped = toKeyholdError(error, 'C_Initialize');
        // A module that cannot even initialise is unusable as configured.
        throw ckrName(error) === undefined ? new KeyholdError('KH_HSM_MODULE_INVALID', `C_Initialize of ${this.path} failed.`, { cause: error }) : mapped;
      }
    }
    this.#initialized = true;
  }
}
