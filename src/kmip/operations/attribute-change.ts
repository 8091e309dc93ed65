// Request parsing for Add / Modify / Delete / Set Attribute in both the 1.x and 2.x forms.
import { fail } from "../../errors/registry.js";
import { type Attr, encodeAttr, is2x, readAttributes1x, readAttributes2x, requestedNames } from "../attributes.js";
import { find, ItemType, type StructureItem, struct, Tag, type TtlvItem } from "../codec/ttlv.js";
import type { KmipCall } from "../operation.js";
import type { AttrChange } from "./attribute-ops.js";

/** The single attribute in a 1.x `Attribute` or a 2.x `New Attribute` / `Current Attribute` wrapper. */
function one(c: KmipCall, tag2x: number): { attr: Attr; index?: number } | undefined {
  if (is2x(c.major)) {
    const w = find(c.payload, tag2x);
    if (!w) return undefined;
    const list = readAttributes2x(struct(Tag.Attributes, ...((w as StructureItem).value ?? [])));
    if (list.length !== 1) fail("validation", { detail: "exactly one attribute expected" });
    return { attr: list[0] };
  }
  const a = find(c.payload, Tag.Attribute);
  if (!a) return undefined;
  const [attr] = readAttributes1x(struct(Tag.TemplateAttribute, a));
  const idx = find(a, Tag.AttributeIndex);
  return { attr, index: idx && idx.type === ItemType.Integer ? idx.value : undefined };
}

export function parseChange(c: KmipCall, kind: AttrChange["kind"]): AttrChange {
  if (kind === "delete") {
    if (is2x(c.major)) {
      const cur = one(c, Tag.CurrentAttribute);
      if (cur) return { kind, name: cur.attr.name, current: cur.attr.value };
      const [name] = requestedNames(c.payload, c.major);
      if (!name) return fail("validation", { detail: "Current Attribute or Attribute Reference required" });
      return { kind, name };
    }
    const n = find(c.payload, Tag.AttributeName);
    if (!n || n.type !== ItemType.TextString) return fail("validation", { detail: "Attribute Name missing" });
    const idx = find(c.payload, Tag.AttributeIndex);
    return { kind, name: n.value, index: idx && idx.type === ItemType.Integer ? idx.value : 0 };
  }
  const nw = one(c, Tag.NewAttribute);
  if (!nw) return fail("validation", { detail: is2x(c.major) ? "New Attribute missing" : "Attribute missing" });
  const cur = kind === "modify" && is2x(c.major) ? one(c, Tag.CurrentAttribute) : undefined;
  return { kind, name: nw.attr.name, value: nw.attr.value, index: nw.index, current: cur?.attr.value };
}

/** 1.x responses echo the attribute; 2.x responses carry only the Unique Identifier. */
export function echo(c: KmipCall, name: string, value: TtlvItem | undefined, index?: number): TtlvItem[] {
  if (is2x(c.major) || !value) return [];
  return [encodeAttr({ name, value }, c.major, index)];
}
