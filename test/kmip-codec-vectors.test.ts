// OASIS KMIP 1.4 and 2.1 conformance vectors: every name resolves, and every message survives XML -> tree -> TTLV -> tree -> XML and JSON.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  decodeTtlv,
  encodeTtlv,
  enumValue,
  ItemType,
  jsonToTtlv,
  maskValue,
  parseXml,
  type TtlvItem,
  tagByName,
  ttlvToJson,
  ttlvToXml,
  type ValueHook,
  type XmlElement,
  xmlElementToTtlv,
  xmlToTtlv,
} from "../src/kmip/codec/index.js";
import { namingTag } from "../src/kmip/codec/values.js";
import { requiredSuite } from "./required-suites.js";

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const vectorsDir = resolve(process.env.KMIP_VECTORS_DIR ?? join(repoRoot, "..", "shared", "kmip-vectors"));

function vectorFiles(): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith(".xml")) files.push(p);
    }
  };
  for (const version of ["v1.4", "v2.1"]) if (existsSync(join(vectorsDir, version))) walk(join(vectorsDir, version));
  return files;
}

const files = existsSync(vectorsDir) ? vectorFiles() : [];
const skip = requiredSuite(
  "KMIP codec over the conformance vectors",
  files.length === 0 ? `no vector files at ${vectorsDir} (set KMIP_VECTORS_DIR to the OASIS KMIP test cases)` : null,
);

/** Dummy values for the vectors' placeholders, typed by where they occur. */
const NOW = Date.UTC(2021, 5, 1, 12, 0, 0) / 1000;
const placeholders: ValueHook = (text, { type }) => {
  if (!text.startsWith("$")) return text;
  if (type === ItemType.DateTime) {
    const m = /^\$NOW(?:([+-])(\d+))?$/.exec(text);
    assert.ok(m, `unexpected date placeholder ${text}`);
    const t = NOW + (m[1] === "-" ? -1 : 1) * Number(m[2] ?? 0);
    return new Date(t * 1000).toISOString().replace(".000Z", "+00:00");
  }
  if (type === ItemType.ByteString) return "c0ffee00";
  if (type === ItemType.TextString) return `placeholder-${text.slice(1).toLowerCase()}`;
  assert.fail(`unexpected placeholder ${text} of type ${type}`);
};

function messagesOf(file: string): XmlElement[] {
  const root = parseXml(readFileSync(file, "utf8"));
  assert.equal(root.name, "KMIP", file);
  return root.children;
}

test("every tag, enumeration and mask name used in the v1.4 and v2.1 vectors resolves", { skip }, (t) => {
  const unresolved = new Set<string>();
  const seen = { tags: new Set<string>(), enums: new Set<string>(), masks: new Set<string>() };
  const visit = (el: XmlElement, attributeName: string | undefined) => {
    const tagText = el.name === "TTLV" ? el.attributes.tag : el.name;
    const tag = tagByName(tagText);
    seen.tags.add(tagText);
    if (tag === undefined) unresolved.add(`tag ${tagText}`);
    const { type, value } = el.attributes;
    if (tag !== undefined && value !== undefined && !value.startsWith("$")) {
      const nameTag = namingTag(tag, attributeName);
      if (type === "Enumeration") {
        seen.enums.add(`${tagText}=${value}`);
        if (enumValue(nameTag, value) === undefined) unresolved.add(`enumeration ${tagText}=${value}`);
      } else if (type === "Integer" && !/^-?\d+$/.test(value)) {
        seen.masks.add(`${tagText}=${value}`);
        if (maskValue(nameTag, value) === undefined) unresolved.add(`mask ${tagText}=${value}`);
      }
    }
    let name: string | undefined;
    for (const child of el.children) {
      visit(child, name);
      if (child.name === "AttributeName") name = child.attributes.value;
    }
  };
  for (const file of files) for (const msg of messagesOf(file)) visit(msg, undefined);
  assert.deepEqual([...unresolved].sort(), []);
  t.diagnostic(`${seen.tags.size} distinct tags, ${seen.enums.size} enumeration and ${seen.masks.size} mask values resolved`);
});

test("every vector message: XML -> tree -> TTLV -> tree -> XML -> tree is stable, and JSON round-trips", { skip }, (t) => {
  let messages = 0;
  let bytes = 0;
  for (const file of files) {
    const where = relative(vectorsDir, file);
    for (const [i, el] of messagesOf(file).entries()) {
      const at = `${where} message ${i + 1} <${el.name}>`;
      const tree = xmlElementToTtlv(el, { resolveValue: placeholders });
      const ttlv = encodeTtlv(tree);
      const back = decodeTtlv(ttlv);
      assert.deepEqual(back, tree, at);
      const xml = ttlvToXml(back);
      const again = xmlToTtlv(xml);
      assert.deepEqual(again, tree, at);
      assert.equal(ttlvToXml(again), xml, at);
      assert.deepEqual(jsonToTtlv(ttlvToJson(tree)), tree, `${at} (JSON)`);
      sameShape(el, tree, at);
      messages++;
      bytes += ttlv.length;
    }
  }
  assert.ok(messages > 1000, `only ${messages} messages`);
  t.diagnostic(`${files.length} files, ${messages} messages, ${bytes} TTLV bytes round-tripped`);
});

/** The tree has the vector's elements, in order, with their types: nothing was dropped or reordered. */
function sameShape(el: XmlElement, item: TtlvItem, at: string): void {
  assert.equal(item.tag, tagByName(el.name === "TTLV" ? el.attributes.tag : el.name), at);
  if (item.type === ItemType.Structure) {
    assert.equal(item.value.length, el.children.length, at);
    item.value.forEach((child, i) => {
      sameShape(el.children[i], child, at);
    });
  } else assert.ok(el.attributes.type, at);
}

test("vector values keep their meaning through the round trip", { skip }, () => {
  const file = files.find((f) => f.endsWith("SKLC-M-1-21.xml"));
  assert.ok(file, "SKLC-M-1-21.xml present");
  const [request, response] = messagesOf(file).map((el) => xmlElementToTtlv(el, { resolveValue: placeholders }));
  const xml = ttlvToXml(request);
  assert.match(xml, /<Operation type="Enumeration" value="Create"\/>/);
  assert.match(xml, /<CryptographicUsageMask type="Integer" value="Encrypt Decrypt"\/>/);
  assert.match(xml, /<NameType type="Enumeration" value="UninterpretedTextString"\/>/);
  assert.match(ttlvToXml(response), /<TimeStamp type="DateTime" value="2021-06-01T12:00:00\+00:00"\/>/);
});
