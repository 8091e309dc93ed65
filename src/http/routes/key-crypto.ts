// REST resource /v1/keys/{name}/…: key material and on-board cryptography, single and batch forms.
import { CIPHER_MODES } from "../../crypto/ciphertext.js";
import { fail } from "../../errors/registry.js";
import { type BatchOp, MAX_BATCH } from "../../keys/crypto-service.js";
import { type RequestContext, route } from "../route.js";
import { arr, b64, enumOf, int, obj, opt, queryInt, type Schema } from "../schema.js";
import { authCtx, pathName, toJson, zeroBuffers } from "./common.js";

/** Largest plaintext/ciphertext accepted in one item (the body limit bounds batches as a whole). */
const MAX_DATA = 768 * 1024;
const data = (description: string) => b64({ maxBytes: MAX_DATA, description });
const version = opt(int({ min: 1, max: 2 ** 31 - 1, description: "key version (default: the current one)" }));
const hash = opt(enumOf(["sha256", "sha384", "sha512"] as const, "digest (default sha256)"));
const signAlg = opt(enumOf(["pss", "pkcs1", "ecdsa"] as const, "RSA-PSS, RSA PKCS#1 v1.5 or ECDSA (default by key type)"));
const context = opt(b64({ maxBytes: 4096, description: "additional authenticated data (AES-GCM)" }));

const ITEM_SCHEMAS = {
  encrypt: obj({ plaintext: data("data to encrypt"), context, algorithm: opt(enumOf(CIPHER_MODES, "default aes-gcm")) }),
  decrypt: obj({ ciphertext: data("ciphertext returned by encrypt"), context }),
  rewrap: obj({ ciphertext: data("ciphertext to re-encrypt under the current version"), context }),
  sign: obj({ input: data("message to sign"), hash, algorithm: signAlg }),
  verify: obj({ input: data("signed message"), signature: b64({ maxBytes: 1024 }), version, hash, algorithm: signAlg }),
  hmac: obj({ input: data("message"), version }),
  "hmac-verify": obj({ input: data("message"), mac: b64({ maxBytes: 64 }), version }),
} satisfies Record<BatchOp, Schema<unknown>>;

/** `{…item}` or `{"batch":[…items]}`. */
function singleOrBatch<T>(item: Schema<T>): Schema<{ single: T } | { batch: T[] }> {
  const batch = arr(item, { min: 1, max: MAX_BATCH });
  return {
    json: { oneOf: [item.json, { type: "object", additionalProperties: false, required: ["batch"], properties: { batch: batch.json } }] },
    parse(v, path) {
      if (v && typeof v === "object" && !Array.isArray(v) && "batch" in v) {
        if (Object.keys(v).length !== 1) fail("validation", { detail: "batch: a batch request holds only the batch field" });
        return { batch: batch.parse((v as { batch: unknown }).batch, "batch") };
      }
      return { single: item.parse(v, path) };
    },
  };
}

const SUMMARIES: Record<BatchOp, string> = {
  encrypt: "Encrypt with the current version (AES-256-GCM default); returns self-describing ciphertext.",
  decrypt: "Decrypt ciphertext from encrypt; the version is read from the ciphertext.",
  rewrap: "Re-encrypt ciphertext under the current version without revealing the plaintext.",
  sign: "Sign with the current version (RSA-PSS, RSA PKCS#1 v1.5, ECDSA).",
  verify: "Verify a signature (version default: current).",
  hmac: "Compute an HMAC with the current (or given) version.",
  "hmac-verify": "Verify an HMAC in constant time.",
};

function cryptoRoute<O extends BatchOp>(op: O) {
  return route({
    method: "POST",
    path: `/v1/keys/{name}/${op}`,
    summary: `${SUMMARIES[op]} Batch form: {"batch":[…]} returns a result or error per item, in order.`,
    auth: "cert",
    action: `key.${op}`,
    body: singleOrBatch(ITEM_SCHEMAS[op] as unknown as Schema<never>),
    async handler(ctx: RequestContext, b: { single: never } | { batch: never[] }) {
      const c = authCtx(ctx);
      const name = pathName(ctx);
      const result =
        "batch" in b ? await ctx.services.crypto.batch(c, name, op, b.batch) : await ctx.services.crypto.run(c, name, op, b.single);
      const body = "batch" in b ? { batch: toJson(result) } : toJson(result);
      zeroBuffers(result); // plaintext and MACs are not kept past serialization
      return { body };
    },
  });
}

export const keyCryptoRoutes = [
  route({
    method: "GET",
    path: "/v1/keys/{name}/material",
    summary: "Retrieve key material (base64): raw bytes for AES/HMAC, PKCS#8 DER for RSA/EC.",
    auth: "cert",
    action: "key.material",
    query: { version: opt(queryInt({ min: 1, max: 2 ** 31 - 1 })) },
    async handler(ctx) {
      const v = ctx.query.get("version");
      const m = await ctx.services.crypto.material(authCtx(ctx), pathName(ctx), v ? Number(v) : undefined);
      const body = toJson(m);
      m.material.fill(0);
      return { body };
    },
  }),
  ...(Object.keys(ITEM_SCHEMAS) as BatchOp[]).map((op) => cryptoRoute(op)),
  route({
    method: "POST",
    path: "/v1/keys/{name}/datakey",
    summary: "Generate a data key for envelope encryption: plaintext and wrapped, or wrapped only.",
    auth: "cert",
    action: "key.datakey",
    body: obj({
      bits: opt(int({ min: 128, max: 256, description: "128 or 256 (default 256)" })),
      mode: opt(enumOf(["plaintext", "wrapped"] as const, "plaintext: return both; wrapped: only the ciphertext")),
      context,
    }),
    async handler(ctx, b) {
      if (b.bits !== undefined && b.bits !== 128 && b.bits !== 256) fail("validation", { detail: "bits: must be 128 or 256" });
      const r = await ctx.services.crypto.datakey(authCtx(ctx), pathName(ctx), { ...b, bits: b.bits as 128 | 256 | undefined });
      const body = toJson(r);
      r.plaintext?.fill(0);
      return { body };
    },
  }),
];
