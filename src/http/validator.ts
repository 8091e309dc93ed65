// Ajv validation of REST bodies, queries and path parameters against the routes' TypeBox schemas, compiled once at start-up.
import type { TObject, TSchema } from "@sinclair/typebox";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import { ajvLogger } from "../config/config-schema.js";
import { StrongroomError } from "../errors/registry.js";

/** What a request part is called in an error (a body error at the root is "body: …"). */
export type Part = "body" | "query" | "params";

/** Validates (and, for queries, types) one request part; throws the `validation` error. */
export type Check<T = unknown> = (data: unknown) => T;

/** Decoded size of valid standard base64 (padding counted off). */
const decodedLength = (s: string): number => (s.length / 4) * 3 - (s.endsWith("==") ? 2 : s.endsWith("=") ? 1 : 0);

function newAjv(coerceTypes: boolean): Ajv {
  const ajv = new Ajv({
    // The first failure only: one clear message, and no more work on a hostile body than it takes to refuse it.
    allErrors: false,
    coerceTypes,
    // Fields inherited from Object.prototype ("constructor", …) are never read as request fields.
    ownProperties: true,
    // String lengths in UTF-16 code units (String.length, what the bounds always meant) instead of scanning up to a
    // megabyte of text to count code points. Ajv 8 still honours the option but calls it deprecated.
    unicode: false,
    strict: true,
    strictRequired: false,
    logger: ajvLogger,
  });
  addFormats.default(ajv, ["byte"]);
  ajv.addKeyword({
    keyword: "x-maxDecodedBytes",
    type: "string",
    schemaType: "number",
    validate: (max: number, data: string) => data.length % 4 !== 0 || decodedLength(data) <= max,
  });
  return ajv;
}

let ajvs: { plain: Ajv; coercing: Ajv } | null = null;
/** Two instances: coercion only where values arrive as text (query strings), never for JSON bodies. */
const instances = () => {
  ajvs ??= { plain: newAjv(false), coercing: newAjv(true) };
  return ajvs;
};

/** Query integers are plain decimal digits; Ajv's coercion alone would also take "0x10", "1e3" or " 5". */
const DIGITS = "^[0-9]{1,10}$";

type Node = Record<string, unknown>;

/** The schema node an error's schemaPath (`#/properties/a/items/type`) points into: the keyword's parent. */
function nodeOf(root: TSchema, schemaPath: string): Node {
  let node: unknown = root;
  const parts = schemaPath.split("/").slice(1, -1);
  for (const p of parts) node = (node as Node | undefined)?.[p.replace(/~1/g, "/").replace(/~0/g, "~")];
  return (node ?? {}) as Node;
}

/**
 * The field path of an error (`policy.users[0]`). Built from our schema's names and array indexes only: an error is
 * only ever raised inside a known field, and an unknown field's name (request content) is never part of it.
 */
function fieldPath(instancePath: string, data: unknown): { path: string; value: unknown } {
  let path = "";
  let value = data;
  for (const raw of instancePath.split("/").slice(1)) {
    const seg = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (Array.isArray(value)) {
      path += `[${seg}]`;
      value = value[Number(seg)];
    } else {
      path = path ? `${path}.${seg}` : seg;
      value = (value as Node | undefined)?.[seg];
    }
  }
  return { path, value };
}

const range = (n: Node, lo: string, hi: string, dflt: number) => `${n[lo] ?? dflt}..${n[hi] ?? "∞"}`;

/** What the failing schema node expects, in words (never the value that failed). */
function expected(e: ErrorObject, n: Node): string {
  if (n.pattern === DIGITS) return "must be a whole number";
  if (e.keyword === "x-maxDecodedBytes" || (n.format === "byte" && e.keyword === "maxLength"))
    return `must decode to at most ${n["x-maxDecodedBytes"]} bytes`;
  if (n.format === "byte" && e.keyword !== "minLength") return "must be standard base64";
  if (Array.isArray(n.enum)) return `must be one of ${n.enum.join(", ")}`;
  switch (n.type) {
    case "integer":
      return `must be an integer in ${range(n, "minimum", "maximum", Number.NEGATIVE_INFINITY)}`;
    case "boolean":
      return "must be true or false";
    case "object":
      return "must be a JSON object";
    case "array":
      return e.keyword === "type" ? "must be an array" : `must hold ${range(n, "minItems", "maxItems", 0)} items`;
    case "string":
      if (e.keyword === "type") return "must be a string";
      if (e.keyword === "pattern") return `must match ${n.pattern}`;
      return `must be ${range(n, "minLength", "maxLength", 0)} characters`;
  }
  return "is not valid";
}

/** Ajv's first error as our `validation` error: field path and expectation from our schema, never the request's content. */
function toError(e: ErrorObject, root: TSchema, data: unknown, part: Part): StrongroomError {
  const { path, value } = fieldPath(e.instancePath, data);
  const where = path || part;
  const n = nodeOf(root, e.schemaPath);
  let what: string;
  if (e.keyword === "additionalProperties") {
    const known = Object.keys((n.properties as Node | undefined) ?? {});
    const list = known.length > 12 ? `${known.slice(0, 12).join(", ")}, …` : known.join(", ") || "none";
    if (part === "query" && !path) return new StrongroomError("validation", { detail: `query: an unknown parameter (known: ${list})` });
    const keys = Object.keys(value as Node);
    const position = keys.indexOf((e.params as { additionalProperty: string }).additionalProperty) + 1;
    what = `field ${position} of ${keys.length} is not a known field (known: ${list}); unknown field names are not echoed`;
  } else if (e.keyword === "required") {
    const missing = (e.params as { missingProperty: string }).missingProperty;
    return new StrongroomError("validation", { detail: `${path ? `${path}.${missing}` : missing}: is required` });
  } else what = expected(e, n);
  return new StrongroomError("validation", { detail: `${where}: ${what}` });
}

function checker<T>(ajv: Ajv, schema: TSchema, part: Part): Check<T> {
  const validate: ValidateFunction = ajv.compile(schema);
  return (data) => {
    if (!validate(data)) throw toError((validate.errors as ErrorObject[])[0], schema, data, part);
    return data as T;
  };
}

/** A JSON body (or path parameters): validated as is, never coerced. */
export const compileBody = <T>(schema: TSchema, part: Part = "body"): Check<T> => checker<T>(instances().plain, schema, part);

/**
 * A query: the first value of each parameter, checked as text (integers must be decimal digits), then typed by the
 * schema (Ajv coerces "10" to 10), so handlers receive numbers, not strings to parse again.
 */
export function compileQuery<T>(schema: TObject): (params: URLSearchParams) => T {
  const { plain, coercing } = instances();
  const props = schema.properties as Record<string, Node>;
  const asText = {
    ...schema,
    properties: Object.fromEntries(
      Object.entries(props).map(([k, s]) => [k, s.type === "integer" ? { type: "string", pattern: DIGITS } : s]),
    ),
  };
  const text = checker<unknown>(plain, asText as unknown as TSchema, "query");
  const typed = checker<T>(coercing, schema, "query");
  return (params) => {
    // A null prototype: a parameter named __proto__ is a field like any other (and is refused as unknown).
    const q: Node = Object.create(null);
    for (const [k, v] of params) if (!Object.hasOwn(q, k)) q[k] = v;
    text(q);
    return typed(q);
  };
}
