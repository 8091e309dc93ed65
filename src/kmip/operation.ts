// The shape of a KMIP operation handler and the per-batch-item context it gets.
import type { OpScope } from "../audit/operation.js";
import type { AuthCtx } from "../auth/identity.js";
import { fail } from "../errors/registry.js";
import type { KeyService } from "../keys/key-service.js";
import type { KeyUseService } from "../keys/key-use.js";
import type { KmipAuditService } from "../keys/kmip-audit.js";
import type { ObjectService } from "../keys/object-service.js";
import type { SysService } from "../sys/sys-service.js";
import { find, ItemType, type StructureItem, Tag, type TtlvItem } from "./codec/ttlv.js";
import type { StreamSessions } from "./operations/crypto-streams.js";

/** The settings KMIP answers with (Query) and bounds Locate by; bound by the composition root from the configuration. */
export interface KmipSettings {
  /** Server Name in Query's Server Information (config `node`). */
  node: string;
  /** The KMIP port named in Query's profile information (config `listen.kmipPort`). */
  kmipPort: number;
  /** limits.kmipLocateMaxItems: most Unique Identifiers one Locate returns. */
  locateMaxItems: number;
  /** limits.kmipLocateScanMax: most candidate objects a Locate filters. */
  locateScanMax: number;
}

/**
 * The services KMIP calls — and nothing else: no store, no audit log, no barrier, no configuration (the KMIP side of
 * `RouteServices` in src/http/route.ts). Each service authorizes, acts and commits its changes through the batch
 * item's audit scope; `kmipAudit` runs each batch item as its own authorized, audited operation.
 */
export interface KmipServices {
  /** Managed objects by Unique Identifier: what the KMIP operations create, find, change and retire. */
  objects: Pick<
    ObjectService,
    | "authorized"
    | "load"
    | "namesOf"
    | "create"
    | "createKeyPair"
    | "register"
    | "rekey"
    | "activate"
    | "revoke"
    | "destroy"
    | "updateAttributes"
    | "markServed"
    | "locate"
    | "undoable"
  >;
  /** The one key-use policy (use and release of a key version), as REST calls it. */
  keyUse: Pick<KeyUseService, "object" | "charge" | "refuseClearImport" | "refuseClearUnwrap">;
  /** The clear material of an object already loaded through `objects` (certificate attributes). */
  keys: Pick<KeyService, "unwrapped">;
  /** Authorization and audit of batch items, undone batches and unreadable messages. */
  kmipAudit: KmipAuditService;
  /** Whether the server is sealed (then every message is refused). */
  sys: Pick<SysService, "sealed">;
  clock: () => Date;
  settings: KmipSettings;
}

export interface KmipCall {
  services: KmipServices;
  /** Multi-part cryptographic operations in progress (Correlation Values), of the server this call runs in. */
  sessions: StreamSessions;
  auth: AuthCtx;
  major: number;
  minor: number;
  /** The audit scope of this batch item: set its target, commit changes through it. */
  op: OpScope;
  payload: StructureItem;
  /** KMIP ID Placeholder: the Unique Identifier produced by an earlier item of the same message. */
  placeholder: string | null;
  setPlaceholder(id: string): void;
}

export interface KmipOperation {
  /** Operation enumeration name as the XML encoding spells it ("CreateKeyPair"). */
  name: string;
  handle(c: KmipCall): Promise<TtlvItem[]>;
}

/**
 * The Unique Identifier a request names: a Text String, or (2.x) an ID Placeholder enumeration;
 * "If the Unique Identifier is omitted … the server SHALL use the ID Placeholder value".
 */
export function targetId(c: KmipCall, parent: TtlvItem = c.payload): string {
  const u = find(parent, Tag.UniqueIdentifier);
  if (u && u.type === ItemType.TextString) return u.value;
  if (c.placeholder) return c.placeholder;
  return fail("validation", { detail: "Unique Identifier missing and no ID Placeholder is set" });
}

export function required<T extends TtlvItem>(parent: TtlvItem, tag: number, type: number, what: string): T {
  const it = find(parent, tag);
  if (!it) return fail("validation", { detail: `${what} missing` });
  if (it.type !== type) return fail("validation", { detail: `${what} has the wrong type` });
  return it as T;
}

export function optional<T extends TtlvItem>(parent: TtlvItem, tag: number, type: number, what: string): T | undefined {
  const it = find(parent, tag);
  if (!it) return undefined;
  if (it.type !== type) return fail("validation", { detail: `${what} has the wrong type` });
  return it as T;
}
