// Managed objects by KMIP Unique Identifier: create, register, re-key, activate, revoke, destroy, attributes, locate.
import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";
import type { OpScope } from "../audit/operation.js";
import type { ExecutionSummary } from "../auth/governance.js";
import type { AuthCtx } from "../auth/identity.js";
import type { KeyOperation } from "../auth/policy.js";
import type { KeyType } from "../crypto/keygen.js";
import { fail, isStrongroomError, StrongroomError } from "../errors/registry.js";
import type { Row, SqlValue, Tx } from "../store/store.js";
import { type KeyRow, type KeyState, type ObjectRow, type ObjectType, type RevocationReason, stateAtSql } from "./key-model.js";
import { addLink, type KeyService, OBJECT_COLUMNS, type ObjectAttributes, type PreparedVersion } from "./key-service.js";

/** What a KMIP Create / Register / Create Key Pair asks for, after the KMIP layer decoded it. */
export interface ObjectSpec {
  objectType: ObjectType;
  /** Strongroom type: a KeyType, or `secret-data`, `opaque`, `certificate`, `<alg>-<bits>` for other algorithms. */
  type: string;
  usageMask: number;
  /** KMIP Name values; the first one (or the id) names the REST key. */
  names: string[];
  attributes: ObjectAttributes;
  /** KMIP Activation Date: Active at once if it is not in the future, else Pre-Active until then. */
  activationDate?: Date;
  /** KMIP Deactivation Date: Deactivated at once if it is not in the future, else at that time. */
  deactivationDate?: Date;
}

export interface Loaded {
  obj: ObjectRow;
  key: KeyRow;
}

/** Date columns a Locate can range over in SQL (KMIP Initial, Last Change, Deactivation, Compromise, Destroy Date). */
export type LocateDateColumn = "created_at" | "updated_at" | "deactivated_at" | "compromised_at" | "destroyed_at";

/**
 * What a KMIP Locate asks for, after the KMIP layer decoded it. Everything but `residual` is evaluated in SQL, with the
 * caller's visibility, before paging. `residual` is the exact check of what SQL cannot express (attributes kept as
 * TTLV in the attributes JSON); SQL narrows its candidates, and at most `scanMax` of them are checked one by one.
 */
export interface LocateFilter {
  /** KMIP Name values: objects with any of them. */
  names?: string[];
  /** KMIP Unique Identifier values. */
  ids?: string[];
  objectType?: ObjectType;
  /** Effective states (Activation and Deactivation Dates that have come count, like Get). */
  states?: KeyState[];
  /** Storage Status Mask: on-line objects (not destroyed) and/or destroyed objects' metadata. */
  online: boolean;
  destroyed: boolean;
  /** Cryptographic Usage Mask values: every bit of each must be set. */
  usageMasks?: number[];
  /** `column` in [from, to) (ISO times), each. */
  dates?: { column: LocateDateColumn; from: string; to: string }[];
  /**
   * Narrowing for the residual check, each a SQL LIKE pattern on the Strongroom type OR an attribute name the object's
   * client set (kept in the attributes JSON); a superset of the matches, never a decision.
   */
  narrow?: { typeLike: string; stored: string }[];
  /** The exact check of the rest. */
  residual?: (o: ObjectRow) => boolean;
  offset: number;
  max: number;
  /** limits.kmipLocateScanMax: candidates `residual` may be asked about in one Locate. */
  scanMax: number;
}
const ACTIVE_STATES: KeyState[] = ["Active", "Pre-Active"];

/** The rows of one key as they were before a batch changed them (null: the key did not exist). */
type KeySnapshot = { key: Row; objects: Row[]; names: Row[] } | null;

/**
 * Prior images of every key an undoable run (a KMIP batch with Batch Error Continuation Option Undo) changed, in
 * the order it first changed them. `undo` puts them back.
 */
export class UndoJournal {
  readonly keys = new Map<string, KeySnapshot>();
}

const undoScope = new AsyncLocalStorage<UndoJournal>();

export class ObjectService {
  constructor(private readonly keys: KeyService) {}

  private get deps() {
    return this.keys.deps;
  }

  private now(): string {
    return this.deps.clock().toISOString();
  }

  async load(db: Tx | undefined, id: string): Promise<Loaded> {
    const q = db ?? this.deps.store;
    const sql = `SELECT ${OBJECT_COLUMNS} FROM objects WHERE id = $1`;
    const obj = await this.keys.row<ObjectRow>(q, sql, [id]);
    if (!obj) return fail("object_not_found", { id: id.slice(0, 128) });
    const key = await this.keys.findKey(q, obj.name);
    return { obj: this.keys.current(obj), key };
  }

  /** Loads the object and checks the caller's right to `op` on its key; sets the audit target. */
  async authorized(ctx: AuthCtx, op: OpScope, id: string, action: KeyOperation, db?: Tx): Promise<Loaded> {
    op.target = { name: id };
    const l = await this.load(db, id);
    op.target = { name: l.key.name, version: l.obj.version };
    op.detail = { ...op.detail, id };
    try {
      this.keys.authorize(ctx.actor, action, l.key);
    } catch (e) {
      // An object the caller may not see answers exactly as an unknown Unique Identifier (KMIP Item Not Found).
      if (isStrongroomError(e) && e.truth) throw new StrongroomError("object_not_found", { id: id.slice(0, 128) }, e.truth);
      throw e;
    }
    return l;
  }

  attributesOf(o: ObjectRow): ObjectAttributes {
    return JSON.parse(o.attributes) as ObjectAttributes;
  }

  async namesOf(id: string, db?: Tx): Promise<string[]> {
    const rows = await (db ?? this.deps.store).all<{ name: string }>("SELECT name FROM object_names WHERE object_id = $1 ORDER BY name", [
      id,
    ]);
    return rows.map((r) => r.name);
  }

  /** Runs `fn` recording the prior image of every key it changes, so that `undo` can revert all of it. */
  undoable<T>(journal: UndoJournal, fn: () => Promise<T>): Promise<T> {
    return undoScope.run(journal, fn);
  }

  /** Called inside a change's transaction before it writes to key `name`: keeps the key's rows once per journal. */
  async journal(tx: Tx, name: string): Promise<void> {
    const j = undoScope.getStore();
    if (!j || j.keys.has(name)) return;
    const key = await tx.get<Row>("SELECT * FROM keys WHERE name = $1", [name]);
    if (!key) {
      j.keys.set(name, null);
      return;
    }
    const objects = await tx.all<Row>("SELECT * FROM objects WHERE name = $1", [name]);
    const names = await tx.all<Row>("SELECT n.* FROM object_names n JOIN objects o ON o.id = n.object_id WHERE o.name = $1", [name]);
    j.keys.set(name, { key, objects, names });
  }

  /**
   * Reverts everything recorded in `journal` in one transaction (with its audit event): keys created are removed,
   * keys changed get their rows back — including wrapped material a Destroy in the batch had erased. A change another
   * client made to one of those keys while the batch ran is reverted with it (batches run in milliseconds).
   */
  async undo(op: OpScope, journal: UndoJournal): Promise<void> {
    const insert = async (tx: Tx, table: string, row: Row) => {
      const cols = Object.keys(row);
      await tx.run(
        `INSERT INTO ${table} (${cols.join(", ")}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(", ")})`,
        cols.map((c) => row[c] as SqlValue),
      );
    };
    const touched: string[] = [];
    op.detail = { ...op.detail, keys: [...journal.keys.keys()] };
    await op.commit(this.deps.store, async (tx) => {
      for (const [name, snap] of [...journal.keys.entries()].reverse()) {
        for (const r of await tx.all<{ id: string }>("SELECT id FROM objects WHERE name = $1", [name])) touched.push(r.id);
        await tx.run("DELETE FROM object_names WHERE object_id IN (SELECT id FROM objects WHERE name = $1)", [name]);
        await tx.run("DELETE FROM objects WHERE name = $1", [name]);
        await tx.run("DELETE FROM keys WHERE name = $1", [name]);
        await tx.run("DELETE FROM key_readers WHERE name = $1", [name]);
        if (!snap) continue;
        await insert(tx, "keys", snap.key);
        await this.keys.setReaders(tx, name, String(snap.key.owner), String(snap.key.policy), true);
        for (const o of snap.objects) await insert(tx, "objects", o);
        for (const n of snap.names) await insert(tx, "object_names", n);
      }
    });
    for (const id of touched) this.keys.cache.delete(id);
  }

  private requireCreator(ctx: AuthCtx): void {
    if (ctx.actor.role !== "admin" && ctx.actor.role !== "client")
      fail("forbidden", { detail: `role ${ctx.actor.role} may not create objects` });
  }

  private stateFor(spec: ObjectSpec): { state: "Active" | "Pre-Active"; activatedAt: string | null } {
    // KMIP: a new object is Pre-Active unless its Activation Date is now or in the past.
    if (spec.activationDate && spec.activationDate.getTime() <= this.deps.clock().getTime()) {
      return { state: "Active", activatedAt: spec.activationDate.toISOString() };
    }
    return { state: "Pre-Active", activatedAt: null };
  }

  /** A new key (version 1) holding `p`; its REST name is the first KMIP Name, else the object id. */
  private async insertNewKey(
    tx: Tx,
    ctx: AuthCtx,
    spec: ObjectSpec,
    p: PreparedVersion,
    pub?: { spec: ObjectSpec; id: string },
  ): Promise<void> {
    const keyName = spec.names[0] ?? p.id;
    await this.journal(tx, keyName);
    for (const n of [...spec.names, ...(pub?.spec.names ?? [])]) {
      if (await tx.get("SELECT name FROM object_names WHERE name = $1", [n])) fail("key_exists", { name: n });
    }
    if (await tx.get("SELECT name FROM keys WHERE name = $1", [keyName])) fail("key_exists", { name: keyName });
    const now = this.now();
    const { state, activatedAt } = this.stateFor(spec);
    await tx.run(
      `INSERT INTO keys (name, type, owner, description, current_version, rotation, policy, exportable, created_at, updated_at, next_rotation_at, deletion_at, destroyed_at)
       VALUES ($1, $2, $3, '', 1, $4, $5, 1, $6, $6, NULL, NULL, NULL)`,
      [
        keyName,
        spec.type,
        ctx.actor.cn,
        JSON.stringify({ mode: "manual" }),
        JSON.stringify({ users: [], groups: [], operations: [] }),
        now,
      ],
    );
    await this.keys.setReaders(tx, keyName, ctx.actor.cn, JSON.stringify({ users: [], groups: [] }), true);
    await this.keys.insertVersion(tx, keyName, spec.type as KeyType, 1, p, now, {
      state,
      activatedAt,
      objectType: spec.objectType,
      usageMask: spec.usageMask,
      attributes: spec.attributes,
      withPublic: Boolean(pub),
      publicId: pub?.id,
      publicUsageMask: pub?.spec.usageMask,
      publicAttributes: pub?.spec.attributes,
    });
    await this.keys.assignNames(tx, p.id, spec.names);
    if (pub) await this.keys.assignNames(tx, pub.id, pub.spec.names);
    await this.schedule(tx, p.id, spec, now);
    if (pub) await this.schedule(tx, pub.id, pub.spec, now);
  }

  /** Records a new object's future Activation Date and its Deactivation Date (the scheduler carries them out). */
  private async schedule(tx: Tx, id: string, spec: ObjectSpec, now: string): Promise<void> {
    if (spec.activationDate && spec.activationDate.toISOString() > now) {
      await tx.run("UPDATE objects SET activated_at = $1 WHERE id = $2 AND state = 'Pre-Active'", [spec.activationDate.toISOString(), id]);
    }
    if (spec.deactivationDate) {
      await tx.run("UPDATE objects SET deactivated_at = $1, state = CASE WHEN $1 <= $2 THEN 'Deactivated' ELSE state END WHERE id = $3", [
        spec.deactivationDate.toISOString(),
        now,
        id,
      ]);
    }
  }

  /** KMIP Create: generates a symmetric key. */
  async create(ctx: AuthCtx, op: OpScope, spec: ObjectSpec): Promise<string> {
    this.requireCreator(ctx);
    const p = await this.keys.prepareVersion(spec.type as KeyType);
    op.target = { name: spec.names[0] ?? p.id, version: 1 };
    op.detail = { ...op.detail, id: p.id, type: spec.type };
    await op.commit(this.deps.store, (tx) => this.insertNewKey(tx, ctx, spec, p));
    return p.id;
  }

  /** KMIP Create Key Pair: one key whose version 1 is the private key, with its public key as a linked object. */
  async createKeyPair(ctx: AuthCtx, op: OpScope, priv: ObjectSpec, pub: ObjectSpec): Promise<{ privateId: string; publicId: string }> {
    this.requireCreator(ctx);
    const p = await this.keys.prepareVersion(priv.type as KeyType);
    const publicId = randomUUID();
    op.target = { name: priv.names[0] ?? p.id, version: 1 };
    op.detail = { ...op.detail, id: p.id, publicId, type: priv.type };
    await op.commit(this.deps.store, (tx) => this.insertNewKey(tx, ctx, priv, p, { spec: pub, id: publicId }));
    return { privateId: p.id, publicId };
  }

  /** KMIP Register: stores client-supplied material (secret parts wrapped under the KEK). */
  async register(
    ctx: AuthCtx,
    op: OpScope,
    spec: ObjectSpec,
    secret: Buffer | null,
    publicKey: Buffer | null,
    importId?: string,
  ): Promise<string> {
    this.requireCreator(ctx);
    // Dual control: an admin bringing key material in alone is what the protected REST import exists
    // to prevent; over KMIP (which cannot wait for an approval with clear material) it is refused.
    if (ctx.actor.role === "admin" && !ctx.approval && this.keys.deps.governance?.current().dualControl) {
      fail("forbidden", {
        detail: "under dual control an admin imports key material only with POST /v1/keys/import (approved by a second admin)",
      });
    }
    const p = this.keys.prepareMaterial(secret, publicKey, importId);
    op.target = { name: spec.names[0] ?? p.id, version: 1 };
    op.detail = { ...op.detail, id: p.id, type: spec.type, objectType: spec.objectType, origin: importId ? "imported" : "registered" };
    await op.commit(this.deps.store, async (tx) => {
      // KMIP Import names the Unique Identifier; it must not be in use (replacing is not supported).
      if (importId && (await tx.get("SELECT id FROM objects WHERE id = $1", [importId]))) fail("object_exists", { id: importId });
      await this.insertNewKey(tx, ctx, { ...spec, attributes: { ...spec.attributes, registered: true } }, p);
    });
    return p.id;
  }

  /**
   * KMIP Re-key / Re-key Key Pair: a replacement object (the key's next version) with the same
   * attributes, fresh material, the Names moved to it and Replaced/Replacement links.
   */
  async rekey(ctx: AuthCtx, op: OpScope, id: string, offsetSeconds?: number): Promise<{ id: string; publicId: string | null }> {
    const { obj, key } = await this.authorized(ctx, op, id, "rotate");
    if (obj.is_primary !== 1) fail("invalid_state", { detail: "re-key applies to a key, not to the public half of a pair" });
    if (obj.state === "Destroyed" || obj.state === "Destroyed Compromised") fail("invalid_state", { detail: `object ${id} is destroyed` });
    // The key's rotation policy binds KMIP as it binds REST.
    if ((JSON.parse(key.rotation) as { mode: string }).mode === "none") fail("rotation_disabled", { name: key.name });
    const p = await this.keys.prepareVersion(key.type);
    const attrs = this.attributesOf(obj);
    const carried: ObjectAttributes = {
      ...attrs,
      links: (attrs.links ?? []).filter((l) => l.type !== "Public Key Link" && !l.type.startsWith("Replace")),
    };
    let pubAttrs: ObjectAttributes | undefined;
    let pubUsage: number | undefined;
    const pubLink = attrs.links?.find((l) => l.type === "Public Key Link");
    if (pubLink) {
      const pubRow = await this.deps.store.get<ObjectRow>(`SELECT ${OBJECT_COLUMNS} FROM objects WHERE id = $1`, [pubLink.id]);
      if (pubRow) {
        const pa = this.attributesOf(pubRow);
        pubAttrs = { ...pa, links: (pa.links ?? []).filter((l) => l.type !== "Private Key Link" && !l.type.startsWith("Replace")) };
        pubUsage = pubRow.usage_mask;
      }
    }
    // KMIP: the replacement's Activation Date is the original's plus the Offset (now if no date).
    let state: "Active" | "Pre-Active" = "Pre-Active";
    let activatedAt: string | null = null;
    if (offsetSeconds !== undefined || obj.activated_at) {
      const base = obj.activated_at ? Date.parse(obj.activated_at) : this.deps.clock().getTime();
      const at = new Date(base + (offsetSeconds ?? 0) * 1000);
      if (at.getTime() <= this.deps.clock().getTime()) {
        state = "Active";
        activatedAt = at.toISOString();
      }
    }
    const publicId = pubLink ? randomUUID() : null;
    op.detail = { ...op.detail, replacement: p.id };
    await op.commit(this.deps.store, async (tx) => {
      await this.journal(tx, key.name);
      const fresh = await this.keys.findKey(tx, key.name);
      await this.keys.rotateIn(tx, fresh, p, this.now(), {
        state,
        activatedAt,
        objectType: obj.object_type,
        usageMask: obj.usage_mask,
        attributes: carried,
        withPublic: Boolean(publicId),
        publicId: publicId ?? undefined,
        publicUsageMask: pubUsage,
        publicAttributes: pubAttrs,
      });
      if (pubLink && publicId) {
        const names = await tx.all<{ name: string }>("SELECT name FROM object_names WHERE object_id = $1", [pubLink.id]);
        await this.keys.assignNames(
          tx,
          publicId,
          names.map((n) => n.name),
        );
        await addLink(tx, pubLink.id, "Replacement Object Link", publicId);
        await addLink(tx, publicId, "Replaced Object Link", pubLink.id);
      }
    });
    return { id: p.id, publicId };
  }

  /** KMIP Activate: only a Pre-Active object. */
  async activate(ctx: AuthCtx, op: OpScope, id: string): Promise<void> {
    await op.commit(this.deps.store, async (tx) => {
      const { obj, key } = await this.authorized(ctx, op, id, "update", tx);
      await this.journal(tx, key.name);
      if (obj.state !== "Pre-Active") fail("invalid_state", { detail: `object ${id} is ${obj.state}, not Pre-Active` });
      const now = this.now();
      await tx.run("UPDATE objects SET state = 'Active', activated_at = $1, updated_at = $1 WHERE id = $2", [now, id]);
    });
  }

  /** The execution summary of a KMIP Destroy or Revoke: the object, its key and version, and the revocation's reason. */
  async describe(args: { id: string; reason?: RevocationReason; compromiseDate?: string }): Promise<ExecutionSummary> {
    const { obj, key } = await this.load(undefined, args.id);
    return {
      object: obj.id,
      objectType: obj.object_type,
      key: key.name,
      version: obj.version,
      state: obj.state,
      ...(args.reason !== undefined ? { reason: args.reason } : {}),
      ...(args.compromiseDate !== undefined ? { compromiseDate: args.compromiseDate } : {}),
    };
  }

  /** KMIP Revoke: compromise reasons → Compromised (from any live state), others → Deactivated. */
  async revoke(ctx: AuthCtx, op: OpScope, id: string, reason: RevocationReason, compromiseDate?: Date): Promise<void> {
    const l = await this.authorized(ctx, op, id, "revoke");
    return this.keys.protect(ctx, "kmip.revoke", { id, reason, compromiseDate: compromiseDate?.toISOString() }, l.key.name, () =>
      this.doRevoke(ctx, op, id, reason, compromiseDate),
    );
  }

  private async doRevoke(ctx: AuthCtx, op: OpScope, id: string, reason: RevocationReason, compromiseDate?: Date): Promise<void> {
    op.detail = { ...op.detail, reason };
    await op.commit(this.deps.store, async (tx) => {
      const { obj, key } = await this.authorized(ctx, op, id, "revoke", tx);
      await this.journal(tx, key.name);
      const now = this.now();
      if (obj.state === "Destroyed" || obj.state === "Destroyed Compromised")
        fail("invalid_state", { detail: `object ${id} is destroyed` });
      if (reason === "key-compromise" || reason === "ca-compromise") {
        // Compromise Date is when the server learnt of it; the client's Compromise Occurrence Date is kept beside it.
        const attrs = compromiseDate
          ? JSON.stringify({ ...this.attributesOf(obj), compromiseOccurrence: compromiseDate.toISOString() })
          : obj.attributes;
        await tx.run(
          `UPDATE objects SET state = 'Compromised', compromised_at = $1, revocation_reason = $2, attributes = $3,
                  deactivated_at = CASE WHEN deactivated_at IS NULL OR deactivated_at > $1 THEN $1 ELSE deactivated_at END, updated_at = $1
            WHERE id = $4`,
          [now, reason, attrs, id],
        );
        return;
      }
      if (obj.state === "Deactivated" || obj.state === "Compromised")
        fail("invalid_state", { detail: `object ${id} is already ${obj.state}` });
      await tx.run("UPDATE objects SET state = 'Deactivated', deactivated_at = $1, revocation_reason = $2, updated_at = $1 WHERE id = $3", [
        now,
        reason,
        id,
      ]);
    });
  }

  /**
   * KMIP Destroy: "an object SHALL only be destroyed if it is in the Pre-Active or Deactivated
   * state" — or Compromised (→ Destroyed Compromised). The material is erased, the metadata kept.
   */
  async destroy(ctx: AuthCtx, op: OpScope, id: string, keep?: (obj: ObjectRow) => ObjectAttributes): Promise<void> {
    const l = await this.authorized(ctx, op, id, "delete");
    return this.keys.protect(ctx, "kmip.destroy", { id }, l.key.name, () => this.doDestroy(ctx, op, id, keep));
  }

  private async doDestroy(ctx: AuthCtx, op: OpScope, id: string, keep?: (obj: ObjectRow) => ObjectAttributes): Promise<void> {
    await op.commit(this.deps.store, async (tx) => {
      const { obj, key } = await this.authorized(ctx, op, id, "delete", tx);
      await this.journal(tx, key.name);
      if (!["Pre-Active", "Deactivated", "Compromised"].includes(obj.state)) {
        fail("invalid_state", {
          detail: `object ${id} is ${obj.state}; only Pre-Active, Deactivated or Compromised objects can be destroyed`,
        });
      }
      const now = this.now();
      const state = obj.state === "Compromised" ? "Destroyed Compromised" : "Destroyed";
      // Metadata the caller wants to outlive the material (the KMIP Digest) is kept with the attributes.
      const attributes = keep ? JSON.stringify({ ...this.attributesOf(obj), ...keep(obj) }) : obj.attributes;
      await tx.run("UPDATE objects SET state = $1, material = NULL, attributes = $2, destroyed_at = $3, updated_at = $3 WHERE id = $4", [
        state,
        attributes,
        now,
        id,
      ]);
      // The key is destroyed when no live object remains.
      const live = await tx.get("SELECT id FROM objects WHERE name = $1 AND state NOT IN ('Destroyed', 'Destroyed Compromised')", [
        key.name,
      ]);
      if (!live)
        await tx.run("UPDATE keys SET destroyed_at = $1, next_rotation_at = NULL, updated_at = $1 WHERE name = $2", [now, key.name]);
    });
    this.keys.cache.delete(id);
  }

  /**
   * Changes attributes in one transaction: `mutate` gets the stored JSON attributes and the row
   * and returns column changes (names, usage mask, dates) to apply alongside.
   */
  async updateAttributes(
    ctx: AuthCtx,
    op: OpScope,
    id: string,
    mutate: (
      attrs: ObjectAttributes,
      l: Loaded,
      names: string[],
    ) => { names?: string[]; usageMask?: number; activatedAt?: string; deactivatedAt?: string } | undefined,
  ): Promise<void> {
    await op.commit(this.deps.store, async (tx) => {
      const l = await this.authorized(ctx, op, id, "update", tx);
      await this.journal(tx, l.key.name);
      const attrs = this.attributesOf(l.obj);
      const names = await this.namesOf(id, tx);
      const change = mutate(attrs, l, names) ?? {};
      const now = this.now();
      await tx.run("UPDATE objects SET attributes = $1, updated_at = $2 WHERE id = $3", [JSON.stringify(attrs), now, id]);
      if (change.usageMask !== undefined) await tx.run("UPDATE objects SET usage_mask = $1 WHERE id = $2", [change.usageMask, id]);
      if (change.activatedAt) {
        // An Activation Date not in the future activates a Pre-Active object; a future one is carried out by the scheduler.
        await tx.run(
          "UPDATE objects SET activated_at = $1, state = CASE WHEN $1 <= $2 THEN 'Active' ELSE state END WHERE id = $3 AND state = 'Pre-Active'",
          [change.activatedAt, now, id],
        );
      }
      if (change.deactivatedAt) {
        // Likewise a Deactivation Date: Deactivated at once when it has come, else at that time by the scheduler.
        await tx.run(
          `UPDATE objects SET deactivated_at = $1, state = CASE WHEN $1 <= $2 THEN 'Deactivated' ELSE state END
            WHERE id = $3 AND state IN ('Pre-Active', 'Active')`,
          [change.deactivatedAt, now, id],
        );
      }
      if (change.names) {
        for (const n of change.names.filter((x) => !names.includes(x))) {
          if (await tx.get("SELECT name FROM object_names WHERE name = $1", [n])) fail("key_exists", { name: n });
        }
        await tx.run("DELETE FROM object_names WHERE object_id = $1", [id]);
        await this.keys.assignNames(tx, id, change.names);
      }
    });
  }

  /**
   * Records that an object's value was served to a client (KMIP Fresh becomes false), in the same transaction as
   * the audit event of the Get that served it.
   */
  async markServed(op: OpScope, id: string): Promise<void> {
    await op.commit(this.deps.store, async (tx) => {
      const row = await tx.get<{ attributes: string; name: string }>("SELECT attributes, name FROM objects WHERE id = $1", [id]);
      if (!row) return;
      const attrs = JSON.parse(row.attributes) as ObjectAttributes;
      if (attrs.served) return;
      await this.journal(tx, row.name);
      await tx.run("UPDATE objects SET attributes = $1 WHERE id = $2", [JSON.stringify({ ...attrs, served: true }), id]);
    });
  }

  /**
   * KMIP Locate: ids of objects matching every criterion of `f` that the caller may see, newest first, after
   * `offset` and at most `max` of them; `total` counts every match (KMIP Located Items). Exact at any number of
   * objects: filters and visibility run in SQL, on indexes where the criterion is selective (names, ids, object type,
   * dates; visibility is a key_readers primary-key probe), and paging is the SQL's own LIMIT/OFFSET. A `residual` check
   * (attributes SQL cannot read) runs over the SQL candidates, all of them — at most `f.scanMax`, else the Locate is
   * refused (locate_too_broad) rather than cut.
   */
  async locate(ctx: AuthCtx, f: LocateFilter): Promise<{ ids: string[]; total: number }> {
    if (!f.online && !f.destroyed) return { ids: [], total: 0 };
    const where: string[] = [];
    const params: SqlValue[] = [];
    const list = (xs: SqlValue[]) => xs.map((x) => `$${params.push(x)}`).join(", ");
    const visible = this.keys.visibleSql(ctx.actor, "o.name", params);
    if (visible) where.push(visible);
    if (f.names?.length) where.push(`o.id IN (SELECT object_id FROM object_names WHERE name IN (${list(f.names)}))`);
    if (f.ids?.length) where.push(`o.id IN (${list(f.ids)})`);
    if (f.objectType) where.push(`o.object_type = $${params.push(f.objectType)}`);
    if (f.states?.length) where.push(`${stateAtSql("o", `$${params.push(this.now())}`)} IN (${list(f.states)})`);
    // Destroyed objects are in "destroyed storage", everything else on-line (nothing is archived here).
    if (!(f.online && f.destroyed)) where.push(`o.state ${f.online ? "NOT IN" : "IN"} ('Destroyed', 'Destroyed Compromised')`);
    for (const m of f.usageMasks ?? []) {
      // Opaque objects and certificates have no Cryptographic Usage Mask: only an empty mask matches them.
      where.push(`(o.usage_mask & $${params.push(m)}) = $${params.length}`);
      if (m !== 0) where.push("o.object_type NOT IN ('OpaqueObject', 'Certificate')");
    }
    for (const d of f.dates ?? []) where.push(`o.${d.column} >= $${params.push(d.from)} AND o.${d.column} < $${params.push(d.to)}`);
    for (const n of f.narrow ?? []) {
      where.push(`(o.type LIKE $${params.push(n.typeLike)} OR o.attributes LIKE $${params.push(`%${JSON.stringify(n.stored)}%`)})`);
    }
    const from = `FROM objects o ${where.length ? `WHERE ${where.join(" AND ")}` : ""}`;
    // Newest first; objects_created (migration 6) serves this order.
    const order = "ORDER BY o.created_at DESC, o.id";
    const count = async () => Number((await this.deps.store.get<{ n: number | string }>(`SELECT COUNT(*) AS n ${from}`, params))?.n ?? 0);
    if (!f.residual) {
      const page = await this.deps.store.all<{ id: string }>(
        `SELECT o.id ${from} ${order} LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
        [...params, f.max, f.offset],
      );
      // A page that is not full ends the matches: Located Items follows from it without counting (Locate by name).
      const ids = page.map((r) => r.id);
      return { ids, total: ids.length > 0 && ids.length < f.max ? f.offset + ids.length : await count() };
    }
    const candidates = await count();
    if (candidates > f.scanMax) fail("locate_too_broad", { limit: f.scanMax });
    const rows = await this.deps.store.all<ObjectRow>(
      // Everything but the wrapped material: the check never needs it, and it is the bulk of a row.
      `SELECT ${OBJECT_COLUMNS.split(", ")
        .map((c) => (c === "material" ? "NULL AS material" : `o.${c}`))
        .join(", ")} ${from} ${order} LIMIT $${params.length + 1}`,
      [...params, f.scanMax],
    );
    const ids: string[] = [];
    let total = 0;
    for (const [i, r] of rows.entries()) {
      // The check parses each candidate's attributes: other requests get their turn every few hundred.
      if (i > 0 && i % 256 === 0) await new Promise((res) => setImmediate(res));
      if (!f.residual(this.keys.current(r))) continue;
      if (total >= f.offset && ids.length < f.max) ids.push(r.id);
      total++;
    }
    return { ids, total };
  }
}

export { ACTIVE_STATES };
