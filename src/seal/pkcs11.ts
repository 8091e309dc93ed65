// The pkcs11 seal: the master key is a non-extractable AES-256 key in an HSM; keyring entries are wrapped by C_Encrypt (CKM_AES_GCM).
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import type { PKCS11 } from "pkcs11js";
import type { MasterKey } from "./master-key.js";

type Lib = typeof import("pkcs11js");
type Handle = Buffer;

/** Where the master key lives: the module (shared library), the token and the key's CKA_LABEL. */
export interface Pkcs11Location {
  module: string;
  tokenLabel: string;
  keyLabel: string;
}

/** The environment variable that holds the token's user PIN (never in strongroom.yaml). */
export const PIN_ENV = "STRONGROOM_PKCS11_PIN";

let lib: Lib | null = null;

/** Loads the native binding on first use, so instances with other seals never need it. */
export function pkcs11Lib(): Lib {
  if (!lib) {
    try {
      lib = createRequire(import.meta.url)("pkcs11js") as Lib;
    } catch (e) {
      throw new Error(`the pkcs11 seal needs the pkcs11js package (npm install pkcs11js): ${(e as Error).message}`);
    }
  }
  return lib;
}

const codeOf = (e: unknown): number => (typeof e === "object" && e !== null && "code" in e ? Number((e as { code: unknown }).code) : -1);

/** A Cryptoki error as one line, without anything the caller passed in. */
function pkcs11Message(e: unknown): string {
  const m = e instanceof Error ? e.message.split("\n")[0] : String(e);
  return m.slice(0, 200);
}

export class Pkcs11Failure extends Error {
  /** The CKR_* value, or -1. */
  readonly code: number;
  constructor(what: string, cause?: unknown) {
    super(cause === undefined ? what : `${what}: ${pkcs11Message(cause)}`);
    this.name = "Pkcs11Failure";
    this.code = codeOf(cause);
  }
}

/** One C_Initialize per module per process, shared by every session (tests run several instances in one process). */
const modules = new Map<string, { p: PKCS11; refs: number; owns: boolean }>();

function acquireModule(path: string): PKCS11 {
  const known = modules.get(path);
  if (known) {
    known.refs++;
    return known.p;
  }
  const L = pkcs11Lib();
  const p = new L.PKCS11();
  try {
    p.load(path);
  } catch (e) {
    throw new Pkcs11Failure(`cannot load PKCS#11 module ${path}`, e);
  }
  let owns = true;
  try {
    p.C_Initialize();
  } catch (e) {
    // Another user of the same library in this process initialized it; it finalizes it too.
    if (codeOf(e) !== L.CKR_CRYPTOKI_ALREADY_INITIALIZED) throw new Pkcs11Failure(`C_Initialize of ${path} failed`, e);
    owns = false;
  }
  modules.set(path, { p, refs: 1, owns });
  return p;
}

function releaseModule(path: string): void {
  const m = modules.get(path);
  if (!m) return;
  if (--m.refs > 0) return;
  modules.delete(path);
  if (m.owns) {
    try {
      m.p.C_Finalize();
    } catch {
      // nothing more to release
    }
  }
}

/** A logged-in read/write session on the token with the given label. */
export class Pkcs11Session {
  private open = true;

  private constructor(
    readonly p: PKCS11,
    readonly session: Handle,
    private readonly modulePath: string,
  ) {}

  static open(modulePath: string, tokenLabel: string, pin: string): Pkcs11Session {
    const L = pkcs11Lib();
    const p = acquireModule(modulePath);
    let session: Handle | null = null;
    try {
      const slot = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.trimEnd() === tokenLabel);
      if (!slot) throw new Pkcs11Failure(`no token labelled '${tokenLabel}' in ${modulePath}`);
      session = p.C_OpenSession(slot, L.CKF_SERIAL_SESSION | L.CKF_RW_SESSION);
      try {
        p.C_Login(session, L.CKU_USER, pin);
      } catch (e) {
        // Login state is per application: another session of this process may already be logged in.
        if (codeOf(e) !== L.CKR_USER_ALREADY_LOGGED_IN) throw new Pkcs11Failure(`login to token '${tokenLabel}' failed`, e);
      }
      return new Pkcs11Session(p, session, modulePath);
    } catch (e) {
      if (session) {
        try {
          p.C_CloseSession(session);
        } catch {}
      }
      releaseModule(modulePath);
      throw e instanceof Pkcs11Failure ? e : new Pkcs11Failure("PKCS#11 failure", e);
    }
  }

  /** The secret key objects with this CKA_LABEL. */
  findSecretKeys(label: string): Handle[] {
    const L = pkcs11Lib();
    this.p.C_FindObjectsInit(this.session, [
      { type: L.CKA_CLASS, value: L.CKO_SECRET_KEY },
      { type: L.CKA_LABEL, value: label },
    ]);
    try {
      return this.p.C_FindObjects(this.session, 16);
    } finally {
      this.p.C_FindObjectsFinal(this.session);
    }
  }

  /** Boolean attributes of an object (CKA_EXTRACTABLE, CKA_SENSITIVE, …). */
  flags(key: Handle, types: number[]): boolean[] {
    const attrs = this.p.C_GetAttributeValue(
      this.session,
      key,
      types.map((type) => ({ type })),
    );
    return attrs.map((a) => Buffer.isBuffer(a.value) && a.value.length > 0 && a.value[0] !== 0);
  }

  /** Generates a persistent, sensitive, non-extractable AES-256 key usable only to encrypt and decrypt. */
  generateMasterKey(label: string): Handle {
    const L = pkcs11Lib();
    try {
      return this.p.C_GenerateKey(this.session, { mechanism: L.CKM_AES_KEY_GEN }, [
        { type: L.CKA_CLASS, value: L.CKO_SECRET_KEY },
        { type: L.CKA_KEY_TYPE, value: L.CKK_AES },
        { type: L.CKA_VALUE_LEN, value: 32 },
        { type: L.CKA_LABEL, value: label },
        { type: L.CKA_ID, value: randomBytes(8) },
        { type: L.CKA_TOKEN, value: true },
        { type: L.CKA_PRIVATE, value: true },
        { type: L.CKA_SENSITIVE, value: true },
        { type: L.CKA_EXTRACTABLE, value: false },
        { type: L.CKA_ENCRYPT, value: true },
        { type: L.CKA_DECRYPT, value: true },
        { type: L.CKA_WRAP, value: false },
        { type: L.CKA_UNWRAP, value: false },
        { type: L.CKA_SIGN, value: false },
        { type: L.CKA_VERIFY, value: false },
        { type: L.CKA_DERIVE, value: false },
      ]);
    } catch (e) {
      throw new Pkcs11Failure(`cannot generate the master key '${label}' in the HSM`, e);
    }
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    try {
      this.p.C_CloseSession(this.session);
    } catch {}
    releaseModule(this.modulePath);
  }
}

const NONCE = 12;
const TAG = 16;

/** The master key as an HSM object handle; AES-256-GCM runs inside the HSM, so the key's bytes never reach this process. */
export class HsmMasterKey implements MasterKey {
  readonly kind = "hsm" as const;

  constructor(
    private readonly s: Pkcs11Session,
    readonly handle: Handle,
    readonly label: string,
  ) {}

  private gcm(iv: Buffer, aad: string) {
    const L = pkcs11Lib();
    return {
      mechanism: L.CKM_AES_GCM,
      parameter: { type: L.CK_PARAMS_AES_GCM, iv, ivBits: NONCE * 8, aad: Buffer.from(aad), tagBits: TAG * 8 },
    };
  }

  wrap(plaintext: Buffer, aad: string): Buffer {
    const iv = randomBytes(NONCE);
    try {
      this.s.p.C_EncryptInit(this.s.session, this.gcm(iv, aad), this.handle);
      const ct = this.s.p.C_Encrypt(this.s.session, plaintext, Buffer.alloc(plaintext.length + TAG));
      return Buffer.concat([iv, ct]);
    } catch (e) {
      throw new Pkcs11Failure("HSM encryption (CKM_AES_GCM) failed", e);
    }
  }

  unwrap(blob: Buffer, aad: string): Buffer {
    if (blob.length < NONCE + TAG) throw new Error("sealed value too short");
    const out = Buffer.alloc(blob.length);
    try {
      this.s.p.C_DecryptInit(this.s.session, this.gcm(blob.subarray(0, NONCE), aad), this.handle);
      const pt = this.s.p.C_Decrypt(this.s.session, blob.subarray(NONCE), out);
      const copy = Buffer.from(pt);
      return copy;
    } catch (e) {
      throw new Pkcs11Failure("HSM decryption (CKM_AES_GCM) failed", e);
    } finally {
      out.fill(0);
    }
  }

  destroy(): void {
    this.s.close();
  }
}

/**
 * Opens the master key by label: logs in with `pin`, finds exactly one AES key with the label and
 * checks it is sensitive and non-extractable. With `create`, generates it when it is missing.
 */
export function openHsmMasterKey(loc: Pkcs11Location, pin: string, o: { create?: boolean } = {}): { key: HsmMasterKey; created: boolean } {
  if (!pin) throw new Pkcs11Failure(`no PKCS#11 PIN (set ${PIN_ENV})`);
  const s = Pkcs11Session.open(loc.module, loc.tokenLabel, pin);
  try {
    const L = pkcs11Lib();
    const found = s.findSecretKeys(loc.keyLabel);
    if (found.length > 1) throw new Pkcs11Failure(`${found.length} keys are labelled '${loc.keyLabel}' on token '${loc.tokenLabel}'`);
    let handle = found[0];
    let created = false;
    if (!handle) {
      if (!o.create) throw new Pkcs11Failure(`no key labelled '${loc.keyLabel}' on token '${loc.tokenLabel}'`);
      handle = s.generateMasterKey(loc.keyLabel);
      created = true;
    }
    const [extractable, sensitive] = s.flags(handle, [L.CKA_EXTRACTABLE, L.CKA_SENSITIVE]);
    if (extractable || !sensitive)
      throw new Pkcs11Failure(`the HSM key '${loc.keyLabel}' is extractable or not sensitive; Strongroom's master key must be neither`);
    return { key: new HsmMasterKey(s, handle, loc.keyLabel), created };
  } catch (e) {
    s.close();
    throw e;
  }
}
