// The shape of a KMIP operation handler and the per-batch-item context it gets.
import type { App } from "../app.js";
import type { OpScope } from "../audit/operation.js";
import type { AuthCtx } from "../auth/identity.js";
import { fail } from "../errors/registry.js";
import { find, ItemType, type StructureItem, Tag, type TtlvItem } from "./codec/ttlv.js";

export interface KmipCall {
  app: App;
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
