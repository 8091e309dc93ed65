// Key lifecycle: create, list, show, update, rotate, revoke, scheduled destruction, rollover — each audited.
import { randomUUID } from "node:crypto";
import type { AuditLog } from "../audit/audit-log.js";
import { audited, type Ctx } from "../audit/operation.js";
import type { ExecutionSummary, GovernanceService, ProtectedAction } from "../auth/governance.js";
import { type AuthCtx, type Identity, SYSTEM_ACTOR } from "../auth/identity.js";
import {
  authorizeKey,
  callerPrincipals,
  type DefaultPolicy,
  type KeyOperation,
  type KeyPolicy,
  keyReaders,
  mayRead,
} from "../auth/policy.js";
import { generateKey, type KeyType, keyFamily, privateKeyFromDer } from "../crypto/keygen.js";
import { Lru } from "../crypto/lru.js";
import { fail, StrongroomError } from "../errors/registry.js";
import type { Barrier } from "../seal/barrier.js";
import type { SqlValue, Store, Tx } from "../store/store.js";
import {
  type KeyRow,
  type KeyState,
  type KeyView,
  keyView,
  type ObjectRow,
  type ObjectType,
  type RevocationReason,
  type Rotation,
  stateAt,
  stateAtSql,
} from "./key-model.js";
import { nextRollover } from "./rollover.js";
import { defaultUsage } from "./usage.js";

/** Appends a KMIP Link attribute ({type, id}) to an object's attributes. */
export async function addLink(tx: Tx, objectId: string, type: string, target: string): Promise<void> {
  const row = await tx.get<{ attributes: string }>("SELECT attributes FROM objects WHERE id = $1", [objectId]);
  const attrs = JSON.parse(row?.attributes ?? "{}") as { links?: { type: string; id: string }[] };
  attrs.links = [...(attrs.links ?? []), { type, id: target }];
  await tx.run("UPDATE objects SET attributes = $1 WHERE id = $2", [JSON.stringify(attrs), objectId]);
}

export interface KeyServiceDeps {
  store: Store;
  barrier: Barrier;
  audit: AuditLog;
  clock: () => Date;
  defaultPolicy: DefaultPolicy;
  timeZone: string;
  /** How many unwrapped versions to keep in memory (LRU; evicted material is zeroed). */
  cacheSize?: number;
  /** Dual control for protected operations (absent: everything runs directly). */
  governance?: GovernanceService;
  /** limits.maxResponseBytes: the bound on a REST batch reply (CryptoService.batch). */
  maxResponseBytes?: number;
}

export interface CreateKeyRequest {
  name: string;
  type: KeyType;
  rotation?: Rotation;
  policy?: Partial<KeyPolicy>;
  description?: string;
  exportable?: boolean;
}

export interface UpdateKeyRequest {
  rotation?: Rotation;
  policy?: Partial<KeyPolicy>;
  description?: string;
  exportable?: boolean;
}

export interface ListKeysRequest {
  prefix?: string;
  state?: KeyState;
  type?: KeyType;
  cursor?: string;
  limit?: number;
}

export interface KeySummary {
  name: string;
  type: KeyType;
  state: KeyState;
  currentVersion: number;
  owner: string;
  createdAt: string;
  deletionScheduledAt: string | null;
}

export interface PreparedVersion {
  id: string;
  kekId: number | null;
  blob: Buffer | null;
  publicKey: Buffer | null;
}

export interface ObjectLink {
  type: string;
  id: string;
}

/** KMIP attributes kept as JSON: links, and the typed values the KMIP layer stores (custom x- attributes …). */
export interface ObjectAttributes {
  links?: ObjectLink[];
  [name: string]: unknown;
}

export interface VersionOptions {
  state?: "Active" | "Pre-Active";
  activatedAt?: string | null;
  objectType?: ObjectType;
  usageMask?: number;
  publicUsageMask?: number;
  attributes?: ObjectAttributes;
  publicAttributes?: ObjectAttributes;
  /** Whether to add a public-key object (default: for RSA and EC). */
  withPublic?: boolean;
  publicId?: string;
}

/** Unwrapped material of one version, kept in the LRU. */
export interface Unwrapped {
  secret: Buffer;
  privateKey?: ReturnType<typeof privateKeyFromDer>;
}

const KEY_COLUMNS =
  "name, type, owner, description, current_version, rotation, policy, exportable, created_at, updated_at, next_rotation_at, deletion_at, destroyed_at";
export const OBJECT_COLUMNS =
  "id, name, version, object_type, is_primary, type, state, usage_mask, attributes, material, public_key, kek_id, created_at, updated_at, activated_at, deactivated_at, compromised_at, destroyed_at, revocation_reason";

/**
 * The scheduler's queries (every minute and at unseal): ranges over the partial indexes keys_next_rotation and
 * keys_deletion (migration 3), so that their cost follows the keys that are due, not the keys there are.
 */
export const ROLLOVER_DUE =
  "SELECT name FROM keys WHERE next_rotation_at IS NOT NULL AND next_rotation_at <= $1 AND destroyed_at IS NULL AND deletion_at IS NULL ORDER BY next_rotation_at LIMIT 1000";
export const DESTROY_DUE = "SELECT name FROM keys WHERE deletion_at IS NOT NULL AND deletion_at <= $1 AND destroyed_at IS NULL LIMIT 1000";
/** Objects whose KMIP Deactivation Date has come (partial index objects_deactivation_due, migration 5). */
export const DEACTIVATION_DUE =
  "SELECT id, name, version FROM objects WHERE state IN ('Pre-Active', 'Active') AND deactivated_at IS NOT NULL AND deactivated_at <= $1 ORDER BY deactivated_at LIMIT 1000";
/** Pre-Active objects whose KMIP Activation Date has come (partial index objects_activation_due, migration 5). */
export const ACTIVATION_DUE =
  "SELECT id, name, version FROM objects WHERE state = 'Pre-Active' AND activated_at IS NOT NULL AND activated_at <= $1 ORDER BY activated_at LIMIT 1000";

/** Keys per `createMany` call. */
export const CREATE_MANY_MAX = 1000;

/**
 * `exportable: false` is one-way, like KMIP Extractable: turning it back on is refused to everyone (owner or admin,
 * with or without dual control) — otherwise one person could undo a protection and then read the material.
 */
function refuseReExport(name: string, req: UpdateKeyRequest, k: KeyRow): void {
  if (req.exportable === true && k.exportable !== 1) fail("exportable_one_way", { name });
}

const normPolicy = (p: Partial<KeyPolicy> | undefined): KeyPolicy => ({
  users: [...new Set(p?.users ?? [])],
  groups: [...new Set(p?.groups ?? [])],
  operations: [...new Set(p?.operations ?? [])],
});

export class KeyService {
  readonly cache: Lru<string, Unwrapped>;

  constructor(readonly deps: KeyServiceDeps) {
    this.cache = new Lru<string, Unwrapped>(deps.cacheSize ?? 10000, (u) => u.secret.fill(0));
    deps.barrier.onUnseal(async () => this.cache.clear());
  }

  private now(): string {
    return this.deps.clock().toISOString();
  }

  private nextRotationAt(rotation: Rotation, created: string): string | null {
    if (rotation.mode !== "auto" || !rotation.periodDays) return null;
    return nextRollover(new Date(created), rotation.periodDays, this.deps.timeZone).toISOString();
  }

  // ---- reads shared with the crypto service ----

  /** One row: from the store's row cache when read outside a transaction, else through the transaction. */
  row<T>(db: Store | Tx, sql: string, params: SqlValue[]): Promise<T | undefined> {
    return db === this.deps.store ? this.deps.store.cachedGet<T>(sql, params) : db.get<T>(sql, params);
  }

  async findKey(db: Store | Tx, name: string): Promise<KeyRow> {
    const sql = `SELECT ${KEY_COLUMNS} FROM keys WHERE name = $1`;
    const k = await this.row<KeyRow>(db, sql, [name]);
    if (!k) return fail("key_not_found", { name });
    return k;
  }

  async findVersions(db: Store | Tx, name: string): Promise<ObjectRow[]> {
    const rows = await db.all<ObjectRow>(`SELECT ${OBJECT_COLUMNS} FROM objects WHERE name = $1 AND is_primary = 1 ORDER BY version`, [
      name,
    ]);
    return rows.map((o) => this.current(o));
  }

  /** A loaded row (a copy) with the state it is in now: Activation and Deactivation Dates that have come count. */
  current(o: ObjectRow): ObjectRow {
    o.state = stateAt(o, this.now());
    return o;
  }

  async findVersion(db: Store | Tx, key: KeyRow, version?: number): Promise<ObjectRow> {
    const v = version ?? key.current_version;
    const sql = `SELECT ${OBJECT_COLUMNS} FROM objects WHERE name = $1 AND version = $2 AND is_primary = 1`;
    const o = await this.row<ObjectRow>(db, sql, [key.name, v]);
    if (!o) return fail("version_not_found", { name: key.name, version: v });
    return this.current(o);
  }

  /**
   * Decides whether `id` may do `op` on `key`, or throws. A caller that may not even read the key is told it does not
   * exist — the same answer as for a name nobody has used, so that refusals are no existence oracle; the audit event
   * records the real refusal (StrongroomError.truth). A caller that may read the key is told it is forbidden.
   */
  authorize(id: Identity, op: KeyOperation, key: KeyRow): void {
    const subject = { name: key.name, owner: key.owner, policy: JSON.parse(key.policy) as KeyPolicy };
    try {
      authorizeKey(id, op, subject, this.deps.defaultPolicy);
    } catch (e) {
      if (op !== "read" && mayRead(id, subject, this.deps.defaultPolicy)) throw e;
      throw new StrongroomError("key_not_found", { name: key.name }, e as StrongroomError);
    }
  }

  /**
   * Writes key `name`'s key_readers rows (who may see it, migration 6) from its owner and policy, in the transaction
   * that writes them: every write of keys.owner or keys.policy calls this. `fresh`: a new key, nothing to replace.
   */
  async setReaders(tx: Tx, name: string, owner: string, policy: string, fresh = false): Promise<void> {
    if (!fresh) await tx.run("DELETE FROM key_readers WHERE name = $1", [name]);
    for (const p of keyReaders(owner, JSON.parse(policy) as Partial<KeyPolicy>)) {
      await tx.run("INSERT INTO key_readers (principal, name) VALUES ($1, $2)", [p, name]);
    }
  }

  /**
   * The caller's principals for a visibility filter in SQL (see callerPrincipals): null when it sees every key. The
   * same rule as `authorize(id, "read", …)`, which the tests hold it to.
   */
  readerPrincipals(id: Identity): string[] | null {
    return callerPrincipals(id, this.deps.defaultPolicy);
  }

  /**
   * A predicate keeping the rows whose key (column `nameCol`) `id` may see, appending its parameters to `params`; null
   * when it sees every key. Each probe is a primary-key lookup in key_readers.
   */
  visibleSql(id: Identity, nameCol: string, params: SqlValue[]): string | null {
    const ps = this.readerPrincipals(id);
    if (ps === null) return null;
    if (ps.length === 0) return "1 = 0";
    return `EXISTS (SELECT 1 FROM key_readers r WHERE r.name = ${nameCol} AND r.principal IN (${ps.map((p) => `$${params.push(p)}`).join(", ")}))`;
  }

  /** The version's material, unwrapped through the barrier and cached. Destroyed versions have none. */
  unwrapped(o: ObjectRow): Unwrapped {
    const hit = this.cache.get(o.id);
    if (hit) return hit;
    if (!o.material || o.kek_id === null) return fail("invalid_state", { detail: `version ${o.version} of '${o.name}' is destroyed` });
    const secret = this.deps.barrier.unwrap(o.id, o.kek_id, o.material);
    const fam = keyFamily(o.type);
    const u: Unwrapped = { secret, privateKey: fam === "rsa" || fam === "ec" ? privateKeyFromDer(secret) : undefined };
    this.cache.set(o.id, u);
    return u;
  }

  // ---- lifecycle ----

  /** Checks the caller's right before a protected operation can wait for approval (refusals are audited by the caller). */
  async preauthorize(ctx: AuthCtx, name: string, op: KeyOperation, action: string): Promise<void> {
    try {
      this.authorize(ctx.actor, op, await this.findKey(this.deps.store, name));
    } catch (e) {
      // Audited here, under the operation's action and the key's name, so that the denial is found by key.
      await audited(this.deps.audit, ctx, action, { name }, async () => {
        throw e;
      });
    }
  }

  /** Runs a protected operation through dual control when it is configured. */
  protect<T>(ctx: AuthCtx, action: ProtectedAction, args: unknown, target: string, run: () => Promise<T>): Promise<T> {
    return this.deps.governance ? this.deps.governance.guard(ctx, action, args, target, run) : run();
  }

  /**
   * Generates and wraps fresh material for a new version. Done outside any transaction: RSA-4096
   * generation takes a second and must not hold the write lock.
   */
  async prepareVersion(type: KeyType): Promise<PreparedVersion> {
    const gen = await generateKey(type);
    try {
      return this.prepareMaterial(gen.secret, gen.publicKey);
    } finally {
      gen.secret.fill(0);
    }
  }

  /** Wraps given material (imported or generated) under a fresh object id (or the id a KMIP Import names). */
  prepareMaterial(secret: Buffer | null, publicKey: Buffer | null, id: string = randomUUID()): PreparedVersion {
    if (!secret) return { id, kekId: null, blob: null, publicKey };
    return { id, ...this.deps.barrier.wrap(id, secret), publicKey };
  }

  /**
   * Inserts version `version` of `name`: its primary object and, for a key pair, the public-key
   * object (linked both ways, as KMIP Create Key Pair does). REST versions are Active with the
   * type's default usage; KMIP passes its own state, usage mask, object type and attributes.
   */
  async insertVersion(
    tx: Tx,
    name: string,
    type: KeyType,
    version: number,
    p: PreparedVersion,
    now: string,
    o: VersionOptions = {},
  ): Promise<string | null> {
    const fam = keyFamily(type);
    const pubId = (o.withPublic ?? (fam === "rsa" || fam === "ec")) ? (o.publicId ?? randomUUID()) : null;
    const state = o.state ?? "Active";
    const activatedAt = state === "Active" ? (o.activatedAt ?? now) : null;
    const attrs = (base: ObjectAttributes | undefined, link?: ObjectLink) =>
      JSON.stringify(link ? { ...base, links: [...(base?.links ?? []), link] } : (base ?? {}));
    const objectType = o.objectType ?? (pubId ? "PrivateKey" : "SymmetricKey");
    await tx.run(
      `INSERT INTO objects (id, name, version, object_type, is_primary, type, state, usage_mask, attributes, material, public_key, kek_id, created_at, updated_at, activated_at)
       VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13)`,
      [
        p.id,
        name,
        version,
        objectType,
        type,
        state,
        o.usageMask ?? defaultUsage(type),
        attrs(o.attributes, pubId ? { type: "Public Key Link", id: pubId } : undefined),
        p.blob,
        p.publicKey,
        p.kekId,
        now,
        activatedAt,
      ],
    );
    if (pubId) {
      await tx.run(
        `INSERT INTO objects (id, name, version, object_type, is_primary, type, state, usage_mask, attributes, material, public_key, kek_id, created_at, updated_at, activated_at)
         VALUES ($1, $2, $3, 'PublicKey', 0, $4, $5, $6, $7, NULL, $8, NULL, $9, $9, $10)`,
        [
          pubId,
          name,
          version,
          type,
          state,
          o.publicUsageMask ?? defaultUsage(type, true),
          attrs(o.publicAttributes, { type: "Private Key Link", id: p.id }),
          p.publicKey,
          now,
          activatedAt,
        ],
      );
    }
    return pubId;
  }

  /** KMIP Name attributes: `names` now belong to `to` (and no longer to any other object). */
  async assignNames(tx: Tx, to: string, names: string[]): Promise<void> {
    for (const n of names) {
      await tx.run("DELETE FROM object_names WHERE name = $1", [n]);
      await tx.run("INSERT INTO object_names (name, object_id) VALUES ($1, $2)", [n, to]);
    }
  }

  async create(ctx: AuthCtx, req: CreateKeyRequest): Promise<KeyView> {
    return audited(this.deps.audit, ctx, "key.create", { name: req.name, version: 1 }, async (op) => {
      if (ctx.actor.role !== "admin" && ctx.actor.role !== "client")
        fail("forbidden", { detail: `role ${ctx.actor.role} may not create keys` });
      op.detail = { type: req.type };
      const now = this.now();
      const prepared = await this.prepareVersion(req.type);
      await op.commit(this.deps.store, (tx) => this.insertKey(tx, ctx.actor.cn, req, prepared, now));
      return this.view(this.deps.store, req.name);
    });
  }

  /**
   * Bulk create (provisioning tools, the scale benchmark's generator): each key exactly as `create` makes it —
   * fresh material of its own, wrapped under the current KEK, owned by the caller, Active, its name assigned, and
   * one `key.create` audit event per key — but all of them in one transaction, so that a thousand keys cost one
   * commit (and one fsync) instead of a thousand. All or none: if one name exists already, nothing is created and
   * the refusal is one audit event for the call. At most `CREATE_MANY_MAX` keys per call (the transaction holds
   * the write lock while it runs). Returns the version-1 object ids (KMIP Unique Identifiers), in request order.
   */
  async createMany(ctx: AuthCtx, reqs: CreateKeyRequest[]): Promise<string[]> {
    return audited(this.deps.audit, ctx, "key.create", { name: reqs[0]?.name ?? null, version: 1 }, async (op) => {
      op.detail = { batch: reqs.length };
      if (ctx.actor.role !== "admin" && ctx.actor.role !== "client")
        fail("forbidden", { detail: `role ${ctx.actor.role} may not create keys` });
      if (reqs.length > CREATE_MANY_MAX) fail("bad_request", { detail: `at most ${CREATE_MANY_MAX} keys per bulk create` });
      if (reqs.length === 0) return [];
      const now = this.now();
      // Outside the transaction, like create: generation (RSA) must not hold the write lock. Each clear key is
      // zeroed by prepareVersion as soon as it is wrapped.
      const prepared: PreparedVersion[] = [];
      for (const r of reqs) prepared.push(await this.prepareVersion(r.type));
      await this.deps.store.atomic(async (tx) => {
        for (let i = 0; i < reqs.length; i++) {
          const req = reqs[i];
          await this.insertKey(tx, ctx.actor.cn, req, prepared[i], now);
          // The same event a single create writes (its request id ties the batch together).
          await this.deps.audit.append(tx, {
            actor: ctx.actor,
            action: "key.create",
            target: { name: req.name, version: 1 },
            outcome: "success",
            requestId: ctx.requestId,
            detail: { type: req.type },
          });
        }
      });
      // Every key has its own success event: the call itself records none more.
      op.committed = true;
      return prepared.map((p) => p.id);
    });
  }

  /** Inserts a new key owned by `owner` with `p` as its version 1 (create, BYOK import, the server's import key). */
  async insertKey(tx: Tx, owner: string, req: CreateKeyRequest, p: PreparedVersion, now: string, o?: VersionOptions): Promise<void> {
    const rotation = req.rotation ?? { mode: "manual" };
    if (await tx.get("SELECT name FROM keys WHERE name = $1", [req.name])) fail("key_exists", { name: req.name });
    await tx.run(`INSERT INTO keys (${KEY_COLUMNS}) VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $8, $8, $9, NULL, NULL)`, [
      req.name,
      req.type,
      owner,
      req.description ?? "",
      JSON.stringify(rotation),
      JSON.stringify(normPolicy(req.policy)),
      req.exportable === false ? 0 : 1,
      now,
      this.nextRotationAt(rotation, now),
    ]);
    await this.setReaders(tx, req.name, owner, JSON.stringify(normPolicy(req.policy)), true);
    await this.insertVersion(tx, req.name, req.type, 1, p, now, o);
    await this.assignNames(tx, p.id, [req.name]);
  }

  private async view(db: Store | Tx, name: string): Promise<KeyView> {
    const k = await this.findKey(db, name);
    return keyView(k, await this.findVersions(db, name));
  }

  async get(ctx: AuthCtx, name: string): Promise<KeyView> {
    return audited(this.deps.audit, ctx, "key.read", { name }, async () => {
      const k = await this.findKey(this.deps.store, name);
      this.authorize(ctx.actor, "read", k);
      return keyView(k, await this.findVersions(this.deps.store, name));
    });
  }

  async list(ctx: AuthCtx, req: ListKeysRequest): Promise<{ keys: KeySummary[]; next: string | null }> {
    return audited(this.deps.audit, ctx, "key.list", {}, async (op) => {
      if (ctx.actor.role !== "admin" && ctx.actor.role !== "client")
        fail("forbidden", { detail: `role ${ctx.actor.role} may not list keys` });
      const limit = Math.min(Math.max(req.limit ?? 100, 1), 1000);
      const params: SqlValue[] = [];
      const now = `$${params.push(this.now())}`;
      const join = "JOIN objects o ON o.name = k.name AND o.version = k.current_version AND o.is_primary = 1";
      // The request's filters, on name column `col`: in a visibility branch the key_readers one, whose index range
      // (principal, name) then serves the cursor, the prefix and the order.
      const filters = (col: string): string[] => {
        const w: string[] = [];
        if (req.cursor) w.push(`${col} > $${params.push(req.cursor)}`);
        if (req.prefix) {
          // A range on the name (names are ASCII), so a sparse prefix does not scan the table.
          const upper = req.prefix.slice(0, -1) + String.fromCharCode(req.prefix.charCodeAt(req.prefix.length - 1) + 1);
          w.push(`${col} >= $${params.push(req.prefix)} AND ${col} < $${params.push(upper)}`);
        }
        if (req.type) w.push(`k.type = $${params.push(req.type)}`);
        if (req.state) w.push(`${stateAtSql("o", now)} = $${params.push(req.state)}`);
        return w;
      };
      const principals = this.readerPrincipals(ctx.actor);
      let where: string[];
      if (principals === null) where = filters("k.name");
      else {
        // Visibility before LIMIT: the union of the first limit+1 matching keys of each principal the caller stands
        // for (each an index range over key_readers), so pages are full and a cursor only ever names a key the
        // caller may see.
        const branches = principals.map((p, i) => {
          const w = [`r.principal = $${params.push(p)}`, ...filters("r.name")];
          return `SELECT b${i}.name FROM (SELECT r.name FROM key_readers r JOIN keys k ON k.name = r.name ${join}
                   WHERE ${w.join(" AND ")} ORDER BY r.name LIMIT $${params.push(limit + 1)}) AS b${i}`;
        });
        where = [`k.name IN (${branches.join(" UNION ")})`];
      }
      const rows = await this.deps.store.all<KeyRow & { state: KeyState }>(
        `SELECT k.name, k.type, k.owner, k.current_version, k.created_at, k.deletion_at, ${stateAtSql("o", now)} AS state
           FROM keys k ${join}
          ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY k.name LIMIT $${params.push(limit + 1)}`,
        params,
      );
      const more = rows.length > limit;
      const page = rows.slice(0, limit);
      op.detail = { returned: page.length };
      return {
        keys: page.map((k) => ({
          name: k.name,
          type: k.type,
          state: k.state,
          currentVersion: k.current_version,
          owner: k.owner,
          createdAt: k.created_at,
          deletionScheduledAt: k.deletion_at,
        })),
        next: more ? page[page.length - 1].name : null,
      };
    });
  }

  async update(ctx: AuthCtx, name: string, req: UpdateKeyRequest): Promise<KeyView> {
    // Policy and rotation-policy changes are protected by dual control; description changes are not.
    if (req.policy || req.rotation) {
      const action = req.policy ? "key.policy-change" : "key.rotation-change";
      await this.preauthorize(ctx, name, "update", action);
      // Refused before it can wait for approval: no quorum can make a non-exportable key exportable again.
      refuseReExport(name, req, await this.findKey(this.deps.store, name));
      return this.protect(ctx, action, { name, req }, name, () => this.doUpdate(ctx, name, req));
    }
    return this.doUpdate(ctx, name, req);
  }

  /** The execution summary of a key update: each changed field before and after. */
  async describeUpdate(name: string, req: UpdateKeyRequest): Promise<ExecutionSummary> {
    const k = await this.findKey(this.deps.store, name);
    const policy = JSON.parse(k.policy) as KeyPolicy;
    const before: Record<string, unknown> = {};
    const after: Record<string, unknown> = {};
    if (req.policy) [before.policy, after.policy] = [policy, normPolicy({ ...policy, ...req.policy })];
    if (req.rotation) [before.rotation, after.rotation] = [JSON.parse(k.rotation), req.rotation];
    if (req.exportable !== undefined) [before.exportable, after.exportable] = [k.exportable === 1, req.exportable];
    if (req.description !== undefined) [before.description, after.description] = [k.description, req.description];
    return { key: name, owner: k.owner, before, after };
  }

  /** The execution summary of a revocation: the versions that change state, to which state, and why. */
  async describeRevoke(name: string, req: { reason: RevocationReason; version?: number; message?: string }): Promise<ExecutionSummary> {
    const k = await this.findKey(this.deps.store, name);
    const compromise = req.reason === "key-compromise" || req.reason === "ca-compromise";
    const all =
      req.version !== undefined
        ? [await this.findVersion(this.deps.store, k, req.version)]
        : await this.findVersions(this.deps.store, name);
    const changes = all.filter((o) =>
      compromise ? !o.state.startsWith("Destroyed") && o.state !== "Compromised" : o.state === "Active" || o.state === "Pre-Active",
    );
    return {
      key: name,
      versions: changes.map((o) => ({ version: o.version, state: o.state })),
      newState: compromise ? "Compromised" : "Deactivated",
      reason: req.reason,
      ...(req.message !== undefined ? { message: req.message } : {}),
    };
  }

  /** The execution summary of a scheduled destruction: every version that will be destroyed, and the waiting period. */
  async describeScheduleDeletion(name: string, pendingDays: number): Promise<ExecutionSummary> {
    const versions = (await this.findVersions(this.deps.store, name)).filter((o) => !o.state.startsWith("Destroyed"));
    return { key: name, destroy: versions.map((o) => ({ version: o.version, state: o.state })), pendingDays };
  }

  private doUpdate(ctx: AuthCtx, name: string, req: UpdateKeyRequest): Promise<KeyView> {
    return audited(this.deps.audit, ctx, "key.update", { name }, async (op) => {
      op.detail = { fields: Object.keys(req).filter((f) => (req as Record<string, unknown>)[f] !== undefined) };
      await op.commit(this.deps.store, async (tx) => {
        const k = await this.findKey(tx, name);
        this.authorize(ctx.actor, "update", k);
        refuseReExport(name, req, k);
        if (k.destroyed_at) fail("invalid_state", { detail: `key '${name}' is destroyed` });
        const rotation = req.rotation ?? (JSON.parse(k.rotation) as Rotation);
        const policy = req.policy ? normPolicy({ ...(JSON.parse(k.policy) as KeyPolicy), ...req.policy }) : JSON.parse(k.policy);
        const current = await this.findVersion(tx, k);
        await tx.run(
          "UPDATE keys SET rotation = $1, policy = $2, description = $3, exportable = $4, next_rotation_at = $5, updated_at = $6 WHERE name = $7",
          [
            JSON.stringify(rotation),
            JSON.stringify(policy),
            req.description ?? k.description,
            req.exportable === undefined ? k.exportable : req.exportable ? 1 : 0,
            this.nextRotationAt(rotation, current.created_at),
            this.now(),
            name,
          ],
        );
        if (req.policy) await this.setReaders(tx, name, k.owner, JSON.stringify(policy));
      });
      return this.view(this.deps.store, name);
    });
  }

  /** Adds version n+1 and makes it current; shared by manual rotate and automatic rollover. */
  async rotateIn(tx: Tx, k: KeyRow, p: PreparedVersion, now: string, options?: VersionOptions): Promise<number> {
    if (k.destroyed_at) fail("invalid_state", { detail: `key '${k.name}' is destroyed` });
    if (k.deletion_at) fail("invalid_state", { detail: `key '${k.name}' is scheduled for destruction; cancel the deletion first` });
    const version = k.current_version + 1;
    const previous = await this.findVersion(tx, k);
    await this.insertVersion(tx, k.name, k.type, version, p, now, options);
    // KMIP: the Name attributes move to the replacement (the key's name is on its current version).
    const names = await tx.all<{ name: string }>("SELECT name FROM object_names WHERE object_id = $1", [previous.id]);
    await this.assignNames(
      tx,
      p.id,
      names.map((n) => n.name),
    );
    // KMIP Re-key links: the old version points to its replacement and back.
    await addLink(tx, previous.id, "Replacement Object Link", p.id);
    await addLink(tx, p.id, "Replaced Object Link", previous.id);
    const rotation = JSON.parse(k.rotation) as Rotation;
    await tx.run("UPDATE keys SET current_version = $1, next_rotation_at = $2, updated_at = $3 WHERE name = $4", [
      version,
      this.nextRotationAt(rotation, now),
      now,
      k.name,
    ]);
    return version;
  }

  async rotate(ctx: AuthCtx, name: string): Promise<KeyView> {
    return audited(this.deps.audit, ctx, "key.rotate", { name }, async (op) => {
      const k = await this.findKey(this.deps.store, name);
      this.authorize(ctx.actor, "rotate", k);
      if ((JSON.parse(k.rotation) as Rotation).mode === "none") fail("rotation_disabled", { name });
      op.target.version = k.current_version + 1;
      const prepared = await this.prepareVersion(k.type);
      await op.commit(this.deps.store, async (tx) => {
        const fresh = await this.findKey(tx, name);
        if (fresh.current_version !== k.current_version) fail("invalid_state", { detail: "key changed concurrently; retry" });
        await this.rotateIn(tx, fresh, prepared, this.now());
      });
      return this.view(this.deps.store, name);
    });
  }

  async revoke(ctx: AuthCtx, name: string, req: { reason: RevocationReason; version?: number; message?: string }): Promise<KeyView> {
    await this.preauthorize(ctx, name, "revoke", "key.revoke");
    return this.protect(ctx, "key.revoke", { name, req }, name, () => this.doRevoke(ctx, name, req));
  }

  private doRevoke(ctx: AuthCtx, name: string, req: { reason: RevocationReason; version?: number; message?: string }): Promise<KeyView> {
    return audited(this.deps.audit, ctx, "key.revoke", { name, version: req.version ?? null }, async (op) => {
      op.detail = { reason: req.reason };
      await op.commit(this.deps.store, async (tx) => {
        const k = await this.findKey(tx, name);
        this.authorize(ctx.actor, "revoke", k);
        const versions = req.version !== undefined ? [await this.findVersion(tx, k, req.version)] : await this.findVersions(tx, name);
        const compromise = req.reason === "key-compromise" || req.reason === "ca-compromise";
        const now = this.now();
        let changed = 0;
        for (const o of versions) {
          if (o.state === "Destroyed" || o.state === "Destroyed Compromised") {
            if (req.version !== undefined) fail("invalid_state", { detail: `version ${o.version} of '${name}' is destroyed` });
            continue;
          }
          if (compromise) {
            if (o.state === "Compromised") continue;
            // KMIP: Revoke with Key Compromise moves the object to Compromised from any non-destroyed state.
            // The public half of a pair shares the version's fate.
            await tx.run(
              `UPDATE objects SET state = 'Compromised', compromised_at = $1, revocation_reason = $2, deactivated_at = CASE WHEN deactivated_at IS NULL OR deactivated_at > $1 THEN $1 ELSE deactivated_at END, updated_at = $1
                WHERE name = $3 AND version = $4`,
              [now, req.reason, name, o.version],
            );
          } else {
            if (o.state === "Deactivated" || o.state === "Compromised") continue;
            await tx.run(
              `UPDATE objects SET state = 'Deactivated', deactivated_at = $1, revocation_reason = $2, updated_at = $1
                WHERE name = $3 AND version = $4 AND state IN ('Active', 'Pre-Active')`,
              [now, req.reason, name, o.version],
            );
          }
          changed++;
        }
        if (changed === 0) fail("invalid_state", { detail: `nothing to revoke: '${name}' has no version that can move to that state` });
        await tx.run("UPDATE keys SET updated_at = $1 WHERE name = $2", [now, name]);
      });
      return this.view(this.deps.store, name);
    });
  }

  async scheduleDeletion(ctx: AuthCtx, name: string, pendingDays: number): Promise<KeyView> {
    await this.preauthorize(ctx, name, "delete", "key.schedule-destroy");
    return this.protect(ctx, "key.schedule-destroy", { name, pendingDays }, name, () => this.doScheduleDeletion(ctx, name, pendingDays));
  }

  private doScheduleDeletion(ctx: AuthCtx, name: string, pendingDays: number): Promise<KeyView> {
    return audited(this.deps.audit, ctx, "key.schedule-destroy", { name }, async (op) => {
      op.detail = { pendingDays };
      await op.commit(this.deps.store, async (tx) => {
        const k = await this.findKey(tx, name);
        this.authorize(ctx.actor, "delete", k);
        if (k.destroyed_at) fail("invalid_state", { detail: `key '${name}' is already destroyed` });
        if (k.deletion_at) fail("invalid_state", { detail: `key '${name}' is already scheduled for destruction at ${k.deletion_at}` });
        const at = new Date(this.deps.clock().getTime() + pendingDays * 86400000).toISOString();
        await tx.run("UPDATE keys SET deletion_at = $1, updated_at = $2 WHERE name = $3", [at, this.now(), name]);
      });
      return this.view(this.deps.store, name);
    });
  }

  async cancelDeletion(ctx: AuthCtx, name: string): Promise<KeyView> {
    return audited(this.deps.audit, ctx, "key.cancel-destroy", { name }, async (op) => {
      await op.commit(this.deps.store, async (tx) => {
        const k = await this.findKey(tx, name);
        this.authorize(ctx.actor, "delete", k);
        if (k.destroyed_at) fail("invalid_state", { detail: `key '${name}' is already destroyed` });
        if (!k.deletion_at) fail("invalid_state", { detail: `key '${name}' is not scheduled for destruction` });
        await tx.run("UPDATE keys SET deletion_at = NULL, updated_at = $1 WHERE name = $2", [this.now(), name]);
      });
      return this.view(this.deps.store, name);
    });
  }

  // ---- work the server does on its own schedule ----

  private systemCtx(): Ctx {
    return { actor: SYSTEM_ACTOR, requestId: `sys-${randomUUID()}` };
  }

  /** Rolls over every auto-rotated key whose cryptoperiod has ended (also catches up missed ones at start-up). */
  async rolloverDue(): Promise<number> {
    const now = this.now();
    const due = await this.deps.store.all<{ name: string }>(ROLLOVER_DUE, [now]);
    let done = 0;
    for (const { name } of due) {
      await audited(this.deps.audit, this.systemCtx(), "key.rollover", { name }, async (op) => {
        const type = (await this.findKey(this.deps.store, name)).type;
        const prepared = await this.prepareVersion(type);
        await op.commit(this.deps.store, async (tx) => {
          const k = await this.findKey(tx, name);
          if (!k.next_rotation_at || k.next_rotation_at > now) return;
          op.target.version = k.current_version + 1;
          op.detail = { due: k.next_rotation_at };
          await this.rotateIn(tx, k, prepared, this.now());
          done++;
        });
      }).catch(() => undefined); // already audited as an error; the next tick retries
    }
    return done;
  }

  /**
   * Carries out KMIP Activation and Deactivation Dates that have come: Pre-Active → Active at the Activation Date,
   * Pre-Active or Active → Deactivated at the Deactivation Date (KMIP state transitions 4 and 6). Deactivation first,
   * so an object whose both dates have passed ends Deactivated. Each change is its own audited system event.
   */
  async lifecycleDue(): Promise<{ activated: number; deactivated: number }> {
    const now = this.now();
    let activated = 0;
    let deactivated = 0;
    const run = async (sql: string, action: string, apply: (tx: Tx, id: string) => Promise<boolean>) => {
      const due = await this.deps.store.all<{ id: string; name: string; version: number }>(sql, [now]);
      for (const d of due) {
        await audited(this.deps.audit, this.systemCtx(), action, { name: d.name, version: d.version }, async (op) => {
          op.detail = { id: d.id };
          const changed = await op.commit(this.deps.store, (tx) => apply(tx, d.id));
          if (changed) action === "key.activate" ? activated++ : deactivated++;
        }).catch(() => undefined); // already audited as an error; the next tick retries
      }
    };
    await run(DEACTIVATION_DUE, "key.deactivate", async (tx, id) => {
      const n = await tx.run(
        "UPDATE objects SET state = 'Deactivated', updated_at = $1 WHERE id = $2 AND state IN ('Pre-Active', 'Active') AND deactivated_at <= $1",
        [now, id],
      );
      return n > 0;
    });
    await run(ACTIVATION_DUE, "key.activate", async (tx, id) => {
      const n = await tx.run(
        "UPDATE objects SET state = 'Active', updated_at = $1 WHERE id = $2 AND state = 'Pre-Active' AND activated_at <= $1",
        [now, id],
      );
      return n > 0;
    });
    return { activated, deactivated };
  }

  /** Destroys keys whose waiting period has ended: material erased, metadata kept as Destroyed. */
  async destroyDue(): Promise<number> {
    const now = this.now();
    const due = await this.deps.store.all<{ name: string }>(DESTROY_DUE, [now]);
    let done = 0;
    for (const { name } of due) {
      await audited(this.deps.audit, this.systemCtx(), "key.destroy", { name }, async (op) => {
        const ids = await op.commit(this.deps.store, async (tx) => {
          const rows = await tx.all<{ id: string }>("SELECT id FROM objects WHERE name = $1", [name]);
          await tx.run(
            `UPDATE objects SET state = CASE WHEN state IN ('Compromised', 'Destroyed Compromised') THEN 'Destroyed Compromised' ELSE 'Destroyed' END,
                    material = NULL, destroyed_at = COALESCE(destroyed_at, $1), updated_at = $1
              WHERE name = $2`,
            [now, name],
          );
          await tx.run("UPDATE keys SET destroyed_at = $1, next_rotation_at = NULL, updated_at = $1 WHERE name = $2", [now, name]);
          done++;
          return rows.map((r) => r.id);
        });
        for (const id of ids) this.cache.delete(id);
      }).catch(() => undefined);
    }
    return done;
  }
}
