// On-board cryptography and key retrieval: material, encrypt/decrypt/rewrap, datakey, sign/verify, hmac — single and batch.
import { constants, createHmac, verify as cryptoVerify, randomBytes, timingSafeEqual } from "node:crypto";
import { audited, type OpScope } from "../audit/operation.js";
import type { AuthCtx } from "../auth/identity.js";
import type { UseOperation } from "../auth/policy.js";
import { type CipherMode, CiphertextFormatError, decryptBlob, encryptBlob, parseHeader } from "../crypto/ciphertext.js";
import { checkKeyLimits } from "../crypto/key-limits.js";
import { keyFamily, publicKeyFromDer } from "../crypto/keygen.js";
import { signAsync } from "../crypto/offload.js";
import { fail, isStrongroomError, StrongroomError } from "../errors/registry.js";
import { pciMode, refuseReserved } from "./export-import.js";
import { canProcess, canProtect, clearReleaseRefused, type KeyRow, type ObjectRow } from "./key-model.js";
import type { KeyService } from "./key-service.js";
import { requireUsage } from "./usage.js";

export type Hash = "sha256" | "sha384" | "sha512";
export type SignAlgorithm = "pss" | "pkcs1" | "ecdsa";

export interface EncryptItem {
  plaintext: Buffer;
  context?: Buffer;
  algorithm?: CipherMode;
}
export interface DecryptItem {
  ciphertext: Buffer;
  context?: Buffer;
}
export interface SignItem {
  input: Buffer;
  hash?: Hash;
  algorithm?: SignAlgorithm;
}
export interface VerifyItem extends SignItem {
  signature: Buffer;
  version?: number;
}
export interface HmacItem {
  input: Buffer;
  version?: number;
  mac?: Buffer;
}

/** The operations that have a batch form, with their item and result types. */
export interface BatchOps {
  encrypt: [EncryptItem, { ciphertext: Buffer; version: number }];
  decrypt: [DecryptItem, { plaintext: Buffer; version: number }];
  rewrap: [DecryptItem, { ciphertext: Buffer; version: number }];
  sign: [SignItem, { signature: Buffer; version: number; algorithm: SignAlgorithm; hash: Hash }];
  verify: [VerifyItem, { valid: boolean; version: number }];
  hmac: [HmacItem, { mac: Buffer; version: number }];
  "hmac-verify": [HmacItem, { valid: boolean; version: number }];
}
export type BatchOp = keyof BatchOps;

export type BatchResult<R> = R | { error: { code: string; message: string } };

const POLICY_OP: Record<BatchOp, UseOperation> = {
  encrypt: "encrypt",
  decrypt: "decrypt",
  rewrap: "rewrap",
  sign: "sign",
  verify: "verify",
  hmac: "hmac",
  "hmac-verify": "hmac",
};

/** Hard cap on items in one batch request. */
export const MAX_BATCH = 1000;

/** Bytes a result adds to the JSON reply, generously: base64 for buffers, the text of other values, names and punctuation. */
function jsonBytes(r: object): number {
  let n = 2;
  for (const [k, v] of Object.entries(r)) {
    n += k.length + 6 + (Buffer.isBuffer(v) ? Math.ceil(v.length / 3) * 4 : v && typeof v === "object" ? jsonBytes(v) : String(v).length);
  }
  return n;
}

export class CryptoService {
  constructor(private readonly keys: KeyService) {}

  private get deps() {
    return this.keys.deps;
  }

  /** Loads the key, checks policy and that it is usable at all, then runs `fn` as one audited operation. */
  private use<T>(ctx: AuthCtx, name: string, op: UseOperation, action: string, fn: (k: KeyRow, scope: OpScope) => Promise<T>): Promise<T> {
    return audited(this.deps.audit, ctx, action, { name }, async (scope) => {
      const k = await this.keys.findKey(this.deps.store, name);
      this.keys.authorize(ctx.actor, op, k);
      if (k.destroyed_at) fail("invalid_state", { detail: `key '${name}' is destroyed` });
      if (k.deletion_at) fail("invalid_state", { detail: `key '${name}' is scheduled for destruction; cancel the deletion to use it` });
      return fn(k, scope);
    });
  }

  private requireFamily(k: KeyRow, families: string[], operation: string): void {
    if (!families.includes(keyFamily(k.type))) fail("wrong_key_type", { name: k.name, type: k.type, operation });
  }

  private async current(k: KeyRow, scope: OpScope | null, protect: boolean): Promise<ObjectRow> {
    const o = await this.keys.findVersion(this.deps.store, k);
    if (scope) scope.target.version = o.version;
    if (protect ? !canProtect(o.state) : !canProcess(o.state)) {
      fail("invalid_state", { detail: `version ${o.version} of '${k.name}' is ${o.state}` });
    }
    return o;
  }

  private async version(k: KeyRow, version: number | undefined, scope: OpScope | null): Promise<ObjectRow> {
    const o = await this.keys.findVersion(this.deps.store, k, version);
    if (scope) scope.target.version = o.version;
    if (!canProcess(o.state)) fail("invalid_state", { detail: `version ${o.version} of '${k.name}' is ${o.state}` });
    return o;
  }

  async material(ctx: AuthCtx, name: string, version?: number) {
    return this.use(ctx, name, "material", "key.material", async (k, scope) => {
      if (pciMode(this.keys))
        fail("pci_cleartext_refused", {
          detail: `export key '${name}' wrapped instead: POST /v1/keys/${name}/export (RSA or AES wrapping key)`,
        });
      refuseReserved(k.name);
      if (k.exportable !== 1) fail("forbidden", { detail: `key '${name}' is not exportable` });
      const o = await this.keys.findVersion(this.deps.store, k, version);
      scope.target.version = o.version;
      if (o.state === "Pre-Active") fail("invalid_state", { detail: `version ${o.version} of '${name}' is Pre-Active` });
      const refused = clearReleaseRefused(o);
      if (refused) fail("not_extractable", { id: `${name} v${o.version} (${refused})` });
      const u = this.keys.unwrapped(o);
      const fam = keyFamily(k.type);
      return {
        // A copy: the cached buffer is zeroed on eviction, independent of the reply's lifetime.
        material: Buffer.from(u.secret),
        version: o.version,
        format: fam === "rsa" || fam === "ec" ? ("pkcs8" as const) : ("raw" as const),
        publicKey: o.public_key,
      };
    });
  }

  // ---- single-item cores, shared by the plain and batch forms ----

  private async encryptOne(k: KeyRow, item: EncryptItem, scope: OpScope | null) {
    this.requireFamily(k, ["aes"], "encrypt");
    const mode = item.algorithm ?? "aes-gcm";
    if (item.context && mode !== "aes-gcm") fail("validation", { detail: "context (AAD) requires algorithm aes-gcm" });
    const o = await this.current(k, scope, true);
    requireUsage(o.usage_mask, "Encrypt", `version ${o.version} of '${k.name}'`);
    const key = this.keys.unwrapped(o).secret;
    return { ciphertext: encryptBlob(mode, o.version, key, item.plaintext, item.context ?? null), version: o.version };
  }

  private async decryptOne(k: KeyRow, item: DecryptItem, scope: OpScope | null) {
    this.requireFamily(k, ["aes"], "decrypt");
    let version: number;
    try {
      version = parseHeader(item.ciphertext).version;
    } catch (e) {
      if (e instanceof CiphertextFormatError) return fail("invalid_ciphertext", { detail: e.message });
      throw e;
    }
    const o = await this.version(k, version, scope);
    requireUsage(o.usage_mask, "Decrypt", `version ${o.version} of '${k.name}'`);
    const key = this.keys.unwrapped(o).secret;
    try {
      return { plaintext: decryptBlob(item.ciphertext, key, item.context ?? null), version: o.version };
    } catch {
      return fail("decrypt_failed");
    }
  }

  private async rewrapOne(k: KeyRow, item: DecryptItem, scope: OpScope | null) {
    // Rewrap never shows plaintext, so a caller with only the rewrap right must not learn anything from it:
    // unauthenticated CBC/CTR ciphertext would make it a padding oracle. Those use decrypt + encrypt.
    try {
      if (parseHeader(item.ciphertext).mode !== "aes-gcm") {
        fail("validation", { detail: "rewrap takes aes-gcm ciphertext; re-encrypt aes-cbc/aes-ctr data with decrypt and encrypt" });
      }
    } catch (e) {
      if (e instanceof CiphertextFormatError) return fail("invalid_ciphertext", { detail: e.message });
      throw e;
    }
    const { plaintext } = await this.decryptOne(k, item, null);
    try {
      const mode = parseHeader(item.ciphertext).mode;
      return await this.encryptOne(k, { plaintext, context: item.context, algorithm: mode }, scope);
    } finally {
      plaintext.fill(0);
    }
  }

  private signParams(k: KeyRow, item: SignItem) {
    this.requireFamily(k, ["rsa", "ec"], "sign/verify");
    const hash = item.hash ?? "sha256";
    const fam = keyFamily(k.type);
    const algorithm = item.algorithm ?? (fam === "rsa" ? "pss" : "ecdsa");
    if ((fam === "ec") !== (algorithm === "ecdsa"))
      fail("validation", { detail: `algorithm ${algorithm} does not fit key type ${k.type}` });
    const padding =
      algorithm === "pss"
        ? { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
        : algorithm === "pkcs1"
          ? { padding: constants.RSA_PKCS1_PADDING }
          : {};
    return { hash, algorithm, padding };
  }

  private async signOne(k: KeyRow, item: SignItem, scope: OpScope | null) {
    const { hash, algorithm, padding } = this.signParams(k, item);
    const o = await this.current(k, scope, true);
    requireUsage(o.usage_mask, "Sign", `version ${o.version} of '${k.name}'`);
    const key = this.keys.unwrapped(o).privateKey;
    if (!key) return fail("wrong_key_type", { name: k.name, type: k.type, operation: "sign" });
    // A key registered over KMIP before the size limits existed is not used; the signature is made off the event loop.
    checkKeyLimits(key, "registered");
    return { signature: await signAsync(hash, item.input, { key, ...padding }), version: o.version, algorithm, hash };
  }

  private async verifyOne(k: KeyRow, item: VerifyItem, scope: OpScope | null) {
    const { hash, padding } = this.signParams(k, item);
    const o = await this.version(k, item.version, scope);
    if (!o.public_key) return fail("wrong_key_type", { name: k.name, type: k.type, operation: "verify" });
    const pub = publicKeyFromDer(o.public_key);
    checkKeyLimits(pub, "registered");
    const valid = cryptoVerify(hash, item.input, { key: pub, ...padding }, item.signature);
    return { valid, version: o.version };
  }

  private async hmacOne(k: KeyRow, item: HmacItem, scope: OpScope | null) {
    this.requireFamily(k, ["hmac"], "hmac");
    const o = item.version === undefined ? await this.current(k, scope, true) : await this.version(k, item.version, scope);
    if (item.version !== undefined && !canProtect(o.state)) fail("invalid_state", { detail: `version ${o.version} is ${o.state}` });
    requireUsage(o.usage_mask, "MACGenerate", `version ${o.version} of '${k.name}'`);
    const hash = k.type.replace("hmac-", "");
    return { mac: createHmac(hash, this.keys.unwrapped(o).secret).update(item.input).digest(), version: o.version };
  }

  private async hmacVerifyOne(k: KeyRow, item: HmacItem, scope: OpScope | null) {
    this.requireFamily(k, ["hmac"], "hmac");
    if (!item.mac) return fail("validation", { detail: "mac is required" });
    const o = await this.version(k, item.version, scope);
    requireUsage(o.usage_mask, "MACVerify", `version ${o.version} of '${k.name}'`);
    const hash = k.type.replace("hmac-", "");
    const want = createHmac(hash, this.keys.unwrapped(o).secret).update(item.input).digest();
    return { valid: want.length === item.mac.length && timingSafeEqual(want, item.mac), version: o.version };
  }

  private core<O extends BatchOp>(op: O): (k: KeyRow, item: BatchOps[O][0], scope: OpScope | null) => Promise<BatchOps[O][1]> {
    const table: { [P in BatchOp]: (k: KeyRow, item: BatchOps[P][0], s: OpScope | null) => Promise<BatchOps[P][1]> } = {
      encrypt: (k, i, s) => this.encryptOne(k, i, s),
      decrypt: (k, i, s) => this.decryptOne(k, i, s),
      rewrap: (k, i, s) => this.rewrapOne(k, i, s),
      sign: (k, i, s) => this.signOne(k, i, s),
      verify: (k, i, s) => this.verifyOne(k, i, s),
      hmac: (k, i, s) => this.hmacOne(k, i, s),
      "hmac-verify": (k, i, s) => this.hmacVerifyOne(k, i, s),
    };
    return table[op] as (k: KeyRow, item: BatchOps[O][0], scope: OpScope | null) => Promise<BatchOps[O][1]>;
  }

  /** One item: a single audited request. */
  run<O extends BatchOp>(ctx: AuthCtx, name: string, op: O, item: BatchOps[O][0]): Promise<BatchOps[O][1]> {
    return this.use(ctx, name, POLICY_OP[op], `key.${op}`, (k, scope) => this.core(op)(k, item, scope));
  }

  /** Many items under one key: one audit event for the request, a result or an error per item, in order. */
  batch<O extends BatchOp>(ctx: AuthCtx, name: string, op: O, items: BatchOps[O][0][]): Promise<BatchResult<BatchOps[O][1]>[]> {
    if (items.length > MAX_BATCH) fail("validation", { detail: `batch holds at most ${MAX_BATCH} items` });
    return this.use(ctx, name, POLICY_OP[op], `key.${op}`, async (k, scope) => {
      const fn = this.core(op);
      const out: BatchResult<BatchOps[O][1]>[] = [];
      const uses = new Map<number, number>();
      let failed = 0;
      // limits.maxResponseBytes bounds the reply: the item that would cross it and every later one fail with
      // response_too_large and are not run.
      const limit = this.deps.maxResponseBytes ?? 8 * 1024 * 1024;
      let size = 16;
      let full = false;
      for (const item of items) {
        try {
          if (full) fail("response_too_large", { limit });
          const r = await fn(k, item, null);
          const n = jsonBytes(r);
          if (size + n > limit) {
            full = true;
            for (const v of Object.values(r)) if (Buffer.isBuffer(v)) v.fill(0);
            fail("response_too_large", { limit });
          }
          size += n;
          uses.set(r.version, (uses.get(r.version) ?? 0) + 1);
          out.push(r);
        } catch (e) {
          failed++;
          const err = isStrongroomError(e) ? e : new StrongroomError("decrypt_failed");
          out.push({ error: { code: err.code, message: err.message } });
        }
      }
      scope.detail = { batch: items.length, failed };
      scope.uses = uses;
      return out;
    });
  }

  async datakey(ctx: AuthCtx, name: string, req: { bits?: 128 | 256; mode?: "plaintext" | "wrapped"; context?: Buffer }) {
    const op: UseOperation = "datakey";
    return this.use(ctx, name, op, "key.datakey", async (k, scope) => {
      const bits = req.bits ?? 256;
      scope.detail = { bits, mode: req.mode ?? "plaintext" };
      const dataKey = randomBytes(bits / 8);
      try {
        const { ciphertext, version } = await this.encryptOne(k, { plaintext: dataKey, context: req.context }, scope);
        return { ciphertext, version, plaintext: req.mode === "wrapped" ? null : Buffer.from(dataKey) };
      } finally {
        dataKey.fill(0);
      }
    });
  }
}
