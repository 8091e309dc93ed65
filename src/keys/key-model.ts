// Key and version rows, their JSON shape, and the state rules shared by lifecycle and crypto operations.
import type { KeyPolicy } from "../auth/policy.js";
import type { KeyType } from "../crypto/keygen.js";

/** KMIP object states (KMIP 1.4 §3.22). */
export type KeyState = "Pre-Active" | "Active" | "Deactivated" | "Compromised" | "Destroyed" | "Destroyed Compromised";

export interface Rotation {
  mode: "auto" | "manual" | "none";
  periodDays?: number;
}

export const REVOCATION_REASONS = [
  "unspecified",
  "key-compromise",
  "ca-compromise",
  "affiliation-changed",
  "superseded",
  "cessation-of-operation",
  "privilege-withdrawn",
] as const;
export type RevocationReason = (typeof REVOCATION_REASONS)[number];

export interface KeyRow {
  name: string;
  type: KeyType;
  owner: string;
  description: string;
  current_version: number;
  rotation: string;
  policy: string;
  exportable: number;
  created_at: string;
  updated_at: string;
  next_rotation_at: string | null;
  deletion_at: string | null;
  destroyed_at: string | null;
}

/** KMIP Object Type of a managed object (the names the KMIP XML encoding uses). */
export type ObjectType = "SymmetricKey" | "PrivateKey" | "PublicKey" | "SecretData" | "Certificate" | "OpaqueObject";

export interface ObjectRow {
  id: string;
  name: string;
  version: number;
  object_type: ObjectType;
  is_primary: number;
  type: KeyType;
  state: KeyState;
  usage_mask: number;
  attributes: string;
  material: Buffer | null;
  public_key: Buffer | null;
  kek_id: number | null;
  created_at: string;
  updated_at: string;
  activated_at: string | null;
  deactivated_at: string | null;
  compromised_at: string | null;
  destroyed_at: string | null;
  revocation_reason: string | null;
}

export interface VersionView {
  version: number;
  id: string;
  state: KeyState;
  createdAt: string;
  activatedAt: string | null;
  deactivatedAt: string | null;
  compromisedAt: string | null;
  destroyedAt: string | null;
  revocationReason: string | null;
  /** "generated" here, or "imported" (BYOK import, KMIP Register/Import): kept in the attributes JSON as `origin`. */
  origin: "generated" | "imported";
}

export interface KeyView {
  name: string;
  type: KeyType;
  state: KeyState;
  currentVersion: number;
  versions: VersionView[];
  rotation: Rotation;
  policy: KeyPolicy;
  owner: string;
  description: string;
  exportable: boolean;
  createdAt: string;
  updatedAt: string;
  nextRotationAt: string | null;
  deletionScheduledAt: string | null;
  destroyedAt: string | null;
}

export const versionView = (o: ObjectRow): VersionView => ({
  version: o.version,
  id: o.id,
  state: o.state,
  createdAt: o.created_at,
  activatedAt: o.activated_at,
  deactivatedAt: o.deactivated_at,
  compromisedAt: o.compromised_at,
  destroyedAt: o.destroyed_at,
  revocationReason: o.revocation_reason,
  origin: versionOrigin(o),
});

/** Where a version's material came from; KMIP-registered material (attribute `registered`) was imported too. */
export function versionOrigin(o: ObjectRow): "generated" | "imported" {
  const a = JSON.parse(o.attributes) as { origin?: string; registered?: boolean };
  return a.origin === "imported" || (a.origin === undefined && a.registered === true) ? "imported" : "generated";
}

/** The server-held RSA key pair BYOK imports are wrapped under (reserved: never exported, never used otherwise). */
export const IMPORT_KEY_NAME = "_import-wrapping-key";

export function keyView(k: KeyRow, versions: ObjectRow[]): KeyView {
  const current = versions.find((v) => v.version === k.current_version);
  return {
    name: k.name,
    type: k.type,
    state: current?.state ?? "Destroyed",
    currentVersion: k.current_version,
    versions: versions.map(versionView),
    rotation: JSON.parse(k.rotation) as Rotation,
    policy: JSON.parse(k.policy) as KeyPolicy,
    owner: k.owner,
    description: k.description,
    exportable: k.exportable === 1,
    createdAt: k.created_at,
    updatedAt: k.updated_at,
    nextRotationAt: k.next_rotation_at,
    deletionScheduledAt: k.deletion_at,
    destroyedAt: k.destroyed_at,
  };
}

/**
 * The state an object is in at `now` (ISO 8601): a KMIP Activation or Deactivation Date that has come counts at once,
 * also in the minute before the scheduler (KeyService.lifecycleDue) writes the change — "the object SHALL NOT be used"
 * after its Deactivation Date is a rule of time, not of when the server last looked.
 */
export function stateAt(o: Pick<ObjectRow, "state" | "activated_at" | "deactivated_at">, now: string): KeyState {
  if ((o.state === "Active" || o.state === "Pre-Active") && o.deactivated_at !== null && o.deactivated_at <= now) return "Deactivated";
  if (o.state === "Pre-Active" && o.activated_at !== null && o.activated_at <= now) return "Active";
  return o.state;
}

/**
 * `stateAt` in SQL, for filters (listing by state, KMIP Locate by State): the state of `objects` row `o` at the time
 * bound to placeholder `now` — the stored state column lags by up to a minute behind the dates (the scheduler writes it).
 */
export const stateAtSql = (o: string, now: string): string =>
  `(CASE WHEN ${o}.state IN ('Active', 'Pre-Active') AND ${o}.deactivated_at IS NOT NULL AND ${o}.deactivated_at <= ${now} THEN 'Deactivated'` +
  ` WHEN ${o}.state = 'Pre-Active' AND ${o}.activated_at IS NOT NULL AND ${o}.activated_at <= ${now} THEN 'Active' ELSE ${o}.state END)`;

/** KMIP: only Active objects may protect (encrypt, sign, MAC); Deactivated and Compromised may still process. */
export const canProtect = (s: KeyState): boolean => s === "Active";
export const canProcess = (s: KeyState): boolean => s === "Active" || s === "Deactivated" || s === "Compromised";

/**
 * The 8-byte value of a one-valued KMIP attribute stored by the KMIP layer (TTLV, base64) in the object's attributes,
 * if set with the expected TTLV type. Checked on every use: no JSON parse for the many objects without the attribute.
 */
function storedKmipScalar(o: ObjectRow, name: string, ttlvType: number): Buffer | undefined {
  if (!o.attributes.includes(`"${name}"`)) return undefined;
  const v = (JSON.parse(o.attributes) as { kmip?: Record<string, string[]> }).kmip?.[name]?.[0];
  if (!v) return undefined;
  const b = Buffer.from(v, "base64");
  // 3-byte tag, 1-byte type, 4-byte length 8, 8-byte value.
  return b.length === 16 && b[3] === ttlvType ? b : undefined;
}

/** A KMIP Boolean attribute (e.g. Extractable), if set. */
export function storedKmipBoolean(o: ObjectRow, name: string): boolean | undefined {
  const b = storedKmipScalar(o, name, 0x06);
  return b === undefined ? undefined : b.readBigUInt64BE(8) !== 0n;
}

/** A KMIP Date-Time attribute (e.g. Protect Stop Date), in milliseconds, if set. */
export function storedKmipDate(o: ObjectRow, name: string): number | undefined {
  const b = storedKmipScalar(o, name, 0x09);
  return b === undefined ? undefined : Number(b.readBigInt64BE(8)) * 1000;
}
