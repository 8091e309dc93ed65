// Access policy: which identity may do which operation on which key (roles, ownership, per-key and default policy).
import { fail } from "../errors/registry.js";
import type { Identity } from "./identity.js";

/** Operations that use a key (key material or on-board cryptography). */
export const USE_OPERATIONS = ["material", "encrypt", "decrypt", "rewrap", "datakey", "sign", "verify", "hmac"] as const;
export type UseOperation = (typeof USE_OPERATIONS)[number];
/** Operations that manage a key's lifecycle or metadata. */
export type ManageOperation = "read" | "update" | "rotate" | "revoke" | "delete";
export type KeyOperation = UseOperation | ManageOperation;

export interface KeyPolicy {
  users: string[];
  groups: string[];
  /** Use operations granted to the listed users/groups; empty = all of them. */
  operations: UseOperation[];
}

/** The system default for keys without their own users/groups. */
export type DefaultPolicy = "any-authenticated" | "owner-only" | { users: string[]; groups: string[] };

export interface PolicySubject {
  name: string;
  owner: string;
  policy: KeyPolicy;
}

const isUse = (op: KeyOperation): op is UseOperation => (USE_OPERATIONS as readonly string[]).includes(op);

/** Whether `id` (a client) is granted by a users/groups list. Listed users OR members of listed groups. */
function listed(id: Identity, users: string[], groups: string[]): boolean {
  return users.includes(id.cn) || groups.includes(id.ou);
}

/** Decides, or throws `forbidden` with the reason (the caller audits it). */
export function authorizeKey(id: Identity, op: KeyOperation, key: PolicySubject, dflt: DefaultPolicy): void {
  const deny = (why: string): never => fail("forbidden", { detail: why });
  if (id.role === "admin") {
    // Separation of duties: the security officer manages keys but never sees key material or plaintext.
    if (isUse(op)) deny(`role admin may not ${op}: admins manage keys but never use them`);
    return;
  }
  if (id.role !== "client") deny(`role ${id.role} may not ${op === "read" ? "read keys" : op} keys`);
  if (key.owner === id.cn) return;
  if (!isUse(op) && op !== "read") deny(`only the owner of key '${key.name}' or an admin may ${op} it`);
  const p = key.policy;
  let granted: boolean;
  if (p.users.length > 0 || p.groups.length > 0) granted = listed(id, p.users, p.groups);
  else if (dflt === "any-authenticated") granted = true;
  else if (dflt === "owner-only") granted = false;
  else granted = listed(id, dflt.users, dflt.groups);
  if (!granted) deny(`'${id.cn}' is not allowed to use key '${key.name}'`);
  if (isUse(op) && p.operations.length > 0 && !p.operations.includes(op)) deny(`key '${key.name}' policy does not allow ${op}`);
}

/** Whether `id` may see that `key` exists (its metadata): what decides between "forbidden" and "not found". */
export function mayRead(id: Identity, key: PolicySubject, dflt: DefaultPolicy): boolean {
  try {
    authorizeKey(id, "read", key, dflt);
    return true;
  } catch {
    return false;
  }
}

/**
 * The read rule of `authorizeKey`, split so that the database can apply it (listing and KMIP Locate filter by
 * visibility in SQL, before paging): a key is stored with the principals that may see it (`keyReaders`, the
 * key_readers table), a caller is matched by the principals it stands for (`callerPrincipals`). `u:<cn>` is a user
 * (the owner, or listed in the key's policy), `g:<ou>` a listed group, and `*` marks a key whose policy lists nobody:
 * the default policy decides for those, at query time, so a change of the default needs no rewrite of the table.
 */
export function keyReaders(owner: string, policy: Partial<KeyPolicy>): string[] {
  const users = policy.users ?? [];
  const groups = policy.groups ?? [];
  const out = new Set([`u:${owner}`, ...users.map((u) => `u:${u}`), ...groups.map((g) => `g:${g}`)]);
  if (users.length === 0 && groups.length === 0) out.add("*");
  return [...out];
}

/**
 * The principals `id` stands for when it reads keys (see keyReaders): null for an admin, who sees every key; none for
 * the roles that read no keys (auditor, peer).
 */
export function callerPrincipals(id: Identity, dflt: DefaultPolicy): string[] | null {
  if (id.role === "admin") return null;
  if (id.role !== "client") return [];
  const open = dflt === "any-authenticated" ? true : dflt === "owner-only" ? false : listed(id, dflt.users, dflt.groups);
  return [`u:${id.cn}`, `g:${id.ou}`, ...(open ? ["*"] : [])];
}

/** Role gate for non-key resources. */
export function requireRole(id: Identity, roles: Identity["role"][], what: string): void {
  if (!roles.includes(id.role)) fail("forbidden", { detail: `role ${id.role} may not ${what}` });
}

/** Roles that may call the authenticated no-ops (status, API description, KMIP Discover Versions and Query) and unseal. */
export const SIGNED_IN_ROLES: Identity["role"][] = ["admin", "auditor", "client"];

/**
 * The role gate of the KMIP operations that act on no stored object (docs/security.md, "Role matrix"): monitors'
 * no-ops for every role but peer; creation, Locate, Interop and Log for admins and clients; random numbers and
 * hashing for clients only (cryptographic services are use, and admins never use keys). Operations on an object
 * (Get, Encrypt, Activate, …) are decided by `authorizeKey` when the object is loaded — role first, then ownership
 * and key policy — so that their denials name the key. RNG Seed is refused to everyone by its handler.
 */
export const KMIP_OPERATION_ROLES: Readonly<Record<string, readonly Identity["role"][]>> = {
  DiscoverVersions: SIGNED_IN_ROLES,
  Query: SIGNED_IN_ROLES,
  Create: ["admin", "client"],
  CreateKeyPair: ["admin", "client"],
  Register: ["admin", "client"],
  Import: ["admin", "client"],
  Locate: ["admin", "client"],
  Interop: ["admin", "client"],
  Log: ["admin", "client"],
  RNGRetrieve: ["client"],
  Hash: ["client"],
};

/** Refuses a KMIP operation the caller's role may not run at all (see KMIP_OPERATION_ROLES). */
export function authorizeKmipOperation(id: Identity, operation: string): void {
  const roles = KMIP_OPERATION_ROLES[operation];
  if (roles) requireRole(id, [...roles], `run KMIP ${operation}`);
}
