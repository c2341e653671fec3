/**
 * A small PKCS#11 (v2.40) client over pkcs11js, for the pkcs11 seal, the
 * entropy mixer and HSM-backed keys.
 *
 * Contract:
 * - open() loads the module, initialises it, finds one token (by slot ID or
 *   label) and logs in as CKU_USER; failures map onto KH_HSM_* codes
 *   (pkcs11-errors.ts). The PIN is kept (in a #private field) only to log in
 *   again after a reconnect; it is never put in a message.
 * - Operations run on a pool of R/W sessions (at most `maxSessions`), one
 *   operation per session at a time, because a session holds one active
 *   encrypt/decrypt/sign/verify/find state (base spec §5.6). A session that
 *   saw any error is closed, not reused: its operation state is unknown.
 * - An UNAVAILABLE-class failure (session, token or library gone) fails the
 *   call that saw it; the next call re-initialises the library (C_Finalize +
 *   C_Initialize), finds the token again (same serial number) and logs in.
 *   A refused PIN is never retried by the client: the error sticks until a
 *   new open(), so a retry loop cannot lock the token.
 * - Keys are `Pkcs11Key` descriptors (label, class, type, CKA_ID), not raw
 *   object handles: handles die with C_Finalize, so the client caches one per
 *   library generation and looks the object up again after a reconnect.
 * - Keys it generates are token objects, private, CKA_SENSITIVE and not
 *   CKA_EXTRACTABLE: their secret never leaves the HSM.
 *
 * Blocking: pkcs11js calls are synchronous native calls on the event loop,
 * except the *Async variants, which run on libuv's worker pool (4 threads by
 * default, shared with fs and crypto). The client uses *Async for the slow
 * calls (key generation, encrypt/decrypt/sign/verify) and the synchronous
 * form for short ones (C_*Init, find, attributes, login, random, session
 * management). With a network HSM each synchronous call is a round trip that
 * blocks the event loop; no call has a timeout of its own.
 */
import { createHash, randomBytes } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import type { GcmParams, Mechanism, PKCS11, RsaOAEP, RsaPSS, Template, TokenInfo } from 'pkcs11js';
import { KeyholdError } from '../../errors.js';
import { wipe } from '../../crypto/bytes.js';
import { LoadedModule } from './pkcs11-module.js';
import { ckrName, isBadData, isStaleHandle, isUnavailable, toKeyholdError } from './pkcs11-errors.js';
import { CURVES, curveFromParams, ecSpki, rsaSpki, type EcCurve } from './public-key-spki.js';

export type { EcCurve } from './public-key-spki.js';

export interface Pkcs11OpenOptions {
  /** Absolute path of the PKCS#11 library (e.g. /usr/lib/softhsm/libsofthsm2.so). */
  module: string;
  /** The token's slot ID (CK_SLOT_ID, as `softhsm2-util --show-slots` prints it). Exactly one of slot / tokenLabel. */
  slot?: number;
  /** The token's label (CKA_LABEL of the token, without its blank padding). */
  tokenLabel?: string;
  /** The user PIN. */
  pin: string;
  /** Sessions in the pool; 4 by default, 1..64. */
  maxSessions?: number;
}

export type Pkcs11KeyClass = 'secret' | 'private' | 'public';
export type Pkcs11KeyType = 'AES' | 'RSA' | 'EC';

/** A key on the token, named the way it is found again after a reconnect. */
export interface Pkcs11Key {
  readonly label: string;
  readonly keyClass: Pkcs11KeyClass;
  readonly keyType: Pkcs11KeyType;
  /** CKA_ID (16 random bytes for keys this client made, shared by a pair; may be empty for foreign keys). */
  readonly id: Uint8Array;
}

export interface Pkcs11KeyPair {
  readonly publicKey: Pkcs11Key;
  readonly privateKey: Pkcs11Key;
}

/** What withSession() lends: the raw pkcs11js API, one logged-in R/W session and its slot. */
export interface Pkcs11Session {
  readonly api: PKCS11;
  readonly handle: Buffer;
  readonly slot: Buffer;
}

export interface Pkcs11TokenInfo {
  readonly label: string;
  readonly serialNumber: string;
  readonly manufacturer: string;
  readonly model: string;
  readonly slotId: number;
}

export interface AesGcmSealed {
  /** 96-bit IV, random per encryption. */
  readonly iv: Uint8Array;
  /** ciphertext || 128-bit tag (the layout CKM_AES_GCM and node:crypto agree on). */
  readonly ciphertext: Uint8Array;
}

export type Pkcs11SignatureAlgorithm = 'ECDSA-SHA256' | 'ECDSA-SHA384' | 'RSA-PKCS1-SHA256' | 'RSA-PSS-SHA256';
export type RsaOaepHash = 'SHA-256' | 'SHA-1';

const P = pkcs11js;
const GCM_IV_BYTES = 12;
const GCM_TAG_BYTES = 16;
const MAX_DATA_BYTES = 16 * 1024 * 1024;
const MAX_RANDOM_BYTES = 65536;
const DEFAULT_SESSIONS = 4;
/** CKZ_DATA_SPECIFIED (current mechanisms §2.1.8); pkcs11js does not export it. */
const CKZ_DATA_SPECIFIED = 1;

const CLASS_OF: Record<Pkcs11KeyClass, number> = {
  secret: P.CKO_SECRET_KEY,
  private: P.CKO_PRIVATE_KEY,
  public: P.CKO_PUBLIC_KEY,
};
const TYPE_OF_CKK = new Map<number, Pkcs11KeyType>([
  [P.CKK_AES, 'AES'],
  [P.CKK_RSA, 'RSA'],
  [P.CKK_EC, 'EC'],
]);
const OAEP_HASH: Record<RsaOaepHash, { hashAlg: number; mgf: number; hLen: number }> = {
  'SHA-256': { hashAlg: P.CKM_SHA256, mgf: P.CKG_MGF1_SHA256, hLen: 32 },
  'SHA-1': { hashAlg: P.CKM_SHA_1, mgf: P.CKG_MGF1_SHA1, hLen: 20 },
};

interface SessionRec {
  readonly handle: Buffer;
  /** The library generation the session was opened in (pkcs11-module.ts). */
  readonly generation: number;
}

interface HandleRec {
  readonly generation: number;
  readonly handle: Buffer;
  readonly cached: boolean;
}

type Selector = { slot: number } | { tokenLabel: string };

export class Pkcs11Client {
  static readonly #open = new Set<Pkcs11Client>();

  readonly #module: LoadedModule;
  readonly #api: PKCS11;
  readonly #pin: string;
  readonly #selector: Selector;
  readonly #maxSessions: number;
  readonly #token: Pkcs11TokenInfo;
  readonly #handles = new WeakMap<Pkcs11Key, HandleRec>();
  #slot: Buffer;
  /** Library generation of #slot and the pooled sessions. */
  #gen: number;
  /** An UNAVAILABLE-class failure was seen: re-initialise before the next call. */
  #broken = false;
  #loginRefused: KeyholdError | null = null;
  #closed = false;
  #idle: SessionRec[] = [];
  /** Open sessions of the current or an older generation: idle + leased. */
  #total = 0;
  #leased = 0;
  #waiters: (() => void)[] = [];
  #leasesDrained: (() => void)[] = [];
  #recovering: Promise<void> | null = null;

  private constructor(module: LoadedModule, options: Pkcs11OpenOptions, selector: Selector, slot: Buffer, token: Pkcs11TokenInfo) {
    this.#module = module;
    this.#api = module.api;
    this.#pin = options.pin;
    this.#selector = selector;
    this.#maxSessions = options.maxSessions ?? DEFAULT_SESSIONS;
    this.#slot = slot;
    this.#token = token;
    this.#gen = module.generation;
  }

  /**
   * Loads the module, finds the token and logs in (one session is opened now,
   * so a wrong PIN fails here rather than at the first operation).
   *
   * @throws TypeError on malformed options (not exactly one of slot / tokenLabel, empty PIN...).
   * @throws KeyholdError KH_HSM_MODULE_INVALID (missing file, not a PKCS#11
   *   library), KH_HSM_TOKEN_NOT_FOUND (no such slot or label, uninitialised
   *   token), KH_HSM_LOGIN_FAILED (PIN incorrect, locked, invalid),
   *   KH_HSM_UNAVAILABLE, KH_HSM_OPERATION_FAILED.
   */
  static async open(options: Pkcs11OpenOptions): Promise<Pkcs11Client> {
    const selector = validateOpenOptions(options);
    const module = LoadedModule.acquire(options.module);
    try {
      const { slot, token } = findToken(module.api, selector, 'open');
      const client = new Pkcs11Client(module, options, selector, slot, token);
      await client.withSession(() => undefined);
      Pkcs11Client.#open.add(client);
      return client;
    } catch (error) {
      module.release();
      throw error;
    }
  }

  /** The token this client is logged in to (as found at open()). */
  get token(): Pkcs11TokenInfo {
    return this.#token;
  }

  /**
   * Runs `fn` with one pooled, logged-in session to itself; returns the
   * session to the pool afterwards (or closes it if `fn` threw). pkcs11js
   * errors thrown by `fn` are mapped to KeyholdErrors; other errors pass
   * through unchanged. Do not keep the
   * session after `fn` settles, and do not call withSession (or any other
   * method of this client) from inside `fn`: the pool may be exhausted and a
   * pending reconnect waits for `fn` to finish.
   */
  async withSession<T>(fn: (session: Pkcs11Session) => T | Promise<T>): Promise<T> {
    return this.#run((rec) => fn({ api: this.#api, handle: rec.handle, slot: this.#slot }));
  }

  /** The key with this label and class, or null if the token has none. */
  async findKey(label: string, keyClass: Pkcs11KeyClass): Promise<Pkcs11Key | null> {
    validateLabel(label);
    if (!(keyClass in CLASS_OF)) throw new TypeError(`unknown key class ${String(keyClass)}`);
    return this.#run((rec) => {
      const found = this.#findObjects(rec, [
        { type: P.CKA_CLASS, value: CLASS_OF[keyClass] },
        { type: P.CKA_LABEL, value: label },
      ]);
      if (found.length === 0) {
        // An absent token also finds nothing (SoftHSM2): tell that apart from "no key".
        this.#probeToken();
        return null;
      }
      if (found.length > 1) throw ambiguous(label, keyClass);
      const handle = found[0]!;
      const [typeAttr, idAttr] = this.#attributes(rec, handle, [P.CKA_KEY_TYPE, P.CKA_ID]);
      const keyType = TYPE_OF_CKK.get(readUlong(typeAttr!));
      if (!keyType) throw new KeyholdError('KH_HSM_OPERATION_FAILED', `The HSM object labelled "${label}" is not an AES, RSA or EC key.`);
      const key = makeKey(label, keyClass, keyType, idAttr!);
      this.#handles.set(key, { generation: rec.generation, handle, cached: true });
      return key;
    });
  }

  /**
   * The values of the token's data objects (CKO_DATA, application
   * "keyhold") with this label: none, one, or two when a write was cut
   * between its create and its destroy. Used for the storage rollback
   * counter (seal/pkcs11/hsm-counter-anchor.ts).
   */
  async readDataObjects(label: string): Promise<Uint8Array[]> {
    validateLabel(label);
    return this.#run((rec) => {
      const found = this.#findObjects(rec, dataTemplate(label), 8);
      if (found.length === 0) this.#probeToken();
      return found.map((h) => new Uint8Array(this.#attributes(rec, h, [P.CKA_VALUE])[0]!));
    });
  }

  /**
   * Replaces the data objects with this label by one holding `value`: a new
   * private token object is created first, then the old ones are destroyed,
   * so a crash in between leaves both, never none. (SoftHSM2 refuses
   * C_SetAttributeValue on CKA_VALUE, CKR_ATTRIBUTE_READ_ONLY, and offers no
   * CKH_MONOTONIC_COUNTER hardware feature.)
   */
  async writeDataObject(label: string, value: Uint8Array): Promise<void> {
    validateLabel(label);
    await this.#run((rec) => {
      const old = this.#findObjects(rec, dataTemplate(label), 8);
      this.#call('C_CreateObject', () =>
        this.#api.C_CreateObject(rec.handle, [...dataTemplate(label), { type: P.CKA_TOKEN, value: true }, { type: P.CKA_PRIVATE, value: true }, { type: P.CKA_VALUE, value: Buffer.from(value) }]),
      );
      for (const h of old) this.#call('C_DestroyObject', () => this.#api.C_DestroyObject(rec.handle, h));
    });
  }

  /**
   * Generates an AES key on the token (CKM_AES_KEY_GEN): a private token
   * object, CKA_SENSITIVE, not CKA_EXTRACTABLE, for ENCRYPT/DECRYPT/WRAP/UNWRAP only.
   *
   * @throws KeyholdError KH_HSM_OPERATION_FAILED if a secret key with this label exists.
   */
  async generateAesKey(label: string, options: { bits?: 128 | 192 | 256 } = {}): Promise<Pkcs11Key> {
    validateLabel(label);
    const bits = options.bits ?? 256;
    if (bits !== 128 && bits !== 192 && bits !== 256) throw new TypeError('AES keys are 128, 192 or 256 bits');
    return this.#run(async (rec) => {
      this.#assertLabelFree(rec, label, ['secret']);
      const id = randomBytes(16);
      const template: Template = [
        { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
        { type: P.CKA_KEY_TYPE, value: P.CKK_AES },
        { type: P.CKA_TOKEN, value: true },
        { type: P.CKA_PRIVATE, value: true },
        { type: P.CKA_LABEL, value: label },
        { type: P.CKA_ID, value: id },
        { type: P.CKA_VALUE_LEN, value: bits / 8 },
        { type: P.CKA_SENSITIVE, value: true },
        { type: P.CKA_EXTRACTABLE, value: false },
        { type: P.CKA_ENCRYPT, value: true },
        { type: P.CKA_DECRYPT, value: true },
        { type: P.CKA_WRAP, value: true },
        { type: P.CKA_UNWRAP, value: true },
        { type: P.CKA_SIGN, value: false },
        { type: P.CKA_VERIFY, value: false },
        { type: P.CKA_DERIVE, value: false },
      ];
      const handle = await this.#callAsync('C_GenerateKey', () => this.#api.C_GenerateKeyAsync(rec.handle, { mechanism: P.CKM_AES_KEY_GEN }, template));
      const key = makeKey(label, 'secret', 'AES', id);
      this.#handles.set(key, { generation: rec.generation, handle, cached: true });
      return key;
    });
  }

  /**
   * Generates an RSA key pair (CKM_RSA_PKCS_KEY_PAIR_GEN, e = 65537) as token
   * objects sharing label and CKA_ID; the private key is sensitive and not
   * extractable. Runs on a worker thread (4096-bit generation takes seconds).
   */
  async generateRsaKeyPair(label: string, bits: 2048 | 3072 | 4096 = 3072): Promise<Pkcs11KeyPair> {
    validateLabel(label);
    if (bits !== 2048 && bits !== 3072 && bits !== 4096) throw new TypeError('RSA keys are 2048, 3072 or 4096 bits');
    const id = randomBytes(16);
    return this.#generatePair(
      label,
      'RSA',
      { mechanism: P.CKM_RSA_PKCS_KEY_PAIR_GEN },
      [
        { type: P.CKA_KEY_TYPE, value: P.CKK_RSA },
        { type: P.CKA_MODULUS_BITS, value: bits },
        { type: P.CKA_PUBLIC_EXPONENT, value: Buffer.from([0x01, 0x00, 0x01]) },
        { type: P.CKA_ENCRYPT, value: true },
        { type: P.CKA_VERIFY, value: true },
        { type: P.CKA_WRAP, value: true },
      ],
      [
        { type: P.CKA_KEY_TYPE, value: P.CKK_RSA },
        { type: P.CKA_DECRYPT, value: true },
        { type: P.CKA_SIGN, value: true },
        { type: P.CKA_UNWRAP, value: true },
      ],
      id,
    );
  }

  /** Generates an EC key pair (CKM_EC_KEY_PAIR_GEN) on P-256 or P-384, for ECDSA. */
  async generateEcKeyPair(label: string, curve: EcCurve): Promise<Pkcs11KeyPair> {
    validateLabel(label);
    const info = CURVES[curve];
    if (!info) throw new TypeError('EC keys are on P-256 or P-384');
    const id = randomBytes(16);
    return this.#generatePair(
      label,
      'EC',
      { mechanism: P.CKM_EC_KEY_PAIR_GEN },
      [
        { type: P.CKA_KEY_TYPE, value: P.CKK_EC },
        { type: P.CKA_EC_PARAMS, value: Buffer.from(info.paramsHex, 'hex') },
        { type: P.CKA_VERIFY, value: true },
      ],
      [
        { type: P.CKA_KEY_TYPE, value: P.CKK_EC },
        { type: P.CKA_SIGN, value: true },
        { type: P.CKA_DERIVE, value: false },
      ],
      id,
    );
  }

  /**
   * AES-GCM (CKM_AES_GCM, NIST SP 800-38D) with a fresh random 96-bit IV from
   * node's CSPRNG and a 128-bit tag. Random IVs bound one key to 2^32
   * encryptions (SP 800-38D §8.3); the seal wraps a handful of values.
   */
  async aesGcmEncrypt(key: Pkcs11Key, plaintext: Uint8Array, aad: Uint8Array = new Uint8Array(0)): Promise<AesGcmSealed> {
    assertKey(key, 'secret', 'AES');
    assertData(plaintext, 'plaintext');
    assertData(aad, 'aad');
    const iv = randomBytes(GCM_IV_BYTES);
    const out = await this.#withKey(key, async (rec, handle) => {
      this.#call('C_EncryptInit', () => this.#api.C_EncryptInit(rec.handle, gcm(iv, aad), handle));
      const buf = Buffer.alloc(plaintext.length + GCM_TAG_BYTES);
      return this.#callAsync('C_Encrypt', () => this.#api.C_EncryptAsync(rec.handle, view(plaintext), buf));
    });
    return { iv: new Uint8Array(iv), ciphertext: new Uint8Array(out) };
  }

  /**
   * @throws KeyholdError KH_DECRYPT_FAILED ("decryption failed") when the
   *   tag, IV, AAD or ciphertext do not authenticate; HSM faults keep their KH_HSM_* code.
   */
  async aesGcmDecrypt(key: Pkcs11Key, iv: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array = new Uint8Array(0)): Promise<Uint8Array> {
    assertKey(key, 'secret', 'AES');
    assertData(ciphertext, 'ciphertext');
    assertData(aad, 'aad');
    if (!(iv instanceof Uint8Array)) throw new TypeError('iv must be a Uint8Array');
    if (iv.length !== GCM_IV_BYTES || ciphertext.length < GCM_TAG_BYTES) throw decryptionFailed();
    return this.#withKey(key, async (rec, handle) => {
      this.#call('C_DecryptInit', () => this.#api.C_DecryptInit(rec.handle, gcm(iv, aad), handle));
      return this.#decrypt(rec, ciphertext, Buffer.alloc(ciphertext.length));
    });
  }

  /**
   * RSA-OAEP encryption (CKM_RSA_PKCS_OAEP, RFC 8017 §7.1) with MGF1 over the
   * same hash, empty label. SHA-256 by default; SoftHSM2 2.6 accepts only
   * SHA-1 (CKR_ARGUMENTS_BAD otherwise).
   */
  async rsaOaepEncrypt(key: Pkcs11Key, plaintext: Uint8Array, options: { hash?: RsaOaepHash } = {}): Promise<Uint8Array> {
    assertKey(key, 'public', 'RSA');
    assertData(plaintext, 'plaintext');
    const hash = OAEP_HASH[options.hash ?? 'SHA-256'];
    if (!hash) throw new TypeError('OAEP hash is SHA-256 or SHA-1');
    const out = await this.#withKey(key, async (rec, handle) => {
      const k = this.#attributes(rec, handle, [P.CKA_MODULUS])[0]!.length;
      if (plaintext.length > k - 2 * hash.hLen - 2) throw new TypeError(`RSA-OAEP plaintext is at most ${k - 2 * hash.hLen - 2} bytes for this key`);
      this.#call('C_EncryptInit', () => this.#api.C_EncryptInit(rec.handle, oaep(hash), handle));
      return this.#callAsync('C_Encrypt', () => this.#api.C_EncryptAsync(rec.handle, view(plaintext), Buffer.alloc(k)));
    });
    return new Uint8Array(out);
  }

  /** @throws KeyholdError KH_DECRYPT_FAILED ("decryption failed") when the ciphertext does not decrypt. */
  async rsaOaepDecrypt(key: Pkcs11Key, ciphertext: Uint8Array, options: { hash?: RsaOaepHash } = {}): Promise<Uint8Array> {
    assertKey(key, 'private', 'RSA');
    assertData(ciphertext, 'ciphertext');
    const hash = OAEP_HASH[options.hash ?? 'SHA-256'];
    if (!hash) throw new TypeError('OAEP hash is SHA-256 or SHA-1');
    return this.#withKey(key, async (rec, handle) => {
      const k = this.#attributes(rec, handle, [P.CKA_MODULUS])[0]!.length;
      if (ciphertext.length !== k) throw decryptionFailed();
      this.#call('C_DecryptInit', () => this.#api.C_DecryptInit(rec.handle, oaep(hash), handle));
      return this.#decrypt(rec, ciphertext, Buffer.alloc(k));
    });
  }

  /**
   * Signs `data`. ECDSA hashes in node and signs the digest with CKM_ECDSA
   * (SoftHSM2 has no CKM_ECDSA_SHA256); the signature is r||s (IEEE P1363,
   * PKCS#11 current mechanisms §2.3.1). RSA uses CKM_SHA256_RSA_PKCS or
   * CKM_SHA256_RSA_PKCS_PSS (MGF1-SHA-256, 32-byte salt).
   */
  async sign(key: Pkcs11Key, algorithm: Pkcs11SignatureAlgorithm, data: Uint8Array): Promise<Uint8Array> {
    assertKey(key, 'private', keyTypeFor(algorithm));
    assertData(data, 'data');
    const out = await this.#withKey(key, async (rec, handle) => {
      const { mechanism, input, length } = this.#signParams(rec, handle, algorithm, data);
      this.#call('C_SignInit', () => this.#api.C_SignInit(rec.handle, mechanism, handle));
      return this.#callAsync('C_Sign', () => this.#api.C_SignAsync(rec.handle, input, Buffer.alloc(length)));
    });
    return new Uint8Array(out);
  }

  /** True when `signature` is valid for `data` under the public key; false for any invalid signature. */
  async verify(key: Pkcs11Key, algorithm: Pkcs11SignatureAlgorithm, data: Uint8Array, signature: Uint8Array): Promise<boolean> {
    assertKey(key, 'public', keyTypeFor(algorithm));
    assertData(data, 'data');
    assertData(signature, 'signature');
    return this.#withKey(key, async (rec, handle) => {
      const { mechanism, input } = this.#signParams(rec, handle, algorithm, data);
      this.#call('C_VerifyInit', () => this.#api.C_VerifyInit(rec.handle, mechanism, handle));
      try {
        return await this.#api.C_VerifyAsync(rec.handle, input, view(signature));
      } catch (error) {
        // C_Verify ends the operation whatever it returns (§5.13), so the session stays usable.
        if (isBadData(error)) return false;
        throw toKeyholdError(error, 'C_Verify');
      }
    });
  }

  /**
   * The public key as SubjectPublicKeyInfo DER, for node:crypto or a
   * certificate. Takes the public key, or the private key (RSA: its own
   * public attributes; EC: the public key with the same label and CKA_ID).
   */
  async publicKeySpki(key: Pkcs11Key): Promise<Uint8Array> {
    if (key.keyClass === 'secret' || (key.keyType !== 'RSA' && key.keyType !== 'EC')) throw new TypeError('publicKeySpki needs an RSA or EC key');
    const target = key.keyType === 'EC' && key.keyClass === 'private' ? makeKey(key.label, 'public', 'EC', key.id) : key;
    return this.#withKey(target, (rec, handle) => {
      if (key.keyType === 'RSA') {
        const [n, e] = this.#attributes(rec, handle, [P.CKA_MODULUS, P.CKA_PUBLIC_EXPONENT]);
        return rsaSpki(n!, e!);
      }
      const [params, point] = this.#attributes(rec, handle, [P.CKA_EC_PARAMS, P.CKA_EC_POINT]);
      return ecSpki(params!, point!);
    });
  }

  /** `length` bytes from the token's RNG (C_GenerateRandom). */
  async generateRandom(length: number): Promise<Uint8Array> {
    assertRandomLength(length);
    return this.#run((rec) => this.#random(rec, length));
  }

  /**
   * generateRandom for synchronous callers (the entropy mixer's external
   * source). It runs to completion on the event loop, so it needs no pool
   * slot: it takes an idle session or opens one. It cannot wait for a
   * reconnect: while one is due it throws KH_HSM_UNAVAILABLE and starts the
   * reconnect in the background.
   */
  generateRandomSync(length: number): Uint8Array {
    assertRandomLength(length);
    this.#assertUsable();
    if (this.#needsRecovery()) {
      this.#recover().catch(() => undefined);
      throw new KeyholdError('KH_HSM_UNAVAILABLE', 'The HSM connection is being re-established; try again.');
    }
    this.#module.enterNow();
    let rec: SessionRec;
    try {
      rec = this.#idle.pop() ?? this.#openSession();
    } catch (error) {
      this.#module.leave();
      throw error;
    }
    this.#leased++;
    try {
      const out = this.#random(rec, length);
      this.#release(rec);
      return out;
    } catch (error) {
      this.#release(rec, error);
      throw error;
    }
  }

  /** Destroys the key object on the token (C_DestroyObject). A pair's halves are destroyed one at a time. */
  async destroyObject(key: Pkcs11Key): Promise<void> {
    await this.#withKey(key, (rec, handle) => {
      this.#call('C_DestroyObject', () => this.#api.C_DestroyObject(rec.handle, handle));
      this.#handles.delete(key);
    });
  }

  /**
   * Waits for running operations, logs out (unless another open client of
   * this process uses the same token: login state is shared per token),
   * closes the sessions, and finalises the library when no client uses it.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const wake of this.#waiters.splice(0)) wake();
    await this.#recovering?.catch(() => undefined);
    if (this.#leased > 0) await new Promise<void>((resolve) => this.#leasesDrained.push(resolve));
    Pkcs11Client.#open.delete(this);
    const mod = this.#module;
    if (mod.initialized && mod.generation === this.#gen) {
      const sharedToken = [...Pkcs11Client.#open].some((c) => c.#module === mod && slotId(c.#slot) === slotId(this.#slot));
      const first = this.#idle[0];
      if (!sharedToken && first) {
        try {
          this.#api.C_Logout(first.handle);
        } catch {
          /* already logged out */
        }
      }
      for (const rec of this.#idle) closeQuietly(this.#api, rec.handle);
    }
    this.#idle = [];
    this.#total = 0;
    mod.release();
  }

  // ---- pool ----

  #assertUsable(): void {
    if (this.#closed) throw new KeyholdError('KH_HSM_UNAVAILABLE', 'The PKCS#11 client is closed.');
    if (this.#loginRefused) throw this.#loginRefused;
  }

  #needsRecovery(): boolean {
    return this.#broken || !this.#module.initialized || this.#module.generation !== this.#gen;
  }

  async #run<T>(fn: (rec: SessionRec) => T | Promise<T>): Promise<T> {
    const rec = await this.#lease();
    let result: T;
    try {
      result = await fn(rec);
    } catch (error) {
      // pkcs11js errors become KeyholdErrors; anything else (a caller's own error) passes through.
      const mapped = error instanceof P.NativeError ? toKeyholdError(error, pkcs11Method(error)) : error;
      this.#release(rec, mapped);
      throw mapped;
    }
    this.#release(rec);
    return result;
  }

  async #lease(): Promise<SessionRec> {
    for (;;) {
      this.#assertUsable();
      if (this.#needsRecovery()) {
        // A reconnect already under way may have started before the fault
        // cleared (e.g. before the token came back); if it fails, this call
        // makes one attempt of its own before giving up.
        const joined = this.#recovering !== null;
        try {
          await this.#recover();
        } catch (error) {
          if (!joined) throw error;
          await this.#recover();
        }
        continue;
      }
      if (this.#idle.length === 0 && this.#total >= this.#maxSessions) {
        await new Promise<void>((resolve) => this.#waiters.push(resolve));
        continue;
      }
      await this.#module.enter();
      // Everything below is synchronous: nothing can interleave until we return.
      if (this.#closed || this.#loginRefused || this.#needsRecovery() || (this.#idle.length === 0 && this.#total >= this.#maxSessions)) {
        this.#module.leave();
        continue;
      }
      let rec = this.#idle.pop();
      if (!rec) {
        try {
          rec = this.#openSession();
        } catch (error) {
          this.#module.leave();
          throw error;
        }
      }
      this.#leased++;
      return rec;
    }
  }

  /** Returns a leased session: to the pool, or closed after an error, or forgotten if its generation is over. */
  #release(rec: SessionRec, error?: unknown): void {
    this.#leased--;
    this.#module.leave();
    if (rec.generation !== this.#module.generation) {
      // C_Finalize already ended it, and its handle number may now be someone else's session.
      this.#total--;
    } else if (error !== undefined) {
      this.#total--;
      if (isUnavailable(error)) this.#broken = true;
      else closeQuietly(this.#api, rec.handle);
    } else if (this.#closed || this.#broken || this.#total > this.#maxSessions) {
      this.#total--;
      closeQuietly(this.#api, rec.handle);
    } else {
      this.#idle.push(rec);
    }
    this.#waiters.shift()?.();
    if (this.#leased === 0) for (const wake of this.#leasesDrained.splice(0)) wake();
  }

  /** C_OpenSession + C_Login; login state is per token, so CKR_USER_ALREADY_LOGGED_IN is success. */
  #openSession(): SessionRec {
    let handle: Buffer;
    try {
      handle = this.#api.C_OpenSession(this.#slot, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION);
    } catch (error) {
      throw this.#noteFailure(toKeyholdError(error, 'C_OpenSession'));
    }
    try {
      this.#api.C_Login(handle, P.CKU_USER, this.#pin);
    } catch (error) {
      if (ckrName(error) !== 'CKR_USER_ALREADY_LOGGED_IN') {
        closeQuietly(this.#api, handle);
        const mapped = this.#noteFailure(toKeyholdError(error, 'C_Login'));
        if (mapped instanceof KeyholdError && mapped.code === 'KH_HSM_LOGIN_FAILED') {
          this.#loginRefused = mapped;
          for (const wake of this.#waiters.splice(0)) wake();
        }
        throw mapped;
      }
    }
    this.#total++;
    return { handle, generation: this.#gen };
  }

  #noteFailure(error: Error): Error {
    if (isUnavailable(error)) this.#broken = true;
    return error;
  }

  /** One reconnect at a time per client; concurrent callers share it. */
  #recover(): Promise<void> {
    this.#recovering ??= this.#doRecover().finally(() => {
      this.#recovering = null;
    });
    return this.#recovering;
  }

  async #doRecover(): Promise<void> {
    const mod = this.#module;
    // Broken in the current generation: re-initialise (once, whoever asks
    // first). A newer generation (another client re-initialised): only our
    // sessions and handles are stale.
    if (this.#broken || !mod.initialized) await mod.reinitialize(this.#broken ? this.#gen : mod.generation);
    if (this.#closed) return;
    // Sessions of older generations died with C_Finalize: forget, never close them.
    this.#total -= this.#idle.length;
    this.#idle = [];
    this.#gen = mod.generation;
    // Until the token is found again, every call re-initialises (SoftHSM2
    // reads its token directory only in C_Initialize).
    this.#broken = true;
    const { slot, token } = findToken(this.#api, this.#selector, 'reconnect');
    if (token.serialNumber !== this.#token.serialNumber) {
      throw new KeyholdError('KH_HSM_TOKEN_NOT_FOUND', `The token now found for ${describe(this.#selector)} has another serial number than the one opened; not using it.`);
    }
    this.#slot = slot;
    this.#broken = false;
    for (const wake of this.#waiters.splice(0)) wake();
  }

  // ---- objects ----

  #call<T>(fn: string, f: () => T): T {
    try {
      return f();
    } catch (error) {
      throw toKeyholdError(error, fn);
    }
  }

  async #callAsync<T>(fn: string, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (error) {
      throw toKeyholdError(error, fn);
    }
  }

  #findObjects(rec: SessionRec, template: Template, max = 2): Buffer[] {
    this.#call('C_FindObjectsInit', () => this.#api.C_FindObjectsInit(rec.handle, template));
    try {
      // Two are enough to tell "one" from "ambiguous".
      return this.#call('C_FindObjects', () => this.#api.C_FindObjects(rec.handle, max));
    } finally {
      try {
        this.#api.C_FindObjectsFinal(rec.handle);
      } catch {
        /* the session is closed after the error anyway */
      }
    }
  }

  #attributes(rec: SessionRec, handle: Buffer, types: number[]): Buffer[] {
    const result = this.#call('C_GetAttributeValue', () =>
      this.#api.C_GetAttributeValue(
        rec.handle,
        handle,
        types.map((type) => ({ type })),
      ),
    );
    return result.map((a) => a.value);
  }

  /** Throws the mapped error if the token is not reachable (C_GetTokenInfo). */
  #probeToken(): void {
    this.#call('C_GetTokenInfo', () => this.#api.C_GetTokenInfo(this.#slot));
  }

  #assertLabelFree(rec: SessionRec, label: string, classes: Pkcs11KeyClass[]): void {
    for (const keyClass of classes) {
      const found = this.#findObjects(rec, [
        { type: P.CKA_CLASS, value: CLASS_OF[keyClass] },
        { type: P.CKA_LABEL, value: label },
      ]);
      if (found.length > 0) throw new KeyholdError('KH_HSM_OPERATION_FAILED', `The HSM already holds a ${keyClass} key labelled "${label}".`);
    }
  }

  /** The object handle of `key` in this library generation: cached, or found by class, label and CKA_ID. */
  #resolve(rec: SessionRec, key: Pkcs11Key, fresh: boolean): HandleRec {
    const cached = this.#handles.get(key);
    if (!fresh && cached && cached.generation === rec.generation) return cached;
    const template: Template = [
      { type: P.CKA_CLASS, value: CLASS_OF[key.keyClass] },
      { type: P.CKA_LABEL, value: key.label },
    ];
    if (key.id.length > 0) template.push({ type: P.CKA_ID, value: Buffer.from(key.id) });
    const found = this.#findObjects(rec, template);
    if (found.length === 0) {
      this.#probeToken();
      throw new KeyholdError('KH_HSM_KEY_NOT_FOUND', `The HSM has no ${key.keyClass} key labelled "${key.label}" with the expected CKA_ID.`);
    }
    if (found.length > 1) throw ambiguous(key.label, key.keyClass);
    const resolved = { generation: rec.generation, handle: found[0]!, cached: false };
    this.#handles.set(key, { ...resolved, cached: true });
    return resolved;
  }

  /** Runs `fn` with the key's handle; a stale cached handle (object re-created, library re-initialised elsewhere) is looked up once more. */
  #withKey<T>(key: Pkcs11Key, fn: (rec: SessionRec, handle: Buffer) => T | Promise<T>): Promise<T> {
    return this.#run(async (rec) => {
      const first = this.#resolve(rec, key, false);
      try {
        return await fn(rec, first.handle);
      } catch (error) {
        if (!first.cached || !isStaleHandle(error instanceof KeyholdError ? error.cause : error)) throw error;
        this.#handles.delete(key);
        return fn(rec, this.#resolve(rec, key, true).handle);
      }
    });
  }

  // ---- operations ----

  /**
   * C_Decrypt on a worker thread. Tag and padding failures are
   * KH_DECRYPT_FAILED; SoftHSM2 reports a GCM tag mismatch as
   * CKR_GENERAL_ERROR, which is otherwise a device fault, so that answer
   * counts as a decryption failure only if the session and token still
   * answer afterwards.
   */
  async #decrypt(rec: SessionRec, input: Uint8Array, out: Buffer): Promise<Uint8Array> {
    try {
      const plain = await this.#api.C_DecryptAsync(rec.handle, view(input), out);
      return new Uint8Array(plain);
    } catch (error) {
      const ckr = ckrName(error);
      if (isBadData(error) || ckr === 'CKR_GENERAL_ERROR' || ckr === 'CKR_FUNCTION_FAILED') {
        this.#call('C_GetSessionInfo', () => this.#api.C_GetSessionInfo(rec.handle));
        this.#probeToken();
        throw new KeyholdError('KH_DECRYPT_FAILED', 'decryption failed', { cause: error });
      }
      throw toKeyholdError(error, 'C_Decrypt');
    } finally {
      wipe(out);
    }
  }

  #signParams(rec: SessionRec, handle: Buffer, algorithm: Pkcs11SignatureAlgorithm, data: Uint8Array): { mechanism: Mechanism; input: Buffer; length: number } {
    switch (algorithm) {
      case 'ECDSA-SHA256':
      case 'ECDSA-SHA384': {
        const { size } = curveFromParams(this.#attributes(rec, handle, [P.CKA_EC_PARAMS])[0]!);
        const digest = createHash(algorithm === 'ECDSA-SHA256' ? 'sha256' : 'sha384')
          .update(data)
          .digest();
        return { mechanism: { mechanism: P.CKM_ECDSA }, input: digest, length: 2 * size };
      }
      case 'RSA-PKCS1-SHA256':
      case 'RSA-PSS-SHA256': {
        const length = this.#attributes(rec, handle, [P.CKA_MODULUS])[0]!.length;
        const pss: RsaPSS = { type: P.CK_PARAMS_RSA_PSS, hashAlg: P.CKM_SHA256, mgf: P.CKG_MGF1_SHA256, saltLen: 32 };
        const mechanism: Mechanism = algorithm === 'RSA-PKCS1-SHA256' ? { mechanism: P.CKM_SHA256_RSA_PKCS } : { mechanism: P.CKM_SHA256_RSA_PKCS_PSS, parameter: pss };
        return { mechanism, input: view(data), length };
      }
      default:
        throw new TypeError(`unknown signature algorithm ${String(algorithm)}`);
    }
  }

  #random(rec: SessionRec, length: number): Uint8Array {
    const out = this.#call('C_GenerateRandom', () => this.#api.C_GenerateRandom(rec.handle, Buffer.alloc(length)));
    if (out.length !== length) throw new KeyholdError('KH_HSM_OPERATION_FAILED', 'C_GenerateRandom returned fewer bytes than asked for.');
    return new Uint8Array(out);
  }

  async #generatePair(label: string, keyType: 'RSA' | 'EC', mechanism: Mechanism, publicAttrs: Template, privateAttrs: Template, id: Buffer): Promise<Pkcs11KeyPair> {
    return this.#run(async (rec) => {
      this.#assertLabelFree(rec, label, ['public', 'private']);
      const common = (keyClass: number, isPrivate: boolean): Template => [
        { type: P.CKA_CLASS, value: keyClass },
        { type: P.CKA_TOKEN, value: true },
        { type: P.CKA_PRIVATE, value: isPrivate },
        { type: P.CKA_LABEL, value: label },
        { type: P.CKA_ID, value: id },
      ];
      const pair = await this.#callAsync('C_GenerateKeyPair', () =>
        this.#api.C_GenerateKeyPairAsync(
          rec.handle,
          mechanism,
          [...common(P.CKO_PUBLIC_KEY, false), ...publicAttrs],
          [...common(P.CKO_PRIVATE_KEY, true), { type: P.CKA_SENSITIVE, value: true }, { type: P.CKA_EXTRACTABLE, value: false }, ...privateAttrs],
        ),
      );
      const publicKey = makeKey(label, 'public', keyType, id);
      const privateKey = makeKey(label, 'private', keyType, id);
      this.#handles.set(publicKey, { generation: rec.generation, handle: pair.publicKey, cached: true });
      this.#handles.set(privateKey, { generation: rec.generation, handle: pair.privateKey, cached: true });
      return { publicKey, privateKey };
    });
  }
}

// ---- helpers ----

function validateOpenOptions(options: Pkcs11OpenOptions): Selector {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  if (typeof options.module !== 'string' || options.module.length === 0) throw new TypeError('module must be a path');
  if (typeof options.pin !== 'string' || options.pin.length === 0) throw new TypeError('pin must be a non-empty string');
  const max = options.maxSessions ?? DEFAULT_SESSIONS;
  if (!Number.isInteger(max) || max < 1 || max > 64) throw new TypeError('maxSessions must be an integer in 1..64');
  const hasSlot = options.slot !== undefined;
  const hasLabel = options.tokenLabel !== undefined;
  if (hasSlot === hasLabel) throw new TypeError('give exactly one of slot and tokenLabel');
  if (hasSlot) {
    if (!Number.isSafeInteger(options.slot) || options.slot! < 0) throw new TypeError('slot must be a non-negative integer (a CK_SLOT_ID)');
    return { slot: options.slot! };
  }
  const label = options.tokenLabel!;
  // CK_TOKEN_INFO.label is 32 bytes, blank padded (base spec §3.2).
  if (typeof label !== 'string' || label.length === 0 || Buffer.byteLength(label) > 32) throw new TypeError('tokenLabel must be 1..32 bytes');
  return { tokenLabel: label };
}

/** A keyhold data object by label (CKO_DATA, CKA_APPLICATION "keyhold"). */
function dataTemplate(label: string): Template {
  return [
    { type: P.CKA_CLASS, value: P.CKO_DATA },
    { type: P.CKA_APPLICATION, value: 'keyhold' },
    { type: P.CKA_LABEL, value: label },
  ];
}

function validateLabel(label: string): void {
  if (typeof label !== 'string' || label.length === 0 || label.length > 128) throw new TypeError('key labels are 1..128 characters');
}

function describe(selector: Selector): string {
  return 'slot' in selector ? `slot ${selector.slot}` : `token label "${selector.tokenLabel}"`;
}

/** CK_SLOT_ID out of a pkcs11js slot handle (a native-endian CK_ULONG). */
function slotId(slot: Buffer): bigint {
  return slot.length >= 8 ? slot.readBigUInt64LE(0) : BigInt(slot.readUInt32LE(0));
}

function readUlong(value: Buffer): number {
  return Number(value.length >= 8 ? value.readBigUInt64LE(0) : BigInt(value.readUInt32LE(0)));
}

const unpad = (s: string): string => s.replace(/[ \0]+$/, '');

/**
 * The slot whose token matches the selector. At open() a miss is
 * KH_HSM_TOKEN_NOT_FOUND (configuration); at a reconnect it is
 * KH_HSM_UNAVAILABLE (the token is away, retry later).
 */
function findToken(api: PKCS11, selector: Selector, phase: 'open' | 'reconnect'): { slot: Buffer; token: Pkcs11TokenInfo } {
  let slots: Buffer[];
  try {
    slots = api.C_GetSlotList(true);
  } catch (error) {
    throw toKeyholdError(error, 'C_GetSlotList');
  }
  const matches: { slot: Buffer; token: Pkcs11TokenInfo }[] = [];
  for (const slot of slots) {
    const id = slotId(slot);
    if ('slot' in selector && id !== BigInt(selector.slot)) continue;
    let info: TokenInfo;
    try {
      info = api.C_GetTokenInfo(slot);
    } catch (error) {
      // A token that cannot be read is not the one asked for by label; by slot it is.
      if ('slot' in selector) throw toKeyholdError(error, 'C_GetTokenInfo');
      continue;
    }
    const token: Pkcs11TokenInfo = {
      label: unpad(info.label),
      serialNumber: unpad(info.serialNumber),
      manufacturer: unpad(info.manufacturerID),
      model: unpad(info.model),
      slotId: Number(id),
    };
    if ('tokenLabel' in selector && token.label !== selector.tokenLabel) continue;
    if ((info.flags & P.CKF_TOKEN_INITIALIZED) === 0) continue;
    matches.push({ slot, token });
  }
  const code = phase === 'open' ? 'KH_HSM_TOKEN_NOT_FOUND' : 'KH_HSM_UNAVAILABLE';
  if (matches.length === 0) throw new KeyholdError(code, `No initialised token found for ${describe(selector)}.`);
  if (matches.length > 1) throw new KeyholdError('KH_HSM_TOKEN_NOT_FOUND', `Several tokens match ${describe(selector)}; use the slot ID.`);
  return matches[0]!;
}

function makeKey(label: string, keyClass: Pkcs11KeyClass, keyType: Pkcs11KeyType, id: Uint8Array): Pkcs11Key {
  return Object.freeze({ label, keyClass, keyType, id: new Uint8Array(id) });
}

function assertKey(key: Pkcs11Key, keyClass: Pkcs11KeyClass, keyType: Pkcs11KeyType): void {
  if (typeof key !== 'object' || key === null || key.keyClass !== keyClass || key.keyType !== keyType) {
    throw new TypeError(`this operation needs a ${keyType} ${keyClass} key`);
  }
}

function assertData(data: Uint8Array, name: string): void {
  if (!(data instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  if (data.length > MAX_DATA_BYTES) throw new TypeError(`${name} is larger than ${MAX_DATA_BYTES} bytes`);
}

function assertRandomLength(length: number): void {
  if (!Number.isInteger(length) || length < 1 || length > MAX_RANDOM_BYTES) throw new TypeError(`random length must be an integer in 1..${MAX_RANDOM_BYTES}`);
}

function keyTypeFor(algorithm: Pkcs11SignatureAlgorithm): Pkcs11KeyType {
  if (algorithm === 'ECDSA-SHA256' || algorithm === 'ECDSA-SHA384') return 'EC';
  if (algorithm === 'RSA-PKCS1-SHA256' || algorithm === 'RSA-PSS-SHA256') return 'RSA';
  throw new TypeError(`unknown signature algorithm ${String(algorithm)}`);
}

function ambiguous(label: string, keyClass: Pkcs11KeyClass): KeyholdError {
  return new KeyholdError('KH_HSM_OPERATION_FAILED', `Several ${keyClass} keys on the HSM are labelled "${label}".`);
}

function decryptionFailed(): KeyholdError {
  return new KeyholdError('KH_DECRYPT_FAILED', 'decryption failed');
}

/**
 * Zero bytes at a non-NULL address. pkcs11js passes an empty Buffer's data
 * pointer as NULL, and modules reject NULL input even with length 0
 * (SoftHSM2: CKR_ARGUMENTS_BAD for an empty GCM plaintext).
 */
const EMPTY = Buffer.alloc(1).subarray(0, 0);

/** A Buffer over the same memory (no copy of secrets). */
function view(bytes: Uint8Array): Buffer {
  if (bytes.byteLength === 0) return EMPTY;
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * CK_GCM_PARAMS with ulIvBits (the v2.40 errata layout, which SoftHSM2 and
 * current modules use). pkcs11js's CK_PARAMS_AES_GCM leaves ulIvBits
 * uninitialised, so the v2.40 form with an explicit ivBits is used.
 */
function gcm(iv: Uint8Array, aad: Uint8Array): Mechanism {
  const params: GcmParams = { type: P.CK_PARAMS_AES_GCM_v240, iv: view(iv), ivBits: iv.length * 8, aad: view(aad), tagBits: GCM_TAG_BYTES * 8 };
  return { mechanism: P.CKM_AES_GCM, parameter: params };
}

function oaep(hash: { hashAlg: number; mgf: number }): Mechanism {
  const params: RsaOAEP = { type: P.CK_PARAMS_RSA_OAEP, hashAlg: hash.hashAlg, mgf: hash.mgf, source: CKZ_DATA_SPECIFIED };
  return { mechanism: P.CKM_RSA_PKCS_OAEP, parameter: params };
}

function pkcs11Method(error: unknown): string {
  const method = (error as { method?: unknown } | null)?.method;
  return typeof method === 'string' && method.length > 0 ? method : 'call';
}

function closeQuietly(api: PKCS11, session: Buffer): void {
  try {
    api.C_CloseSession(session);
  } catch {
    /* already gone */
  }
}
