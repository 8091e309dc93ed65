// TypeBox builders for REST schemas: each one is plain JSON Schema that Ajv validates and the OpenAPI document shows as is.
import { type Static, type TSchema, Type } from "@sinclair/typebox";

export type { Static, TObject, TSchema } from "@sinclair/typebox";

/** Request objects are closed: an unknown field is refused (by position, never by name — src/http/validator.ts), not ignored. */
export const obj = <P extends Parameters<typeof Type.Object>[0]>(properties: P, description?: string) =>
  Type.Object(properties, { additionalProperties: false, ...(description ? { description } : {}) });

export const opt = Type.Optional;

export function str(o: { min?: number; max: number; pattern?: RegExp; description?: string }) {
  return Type.String({
    minLength: o.min ?? 0,
    maxLength: o.max,
    ...(o.pattern ? { pattern: o.pattern.source } : {}),
    ...(o.description ? { description: o.description } : {}),
  });
}

/** One of these strings: `enum` (not TypeBox's union of literals, whose anyOf would turn one refusal into several errors). */
export const enumOf = <const T extends string>(values: readonly T[], description?: string) =>
  Type.Unsafe<T>({ type: "string", enum: [...values], ...(description ? { description } : {}) });

export const int = (o: { min: number; max: number; description?: string }) =>
  Type.Integer({ minimum: o.min, maximum: o.max, ...(o.description ? { description: o.description } : {}) });

export const bool = (description?: string) => Type.Boolean(description ? { description } : {});

/**
 * Standard base64 with padding (OpenAPI format `byte`, checked by ajv-formats), decoding to at most `maxBytes`:
 * `maxLength` bounds the text, `x-maxDecodedBytes` the decoded size exactly (the last group may hold 1 or 2 bytes).
 * The value stays text; routes decode it (`decodeB64`) after validation.
 */
export function b64(o: { maxBytes: number; min?: number; description?: string }) {
  return Type.String({
    format: "byte",
    ...(o.min ? { minLength: o.min } : {}),
    maxLength: Math.ceil(o.maxBytes / 3) * 4,
    "x-maxDecodedBytes": o.maxBytes,
    ...(o.description ? { description: o.description } : {}),
  });
}

export const arr = <T extends TSchema>(item: T, o: { max: number; min?: number; description?: string }) =>
  Type.Array(item, { maxItems: o.max, minItems: o.min ?? 0, ...(o.description ? { description: o.description } : {}) });

/**
 * `then` when the object has `field`, else `otherwise` (JSON Schema if/then/else): the request shape is chosen by
 * one field, so a refusal names the failing field of that shape instead of every alternative's (as oneOf would).
 */
export const ifField = <A extends TSchema, B extends TSchema>(field: string, then: A, otherwise: B, description?: string) =>
  Type.Unsafe<Static<A> | Static<B>>({
    if: { type: "object", required: [field] },
    then,
    else: otherwise,
    ...(description ? { description } : {}),
  });

/** A response: documented (OpenAPI), not validated at run time. Open: clients must ignore members they do not know. */
export const reply = <P extends Parameters<typeof Type.Object>[0]>(properties: P, description?: string) =>
  Type.Object(properties, description ? { description } : {});

/** Decodes a validated base64 field. */
export const decodeB64 = (s: string): Buffer => Buffer.from(s, "base64");
