// Schema migrations, numbered; each has DDL per dialect so the service layer's SQL stays shared.

export interface Migration {
  version: number;
  description: string;
  sqlite: string[];
  postgres: string[];
}

/** Types differ per dialect; everything else in the schema is written once. */
const schemaV1 = (t: { blob: string; bigint: string; serial: string }): string[] => [
  `CREATE TABLE keys (
     name TEXT PRIMARY KEY,
     type TEXT NOT NULL,
     owner TEXT NOT NULL,
     description TEXT NOT NULL DEFAULT '',
     current_version INTEGER NOT NULL,
     rotation TEXT NOT NULL,
     policy TEXT NOT NULL,
     exportable INTEGER NOT NULL DEFAULT 1,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL,
     next_rotation_at TEXT,
     deletion_at TEXT,
     destroyed_at TEXT
   )`,
  "CREATE INDEX keys_next_rotation ON keys (next_rotation_at)",
  "CREATE INDEX keys_deletion ON keys (deletion_at)",
  // One row per KMIP managed object. A key version is its primary object (is_primary = 1); an
  // asymmetric version also has its public half as a second object with its own id.
  `CREATE TABLE objects (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL REFERENCES keys(name),
     version INTEGER NOT NULL,
     object_type TEXT NOT NULL,
     is_primary INTEGER NOT NULL,
     type TEXT NOT NULL,
     state TEXT NOT NULL,
     usage_mask INTEGER NOT NULL DEFAULT 0,
     attributes TEXT NOT NULL DEFAULT '{}',
     material ${t.blob},
     public_key ${t.blob},
     kek_id INTEGER,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL,
     activated_at TEXT,
     deactivated_at TEXT,
     compromised_at TEXT,
     destroyed_at TEXT,
     revocation_reason TEXT,
     UNIQUE (name, version, object_type)
   )`,
  "CREATE INDEX objects_type_state ON objects (object_type, state)",
  // KMIP Name attributes (an object may have several; a key's name is on its current version).
  `CREATE TABLE object_names (
     name TEXT NOT NULL,
     object_id TEXT NOT NULL REFERENCES objects(id),
     PRIMARY KEY (name, object_id)
   )`,
  "CREATE INDEX object_names_object ON object_names (object_id)",
  `CREATE TABLE certificates (
     serial TEXT PRIMARY KEY,
     cn TEXT NOT NULL,
     ou TEXT NOT NULL DEFAULT '',
     role TEXT NOT NULL,
     not_before TEXT NOT NULL,
     not_after TEXT NOT NULL,
     status TEXT NOT NULL,
     revoked_at TEXT,
     issued_by TEXT NOT NULL,
     pem TEXT NOT NULL
   )`,
  "CREATE INDEX certificates_cn ON certificates (cn)",
  `CREATE TABLE settings (
     name TEXT PRIMARY KEY,
     value TEXT NOT NULL
   )`,
  `CREATE TABLE events (
     seq ${t.bigint} PRIMARY KEY,
     time TEXT NOT NULL,
     node TEXT NOT NULL,
     actor_cn TEXT,
     actor_ou TEXT,
     actor_role TEXT,
     actor_serial TEXT,
     actor_address TEXT,
     action TEXT NOT NULL,
     target_name TEXT,
     target_version INTEGER,
     outcome TEXT NOT NULL,
     reason TEXT,
     request_id TEXT,
     detail TEXT,
     mac TEXT
   )`,
  "CREATE INDEX events_time ON events (time)",
  "CREATE INDEX events_target ON events (target_name, seq)",
  "CREATE INDEX events_actor ON events (actor_cn, seq)",
];

/** Governance: approval requests (dual control), usage counters, KEK re-wrap progress. */
const schemaV2 = (t: { bigint: string }): string[] => [
  `CREATE TABLE approvals (
     id TEXT PRIMARY KEY,
     action TEXT NOT NULL,
     target TEXT,
     request TEXT NOT NULL,
     requested_by TEXT NOT NULL,
     requester TEXT NOT NULL,
     created_at TEXT NOT NULL,
     expires_at TEXT NOT NULL,
     status TEXT NOT NULL,
     approvers TEXT NOT NULL DEFAULT '[]',
     decided_at TEXT,
     result TEXT
   )`,
  "CREATE INDEX approvals_status ON approvals (status, expires_at)",
  `CREATE TABLE approval_windows (
     id TEXT PRIMARY KEY,
     opened_by TEXT NOT NULL,
     opened_at TEXT NOT NULL,
     closes_at TEXT NOT NULL
   )`,
  `CREATE TABLE key_usage (
     object_id TEXT NOT NULL,
     name TEXT NOT NULL,
     version INTEGER NOT NULL,
     principal TEXT NOT NULL,
     operation TEXT NOT NULL,
     count ${t.bigint} NOT NULL,
     last_used_at TEXT NOT NULL,
     PRIMARY KEY (object_id, principal, operation)
   )`,
  "CREATE INDEX key_usage_name ON key_usage (name, version)",
  // KEK rotation counts and re-wraps the objects still on an old KEK.
  "CREATE INDEX objects_kek ON objects (kek_id)",
];

/**
 * The scheduler's indexes hold only the keys they look for. Every key without an automatic rotation or a pending
 * destruction had its NULL in both indexes, and a planner without statistics read `deletion_at IS NULL` (part of the
 * rollover query) as a selective equality on keys_deletion: the minutely rollover scan walked every key — about
 * 0.4 s of a blocked event loop per minute, and at every unseal, with a million keys. Partial indexes on the
 * non-NULL values are what both scheduler queries range over (`… IS NOT NULL AND … <= now`), cannot serve an
 * `IS NULL` test, and no longer store one entry per key. Same DDL on both dialects.
 */
const schemaV3 = (): string[] => [
  "DROP INDEX keys_next_rotation",
  "CREATE INDEX keys_next_rotation ON keys (next_rotation_at) WHERE next_rotation_at IS NOT NULL",
  "DROP INDEX keys_deletion",
  "CREATE INDEX keys_deletion ON keys (deletion_at) WHERE deletion_at IS NOT NULL",
];

/**
 * Dual control by principal, approvals with content: each certificate records the principal it acts for (the
 * requester of its issuance, transitively; init's bundles are their own), and each approval request its requester's
 * principal, the execution summary approvers review and the digest they approve. Existing certificates count as
 * their issuer (one level); existing approval requests have no summary and cannot be approved. Same DDL on both.
 */
const schemaV4 = (): string[] => [
  "ALTER TABLE certificates ADD COLUMN principal TEXT",
  "UPDATE certificates SET principal = CASE WHEN issued_by = 'init' THEN cn ELSE issued_by END",
  "ALTER TABLE approvals ADD COLUMN principal TEXT",
  "ALTER TABLE approvals ADD COLUMN summary TEXT",
  "ALTER TABLE approvals ADD COLUMN digest TEXT",
];

/**
 * KMIP Activation and Deactivation Dates in the future are scheduled state changes: the scheduler ranges over the
 * objects still waiting for one (partial indexes, like migration 3), so that a date a client set takes effect.
 */
const schemaV5 = (): string[] => [
  "CREATE INDEX objects_activation_due ON objects (activated_at) WHERE state = 'Pre-Active' AND activated_at IS NOT NULL",
  "CREATE INDEX objects_deactivation_due ON objects (deactivated_at) WHERE state IN ('Pre-Active', 'Active') AND deactivated_at IS NOT NULL",
];

/**
 * Who may see which key, normalized so that listing and Locate filter by visibility in SQL (before LIMIT/OFFSET, with an
 * index) rather than after: one row per principal that may read the key — `u:<cn>` for the owner and each user the key's
 * policy lists, `g:<ou>` for each listed group, and `*` for a key whose policy lists nobody (the configured default
 * policy then decides, at query time). Kept by the key service on every write of keys.owner / keys.policy. Existing
 * keys are filled from the policy JSON, the only statements here that differ between the dialects.
 */
const schemaV6 = (d: "sqlite" | "postgres"): string[] => {
  const users =
    d === "sqlite"
      ? "SELECT DISTINCT 'u:' || j.value, k.name FROM keys k, json_each(k.policy, '$.users') j WHERE 'u:' || j.value <> 'u:' || k.owner"
      : "SELECT DISTINCT 'u:' || j.v, k.name FROM keys k CROSS JOIN LATERAL jsonb_array_elements_text(COALESCE(k.policy::jsonb -> 'users', '[]'::jsonb)) AS j(v) WHERE j.v <> k.owner";
  const groups =
    d === "sqlite"
      ? "SELECT DISTINCT 'g:' || j.value, k.name FROM keys k, json_each(k.policy, '$.groups') j"
      : "SELECT DISTINCT 'g:' || j.v, k.name FROM keys k CROSS JOIN LATERAL jsonb_array_elements_text(COALESCE(k.policy::jsonb -> 'groups', '[]'::jsonb)) AS j(v)";
  const listsNobody =
    d === "sqlite"
      ? "COALESCE(json_array_length(policy, '$.users'), 0) + COALESCE(json_array_length(policy, '$.groups'), 0) = 0"
      : "jsonb_array_length(COALESCE(policy::jsonb -> 'users', '[]'::jsonb)) + jsonb_array_length(COALESCE(policy::jsonb -> 'groups', '[]'::jsonb)) = 0";
  return [
    `CREATE TABLE key_readers (
       principal TEXT NOT NULL,
       name TEXT NOT NULL,
       PRIMARY KEY (principal, name)
     )${d === "sqlite" ? " WITHOUT ROWID" : ""}`,
    "CREATE INDEX key_readers_name ON key_readers (name)",
    // KMIP Locate answers newest first, paged with LIMIT/OFFSET: this order from an index rather than a sort of every match.
    "CREATE INDEX objects_created ON objects (created_at DESC, id)",
    "INSERT INTO key_readers (principal, name) SELECT 'u:' || owner, name FROM keys",
    `INSERT INTO key_readers (principal, name) ${users}`,
    `INSERT INTO key_readers (principal, name) ${groups}`,
    `INSERT INTO key_readers (principal, name) SELECT '*', name FROM keys WHERE ${listsNobody}`,
  ];
};

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    description: "keys, versions, certificates, settings, event spine",
    sqlite: schemaV1({ blob: "BLOB", bigint: "INTEGER", serial: "INTEGER" }),
    postgres: schemaV1({ blob: "BYTEA", bigint: "BIGINT", serial: "BIGSERIAL" }),
  },
  {
    version: 2,
    description: "governance: approvals, approval windows, key usage counters",
    sqlite: schemaV2({ bigint: "INTEGER" }),
    postgres: schemaV2({ bigint: "BIGINT" }),
  },
  {
    version: 3,
    description: "scheduler indexes: partial, on keys with a rotation or destruction date only",
    sqlite: schemaV3(),
    postgres: schemaV3(),
  },
  {
    version: 4,
    description: "dual control: certificate principals, approval summaries and digests",
    sqlite: schemaV4(),
    postgres: schemaV4(),
  },
  {
    version: 5,
    description: "scheduled activation and deactivation dates: partial indexes for the scheduler",
    sqlite: schemaV5(),
    postgres: schemaV5(),
  },
  {
    version: 6,
    description: "key visibility in SQL (key_readers) for listing and Locate; Locate order index",
    sqlite: schemaV6("sqlite"),
    postgres: schemaV6("postgres"),
  },
];
