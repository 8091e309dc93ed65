// strongroom.yaml as a JSON Schema generated (with TypeBox) from the CONFIG_FIELDS table, validated by Ajv; errors name the key and what was expected.
import { type TSchema, Type } from "@sinclair/typebox";
import { Ajv, type ErrorObject } from "ajv";
import type { ConfigField } from "./config.js";

/** Ajv's compile-time warnings fail the start (a schema mistake is a bug), except the deprecation of an option we mean. */
export const ajvLogger = {
  log: () => {},
  warn: (...args: unknown[]) => {
    if (!String(args[0]).startsWith("DEPRECATED: option unicode")) throw new Error(`ajv: ${args.join(" ")}`);
  },
  error: (...args: unknown[]) => {
    throw new Error(`ajv: ${args.join(" ")}`);
  },
};

type Mapping = Record<string, unknown>;
const isMapping = (v: unknown): v is Mapping => typeof v === "object" && v !== null && !Array.isArray(v);

function getPath(root: Mapping, key: string): unknown {
  let v: unknown = root;
  for (const part of key.split(".")) v = isMapping(v) ? v[part] : undefined;
  return v;
}

/** Annotation of a `custom` field: the table's own validator runs as an Ajv keyword and may normalize the value. */
const CUSTOM = "x-configCustom";
const POWER_OF_TWO = "x-powerOfTwo";

/** A bound naming another key becomes an Ajv `$data` reference: a relative JSON pointer from this key to that one. */
function bound(key: string, b: number | string): number | { $data: string } {
  if (typeof b === "number") return b;
  const from = key.split(".");
  const to = b.split(".");
  let common = 0;
  while (common < from.length - 1 && from[common] === to[common]) common++;
  return { $data: `${from.length - common}/${to.slice(common).join("/")}` };
}

function leaf(key: string, f: ConfigField): TSchema {
  const dflt = f.default === undefined ? {} : { default: f.default };
  switch (f.type) {
    case "integer":
      return Type.Unsafe<number>({
        type: "integer",
        minimum: bound(key, f.min),
        maximum: bound(key, f.max),
        ...(f.powerOfTwo ? { [POWER_OF_TWO]: true } : {}),
        ...dflt,
      });
    case "boolean":
      return Type.Boolean(dflt);
    case "string":
      return Type.String({
        minLength: 1,
        maxLength: f.maxLength,
        ...(f.enum ? { enum: [...f.enum] } : {}),
        ...(f.pattern ? { pattern: f.pattern.re.source } : {}),
        ...(f.test ? { format: key } : {}),
        ...dflt,
      });
    case "path":
      return Type.String({ minLength: 1, maxLength: 4096, pattern: "^[^\\u0000]*$", ...dflt });
    case "custom":
      return Type.Unsafe({ [CUSTOM]: key, ...dflt });
  }
}

/**
 * The schema of one mapping (the file, or a section such as `limits`): closed (unknown keys refused), required keys
 * are those without a default, a missing section is `{}` so its keys take their defaults or are reported missing.
 * Keys that apply to one seal type only are allowed by the section and forbidden (`false`) under the other types.
 */
function section(prefix: string, fields: [string, ConfigField][]): TSchema {
  const mine = fields.filter(([k]) => k.startsWith(prefix));
  const names = [...new Set(mine.map(([k]) => k.slice(prefix.length).split(".")[0]))];
  const properties: Record<string, TSchema> = {};
  for (const name of names) {
    const key = `${prefix}${name}`;
    const f = mine.find(([k]) => k === key)?.[1];
    if (!f) properties[name] = Type.Optional(section(`${key}.`, mine));
    else properties[name] = f.default === undefined && !f.when ? leaf(key, f) : Type.Optional(leaf(key, f));
  }
  const conditional = mine.filter(([k, f]) => f.when && !k.slice(prefix.length).includes("."));
  const types = [...new Set(conditional.map(([, f]) => f.when?.is as string))];
  const allOf = types.map((is) => {
    const switchKey = String(conditional[0][1].when?.key).slice(prefix.length);
    const own = conditional.filter(([, f]) => f.when?.is === is).map(([k]) => k.slice(prefix.length));
    const others = conditional.map(([k]) => k.slice(prefix.length)).filter((k) => !own.includes(k));
    return {
      if: { type: "object", required: [switchKey], properties: { [switchKey]: { const: is } } },
      // biome-ignore lint/suspicious/noThenProperty: the JSON Schema keyword, not a thenable
      then: {
        type: "object",
        required: own.filter((k) => conditional.find(([c]) => c === `${prefix}${k}`)?.[1].default === undefined),
        properties: Object.fromEntries(others.map((k) => [k, false])),
      },
    };
  });
  return Type.Object(properties, {
    additionalProperties: false,
    ...(prefix ? { default: {} } : {}),
    ...(allOf.length ? { allOf } : {}),
  }) as TSchema;
}

/** Edit distance, for "did you mean" (names are short; bounded by the 64-character cut below). */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length];
}

/** The closest known name among the siblings, if close enough to be a typo. */
function closest(name: string, known: string[]): string | undefined {
  const n = name.slice(0, 64).toLowerCase();
  let best: { k: string; d: number } | undefined;
  for (const k of known) {
    const d = distance(n, k.toLowerCase());
    if (!best || d < best.d) best = { k, d };
  }
  return best && best.d <= Math.max(2, Math.floor(name.length / 3)) ? best.k : undefined;
}

/** A key name or value as shown in an error: printable and short (the file is the operator's, but stays one line). */
const shown = (k: string): string => (k.length > 64 ? `${k.slice(0, 64)}…` : k).replace(/[^\x20-\x7e]/g, "?");

/** The type of a wrong value, never the value itself (it may be long, or a secret in the wrong place). */
function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  if (typeof v === "string") return "a string";
  return typeof v === "number" ? String(v) : typeof v;
}

/** A bound in an error: the number, or the key it comes from with that key's value. */
function boundText(b: number | string, values: Mapping): string {
  if (typeof b === "number") return String(b);
  const v = getPath(values, b);
  return typeof v === "number" ? `${b} (${v})` : b;
}

export interface ConfigProblem {
  key: string;
  message: string;
}

/** Ajv's first error in the words of the table: the key, what it must be, and (for numbers and choices) what it is. */
function problem(e: ErrorObject, fields: Record<string, ConfigField>, values: Mapping): ConfigProblem {
  const parts = e.instancePath.split("/").slice(1);
  let key = parts.join(".");
  if (e.keyword === "additionalProperties") {
    const name = (e.params as { additionalProperty: string }).additionalProperty;
    const prefix = key;
    key = prefix ? `${prefix}.${name}` : name;
    const sealType = getPath(values, "seal.type");
    const applies = (f: ConfigField) => !f.when || f.when.is === sealType;
    const siblings = [
      ...new Set(
        Object.entries(fields)
          .filter(([k, f]) => applies(f) && k.startsWith(prefix ? `${prefix}.` : ""))
          .map(([k]) => k.slice(prefix ? prefix.length + 1 : 0).split(".")[0]),
      ),
    ];
    const guess = closest(name, siblings);
    return { key, message: `unknown key '${shown(key)}'${guess ? ` (did you mean '${prefix ? `${prefix}.` : ""}${guess}'?)` : ""}` };
  }
  if (e.keyword === "false schema") return { key, message: `unknown key '${key}' for seal.type ${String(getPath(values, "seal.type"))}` };
  if (e.keyword === "required") {
    key = key
      ? `${key}.${(e.params as { missingProperty: string }).missingProperty}`
      : (e.params as { missingProperty: string }).missingProperty;
    return { key, message: `missing key '${key}'` };
  }
  const v = getPath(values, key);
  const f = fields[key];
  if (!f) return { key, message: `${key} must be a mapping, not ${describe(v)}` };
  switch (f.type) {
    case "integer": {
      if (e.keyword === POWER_OF_TWO) return { key, message: `${key} must be a power of 2, not ${v}` };
      const range = `from ${boundText(f.min, values)} to ${boundText(f.max, values)}`;
      return { key, message: `${key} must be an integer ${range}, not ${describe(v)}` };
    }
    case "boolean":
      return { key, message: `${key} must be true or false, not ${describe(v)}` };
    case "string":
      if (e.keyword === "enum" && String(v).length <= f.maxLength)
        return { key, message: `${key} must be one of ${f.enum?.join(", ")}, not '${shown(String(v))}'` };
      if (e.keyword === "pattern" && f.pattern) return { key, message: `${key} must be ${f.pattern.what}` };
      if (e.keyword === "format" && f.test) return { key, message: `${key} must be ${f.test.what}, not '${shown(String(v))}'` };
      return {
        key,
        message: `${key} must be ${f.enum ? `one of ${f.enum.join(", ")}` : `a string of 1 to ${f.maxLength} characters`}, not ${describe(v)}`,
      };
    case "path":
      return { key, message: `${key} must be a file path, not ${describe(v)}` };
    case "custom":
      return { key, message: e.message ?? `${key} is not valid` };
  }
}

/**
 * Compiles the table once: the returned check validates a parsed file in place (defaults filled in, custom values
 * normalized) and returns the first problem, or null.
 */
export function configValidator(fields: Record<string, ConfigField>): (raw: Mapping) => ConfigProblem | null {
  const ajv = new Ajv({
    allErrors: false,
    useDefaults: true,
    $data: true,
    ownProperties: true,
    strict: true,
    strictRequired: false,
    logger: ajvLogger,
  });
  for (const [key, f] of Object.entries(fields)) if (f.type === "string" && f.test) ajv.addFormat(key, f.test.ok);
  ajv.addKeyword({ keyword: POWER_OF_TWO, type: "integer", validate: (_: boolean, v: number) => (v & (v - 1)) === 0 });
  ajv.addKeyword({
    keyword: CUSTOM,
    modifying: true,
    errors: true,
    validate: function custom(
      this: unknown,
      key: string,
      v: unknown,
      _parent: unknown,
      cxt?: { parentData: Mapping; parentDataProperty: string | number },
    ): boolean {
      const self = custom as unknown as { errors: Partial<ErrorObject>[] | null };
      try {
        const out = (fields[key] as Extract<ConfigField, { type: "custom" }>).validate(v);
        if (cxt) cxt.parentData[cxt.parentDataProperty] = out;
        self.errors = null;
        return true;
      } catch (e) {
        self.errors = [{ keyword: CUSTOM, message: (e as Error).message, params: {} }];
        return false;
      }
    },
  });
  const schema = section("", Object.entries(fields));
  const validate = ajv.compile(schema);
  return (raw) => (validate(raw) ? null : problem((validate.errors as ErrorObject[])[0], fields, raw));
}
