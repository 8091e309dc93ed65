// The single error registry: each code has an HTTP status, a KMIP Result Reason and a message template.

/** KMIP Result Reason names (KMIP 1.4 §9.1.3.2.29); the KMIP layer maps them to enumeration values. */
export type KmipReason =
  | "Item Not Found"
  | "Response Too Large"
  | "Authentication Not Successful"
  | "Invalid Message"
  | "Operation Not Supported"
  | "Missing Data"
  | "Invalid Field"
  | "Feature Not Supported"
  | "Operation Canceled By Requester"
  | "Cryptographic Failure"
  | "Illegal Operation"
  | "Permission Denied"
  | "Object archived"
  | "Index Out of Bounds"
  | "Application Namespace Not Supported"
  | "Key Format Type Not Supported"
  | "Key Compression Type Not Supported"
  | "Encoding Option Error"
  | "Key Value Not Present"
  | "Attestation Required"
  | "Attestation Failed"
  | "Sensitive"
  | "Not Extractable"
  | "Object Already Exists"
  | "General Failure";

/** KMIP 2.x added finer Result Reasons (KMIP 2.1 §11.27); 1.x clients get the 1.x reason. */
export type Kmip2Reason =
  | KmipReason
  | "Object Not Found"
  | "Wrong Key Lifecycle State"
  | "Incompatible Cryptographic Usage Mask"
  | "Attribute Read Only"
  | "Attribute Single Valued"
  | "Attribute Not Found"
  | "Non Unique Name Attribute"
  | "Invalid Attribute Value"
  | "Unsupported Cryptographic Parameters"
  | "Bad Cryptographic Parameters"
  | "Missing Initialization Vector"
  | "Object Destroyed"
  | "Invalid Object Type"
  | "Illegal Object Type"
  | "Invalid CSR"
  | "Internal Server Error";

interface ErrorDef {
  status: number;
  kmip: KmipReason;
  kmip2: Kmip2Reason;
  message: string;
}

const def = (status: number, kmip: KmipReason, message: string, kmip2: Kmip2Reason = kmip): ErrorDef => ({ status, kmip, kmip2, message });

/** Every error the server can report. Messages use {placeholders} filled from the error's params. */
export const ERRORS = {
  bad_request: def(400, "Invalid Message", "{detail}"),
  invalid_json: def(400, "Invalid Message", "request body is not valid JSON"),
  validation: def(400, "Invalid Field", "{detail}"),
  body_too_large: def(413, "Response Too Large", "request body exceeds {limit} bytes"),
  unsupported_media_type: def(415, "Invalid Message", "content type must be {expected}"),
  route_not_found: def(404, "Operation Not Supported", "no such endpoint: {method} {path}"),
  method_not_allowed: def(405, "Operation Not Supported", "method {method} not allowed on {path}"),
  key_not_found: def(404, "Item Not Found", "key '{name}' not found", "Object Not Found"),
  version_not_found: def(404, "Item Not Found", "key '{name}' has no version {version}", "Object Not Found"),
  object_exists: def(409, "Object Already Exists", "an object with id '{id}' already exists"),
  object_not_found: def(404, "Item Not Found", "object '{id}' not found", "Object Not Found"),
  key_exists: def(409, "Object Already Exists", "a key named '{name}' already exists", "Non Unique Name Attribute"),
  // KMIP 1.x answers a forbidden state transition with Permission Denied (e.g. Destroy of an Active key).
  invalid_state: def(409, "Permission Denied", "{detail}", "Wrong Key Lifecycle State"),
  object_destroyed: def(409, "Permission Denied", "object '{id}' is destroyed: its value no longer exists", "Object Destroyed"),
  rotation_disabled: def(409, "Illegal Operation", "key '{name}' has rotation mode 'none'; rotate is refused"),
  usage_not_permitted: def(403, "Permission Denied", "{detail}", "Incompatible Cryptographic Usage Mask"),
  attribute_read_only: def(403, "Permission Denied", "attribute '{attribute}' cannot be changed by a client", "Attribute Read Only"),
  attribute_single_valued: def(400, "Invalid Field", "attribute '{attribute}' takes a single value", "Attribute Single Valued"),
  attribute_not_found: def(404, "Item Not Found", "attribute '{attribute}' not found", "Attribute Not Found"),
  not_supported: def(400, "Feature Not Supported", "{detail}", "Unsupported Cryptographic Parameters"),
  crypto_params: def(400, "Invalid Field", "{detail}", "Bad Cryptographic Parameters"),
  // The OASIS 2.1 vectors (CS-BC-M-11..13-21) expect Invalid Message here too, not Missing Initialization Vector.
  missing_iv: def(400, "Invalid Message", "an IV/nonce is required for this mode"),
  // The OASIS vectors (CS-BC-M-GCM-1, CS-BC-M-CHACHA20POLY1305-1) expect General Failure for an unusable tag length.
  invalid_tag_length: def(400, "General Failure", "{detail}"),
  wrong_key_type: def(400, "Illegal Operation", "key '{name}' of type {type} does not support {operation}"),
  unauthenticated: def(401, "Authentication Not Successful", "a client certificate issued by this server's CA is required"),
  cert_revoked: def(401, "Authentication Not Successful", "the client certificate has been revoked"),
  cert_expired: def(401, "Authentication Not Successful", "the client certificate is expired or not yet valid"),
  cert_unknown: def(401, "Authentication Not Successful", "the client certificate is not registered with this server"),
  forbidden: def(403, "Permission Denied", "{detail}"),
  // KMIP Sensitive / Extractable attributes (1.x clients get Permission Denied).
  sensitive: def(403, "Permission Denied", "object '{id}' is Sensitive: its value is only released wrapped", "Sensitive"),
  not_extractable: def(403, "Permission Denied", "object '{id}' is not extractable", "Not Extractable"),
  // KMIP Usage Limits: counted down by every protect use, over every transport (src/keys/key-use.ts). The OASIS 2.1
  // vector CS-BC-M-7-21 expects Permission Denied here, not the 2.x reason Usage Limit Exceeded.
  usage_limits_exhausted: def(403, "Permission Denied", "the usage limits of '{id}' are exhausted"),
  // PCI mode: no clear-text key material leaves or enters (REST material/import, KMIP Get/Export/Register/Import).
  pci_cleartext_refused: def(403, "Permission Denied", "PCI mode: clear-text key material may not leave or enter this server; {detail}"),
  unwrap_failed: def(400, "Cryptographic Failure", "the wrapped key could not be unwrapped: {detail}"),
  invalid_key_material: def(400, "Invalid Field", "the key material does not fit type {type}: {detail}"),
  not_quantum_safe: def(400, "General Failure", "a {type} key is not quantum safe; Quantum Safe objects need 256-bit symmetric keys"),
  sealed: def(503, "General Failure", "the server is sealed; submit unseal shares first"),
  already_unsealed: def(409, "Illegal Operation", "the server is already unsealed"),
  invalid_share: def(400, "Invalid Field", "{detail}"),
  duplicate_share: def(409, "Invalid Field", "this unseal share was already submitted"),
  // After a Shamir rekey the old shares carry a retired set id: say so, rather than "another instance".
  superseded_share: def(
    400,
    "Invalid Field",
    "this unseal share is from an earlier share set, replaced by a rekey: the old shares no longer work; use a share of the current set",
  ),
  unseal_failed: def(400, "Authentication Not Successful", "{detail}"),
  crypto_failed: def(400, "Cryptographic Failure", "{detail}"),
  decrypt_failed: def(400, "Cryptographic Failure", "decryption failed: ciphertext or context is invalid or was tampered with"),
  invalid_ciphertext: def(400, "Invalid Field", "{detail}"),
  cert_not_found: def(404, "Item Not Found", "certificate '{serial}' not found"),
  invalid_csr: def(400, "Invalid Field", "invalid CSR: {detail}"),
  operation_not_supported: def(400, "Operation Not Supported", "operation {operation} is not supported"),
  feature_not_supported: def(400, "Feature Not Supported", "{detail}"),
  format_not_supported: def(400, "Key Format Type Not Supported", "{detail}"),
  // KMIP Locate answers exactly or not at all: a filter it cannot evaluate is refused, never ignored.
  locate_filter_unsupported: def(400, "Feature Not Supported", "Locate cannot evaluate {detail}; nothing was located"),
  locate_too_broad: def(
    400,
    "Feature Not Supported",
    "this Locate matches more than {limit} candidates that must be checked one by one (limits.kmipLocateScanMax); narrow it with Name, Object Type, State, Cryptographic Usage Mask or a date",
  ),
  response_too_large: def(400, "Response Too Large", "the response exceeds the Maximum Response Size of {limit} bytes"),
  // Key sizes, curves and consistency (src/crypto/key-limits.ts); the memory budget for responses being built.
  key_not_accepted: def(400, "Invalid Field", "key not accepted: {detail}"),
  responses_busy: def(503, "General Failure", "too many large responses are being built; retry shortly"),
  approval_required: def(202, "Permission Denied", "dual control: {action} waits for approval {id} by a second admin (until {expiresAt})"),
  approval_not_found: def(404, "Item Not Found", "approval request '{id}' not found"),
  approval_closed: def(409, "Illegal Operation", "approval request '{id}' is {status}"),
  // Approvers approve exactly what they reviewed: the digest listed with the request (GET /v1/approvals).
  approval_digest_required: def(
    400,
    "Missing Data",
    "approving '{id}' needs the digest of its content as listed by GET /v1/approvals (body {\"digest\": …}): you approve exactly what you reviewed",
  ),
  approval_digest_mismatch: def(409, "Illegal Operation", "the digest does not match approval request '{id}': {detail}"),
  approval_stale: def(
    409,
    "Illegal Operation",
    "approval request '{id}' no longer describes what would execute (the state it changes moved since it was approved); request it again",
  ),
  exportable_one_way: def(
    409,
    "Permission Denied",
    "key '{name}' is not exportable, and that cannot be undone (like KMIP Extractable): create or import a new key instead",
    "Attribute Read Only",
  ),
  // Server start only (never an HTTP answer; `strongroom server --json` prints the code): one server per instance
  // directory (src/instance-lock.ts), and listener ports that cannot be bound.
  instance_locked: def(
    409,
    "Illegal Operation",
    "the instance directory {dir} is in use by another Strongroom server ({holder}; lock file {lock}): stop that server first, and remove the lock file only if no server runs",
  ),
  port_in_use: def(
    500,
    "General Failure",
    "cannot listen on {address}:{port} for the {listener} listener: the port is in use by another process (stop it, or change {setting})",
  ),
  listen_failed: def(500, "General Failure", "cannot listen on {address}:{port} for the {listener} listener: {reason}"),
  internal: def(500, "General Failure", "internal error; quote request id {requestId} to the operator", "Internal Server Error"),
} as const satisfies Record<string, ErrorDef>;

export type ErrorCode = keyof typeof ERRORS;

/** The one error type services throw; transports map it by code, never by message text. */
export class StrongroomError extends Error {
  readonly code: ErrorCode;
  readonly params: Record<string, string | number>;
  /**
   * The real refusal behind an answer that must not tell it (a key the caller may not see is "not found"): the audit
   * event records this one, the caller gets `code`.
   */
  readonly truth: StrongroomError | undefined;
  constructor(code: ErrorCode, params: Record<string, string | number> = {}, truth?: StrongroomError) {
    super(render(ERRORS[code].message, params));
    this.name = "StrongroomError";
    this.code = code;
    this.params = params;
    this.truth = truth;
  }
  get status(): number {
    return ERRORS[this.code].status;
  }
  /** The KMIP Result Reason for a client speaking `major`.x. */
  kmipReason(major = 1): Kmip2Reason {
    return major >= 2 ? ERRORS[this.code].kmip2 : ERRORS[this.code].kmip;
  }
}

function render(template: string, params: Record<string, string | number>): string {
  return template.replace(/\{(\w+)\}/g, (_, k: string) => (k in params ? String(params[k]) : `{${k}}`));
}

export const fail = (code: ErrorCode, params?: Record<string, string | number>): never => {
  throw new StrongroomError(code, params);
};

export const isStrongroomError = (e: unknown): e is StrongroomError => e instanceof StrongroomError;
