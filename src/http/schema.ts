// Request schemas: one definition both validates bodies/queries and generates the OpenAPI document.
import { fail } from "../errors/registry.js";

export type JsonSchema = Record<string, unknown>;

export interface Schema<T> {
  json: JsonSchema;
  optional?: boolean;
  parse(value: unknown, path: string): T;
}

/**
 * A validation failure at a field path. Paths are built from our own schema's field names and array indexes only:
 * an unknown field's name is request content and is never echoed (errors reach the reply and the audit log).
 */
const bad = (path: string, what: string): never => fail("validation", { detail: `${path || "body"}: ${what}` });

/** Refusal of an unknown field: its position among the object's fields and the fields we know, never its name. */
function unknownField(path: string, position: number, count: number, known: string[]): never {
  const list = known.length > 12 ? `${known.slice(0, 12).join(", ")}, …` : known.join(", ") || "none";
  return bad(path, `field ${position} of ${count} is not a known field (known: ${list}); unknown field names are not echoed`);
}

export function str(o: { min?: number; max: number; pattern?: RegExp; description?: string }): Schema<string> {
  return {
    json: {
      type: "string",
      minLength: o.min ?? 0,
      maxLength: o.max,
      ...(o.pattern ? { pattern: o.pattern.source } : {}),
      ...(o.description ? { description: o.description } : {}),
    },
    parse(v, path) {
      if (typeof v !== "string") return bad(path, "must be a string");
      if (v.length < (o.min ?? 0) || v.length > o.max) return bad(path, `must be ${o.min ?? 0}..${o.max} characters`);
      if (o.pattern && !o.pattern.test(v)) return bad(path, `must match ${o.pattern.source}`);
      return v;
    },
  };
}

export function enumOf<const T extends string>(values: readonly T[], description?: string): Schema<T> {
  return {
    json: { type: "string", enum: [...values], ...(description ? { description } : {}) },
    parse(v, path) {
      if (typeof v !== "string" || !(values as readonly string[]).includes(v)) return bad(path, `must be one of ${values.join(", ")}`);
      return v as T;
    },
  };
}

export function int(o: { min: number; max: number; description?: string }): Schema<number> {
  return {
    json: { type: "integer", minimum: o.min, maximum: o.max, ...(o.description ? { description: o.description } : {}) },
    parse(v, path) {
      if (typeof v !== "number" || !Number.isInteger(v) || v < o.min || v > o.max)
        return bad(path, `must be an integer in ${o.min}..${o.max}`);
      return v;
    },
  };
}

/** An integer given as a query-string value. */
export function queryInt(o: { min: number; max: number; description?: string }): Schema<number> {
  const inner = int(o);
  return {
    json: inner.json,
    parse(v, path) {
      if (typeof v !== "string" || !/^\d{1,10}$/.test(v)) return bad(path, "must be a whole number");
      return inner.parse(Number(v), path);
    },
  };
}

export function bool(description?: string): Schema<boolean> {
  return {
    json: { type: "boolean", ...(description ? { description } : {}) },
    parse(v, path) {
      if (typeof v !== "boolean") return bad(path, "must be true or false");
      return v;
    },
  };
}

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Standard base64 (with padding), decoded to a Buffer of at most `maxBytes`. */
export function b64(o: { maxBytes: number; description?: string }): Schema<Buffer> {
  return {
    json: {
      type: "string",
      format: "byte",
      maxLength: Math.ceil(o.maxBytes / 3) * 4,
      ...(o.description ? { description: o.description } : {}),
    },
    parse(v, path) {
      if (typeof v !== "string" || !B64.test(v)) return bad(path, "must be standard base64");
      if (Math.floor((v.length * 3) / 4) > o.maxBytes + 2) return bad(path, `must decode to at most ${o.maxBytes} bytes`);
      const buf = Buffer.from(v, "base64");
      if (buf.length > o.maxBytes) return bad(path, `must decode to at most ${o.maxBytes} bytes`);
      return buf;
    },
  };
}

export function arr<T>(item: Schema<T>, o: { max: number; min?: number; description?: string }): Schema<T[]> {
  return {
    json: {
      type: "array",
      items: item.json,
      maxItems: o.max,
      minItems: o.min ?? 0,
      ...(o.description ? { description: o.description } : {}),
    },
    parse(v, path) {
      if (!Array.isArray(v)) return bad(path, "must be an array");
      if (v.length > o.max || v.length < (o.min ?? 0)) return bad(path, `must hold ${o.min ?? 0}..${o.max} items`);
      return v.map((x, i) => item.parse(x, `${path}[${i}]`));
    },
  };
}

export function opt<T>(s: Schema<T>): Schema<T | undefined> {
  return { json: s.json, optional: true, parse: (v, path) => (v === undefined ? undefined : s.parse(v, path)) };
}

type Shape = Record<string, Schema<unknown>>;
type Out<S extends Shape> = { [K in keyof S]: S[K] extends Schema<infer T> ? T : never };

/** A JSON object with exactly these properties; unknown properties are refused, not ignored. */
export function obj<S extends Shape>(shape: S, description?: string): Schema<Out<S>> {
  const required = Object.keys(shape).filter((k) => !shape[k].optional);
  return {
    json: {
      type: "object",
      additionalProperties: false,
      properties: Object.fromEntries(Object.entries(shape).map(([k, s]) => [k, s.json])),
      ...(required.length ? { required } : {}),
      ...(description ? { description } : {}),
    },
    parse(v, path) {
      if (typeof v !== "object" || v === null || Array.isArray(v)) return bad(path, "must be a JSON object");
      const src = v as Record<string, unknown>;
      const keys = Object.keys(src);
      for (const [i, k] of keys.entries()) if (!Object.hasOwn(shape, k)) unknownField(path, i + 1, keys.length, Object.keys(shape));
      const out: Record<string, unknown> = {};
      for (const [k, s] of Object.entries(shape)) {
        const val = s.parse(src[k], path ? `${path}.${k}` : k);
        if (val === undefined && !s.optional) bad(path ? `${path}.${k}` : k, "is required");
        if (val !== undefined) out[k] = val;
      }
      return out as Out<S>;
    },
  };
}
