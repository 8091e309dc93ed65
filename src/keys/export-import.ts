// Wrapped key export and BYOK import: RSA-AES key wrap (PKCS#11 CKM_RSA_AES_KEY_WRAP), AES-KWP, the server's import key, PCI mode.
import { createHash, createPrivateKey, createPublicKey, type KeyObject, randomUUID } from "node:crypto";
import { audited } from "../audit/operation.js";
import type { ExecutionSummary } from "../auth/governance.js";
import { type AuthCtx, SYSTEM_ACTOR } from "../auth/identity.js";
import { type KeyPolicy, requireRole } from "../auth/policy.js";
import { checkKeyLimits, checkKeyPair, precheckKeyDer, RSA_BITS } from "../crypto/key-limits.js";
import { kwpWrap, rsaAesUnwrap, rsaAesWrap } from "../crypto/key-wrap.js";
import { type KeyType, keyBits, keyFamily, publicKeyFromDer } from "../crypto/keygen.js";
import { fail, isStrongroomError } from "../errors/registry.js";
import { canProcess, IMPORT_KEY_NAME, type KeyRow, type KeyView, keyView, type ObjectRow, type Rotation } from "./key-model.js";
import type { KeyService } from "./key-service.js";
import type { KeyUse, KeyUseService } from "./key-use.js";
import type { ObjectService } from "./object-service.js";
import { requireUsage, USAGE } from "./usage.js";

/** `rsa-aes-kwp`: RSA-OAEP(SHA-256, MGF1-SHA-256) of a fresh AES-256 key ‖ AES-KWP of the target. `aes-kwp`: AES-KWP only. */
export const WRAP_SCHEMES = ["rsa-aes-kwp", "aes-kwp"] as const;
export type WrapScheme = (typeof WRAP_SCHEMES)[number];

/** Smallest RSA modulus accepted for wrapping (NIST SP 800-131A: 112-bit security); the whole rule is key-limits.ts. */
const MIN_RSA_BITS = RSA_BITS.held[0];
/** Marks the server's import key in its version attributes (with the reserved name and the system owner). */
const RESERVED = "byok-import";

/** SHA-256 of a public key's SubjectPublicKeyInfo DER, hex. */
export const spkiFingerprint = (pub: KeyObject): string =>
  createHash("sha256")
    .update(pub.export({ type: "spki", format: "der" }))
    .digest("hex");

export type WrappingKeyRef = { name: string; version?: number } | { publicKey: string };

/** POST /v1/keys/{name}/export. JSON-safe, so a dual-control approval can store and replay it. */
export interface ExportArgs {
  name: string;
  version?: number;
  wrappingKey: WrappingKeyRef;
  scheme?: WrapScheme;
}

export interface ExportResult {
  name: string;
  version: number;
  type: string;
  /** What was wrapped: raw key bytes, or PKCS#8 DER for private keys. */
  format: "raw" | "pkcs8";
  scheme: WrapScheme;
  wrappingKey: { name: string; version: number; id: string } | { fingerprint: string; bits: number };
  /** base64 */
  wrapped: string;
}

/** POST /v1/keys/import. JSON-safe (base64 strings), so a dual-control approval can store and replay it. */
export interface ImportArgs {
  name: string;
  type: KeyType;
  /** base64 of rsaAesWrap(import key, material) */
  wrapped?: string;
  scheme?: "rsa-aes-kwp";
  /** The import key version the material is wrapped under (`keyId` of GET /v1/sys/wrapping-key; default: current). */
  wrappingKeyId?: string;
  /** base64 clear-text material (refused in PCI mode). */
  material?: string;
  /** new-key (default): create `name`; new-version: add a version to the existing key `name` (a rotation). */
  version?: "new-key" | "new-version";
  description?: string;
  policy?: Partial<KeyPolicy>;
  rotation?: Rotation;
  exportable?: boolean;
}

export interface WrappingKeyView {
  keyId: string;
  name: string;
  version: number;
  algorithm: "rsa-4096";
  scheme: "rsa-aes-kwp";
  /** PEM SubjectPublicKeyInfo */
  publicKey: string;
  fingerprint: string;
  createdAt: string;
}

export interface TransferDeps {
  keys: KeyService;
  objects: ObjectService;
  /** The key-use policy: release of the exported version, use of the wrapping key, clear import in PCI mode. */
  keyUse: KeyUseService;
}

/**
 * Material checked against a key type: canonical secret (raw, or re-encoded PKCS#8) and the SPKI of a private key.
 * A private key must be within the limits of key-limits.ts and consistent (checkKeyPair).
 */
export async function checkMaterial(type: KeyType, material: Buffer): Promise<{ secret: Buffer; publicKey: Buffer | null }> {
  const bad = (detail: string): never => fail("invalid_key_material", { type, detail });
  const fam = keyFamily(type);
  if (fam === "aes" || fam === "hmac") {
    const want = keyBits(type) / 8;
    if (material.length !== want) bad(`expected ${want} raw bytes, got ${material.length}`);
    return { secret: Buffer.from(material), publicKey: null };
  }
  let k: KeyObject;
  try {
    // Sized before OpenSSL reads it (key-limits.ts: an oversized key poisons the thread's OpenSSL error queue).
    precheckKeyDer(material, "pkcs8", "held");
    k = createPrivateKey({ key: material, format: "der", type: "pkcs8" });
  } catch (e) {
    if (isStrongroomError(e)) throw e;
    return bad("expected a PKCS#8 DER private key");
  }
  if (fam === "rsa") {
    if (k.asymmetricKeyType !== "rsa") bad(`a PKCS#8 ${k.asymmetricKeyType} key is not an RSA key`);
    const bits = k.asymmetricKeyDetails?.modulusLength;
    if (bits !== keyBits(type)) bad(`the RSA modulus has ${bits} bits`);
  } else {
    const curve = { "ec-p256": "prime256v1", "ec-p384": "secp384r1" }[type as string];
    if (k.asymmetricKeyType !== "ec") bad(`a PKCS#8 ${k.asymmetricKeyType} key is not an EC key`);
    if (k.asymmetricKeyDetails?.namedCurve !== curve) bad(`the key is on curve ${k.asymmetricKeyDetails?.namedCurve}`);
  }
  checkKeyLimits(k, "held");
  await checkKeyPair(k);
  return { secret: k.export({ type: "pkcs8", format: "der" }), publicKey: createPublicKey(k).export({ type: "spki", format: "der" }) };
}

/**
 * A caller's PEM public key (SubjectPublicKeyInfo or PKCS#1), its DER sized by precheckKeyDer before OpenSSL parses it
 * (key-limits.ts: an oversized key poisons the thread's OpenSSL error queue). Exactly one PEM block.
 */
function wrappingPublicKey(pem: string): KeyObject {
  const m = /^\s*-----BEGIN (PUBLIC KEY|RSA PUBLIC KEY)-----([A-Za-z0-9+/=\s]*)-----END (PUBLIC KEY|RSA PUBLIC KEY)-----\s*$/.exec(pem);
  if (!m || m[1] !== m[3]) throw new Error("not a PEM public key");
  const b64 = m[2].replace(/\s+/g, "");
  if (b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) throw new Error("malformed base64");
  const der = Buffer.from(b64, "base64");
  const type = m[1] === "PUBLIC KEY" ? "spki" : "pkcs1";
  precheckKeyDer(der, type === "spki" ? "spki" : "pkcs1-public", "held");
  return createPublicKey({ key: der, format: "der", type });
}

const HOW_TO_IMPORT =
  "wrap the material under the key from GET /v1/sys/wrapping-key (RSA-OAEP-SHA-256 + AES-KWP) and send it as `wrapped` with scheme rsa-aes-kwp";

export class TransferService {
  private creating: Promise<void> | null = null;

  constructor(private readonly d: TransferDeps) {}

  private get deps() {
    return this.d.keys.deps;
  }

  private get keys() {
    return this.d.keys;
  }

  private dualControl(): boolean {
    return this.deps.governance?.current().dualControl ?? false;
  }

  // ---- export ----

  /**
   * Exports one version wrapped under a named RSA or AES key held here, or under a caller-supplied RSA public
   * key. Clients need the key's `material` right; admins (who never see material) may export only while dual
   * control is on, so that a wrapped export by an admin is a two-person key ceremony.
   */
  /** Protected by dual control; the caller's right is checked before a request can wait for approval. */
  async exportKey(ctx: AuthCtx, args: ExportArgs): Promise<ExportResult> {
    await this.keys.preauthorize(ctx, args.name, ctx.actor.role === "admin" ? "read" : "material", "key.export");
    return this.keys.protect(ctx, "key.export", args, args.name, () => this.doExport(ctx, args));
  }

  /** The execution summary of an export: key, version, what is wrapped, under which key, with which scheme. */
  async describeExport(ctx: AuthCtx, args: ExportArgs): Promise<ExecutionSummary> {
    const k = await this.keys.findKey(this.deps.store, args.name);
    const o = await this.keys.findVersion(this.deps.store, k, args.version);
    const w = await this.wrapper(ctx, k, args);
    const fam = keyFamily(k.type);
    return {
      export: args.name,
      version: o.version,
      type: k.type,
      format: fam === "rsa" || fam === "ec" ? "pkcs8" : "raw",
      scheme: w.scheme,
      wrappingKey:
        "name" in w.ref ? { name: w.ref.name, version: w.ref.version } : { publicKeySha256: w.ref.fingerprint, bits: w.ref.bits },
    };
  }

  private doExport(ctx: AuthCtx, args: ExportArgs): Promise<ExportResult> {
    return audited(this.deps.audit, ctx, "key.export", { name: args.name, version: args.version ?? null }, async (op) => {
      // A wrapped release, run as a dual-control protected operation (the only way an admin releases a key).
      const use: KeyUse = { purpose: "release", form: "wrapped", ceremony: true };
      const k = await this.d.keyUse.key(ctx, args.name, use);
      const o = await this.d.keyUse.version(k, use, args.version, op);
      if (!["SymmetricKey", "PrivateKey", "SecretData"].includes(o.object_type))
        fail("wrong_key_type", { name: k.name, type: k.type, operation: "export" });
      const wrapper = await this.wrapper(ctx, k, args);
      const u = this.keys.unwrapped(o);
      const wrapped = wrapper.wrap(u.secret);
      const format = u.privateKey ? ("pkcs8" as const) : ("raw" as const);
      op.detail = { scheme: wrapper.scheme, format, wrappingKey: wrapper.audit };
      // KMIP Fresh: the value was served (wrapped) to a client.
      if (!(JSON.parse(o.attributes) as { served?: boolean }).served) await this.d.objects.markServed(op, o.id);
      return {
        name: k.name,
        version: o.version,
        type: k.type,
        format,
        scheme: wrapper.scheme,
        wrappingKey: wrapper.ref,
        wrapped: wrapped.toString("base64"),
      };
    });
  }

  /** Resolves the wrapping key of an export: what to call it in the reply and the audit event, and how to wrap. */
  private async wrapper(ctx: AuthCtx, target: KeyRow, args: ExportArgs) {
    const ref = args.wrappingKey;
    if ("publicKey" in ref) {
      let pub: KeyObject;
      try {
        pub = wrappingPublicKey(ref.publicKey);
      } catch (e) {
        if (isStrongroomError(e)) throw e;
        return fail("validation", { detail: "wrappingKey.publicKey: not a PEM public key (SubjectPublicKeyInfo or PKCS#1)" });
      }
      const bits = pub.asymmetricKeyDetails?.modulusLength ?? 0;
      if (pub.asymmetricKeyType !== "rsa") fail("validation", { detail: "wrappingKey.publicKey: must be an RSA public key" });
      if (bits < MIN_RSA_BITS)
        fail("validation", { detail: `wrappingKey.publicKey: RSA keys need at least ${MIN_RSA_BITS} bits (got ${bits})` });
      // The ceiling and the public exponent: one caller must not make the server do a 32,768-bit RSA operation.
      checkKeyLimits(pub, "held");
      if (args.scheme && args.scheme !== "rsa-aes-kwp") fail("validation", { detail: "scheme: an RSA public key wraps with rsa-aes-kwp" });
      const fingerprint = spkiFingerprint(pub);
      return {
        scheme: "rsa-aes-kwp" as const,
        ref: { fingerprint, bits },
        audit: `public-key sha256:${fingerprint}`,
        wrap: (plain: Buffer) => rsaAesWrap(pub, plain),
      };
    }
    if (ref.name === target.name) fail("validation", { detail: "wrappingKey: a key cannot be wrapped under itself" });
    // The wrapping key is used, not revealed: a protect use with Wrap Key usage (the encrypt right; an admin's
    // export ceremony needs only its read right), decided by the key-use policy.
    const use: KeyUse = { purpose: "wrap", ceremony: true };
    const wk = await this.d.keyUse.key(ctx, ref.name, use);
    const fam = keyFamily(wk.type);
    if (fam !== "rsa" && fam !== "aes") fail("wrong_key_type", { name: wk.name, type: wk.type, operation: "wrap (use an RSA or AES key)" });
    const wo = await this.d.keyUse.version(wk, use, ref.version);
    const named = { name: wk.name, version: wo.version, id: wo.id };
    const audit = `${wk.name}@${wo.version}`;
    if (fam === "rsa" && wo.public_key) {
      if (args.scheme && args.scheme !== "rsa-aes-kwp")
        fail("validation", { detail: "scheme: an RSA wrapping key wraps with rsa-aes-kwp" });
      const pub = publicKeyFromDer(wo.public_key);
      return { scheme: "rsa-aes-kwp" as const, ref: named, audit, wrap: (plain: Buffer) => rsaAesWrap(pub, plain) };
    }
    if (fam === "aes") {
      if (args.scheme && args.scheme !== "aes-kwp") fail("validation", { detail: "scheme: an AES wrapping key wraps with aes-kwp" });
      const kek = this.keys.unwrapped(wo).secret;
      return { scheme: "aes-kwp" as const, ref: named, audit, wrap: (plain: Buffer) => kwpWrap(kek, plain) };
    }
    return fail("wrong_key_type", { name: wk.name, type: wk.type, operation: "wrap (use an RSA or AES key)" });
  }

  // ---- the import key ----

  /** GET /v1/sys/wrapping-key: the public half of the server's RSA-4096 import key (created at first use). */
  async wrappingKey(ctx: AuthCtx): Promise<WrappingKeyView> {
    return audited(this.deps.audit, ctx, "sys.wrapping-key", { name: IMPORT_KEY_NAME }, async (op) => {
      requireRole(ctx.actor, ["admin", "client"], "fetch the import wrapping key");
      const o = await this.importKeyVersion();
      op.target.version = o.version;
      const pub = publicKeyFromDer(o.public_key as Buffer);
      return {
        keyId: o.id,
        name: IMPORT_KEY_NAME,
        version: o.version,
        algorithm: "rsa-4096",
        scheme: "rsa-aes-kwp",
        publicKey: pub.export({ type: "spki", format: "pem" }) as string,
        fingerprint: spkiFingerprint(pub),
        createdAt: o.created_at,
      };
    });
  }

  /** The import key's version `id` (default: current), creating the key pair if there is none yet. */
  private async importKeyVersion(id?: string): Promise<ObjectRow> {
    if (!(await this.deps.store.get("SELECT name FROM keys WHERE name = $1", [IMPORT_KEY_NAME]))) {
      this.creating ??= this.createImportKey().finally(() => {
        this.creating = null;
      });
      await this.creating;
    }
    const key = await this.keys.findKey(this.deps.store, IMPORT_KEY_NAME);
    const versions = await this.keys.findVersions(this.deps.store, IMPORT_KEY_NAME);
    const o = id === undefined ? versions.find((v) => v.version === key.current_version) : versions.find((v) => v.id === id);
    if (!o) return fail("validation", { detail: "wrappingKeyId: is not a version of the import key" });
    // A key of that name that the server did not create itself (e.g. registered over KMIP first) is never used.
    const reserved = (JSON.parse(o.attributes) as { reserved?: string }).reserved === RESERVED;
    if (key.owner !== SYSTEM_ACTOR.cn || !reserved || !o.public_key)
      fail("invalid_state", { detail: `the key named '${IMPORT_KEY_NAME}' is not this server's import key; remove it` });
    if (!canProcess(o.state)) fail("invalid_state", { detail: `version ${o.version} of the import key is ${o.state}` });
    return o;
  }

  private async createImportKey(): Promise<void> {
    const ctx = { actor: SYSTEM_ACTOR, requestId: `sys-${randomUUID()}` };
    await audited(this.deps.audit, ctx, "key.create", { name: IMPORT_KEY_NAME, version: 1 }, async (op) => {
      op.detail = { type: "rsa-4096", reserved: RESERVED };
      const p = await this.keys.prepareVersion("rsa-4096");
      const now = this.deps.clock().toISOString();
      await op.commit(this.deps.store, async (tx) => {
        if (await tx.get("SELECT name FROM keys WHERE name = $1", [IMPORT_KEY_NAME])) return;
        await this.keys.insertKey(
          tx,
          SYSTEM_ACTOR.cn as string,
          {
            name: IMPORT_KEY_NAME,
            type: "rsa-4096",
            rotation: { mode: "none" },
            // Only the system owner is listed: no client may use or read it.
            policy: { users: [SYSTEM_ACTOR.cn as string], groups: [], operations: [] },
            exportable: false,
            description: "BYOK import key (reserved): wrap keys for POST /v1/keys/import under its public half",
          },
          p,
          now,
          {
            usageMask: USAGE.UnwrapKey,
            publicUsageMask: USAGE.WrapKey | USAGE.Encrypt,
            attributes: { origin: "generated", reserved: RESERVED },
          },
        );
      });
    });
  }

  // ---- import ----

  /**
   * Imports key material — wrapped under the import key (rsa-aes-kwp), or in clear text when PCI mode is off —
   * as a new key (the caller becomes its owner) or as a new version of an existing key (needs the rotate right).
   */
  /** Protected by dual control; the caller's right is checked before a request can wait for approval. */
  async importKey(ctx: AuthCtx, args: ImportArgs): Promise<KeyView> {
    // An approval request stores its arguments until it is decided: clear material must not wait there.
    if (args.material !== undefined && !ctx.approval && this.keys.deps.governance?.current().dualControl) {
      fail("validation", { detail: "material: under dual control keys are imported wrapped (GET /v1/sys/wrapping-key)" });
    }
    if ((args.version ?? "new-key") === "new-version") await this.keys.preauthorize(ctx, args.name, "rotate", "key.import");
    else if (ctx.actor.role !== "admin" && ctx.actor.role !== "client")
      fail("forbidden", { detail: `role ${ctx.actor.role} may not import keys` });
    return this.keys.protect(ctx, "key.import", args, args.name, () => this.doImport(ctx, args));
  }

  /**
   * The execution summary of an import: target key, type, mode, and a fingerprint of what was sent (SHA-256 of
   * the wrapped blob) — never the material. For a new key also its owner and settings.
   */
  async describeImport(ctx: AuthCtx, args: ImportArgs): Promise<ExecutionSummary> {
    const mode = args.version ?? "new-key";
    return {
      import: args.name,
      type: args.type,
      mode,
      scheme: args.wrapped !== undefined ? (args.scheme ?? null) : "clear",
      wrappingKeyId: args.wrappingKeyId ?? "current",
      ...(args.wrapped !== undefined
        ? { wrappedSha256: createHash("sha256").update(Buffer.from(args.wrapped, "base64")).digest("hex") }
        : {}),
      ...(mode === "new-key"
        ? {
            owner: ctx.actor.cn,
            policy: args.policy ?? null,
            rotation: args.rotation ?? null,
            exportable: args.exportable ?? true,
            description: args.description ?? "",
          }
        : { currentVersion: (await this.keys.findKey(this.deps.store, args.name)).current_version }),
    };
  }

  private doImport(ctx: AuthCtx, args: ImportArgs): Promise<KeyView> {
    const mode = args.version ?? "new-key";
    return audited(this.deps.audit, ctx, "key.import", { name: args.name }, async (op) => {
      op.detail = { type: args.type, mode, scheme: args.wrapped !== undefined ? (args.scheme ?? null) : "clear" };
      if ((args.wrapped === undefined) === (args.material === undefined))
        fail("validation", { detail: "give exactly one of wrapped, material" });
      if (args.material !== undefined) {
        const fam = keyFamily(args.type);
        this.d.keyUse.refuseClearImport(fam === "rsa" || fam === "ec" ? "PrivateKey" : "SymmetricKey", HOW_TO_IMPORT);
        if (args.scheme !== undefined || args.wrappingKeyId !== undefined)
          fail("validation", { detail: "scheme and wrappingKeyId apply to wrapped material only" });
      } else if (args.scheme !== "rsa-aes-kwp") fail("validation", { detail: "scheme: wrapped material needs scheme rsa-aes-kwp" });
      if (args.name === IMPORT_KEY_NAME)
        fail("forbidden", { detail: `'${IMPORT_KEY_NAME}' is the server's import key: its name is reserved` });
      let existing: KeyRow | null = null;
      if (mode === "new-key") {
        if (ctx.actor.role !== "admin" && ctx.actor.role !== "client")
          fail("forbidden", { detail: `role ${ctx.actor.role} may not create keys` });
        const r = args.rotation;
        if (r?.mode === "auto" && r.periodDays === undefined)
          fail("validation", { detail: "rotation.periodDays: is required for mode auto" });
        if (r && r.mode !== "auto" && r.periodDays !== undefined)
          fail("validation", { detail: "rotation.periodDays: only applies to mode auto" });
        if (await this.deps.store.get("SELECT name FROM keys WHERE name = $1", [args.name])) fail("key_exists", { name: args.name });
      } else {
        for (const f of ["description", "policy", "rotation", "exportable"] as const)
          if (args[f] !== undefined) fail("validation", { detail: `${f}: only applies to version new-key` });
        existing = await this.keys.findKey(this.deps.store, args.name);
        this.keys.authorize(ctx.actor, "rotate", existing);
        if (existing.type !== args.type) fail("validation", { detail: `type: key '${args.name}' is ${existing.type}, not ${args.type}` });
        if ((JSON.parse(existing.rotation) as Rotation).mode === "none") fail("rotation_disabled", { name: args.name });
      }
      let plain: Buffer;
      if (args.wrapped !== undefined) {
        const ik = await this.importKeyVersion(args.wrappingKeyId);
        requireUsage(ik.usage_mask, "UnwrapKey", "the import key");
        op.detail = { ...op.detail, wrappingKeyId: ik.id };
        const priv = this.keys.unwrapped(ik).privateKey;
        if (!priv) return fail("invalid_state", { detail: "the import key has no private key" });
        try {
          plain = await rsaAesUnwrap(priv, Buffer.from(args.wrapped, "base64"));
        } catch {
          return fail("unwrap_failed", {
            detail: `it was not wrapped with rsa-aes-kwp under import key ${ik.id} (GET /v1/sys/wrapping-key), or it was altered`,
          });
        }
      } else plain = Buffer.from(args.material as string, "base64");
      let checked: { secret: Buffer; publicKey: Buffer | null };
      try {
        checked = await checkMaterial(args.type, plain);
      } finally {
        plain.fill(0);
      }
      let p: ReturnType<KeyService["prepareMaterial"]>;
      try {
        p = this.keys.prepareMaterial(checked.secret, checked.publicKey);
      } finally {
        checked.secret.fill(0);
      }
      const attributes = { origin: "imported", registered: true };
      const now = this.deps.clock().toISOString();
      await op.commit(this.deps.store, async (tx) => {
        if (mode === "new-key") {
          op.target.version = 1;
          await this.keys.insertKey(
            tx,
            ctx.actor.cn,
            {
              name: args.name,
              type: args.type,
              rotation: args.rotation,
              policy: args.policy,
              description: args.description,
              exportable: args.exportable,
            },
            p,
            now,
            { attributes },
          );
          return;
        }
        const fresh = await this.keys.findKey(tx, args.name);
        if (fresh.current_version !== existing?.current_version) fail("invalid_state", { detail: "key changed concurrently; retry" });
        op.target.version = await this.keys.rotateIn(tx, fresh, p, now, { attributes });
      });
      return keyView(await this.keys.findKey(this.deps.store, args.name), await this.keys.findVersions(this.deps.store, args.name));
    });
  }
}
