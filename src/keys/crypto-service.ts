// On-board cryptography and key retrieval: material, encrypt/decrypt/rewrap, datakey, sign/verify, hmac — single and batch.
import { randomBytes } from "node:crypto";
import { audited, type OpScope } from "../audit/operation.js";
import type { AuthCtx } from "../auth/identity.js";
import type { UseOperation } from "../auth/policy.js";
import { type CipherMode, CiphertextFormatError, decryptBlob, encryptBlob, parseHeader } from "../crypto/ciphertext.js";
import { hashBytes } from "../crypto/digest.js";
import { checkKeyLimits } from "../crypto/key-limits.js";
import { keyFamily, publicKeyFromDer } from "../crypto/keygen.js";
import { computeMac, verifyMac } from "../crypto/mac.js";
import { type SigScheme, signWith, verifyWith } from "../crypto/signature.js";
import { fail, isStrongroomError, StrongroomError } from "../errors/registry.js";
import type { KeyRow, ObjectRow } from "./key-model.js";
import type { KeyService } from "./key-service.js";
import type { KeyUse, KeyUseService } from "./key-use.js";
import type { UsageBit } from "./usage.js";

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

/** What each operation does with the key, for the key-use policy: protect or process, with which right and usage. */
const USE_OF: Record<BatchOp, KeyUse & { purpose: "protect" | "process" }> = {
  encrypt: { purpose: "protect", right: "encrypt", usage: "Encrypt" },
  decrypt: { purpose: "process", right: "decrypt", usage: "Decrypt" },
  // Rewrap decrypts (process) and encrypts again under the current version (protect), with the rewrap right.
  rewrap: { purpose: "process", right: "rewrap", usage: "Decrypt" },
  sign: { purpose: "protect", right: "sign", usage: "Sign" },
  verify: { purpose: "process", right: "verify", usage: "Verify" },
  hmac: { purpose: "protect", right: "hmac", usage: "MACGenerate" },
  "hmac-verify": { purpose: "process", right: "hmac", usage: "MACVerify" },
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

/** One item's run: the policy right it uses, the audit scope naming its version (null inside a batch), and the
 * operation whose transaction charges Usage Limits. */
interface Run {
  right: UseOperation;
  scope: OpScope | null;
  op: OpScope;
}

export class CryptoService {
  constructor(
    private readonly keys: KeyService,
    private readonly policy: KeyUseService,
  ) {}

  private get deps() {
    return this.keys.deps;
  }

  /**
   * Runs `fn` as one audited operation on key `name`, once the key-use policy has authorized `right` (a key the
   * caller may not read is not found). Every other rule is decided per version by the policy (KeyUseService).
   */
  private use<T>(ctx: AuthCtx, name: string, use: KeyUse, action: string, fn: (k: KeyRow, scope: OpScope) => Promise<T>): Promise<T> {
    return audited(this.deps.audit, ctx, action, { name }, async (scope) => fn(await this.policy.key(ctx, name, use), scope));
  }

  private requireFamily(k: KeyRow, families: string[], operation: string): void {
    if (!families.includes(keyFamily(k.type))) fail("wrong_key_type", { name: k.name, type: k.type, operation });
  }

  /** A version (default: current) that may protect with `usage`: Active, before its Protect Stop Date, … */
  private protect(k: KeyRow, run: Run, usage: UsageBit, version?: number): Promise<ObjectRow> {
    return this.policy.version(k, { purpose: "protect", right: run.right, usage }, version, run.scope);
  }

  /** A version (default: current) that may process with `usage`: Active, Deactivated or Compromised, … */
  private process(k: KeyRow, run: Run, usage: UsageBit, version?: number): Promise<ObjectRow> {
    return this.policy.version(k, { purpose: "process", right: run.right, usage }, version, run.scope);
  }

  async material(ctx: AuthCtx, name: string, version?: number) {
    const use: KeyUse = { purpose: "release", form: "clear" };
    return this.use(ctx, name, use, "key.material", async (k, scope) => {
      const o = await this.policy.version(k, use, version, scope);
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

  private async encryptOne(k: KeyRow, item: EncryptItem, run: Run) {
    this.requireFamily(k, ["aes"], "encrypt");
    const mode = item.algorithm ?? "aes-gcm";
    if (item.context && mode !== "aes-gcm") fail("validation", { detail: "context (AAD) requires algorithm aes-gcm" });
    const o = await this.protect(k, run, "Encrypt");
    await this.policy.charge(run.op, o, item.plaintext.length);
    const key = this.keys.unwrapped(o).secret;
    return { ciphertext: encryptBlob(mode, o.version, key, item.plaintext, item.context ?? null), version: o.version };
  }

  private async decryptOne(k: KeyRow, item: DecryptItem, run: Run) {
    this.requireFamily(k, ["aes"], "decrypt");
    let version: number;
    try {
      version = parseHeader(item.ciphertext).version;
    } catch (e) {
      if (e instanceof CiphertextFormatError) return fail("invalid_ciphertext", { detail: e.message });
      throw e;
    }
    const o = await this.process(k, run, "Decrypt", version);
    const key = this.keys.unwrapped(o).secret;
    try {
      return { plaintext: decryptBlob(item.ciphertext, key, item.context ?? null), version: o.version };
    } catch {
      return fail("decrypt_failed");
    }
  }

  private async rewrapOne(k: KeyRow, item: DecryptItem, run: Run) {
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
    const { plaintext } = await this.decryptOne(k, item, { ...run, scope: null });
    try {
      const mode = parseHeader(item.ciphertext).mode;
      return await this.encryptOne(k, { plaintext, context: item.context, algorithm: mode }, run);
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
    // The shared signature primitive (src/crypto/signature.ts, as KMIP Sign runs it): PSS with MGF1 over the message
    // hash and a salt as long as the digest, both ways.
    const scheme: SigScheme = { kind: algorithm, hash, mgfHash: hash, saltLength: algorithm === "pss" ? hashBytes(hash) : undefined };
    return { hash, algorithm, scheme };
  }

  private async signOne(k: KeyRow, item: SignItem, run: Run) {
    const { hash, algorithm, scheme } = this.signParams(k, item);
    const o = await this.protect(k, run, "Sign");
    const key = this.keys.unwrapped(o).privateKey;
    if (!key) return fail("wrong_key_type", { name: k.name, type: k.type, operation: "sign" });
    // A key registered over KMIP before the size limits existed is not used; the signature is made off the event loop.
    checkKeyLimits(key, "registered");
    await this.policy.charge(run.op, o, item.input.length);
    return { signature: await signWith(key, scheme, item.input, false), version: o.version, algorithm, hash };
  }

  private async verifyOne(k: KeyRow, item: VerifyItem, run: Run) {
    const { scheme } = this.signParams(k, item);
    // Verification uses the public half: its usage mask (Verify) and state decide, as for KMIP Signature Verify.
    const o = await this.policy.publicVersion(k, { purpose: "process", right: run.right, usage: "Verify" }, item.version, run.scope);
    if (!o.public_key) return fail("wrong_key_type", { name: k.name, type: k.type, operation: "verify" });
    const pub = publicKeyFromDer(o.public_key);
    checkKeyLimits(pub, "registered");
    const valid = verifyWith(pub, scheme, item.input, false, item.signature);
    return { valid, version: o.version };
  }

  private async hmacOne(k: KeyRow, item: HmacItem, run: Run) {
    this.requireFamily(k, ["hmac"], "hmac");
    // MAC generation protects, also with an older version named explicitly.
    const o = await this.protect(k, run, "MACGenerate", item.version);
    await this.policy.charge(run.op, o, item.input.length);
    const hash = k.type.replace("hmac-", "");
    return { mac: computeMac(this.keys.unwrapped(o).secret, { kind: "hmac", hash }, item.input), version: o.version };
  }

  private async hmacVerifyOne(k: KeyRow, item: HmacItem, run: Run) {
    this.requireFamily(k, ["hmac"], "hmac");
    if (!item.mac) return fail("validation", { detail: "mac is required" });
    const o = await this.process(k, run, "MACVerify", item.version);
    const hash = k.type.replace("hmac-", "");
    return { valid: verifyMac(this.keys.unwrapped(o).secret, { kind: "hmac", hash }, item.input, item.mac), version: o.version };
  }

  private core<O extends BatchOp>(op: O): (k: KeyRow, item: BatchOps[O][0], run: Run) => Promise<BatchOps[O][1]> {
    const table: { [P in BatchOp]: (k: KeyRow, item: BatchOps[P][0], r: Run) => Promise<BatchOps[P][1]> } = {
      encrypt: (k, i, s) => this.encryptOne(k, i, s),
      decrypt: (k, i, s) => this.decryptOne(k, i, s),
      rewrap: (k, i, s) => this.rewrapOne(k, i, s),
      sign: (k, i, s) => this.signOne(k, i, s),
      verify: (k, i, s) => this.verifyOne(k, i, s),
      hmac: (k, i, s) => this.hmacOne(k, i, s),
      "hmac-verify": (k, i, s) => this.hmacVerifyOne(k, i, s),
    };
    return table[op] as (k: KeyRow, item: BatchOps[O][0], run: Run) => Promise<BatchOps[O][1]>;
  }

  /** One item: a single audited request. */
  run<O extends BatchOp>(ctx: AuthCtx, name: string, op: O, item: BatchOps[O][0]): Promise<BatchOps[O][1]> {
    const right = USE_OF[op].right;
    return this.use(ctx, name, USE_OF[op], `key.${op}`, (k, scope) => this.core(op)(k, item, { right, scope, op: scope }));
  }

  /** Many items under one key: one audit event for the request, a result or an error per item, in order. */
  batch<O extends BatchOp>(ctx: AuthCtx, name: string, op: O, items: BatchOps[O][0][]): Promise<BatchResult<BatchOps[O][1]>[]> {
    if (items.length > MAX_BATCH) fail("validation", { detail: `batch holds at most ${MAX_BATCH} items` });
    const right = USE_OF[op].right;
    return this.use(ctx, name, USE_OF[op], `key.${op}`, async (k, scope) => {
      const fn = this.core(op);
      // Items name no version in the audit event (one event for the request, uses counted per version below); a
      // key with Usage Limits is charged per item in the request's transaction.
      const run: Run = { right, scope: null, op: scope };
      scope.detail = { batch: items.length };
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
          const r = await fn(k, item, run);
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
    const right: UseOperation = "datakey";
    return this.use(ctx, name, { purpose: "protect", right, usage: "Encrypt" }, "key.datakey", async (k, scope) => {
      const bits = req.bits ?? 256;
      scope.detail = { bits, mode: req.mode ?? "plaintext" };
      const dataKey = randomBytes(bits / 8);
      try {
        const { ciphertext, version } = await this.encryptOne(k, { plaintext: dataKey, context: req.context }, { right, scope, op: scope });
        return { ciphertext, version, plaintext: req.mode === "wrapped" ? null : Buffer.from(dataKey) };
      } finally {
        dataKey.fill(0);
      }
    });
  }
}
