// Shared logic of Get Attributes, Get Attribute List and Add/Modify/Delete/Set Attribute (1.x and 2.x forms).
import { fail } from "../../errors/registry.js";
import type { ObjectRow } from "../../keys/key-model.js";
import type { ObjectAttributes } from "../../keys/key-service.js";
import type { Loaded } from "../../keys/object-service.js";
import {
  type Attr,
  certificateAttributes,
  type DigestInput,
  getStored,
  isReadOnly,
  isSingleValued,
  linkTypeName,
  type ObjectFacts,
  objectAttributes,
  setStored,
} from "../attributes.js";
import { encodeTtlv, find, ItemType, Tag, type TtlvItem } from "../codec/ttlv.js";
import type { KmipCall } from "../operation.js";
import { encodeMaterial, storedFormat } from "./key-material.js";

/** All attributes of an object as the client sees them (Digest computed from the material). */
export async function allAttributes(c: KmipCall, l: Loaded): Promise<Attr[]> {
  const names = await c.services.objects.namesOf(l.obj.id);
  const list = objectAttributes(l.obj, names, () => digestInput(c, l.obj), { major: c.major, minor: c.minor });
  if (l.obj.object_type === "Certificate" && l.obj.material)
    list.push(...certificateAttributes(c.services.keys.unwrapped(l.obj).secret, c.major));
  return list;
}

/** The value a Digest covers: the key material in the object's Key Format Type (its TTLV encoding for a transparent structure). */
export function digestInput(c: KmipCall, o: ObjectRow): DigestInput | null {
  try {
    if (o.object_type !== "PublicKey" && !o.material) return null;
    const secret = o.object_type === "PublicKey" ? null : c.services.keys.unwrapped(o).secret;
    // Certificates and opaque objects: the digest of the value itself, with no Key Format Type.
    if (o.object_type === "Certificate" || o.object_type === "OpaqueObject") return { bytes: secret as Buffer, format: null };
    const format = storedFormat(o);
    const m = encodeMaterial(o, format, secret);
    return { bytes: m.type === ItemType.ByteString ? m.value : encodeTtlv(m), format };
  } catch {
    return null;
  }
}

const same = (a: TtlvItem, b: TtlvItem) =>
  encodeTtlv({ ...a, tag: 0x420000 } as TtlvItem).equals(encodeTtlv({ ...b, tag: 0x420000 } as TtlvItem));

export interface AttrChange {
  kind: "add" | "modify" | "delete" | "set";
  name: string;
  value?: TtlvItem;
  /** For modify/delete: the instance to change (by index in 1.x, by current value in 2.x). */
  index?: number;
  current?: TtlvItem;
}

/**
 * Applies one client attribute change to an object. Names and Links are kept by the service;
 * other client-modifiable attributes are stored as TTLV. Returns the affected value.
 */
export async function applyChange(c: KmipCall, id: string, ch: AttrChange): Promise<TtlvItem | undefined> {
  let result: TtlvItem | undefined;
  await c.services.objects.updateAttributes(c.auth, c.op, id, (attrs: ObjectAttributes, l, names) => {
    const st = l.obj.state;
    if (ch.name === "Deactivation Date") {
      const at = scheduledDate(ch, l.obj.deactivated_at);
      // Past the Deactivation Date an object never becomes usable again: only a live object's date may move.
      if (st !== "Pre-Active" && st !== "Active")
        fail("invalid_state", {
          detail: `the Deactivation Date of ${id} can only be changed while it is Pre-Active or Active; it is ${st}`,
        });
      if (l.obj.activated_at && at < l.obj.activated_at)
        fail("validation", { detail: "the Deactivation Date may not precede the Activation Date" });
      result = ch.value;
      // Stored as the object's Deactivation Date: at once Deactivated when it has come, else the scheduler does it.
      return { deactivatedAt: at };
    }
    if (["Activation Date", "Process Start Date", "Protect Stop Date"].includes(ch.name)) {
      // KMIP: these dates may only be set or changed while the object is Pre-Active; otherwise the change is refused
      // for the object's state (2.x Wrong Key Lifecycle State, 1.x Permission Denied). They are never deleted.
      if (ch.kind === "delete") fail("attribute_read_only", { attribute: ch.name });
      if (st !== "Pre-Active")
        fail("invalid_state", { detail: `${ch.name} can only be changed while the object is Pre-Active; ${id} is ${st}` });
    } else if (isReadOnly(ch.name)) {
      fail("attribute_read_only", { attribute: ch.name });
    }
    // Extractable may only be turned off and Sensitive only on: loosening them would let one person undo
    // a protection (the REST equivalent, exportable false → true, is refused too: exportable_one_way).
    // A key made non-exportable over REST counts as Extractable false here even without a stored attribute.
    // (An Add next to a stored value is refused as single-valued below.)
    if ((ch.name === "Extractable" || ch.name === "Sensitive") && (ch.kind !== "add" || getStored(attrs, ch.name).length === 0)) {
      const loosens = ch.kind === "delete" || (ch.name === "Extractable" ? ch.value?.value === true : ch.value?.value === false);
      const current = getStored(attrs, ch.name)[0]?.value ?? (ch.name === "Extractable" && l.key.exportable !== 1 ? false : undefined);
      if (loosens && current === (ch.name !== "Extractable")) {
        fail("attribute_read_only", { attribute: `${ch.name} (it can only be made more restrictive)` });
      }
    }
    if (ch.name === "Name") return changeNames(ch, names, (v) => (result = v));
    if (ch.name === "Link") {
      changeLinks(attrs, ch, (v) => (result = v));
      return undefined;
    }
    const values = getStored(attrs, ch.name);
    const idx = ch.current ? values.findIndex((v) => same(v, ch.current as TtlvItem)) : (ch.index ?? 0);
    switch (ch.kind) {
      case "add":
        if (values.length > 0 && isSingleValued(ch.name, c.major)) fail("attribute_single_valued", { attribute: ch.name });
        values.push(ch.value as TtlvItem);
        result = ch.value;
        break;
      case "set":
        values.splice(0, values.length, ch.value as TtlvItem);
        result = ch.value;
        break;
      case "modify":
        if (idx < 0 || idx >= values.length) fail("attribute_not_found", { attribute: ch.name });
        values[idx] = ch.value as TtlvItem;
        result = ch.value;
        break;
      case "delete":
        if (idx < 0 || idx >= values.length) fail("attribute_not_found", { attribute: ch.name });
        result = values.splice(idx, 1)[0];
        break;
    }
    setStored(attrs, ch.name, values);
    // Always Sensitive / Never Extractable record whether Sensitive / Extractable ever changed away from the start.
    if (ch.name === "Sensitive" && values[0]?.value !== true) (attrs as ObjectFacts).alwaysSensitive = false;
    if (ch.name === "Extractable" && values[0]?.value !== false) (attrs as ObjectFacts).neverExtractable = false;
    if (ch.name === "Activation Date" && ch.kind !== "delete" && ch.value) {
      // Now or past: Active at once; in the future: the scheduler activates it then (KeyService.lifecycleDue).
      const at = new Date(Number(ch.value.value) * 1000).toISOString();
      if (l.obj.deactivated_at && at > l.obj.deactivated_at)
        fail("validation", { detail: "the Activation Date may not follow the Deactivation Date" });
      return { activatedAt: at };
    }
    return undefined;
  });
  return result;
}

/**
 * The date a Deactivation Date change asks for. KMIP: set by the server or the client, modifiable, not deletable by
 * the client, single-valued.
 */
function scheduledDate(ch: AttrChange, current: string | null): string {
  if (ch.kind === "delete") fail("attribute_read_only", { attribute: ch.name });
  if (ch.kind === "add" && current) fail("attribute_single_valued", { attribute: ch.name });
  if (ch.kind === "modify" && !current) fail("attribute_not_found", { attribute: ch.name });
  if (!ch.value || ch.value.type !== ItemType.DateTime) return fail("validation", { detail: `${ch.name} must be a Date-Time` });
  return new Date(Number(ch.value.value) * 1000).toISOString();
}

function nameValue(v: TtlvItem | undefined): string {
  const n = v ? find(v, Tag.NameValue) : undefined;
  if (!n || n.type !== ItemType.TextString) return fail("validation", { detail: "Name Value missing" });
  return n.value;
}

function changeNames(ch: AttrChange, names: string[], set: (v: TtlvItem) => void): { names: string[] } {
  const list = [...names];
  const idx = ch.current ? list.indexOf(nameValue(ch.current)) : (ch.index ?? 0);
  // Names are unique on this server: an object may not take a Name any object (itself included) already has.
  if (ch.kind === "add" || ch.kind === "modify") {
    const n = nameValue(ch.value);
    if (list.includes(n) && !(ch.kind === "modify" && list[idx] === n)) fail("key_exists", { name: n });
  }
  if (ch.kind === "add") list.push(nameValue(ch.value));
  else if (ch.kind === "set") list.splice(0, list.length, nameValue(ch.value));
  else {
    if (idx < 0 || idx >= list.length) fail("attribute_not_found", { attribute: "Name" });
    if (ch.kind === "modify") list[idx] = nameValue(ch.value);
    else list.splice(idx, 1);
  }
  if (ch.value) set(ch.value);
  return { names: list };
}

function changeLinks(attrs: ObjectAttributes, ch: AttrChange, set: (v: TtlvItem) => void): void {
  const parse = (v: TtlvItem | undefined) => {
    const t = v ? find(v, Tag.LinkType) : undefined;
    const i = v ? find(v, Tag.LinkedObjectIdentifier) : undefined;
    if (!t || !i) return fail("validation", { detail: "Link needs Link Type and Linked Object Identifier" });
    return { type: linkTypeName(t.value as number), id: String(i.value) };
  };
  const links = [...(attrs.links ?? [])];
  if (ch.kind === "add") links.push(parse(ch.value));
  else if (ch.kind === "set") links.splice(0, links.length, parse(ch.value));
  else {
    const idx = ch.current ? links.findIndex((l) => l.id === parse(ch.current).id && l.type === parse(ch.current).type) : (ch.index ?? 0);
    if (idx < 0 || idx >= links.length) fail("attribute_not_found", { attribute: "Link" });
    if (ch.kind === "modify") links[idx] = parse(ch.value);
    else links.splice(idx, 1);
  }
  if (ch.value) set(ch.value);
  attrs.links = links;
}
