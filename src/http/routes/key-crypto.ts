// REST resource /v1/keys/{name}/…: key material and on-board cryptography, single and batch forms.
import { Type } from "@sinclair/typebox";
import { CIPHER_MODES } from "../../crypto/ciphertext.js";
import { fail } from "../../errors/registry.js";
import { type BatchOp, MAX_BATCH } from "../../keys/crypto-service.js";
import { route } from "../route.js";
import { arr, b64, decodeB64, enumOf, ifField, int, obj, opt, reply, type Static, type TSchema } from "../schemas.js";
import { authCtx, nameParam, toJson, zeroBuffers } from "./common.js";

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
} satisfies Record<BatchOp, TSchema>;

/** `{…item}` or `{"batch":[…items]}`: the `batch` field chooses the shape. */
const singleOrBatch = <T extends TSchema>(item: T) =>
  ifField("batch", obj({ batch: arr(item, { min: 1, max: MAX_BATCH }) }), item, `one item, or {"batch":[…]} of 1..${MAX_BATCH} items`);

/** The fields of each item sent as base64 (validated as text), decoded to Buffers for the service. */
const BYTES: Record<BatchOp, readonly string[]> = {
  encrypt: ["plaintext", "context"],
  decrypt: ["ciphertext", "context"],
  rewrap: ["ciphertext", "context"],
  sign: ["input"],
  verify: ["input", "signature"],
  hmac: ["input"],
  "hmac-verify": ["input", "mac"],
};

function decodeItem(op: BatchOp, item: Record<string, unknown>): Record<string, unknown> {
  const out = { ...item };
  for (const f of BYTES[op]) if (typeof out[f] === "string") out[f] = decodeB64(out[f] as string);
  return out;
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

function cryptoRoute(op: BatchOp) {
  const item = ITEM_SCHEMAS[op] as TSchema;
  return route({
    method: "POST",
    path: `/v1/keys/{name}/${op}`,
    params: nameParam,
    summary: `${SUMMARIES[op]} Batch form: {"batch":[…]} returns a result or error per item, in order.`,
    auth: "cert",
    action: `key.${op}`,
    body: singleOrBatch(item),
    async handler(ctx, b: Static<typeof item> | { batch: Static<typeof item>[] }) {
      const c = authCtx(ctx);
      const { name } = ctx.params;
      const batch = (b as { batch?: Record<string, unknown>[] }).batch;
      const items = (batch ?? [b as Record<string, unknown>]).map((x) => decodeItem(op, x));
      try {
        const result = batch
          ? await ctx.services.crypto.batch(c, name, op, items as never[])
          : await ctx.services.crypto.run(c, name, op, items[0] as never);
        const body = batch ? { batch: toJson(result) } : toJson(result);
        zeroBuffers(result); // plaintext and MACs are not kept past serialization
        return { body };
      } finally {
        zeroBuffers(items); // nor the decoded inputs
      }
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
    params: nameParam,
    query: obj({ version: opt(int({ min: 1, max: 2 ** 31 - 1 })) }),
    response: reply({
      material: Type.String({ format: "byte", description: "raw bytes (AES, HMAC) or PKCS#8 DER (RSA, EC)" }),
      version: Type.Integer(),
      format: enumOf(["raw", "pkcs8"] as const),
      publicKey: opt(Type.Union([Type.String(), Type.Null()], { description: "PEM public key (RSA, EC)" })),
    }),
    async handler(ctx) {
      const m = await ctx.services.crypto.material(authCtx(ctx), ctx.params.name, ctx.query.version);
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
    params: nameParam,
    body: obj({
      bits: opt(int({ min: 128, max: 256, description: "128 or 256 (default 256)" })),
      mode: opt(enumOf(["plaintext", "wrapped"] as const, "plaintext: return both; wrapped: only the ciphertext")),
      context,
    }),
    async handler(ctx, b) {
      if (b.bits !== undefined && b.bits !== 128 && b.bits !== 256) fail("validation", { detail: "bits: must be 128 or 256" });
      const r = await ctx.services.crypto.datakey(authCtx(ctx), ctx.params.name, {
        ...b,
        context: b.context === undefined ? undefined : decodeB64(b.context),
        bits: b.bits as 128 | 256 | undefined,
      });
      const body = toJson(r);
      r.plaintext?.fill(0);
      return { body };
    },
  }),
];
