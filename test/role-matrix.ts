// The role matrix as data: which role may call each REST route and each KMIP operation. docs/security.md holds the same
// table ("Role matrix"); test/role-matrix.test.ts checks both the documentation and the server against it.

export type Role = "admin" | "auditor" | "client" | "peer";
export const ROLES: Role[] = ["admin", "auditor", "client", "peer"];

export interface MatrixRow {
  /** The roles allowed. */
  allow: Role[];
  /**
   * For a client, on an existing key: "owner" = only the key's owner (management), "policy" = as the key policy
   * grants (use). Admins manage every key; auditors and peers never touch keys.
   */
  client?: "owner" | "policy";
  /** "dual control": an admin may do it only while dual control is on (the tests run with it off: refused). */
  admin?: "dual control";
}

const A: Role = "admin";
const U: Role = "auditor";
const C: Role = "client";
const SIGNED_IN: Role[] = [A, U, C];

/** Every REST route, by "METHOD path" as the router spells it. */
export const REST_MATRIX: Record<string, MatrixRow> = {
  "GET /v1/sys/health": { allow: [A, U, C, "peer"] },
  "GET /v1/sys/status": { allow: SIGNED_IN },
  "POST /v1/sys/unseal": { allow: SIGNED_IN },
  "GET /v1/openapi.json": { allow: SIGNED_IN },
  "POST /v1/keys": { allow: [A, C] },
  "GET /v1/keys": { allow: [A, C] },
  "GET /v1/keys/{name}": { allow: [A, C], client: "policy" },
  "PATCH /v1/keys/{name}": { allow: [A, C], client: "owner" },
  "POST /v1/keys/{name}/rotate": { allow: [A, C], client: "owner" },
  "POST /v1/keys/{name}/revoke": { allow: [A, C], client: "owner" },
  "DELETE /v1/keys/{name}": { allow: [A, C], client: "owner" },
  "POST /v1/keys/{name}/cancel-deletion": { allow: [A, C], client: "owner" },
  "GET /v1/keys/{name}/material": { allow: [C], client: "policy" },
  "POST /v1/keys/{name}/encrypt": { allow: [C], client: "policy" },
  "POST /v1/keys/{name}/decrypt": { allow: [C], client: "policy" },
  "POST /v1/keys/{name}/rewrap": { allow: [C], client: "policy" },
  "POST /v1/keys/{name}/datakey": { allow: [C], client: "policy" },
  "POST /v1/keys/{name}/sign": { allow: [C], client: "policy" },
  "POST /v1/keys/{name}/verify": { allow: [C], client: "policy" },
  "POST /v1/keys/{name}/hmac": { allow: [C], client: "policy" },
  "POST /v1/keys/{name}/hmac-verify": { allow: [C], client: "policy" },
  "POST /v1/keys/{name}/export": { allow: [A, C], client: "policy", admin: "dual control" },
  "POST /v1/keys/import": { allow: [A, C] },
  "GET /v1/sys/wrapping-key": { allow: [A, C] },
  "GET /v1/keys/{name}/usage": { allow: [A, U] },
  "GET /v1/reports/keys": { allow: [A, U] },
  "POST /v1/certs": { allow: [A] },
  "GET /v1/certs": { allow: [A, U] },
  "DELETE /v1/certs/{serial}": { allow: [A] },
  "GET /v1/audit": { allow: [U] },
  "GET /v1/audit/verify": { allow: [U] },
  "GET /v1/approvals": { allow: [A, U] },
  "POST /v1/approvals/{id}/approve": { allow: [A] },
  "POST /v1/approvals/{id}/deny": { allow: [A] },
  "POST /v1/approvals/window": { allow: [A] },
  "GET /v1/sys/governance": { allow: SIGNED_IN },
  "PATCH /v1/sys/governance": { allow: [A] },
  "POST /v1/sys/rekey/init": { allow: [A] },
  "GET /v1/sys/rekey": { allow: [A] },
  "POST /v1/sys/rekey/update": { allow: [A] },
  "DELETE /v1/sys/rekey": { allow: [A] },
  "POST /v1/sys/rotate-master": { allow: [A] },
  "POST /v1/sys/rotate-kek": { allow: [A] },
  "GET /v1/sys/rotate-kek": { allow: [A] },
  "POST /v1/sys/seal": { allow: [A] },
  /** The message is accepted from every role but peer; each operation in it is then gated as in KMIP_MATRIX. */
  "POST /kmip": { allow: SIGNED_IN },
};

/** Every KMIP operation, by the name in the operation table (src/kmip/operations/index.ts). */
export const KMIP_MATRIX: Record<string, MatrixRow> = {
  DiscoverVersions: { allow: SIGNED_IN },
  Query: { allow: SIGNED_IN },
  Create: { allow: [A, C] },
  CreateKeyPair: { allow: [A, C] },
  Register: { allow: [A, C] },
  Import: { allow: [A, C] },
  Locate: { allow: [A, C], client: "policy" },
  Check: { allow: [A, C], client: "policy" },
  GetAttributes: { allow: [A, C], client: "policy" },
  GetAttributeList: { allow: [A, C], client: "policy" },
  ObtainLease: { allow: [A, C], client: "policy" },
  ReKey: { allow: [A, C], client: "owner" },
  ReKeyKeyPair: { allow: [A, C], client: "owner" },
  AddAttribute: { allow: [A, C], client: "owner" },
  ModifyAttribute: { allow: [A, C], client: "owner" },
  DeleteAttribute: { allow: [A, C], client: "owner" },
  SetAttribute: { allow: [A, C], client: "owner" },
  Activate: { allow: [A, C], client: "owner" },
  Revoke: { allow: [A, C], client: "owner" },
  Destroy: { allow: [A, C], client: "owner" },
  Get: { allow: [C], client: "policy" },
  Export: { allow: [C], client: "policy" },
  Encrypt: { allow: [C], client: "policy" },
  Decrypt: { allow: [C], client: "policy" },
  Sign: { allow: [C], client: "policy" },
  SignatureVerify: { allow: [C], client: "policy" },
  MAC: { allow: [C], client: "policy" },
  MACVerify: { allow: [C], client: "policy" },
  RNGRetrieve: { allow: [C] },
  Hash: { allow: [C] },
  Interop: { allow: [A, C] },
  Log: { allow: [A, C] },
  RNGSeed: { allow: [] },
};

/** Whether `role` may do it in the tests' configuration (dual control off). */
export const allowedNow = (row: MatrixRow, role: Role): boolean =>
  row.allow.includes(role) && !(role === "admin" && row.admin === "dual control");

/** The documentation cell of `role` in `row`: "✓", "✓ owner", "✓ policy", "✓ dual control" or "–". */
export function cell(row: MatrixRow, role: Role): string {
  if (!row.allow.includes(role)) return "–";
  const q = role === "client" ? row.client : role === "admin" ? row.admin : undefined;
  return q ? `✓ ${q}` : "✓";
}

/** The operation column as docs/security.md writes it. */
export const restLabel = (route: string): string => `\`${route}\``;
export const kmipLabel = (op: string): string => `KMIP \`${op}\``;

/** The matrix as Markdown table rows (what docs/security.md must contain). */
export function markdownRows(): string[] {
  const rows: [string, MatrixRow][] = [
    ...Object.entries(REST_MATRIX).map(([r, m]) => [restLabel(r), m] as [string, MatrixRow]),
    ...Object.entries(KMIP_MATRIX).map(([o, m]) => [kmipLabel(o), m] as [string, MatrixRow]),
  ];
  return rows.map(([label, m]) => `| ${label} | ${ROLES.map((r) => cell(m, r)).join(" | ")} |`);
}
