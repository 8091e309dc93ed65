// Generates src/kmip/codec/tables.ts (KMIP tags, item types, enumerations and masks) from tools/kmip-spec.txt.
//
// Usage: node tools/gen-kmip-tables.mjs [--check] [--pykmip /path/to/kmip/core/enums.py]
//   --check    compare with the committed tables.ts instead of writing it (exit 1 when stale)
//   --pykmip   cross-check every tag and enumeration value against PyKMIP's enums.py (an independent
//              transcription of the same tables); defaults to the Debian python3-pykmip location and
//              is skipped when that file is absent. Disagreement on a value fails the run.
//
// XML/JSON names are derived with the KMIP profiles' "Normalizing Names" rules, which the profiles list as:
//   1. Replace round brackets '(', ')' with spaces.
//   2. If a non-word char (not alpha, digit or underscore) is followed by a letter (either upper or lower
//      case) then a lower case letter, replace the non-word char with space.
//   3. Replace remaining non-word chars (except whitespace) with underscore.
//   4. If the first word begins with a digit, move all digits at start of first word to end of first word.
//   5. Capitalize the first letter of each word.
//   6. Concatenate all words with spaces removed.

import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const specPath = join(root, "tools", "kmip-spec.txt");
const outPath = join(root, "src", "kmip", "codec", "tables.ts");

const args = process.argv.slice(2);
const check = args.includes("--check");
const pyIdx = args.indexOf("--pykmip");
const pykmipPath = pyIdx >= 0 ? args[pyIdx + 1] : "/usr/lib/python3/dist-packages/kmip/core/enums.py";

/** The profiles' name normalization (see header). */
export function normalizeName(name) {
  let s = name.replace(/[()]/g, " ");
  s = s.replace(/[^A-Za-z0-9_\s](?=[A-Za-z][a-z])/g, " ");
  const words = s.split(/\s+/).filter((w) => w.length > 0);
  return words
    .map((w, i) => {
      let word = w.replace(/[^A-Za-z0-9_]/g, "_");
      if (i === 0) word = word.replace(/^(\d+)(.*)$/, "$2$1");
      return word.charAt(0).toUpperCase() + word.slice(1);
    })
    .join("");
}

function fail(msg) {
  console.error(`gen-kmip-tables: ${msg}`);
  process.exit(1);
}

// ---------------------------------------------------------------------------------------------
// Parse tools/kmip-spec.txt

function parseSpec(text) {
  const tags = [];
  const enums = [];
  let current = null; // "tags" or an enum object
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    const where = `kmip-spec.txt:${i + 1}`;
    if (line === "" || line.startsWith("#")) return;
    const header = /^\[(tags|enum|mask)(?: ([^\]]+))?\](?:\s+tags:\s*(.*))?$/.exec(line);
    if (header) {
      if (header[1] === "tags") {
        current = "tags";
        return;
      }
      const tagList = header[3] === undefined ? undefined : header[3].trim() === "-" ? [] : header[3].split(",").map((t) => t.trim());
      current = { name: header[2].trim(), mask: header[1] === "mask", tagNames: tagList, values: [], aliases: [] };
      enums.push(current);
      return;
    }
    const m = /^(~?)([0-9A-Fa-f]{6}|[0-9A-Fa-f]{8})\s+(.+?)(?:\s+=>\s+(\S+))?$/.exec(line);
    if (!m || current === null) fail(`${where}: cannot parse "${line}"`);
    const value = Number.parseInt(m[2], 16);
    const name = m[3];
    const xmlName = m[4] ?? normalizeName(name);
    if (current === "tags") {
      if (m[1] || m[2].length !== 6) fail(`${where}: a tag is six hex digits`);
      tags.push({ value, name, xmlName });
    } else if (m[1]) {
      current.aliases.push({ value, name, xmlName });
    } else {
      if (m[2].length !== 8) fail(`${where}: an enumeration value is eight hex digits`);
      current.values.push({ value, name, xmlName });
    }
  });
  return { tags, enums };
}

function checkUnique(list, key, what) {
  const seen = new Map();
  for (const e of list) {
    const k = e[key];
    if (seen.has(k)) fail(`${what}: duplicate ${key} ${typeof k === "number" ? `0x${k.toString(16)}` : k}`);
    seen.set(k, e);
  }
}

const spec = parseSpec(readFileSync(specPath, "utf8"));
checkUnique(spec.tags, "value", "tags");
checkUnique(spec.tags, "xmlName", "tags");
checkUnique(spec.tags, "name", "tags");
checkUnique(spec.enums, "name", "enumerations");

const tagByName = new Map(spec.tags.map((t) => [t.name, t.value]));
for (const e of spec.enums) {
  e.xmlName = normalizeName(e.name);
  checkUnique(e.values, "value", e.name);
  checkUnique([...e.values, ...e.aliases.filter((a) => !e.values.some((v) => v.xmlName === a.xmlName))], "xmlName", e.name);
  for (const a of e.aliases) {
    if (!e.values.some((v) => v.value === a.value)) fail(`${e.name}: alias "${a.name}" names no listed value`);
  }
  if (e.mask) {
    for (const v of e.values) if (v.value === 0 || (v.value & (v.value - 1)) !== 0) fail(`${e.name}: mask value ${v.name} is not one bit`);
  }
  const names = e.tagNames ?? (tagByName.has(e.name) ? [e.name] : []);
  e.tags = names.map((n) => {
    const t = tagByName.get(n);
    if (t === undefined) fail(`${e.name}: unknown tag "${n}"`);
    return t;
  });
}
const tagOwners = new Map();
for (const e of spec.enums) {
  for (const t of e.tags) {
    if (tagOwners.has(t)) fail(`tag 0x${t.toString(16)} has two enumerations: ${tagOwners.get(t)} and ${e.name}`);
    tagOwners.set(t, e.name);
  }
}

// ---------------------------------------------------------------------------------------------
// Cross-check against PyKMIP's enums.py (values only; PyKMIP spells names differently)

function crossCheckPyKmip(path) {
  const text = readFileSync(path, "utf8");
  const classes = new Map();
  let cls = null;
  for (const line of text.split("\n")) {
    const c = /^class (\w+)\(/.exec(line);
    if (c) {
      cls = [];
      classes.set(c[1], cls);
      continue;
    }
    if (/^\S/.test(line)) cls = null;
    const m = /^\s+(\w+)\s*=\s*(0x[0-9A-Fa-f]+|\d+)\b/.exec(line);
    if (cls && m) cls.push({ name: m[1], value: Number(m[2]) });
  }
  const problems = [];
  let compared = 0;
  // Tags (PyKMIP's DEFAULT 0x420000 is its own sentinel, not a KMIP tag).
  const ours = new Map(spec.tags.map((t) => [t.value, t]));
  for (const { name, value } of classes.get("Tags") ?? []) {
    if (value === 0x420000) continue;
    compared++;
    if (!ours.has(value)) problems.push(`tag ${name}=0x${value.toString(16)} missing`);
  }
  for (const e of spec.enums) {
    const py = classes.get(e.xmlName.replace(/_/g, ""));
    if (!py) continue;
    const byValue = new Map(e.values.map((v) => [v.value, v]));
    for (const { name, value } of py) {
      if (value >= 0x80000000) continue; // extension values PyKMIP made up
      compared++;
      const v = byValue.get(value);
      if (!v) problems.push(`${e.name}: PyKMIP ${name}=0x${value.toString(16)} missing`);
    }
  }
  if (problems.length > 0) fail(`PyKMIP cross-check (${path}) disagrees:\n  ${problems.join("\n  ")}`);
  console.log(`gen-kmip-tables: cross-checked ${compared} values against ${path}`);
}

if (existsSync(pykmipPath)) crossCheckPyKmip(pykmipPath);
else console.log(`gen-kmip-tables: ${pykmipPath} not found, PyKMIP cross-check skipped`);

// ---------------------------------------------------------------------------------------------
// Emit tables.ts

const hex = (n, digits) => `0x${n.toString(16).toUpperCase().padStart(digits, "0")}`;
const str = (s) => JSON.stringify(s);
const key = (s) => (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(s) ? s : str(s));

const itemTypes = spec.enums.find((e) => e.name === "Item Type");
const out = [];
out.push("// KMIP 1.0–2.1 tags, item types, enumerations and masks (generated — do not edit).");
out.push("// Source: tools/kmip-spec.txt (spec tables); regenerate with `node tools/gen-kmip-tables.mjs`.");
out.push("");
out.push("/** TTLV item types (the type byte). */");
out.push("export const ItemType = {");
for (const v of itemTypes.values) out.push(`  ${key(v.xmlName)}: ${hex(v.value, 2)},`);
out.push("} as const;");
out.push("export type ItemType = (typeof ItemType)[keyof typeof ItemType];");
out.push("");
out.push("/** Tag values by XML/JSON name. */");
out.push("export const Tag = {");
for (const t of spec.tags) out.push(`  ${key(t.xmlName)}: ${hex(t.value, 6)},`);
out.push("} as const;");
out.push("export type TagName = keyof typeof Tag;");
out.push("");
out.push("/** Every tag as [value, specification name, XML/JSON name]. */");
out.push("export const TAG_TABLE: readonly (readonly [number, string, string])[] = [");
for (const t of spec.tags) out.push(`  [${hex(t.value, 6)}, ${str(t.name)}, ${str(t.xmlName)}],`);
out.push("];");
out.push("");
out.push("/** An enumeration or bit mask: its values as [value, specification name, XML/JSON name]. */");
out.push("export interface EnumDef {");
out.push("  readonly name: string;");
out.push("  readonly xmlName: string;");
out.push("  /** A bit mask (encoded as an Integer) rather than an Enumeration. */");
out.push("  readonly mask: boolean;");
out.push("  /** The tags whose items carry this enumeration. */");
out.push("  readonly tags: readonly number[];");
out.push("  readonly values: readonly (readonly [number, string, string])[];");
out.push("  /** Spellings from older specification versions, accepted on input only. */");
out.push("  readonly aliases: readonly (readonly [number, string, string])[];");
out.push("}");
out.push("");
out.push("/** The enumeration whose values are the tags themselves (Tag, 2.0 Attribute Reference). */");
out.push(`export const TAG_ENUMERATION = ${str("Tag")};`);
out.push("");
out.push("export const ENUM_TABLE: readonly EnumDef[] = [");
for (const e of spec.enums) {
  out.push("  {");
  out.push(`    name: ${str(e.name)},`);
  out.push(`    xmlName: ${str(e.xmlName)},`);
  out.push(`    mask: ${e.mask},`);
  out.push(`    tags: [${e.tags.map((t) => hex(t, 6)).join(", ")}],`);
  if (e.values.length === 0) out.push("    values: [],");
  else {
    out.push("    values: [");
    for (const v of e.values) out.push(`      [${hex(v.value, 8)}, ${str(v.name)}, ${str(v.xmlName)}],`);
    out.push("    ],");
  }
  if (e.aliases.length === 0) out.push("    aliases: [],");
  else {
    out.push("    aliases: [");
    for (const v of e.aliases) out.push(`      [${hex(v.value, 8)}, ${str(v.name)}, ${str(v.xmlName)}],`);
    out.push("    ],");
  }
  out.push("  },");
}
out.push("];");
out.push("");
out.push("/** Enumeration and mask values by XML/JSON name, e.g. `Enum.Operation.CreateKeyPair`. */");
out.push("export const Enum = {");
for (const e of spec.enums) {
  if (e.values.length === 0) continue;
  out.push(`  ${key(e.xmlName)}: {`);
  for (const v of e.values) out.push(`    ${key(v.xmlName)}: ${hex(v.value, 8)},`);
  out.push("  },");
}
out.push("} as const;");
out.push("");

let generated = out.join("\n");
// Keep the committed file exactly as Biome formats it, so `biome check` stays clean.
try {
  generated = execFileSync(join(root, "node_modules", ".bin", "biome"), ["format", "--stdin-file-path", outPath], {
    input: generated,
    cwd: root,
    encoding: "utf8",
  });
} catch {
  console.log("gen-kmip-tables: biome not available, output left unformatted");
}

if (check) {
  const current = existsSync(outPath) ? readFileSync(outPath, "utf8") : "";
  if (current !== generated) fail(`${outPath} is stale; run node tools/gen-kmip-tables.mjs`);
  console.log("gen-kmip-tables: tables.ts is up to date");
} else {
  writeFileSync(outPath, generated);
  console.log(
    `gen-kmip-tables: wrote ${outPath}: ${spec.tags.length} tags, ${spec.enums.length} enumerations, ${spec.enums.reduce((n, e) => n + e.values.length, 0)} values`,
  );
}
