// The one key-use policy: whether a principal may use or release a key version, for REST, KMIP and every later transport.
import type { OpScope } from "../audit/operation.js";
import type { AuthCtx, Identity } from "../auth/identity.js";
import type { KeyOperation, UseOperation } from "../auth/policy.js";
import { fail, isStrongroomError, StrongroomError } from "../errors/registry.js";
import { canProcess, canProtect, IMPORT_KEY_NAME, type KeyRow, type ObjectRow, storedKmipBoolean, storedKmipDate } from "./key-model.js";
import { type KeyService, OBJECT_COLUMNS, type ObjectAttributes, type Unwrapped } from "./key-service.js";
import type { Loaded, ObjectService } from "./object-service.js";
import { requireUsage, USAGE, type UsageBit } from "./usage.js";

/*
 * Every rule deciding whether a principal may use or release a key version lives here; transports (REST handlers
 * through CryptoService/TransferService, KMIP operations) describe the use and call `key`/`object`/`check`/`charge`.
 * The first rule that refuses decides, in this order (docs/security.md "Key-use rules" carries the same table):
 *
 * | #  | rule                                              | applies to                     | error code                     |
 * |----|---------------------------------------------------|--------------------------------|--------------------------------|
 * | 1  | role and per-key policy (owner, listed users and  | every use and release          | key_not_found, object_not_found|
 * |    | groups, operations); admins never use keys        |                                | when the caller may not read   |
 * |    |                                                   |                                | the key, else forbidden        |
 * | 2  | admin wrapped release only as a dual-control      | release (wrapped), wrap        | forbidden                      |
 * |    | ceremony (REST export while dual control is on)   |                                |                                |
 * | 3  | reserved keys (the BYOK import key): never used,  | every use and release but the  | forbidden                      |
 * |    | never released                                    | public half                    |                                |
 * | 4  | usage mask (Cryptographic Usage Mask)             | protect, process, wrap         | usage_not_permitted            |
 * | 5  | destroyed version                                 | everything                     | object_destroyed               |
 * | 6  | key scheduled for destruction                     | everything                     | invalid_state                  |
 * | 7  | lifecycle state: protect (encrypt, sign, MAC,     | protect, wrap: Active;         | invalid_state                  |
 * |    | wrap) needs Active; process (decrypt, verify, MAC | process: Active, Deactivated,  |                                |
 * |    | verify) Active, Deactivated or Compromised        | Compromised; release: any live |                                |
 * | 8  | Protect Stop Date passed                          | protect, wrap                  | invalid_state                  |
 * | 9  | Process Start Date in the future                  | process                        | invalid_state                  |
 * | 10 | exportable false (REST) / Extractable false (KMIP)| release (clear and wrapped)    | not_extractable                |
 * | 11 | PCI mode: no clear-text release of secret objects | release (clear)                | pci_cleartext_refused          |
 * | 12 | Sensitive true: released only wrapped             | release (clear)                | sensitive                      |
 * | 13 | PCI mode: a wrapping key that can also Decrypt    | wrap                           | pci_cleartext_refused          |
 * | 14 | Usage Limits exhausted (counted down on every     | protect, wrap                  | usage_limits_exhausted         |
 * |    | path, in the operation's transaction)             |                                |                                |
 *
 * Release of a Pre-Active version is allowed (KMIP Get of a key before its Activation Date is how keys are
 * distributed ahead of use); using it is not.
 */

/** What the caller wants to do with the version. */
export type KeyUse =
  /** Encrypt, sign, MAC generation: an Active version, before its Protect Stop Date, within its Usage Limits. */
  | { purpose: "protect"; right: UseOperation; usage: UsageBit }
  /** Decrypt, verify, MAC verification: Active, Deactivated or Compromised, from its Process Start Date. */
  | { purpose: "process"; right: UseOperation; usage: UsageBit }
  /**
   * The version's value leaves the server: in clear (REST material, KMIP Get without wrapping) or wrapped (REST
   * export, KMIP Get with a Key Wrapping Specification). `ceremony`: the caller runs as a dual-control protected
   * operation (REST export), the only way an admin releases anything.
   */
  | { purpose: "release"; form: "clear" | "wrapped"; ceremony?: boolean }
  /** A server-held key wraps another key's value that leaves: a protect use with Wrap Key usage. */
  | { purpose: "wrap"; ceremony?: boolean };

/** Objects whose value is secret: in PCI mode it never leaves or enters in clear text. */
export const SECRET_OBJECTS: ReadonlySet<string> = new Set(["SymmetricKey", "PrivateKey", "SecretData", "OpaqueObject"]);

/** KMIP Usage Limits of an object: how many bytes (or operations) it may still protect. */
export interface UsageLimits {
  total: number;
  count: number;
  unit: "byte" | "object";
}

const destroyed = (o: ObjectRow): boolean => o.state === "Destroyed" || o.state === "Destroyed Compromised";

export class KeyUseService {
  constructor(
    private readonly keys: KeyService,
    private readonly objects: ObjectService,
  ) {}

  private get deps() {
    return this.keys.deps;
  }

  /** Whether PCI mode is on (stored governance settings win over the file). */
  pciMode(): boolean {
    return this.deps.governance?.current().pciMode ?? false;
  }

  private dualControl(): boolean {
    return this.deps.governance?.current().dualControl ?? false;
  }

  /** Rule 1: the policy right a use needs. Admins hold "read" only, and use it only in a wrapped-export ceremony. */
  right(actor: Identity, use: KeyUse): KeyOperation {
    if (use.purpose === "protect" || use.purpose === "process") return use.right;
    const ceremony = actor.role === "admin" && use.ceremony === true;
    if (use.purpose === "wrap") return ceremony ? "read" : "encrypt";
    return ceremony && use.form === "wrapped" ? "read" : "material";
  }

  /** Rules 1–2 on the key; a key the caller may not read is answered as not found (KeyService.authorize). */
  authorize(actor: Identity, key: KeyRow, use: KeyUse): void {
    const right = this.right(actor, use);
    this.keys.authorize(actor, right, key);
    // 2. An admin's "read" right reaches a key's value only in a two-person ceremony.
    if (actor.role === "admin" && right === "read" && !this.dualControl())
      fail("forbidden", {
        detail: "admins may export keys (wrapped) only while dual control is on, so that a second admin approves the ceremony",
      });
  }

  /**
   * Rules 3–13 on a loaded version (its state as of now, KeyService.current). `label` names the version in messages:
   * the KMIP Unique Identifier, or "name vN" over REST.
   */
  check(key: KeyRow, o: ObjectRow, use: KeyUse, label: string = o.id): void {
    const release = use.purpose === "release";
    // 3. The import key's private half is the server's own: never used or released (its public half is published).
    if (key.name === IMPORT_KEY_NAME && !(release && o.object_type === "PublicKey"))
      fail("forbidden", { detail: `'${IMPORT_KEY_NAME}' is the server's import key: its private half never leaves and is never used` });
    // 4. "The server SHALL NOT perform a cryptographic operation the object's Cryptographic Usage Mask does not allow."
    if (use.purpose === "protect" || use.purpose === "process") requireUsage(o.usage_mask, use.usage, label);
    if (use.purpose === "wrap") requireUsage(o.usage_mask, "WrapKey", `wrapping key ${label}`);
    // 5–6.
    if (destroyed(o)) fail("object_destroyed", { id: label });
    if (key.deletion_at) fail("invalid_state", { detail: `key '${key.name}' is scheduled for destruction; cancel the deletion to use it` });
    const now = this.deps.clock().getTime();
    if (use.purpose === "protect" || use.purpose === "wrap") {
      // 7–8.
      if (!canProtect(o.state)) fail("invalid_state", { detail: `${label} is ${o.state}; only an Active version protects` });
      const stop = storedKmipDate(o, "Protect Stop Date");
      if (stop !== undefined && stop <= now) fail("invalid_state", { detail: `${label} is past its Protect Stop Date` });
    } else if (use.purpose === "process") {
      // 7, 9.
      if (!canProcess(o.state)) fail("invalid_state", { detail: `${label} is ${o.state} and cannot be used` });
      const start = storedKmipDate(o, "Process Start Date");
      if (start !== undefined && start > now) fail("invalid_state", { detail: `${label} is before its Process Start Date` });
    }
    if (release) {
      // 10. Not exportable (REST) and Extractable false (KMIP) are the same promise: the value never leaves, not even wrapped.
      if (key.exportable !== 1 || storedKmipBoolean(o, "Extractable") === false) fail("not_extractable", { id: label });
      if (use.form === "clear") {
        // 11. PCI mode: the value of a secret object leaves only wrapped (public keys and certificates are not secret).
        if (this.pciMode() && SECRET_OBJECTS.has(o.object_type))
          fail("pci_cleartext_refused", {
            detail: `release it wrapped: POST /v1/keys/${key.name}/export (RSA or AES wrapping key), or KMIP Get with a Key Wrapping Specification`,
          });
        // 12. Sensitive: "the server SHALL prevent the object value being retrieved … unless it is wrapped by another key".
        if (storedKmipBoolean(o, "Sensitive") === true) fail("sensitive", { id: label });
      }
    }
    // 13. PCI mode: a wrapping key that may also Decrypt would let the wrapped key be recovered in clear right here.
    if (use.purpose === "wrap" && this.pciMode() && (o.usage_mask & USAGE.Decrypt) !== 0)
      fail("pci_cleartext_refused", {
        detail: `wrapping key ${label} can also Decrypt, which would let the wrapped key be recovered in clear here; use a key with Wrap Key/Unwrap Key usage only, or a caller-supplied public key`,
      });
  }

  /** REST: the key `name`, for a use by `ctx` (rules 1–2; answered as not found when the caller may not read it). */
  async key(ctx: AuthCtx, name: string, use: KeyUse): Promise<KeyRow> {
    const k = await this.keys.findKey(this.deps.store, name);
    this.authorize(ctx.actor, k, use);
    return k;
  }

  /** REST: version `version` (default: current) of an authorized key, checked for `use` (rules 3–13). */
  async version(k: KeyRow, use: KeyUse, version?: number, scope?: OpScope | null): Promise<ObjectRow> {
    const o = await this.keys.findVersion(this.deps.store, k, version);
    if (scope) scope.target.version = o.version;
    this.check(k, o, use, `version ${o.version} of '${k.name}'`);
    return o;
  }

  /**
   * REST verify: version `version` of an authorized key pair, checked on its public half (whose usage mask and state
   * decide, as for KMIP Signature Verify naming the public key); the primary object when there is no public half.
   */
  async publicVersion(k: KeyRow, use: KeyUse, version?: number, scope?: OpScope | null): Promise<ObjectRow> {
    const o = await this.keys.findVersion(this.deps.store, k, version);
    if (scope) scope.target.version = o.version;
    const pub = await this.keys.row<ObjectRow>(
      this.deps.store,
      `SELECT ${OBJECT_COLUMNS} FROM objects WHERE name = $1 AND version = $2 AND object_type = 'PublicKey'`,
      [k.name, o.version],
    );
    const checked = pub ? this.keys.current(pub) : o;
    this.check(k, checked, use, `version ${o.version} of '${k.name}'${pub ? " (public key)" : ""}`);
    return checked;
  }

  /**
   * KMIP: the object `id` for a use by `ctx`, with its unwrapped material (rules 1–13); sets the audit target. An
   * object the caller may not see answers exactly as an unknown Unique Identifier (KMIP Item Not Found).
   */
  async object(
    ctx: AuthCtx,
    op: OpScope,
    id: string,
    how: KeyUse | ((o: ObjectRow) => KeyUse),
  ): Promise<Loaded & { unwrapped: Unwrapped | null }> {
    op.target = { name: id };
    const l = await this.objects.load(undefined, id);
    const use = typeof how === "function" ? how(l.obj) : how;
    op.target = { name: l.key.name, version: l.obj.version };
    op.detail = { ...op.detail, id };
    try {
      this.authorize(ctx.actor, l.key, use);
    } catch (e) {
      if (isStrongroomError(e) && e.truth) throw new StrongroomError("object_not_found", { id: id.slice(0, 128) }, e.truth);
      throw e;
    }
    this.check(l.key, l.obj, use, id);
    return { ...l, unwrapped: l.obj.material ? this.keys.unwrapped(l.obj) : null };
  }

  /**
   * Rule 14: charges one protect use of `bytes` bytes against the version's Usage Limits (if it has any), in the
   * transaction of the operation's audit event, before the key is used: "the server SHALL ensure that the usage
   * limits are not exceeded". The count goes down by the bytes processed (unit byte) or by one (unit object).
   */
  async charge(op: OpScope, o: ObjectRow, bytes: number): Promise<void> {
    // On every protect use: no query and no JSON parse unless the loaded row has usage limits at all (the count itself
    // is read and written in the transaction below).
    if (!o.attributes.includes('"usageLimits"') || !(JSON.parse(o.attributes) as { usageLimits?: UsageLimits }).usageLimits) return;
    await op.commit(this.deps.store, async (tx) => {
      const fresh = await tx.get<{ attributes: string; name: string }>("SELECT attributes, name FROM objects WHERE id = $1", [o.id]);
      const attrs = JSON.parse(fresh?.attributes ?? "{}") as ObjectAttributes & { usageLimits?: UsageLimits };
      const u = attrs.usageLimits;
      if (!u || !fresh) return;
      const need = u.unit === "byte" ? bytes : 1;
      if (u.count < need) fail("usage_limits_exhausted", { id: o.id });
      await this.objects.journal(tx, fresh.name);
      attrs.usageLimits = { ...u, count: u.count - need };
      await tx.run("UPDATE objects SET attributes = $1 WHERE id = $2", [JSON.stringify(attrs), o.id]);
    });
  }

  /** PCI mode: clear-text secret material does not enter either (REST import, KMIP Register/Import). */
  refuseClearImport(objectType: string, how: string): void {
    if (this.pciMode() && SECRET_OBJECTS.has(objectType)) fail("pci_cleartext_refused", { detail: how });
  }

  /** PCI mode: decrypting with a key-wrap mode on request would hand wrapped key material back in clear. */
  refuseClearUnwrap(): void {
    if (this.pciMode()) fail("pci_cleartext_refused", { detail: "key-wrap decryption is refused in PCI mode" });
  }
}
