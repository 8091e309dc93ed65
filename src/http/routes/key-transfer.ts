// REST wrapped key transfer: export under a wrapping key, the BYOK import key, import (wrapped, or clear text outside PCI mode).
import { USE_OPERATIONS } from "../../auth/policy.js";
import { KEY_TYPES } from "../../crypto/keygen.js";
import { WRAP_SCHEMES, type WrappingKeyRef } from "../../keys/export-import.js";
import { route } from "../route.js";
import { arr, b64, bool, enumOf, ifField, int, obj, opt, str } from "../schemas.js";
import { authCtx, keyName, keyView, nameParam, principal } from "./common.js";

/** Base64 kept as text: service arguments stay JSON-safe (a dual-control approval stores and replays them). */
const b64text = (maxBytes: number, description: string) => b64({ min: 4, maxBytes, description: `${description} (standard base64)` });

const versionNo = int({ min: 1, max: 2 ** 31 - 1 });
const named = obj({ name: keyName, version: opt(versionNo) }, "an RSA or AES key held by this server (version default: current)");
const supplied = obj(
  { publicKey: str({ min: 1, max: 16 * 1024, description: "PEM RSA public key (SubjectPublicKeyInfo or PKCS#1), at least 2048 bits" }) },
  "a caller-supplied RSA public key, e.g. another key manager's import key",
);

/** `{name, version?}` or `{publicKey}`: the `publicKey` field chooses the shape. */
const wrappingKey = ifField("publicKey", supplied, named, "a key of this server or a caller-supplied RSA public key");

const policy = obj({
  users: opt(arr(principal, { max: 256, description: "CNs allowed to use the key" })),
  groups: opt(arr(principal, { max: 256, description: "OUs allowed to use the key" })),
  operations: opt(arr(enumOf(USE_OPERATIONS), { max: USE_OPERATIONS.length, description: "granted use operations; empty = all" })),
});
const rotation = obj({
  mode: enumOf(["auto", "manual", "none"] as const),
  periodDays: opt(int({ min: 1, max: 3650, description: "cryptoperiod in days (mode auto)" })),
});

export const keyTransferRoutes = [
  route({
    method: "GET",
    path: "/v1/sys/wrapping-key",
    summary:
      "The server's RSA-4096 import key (public half, PEM SPKI, with its key id): wrap keys for POST /v1/keys/import under it with rsa-aes-kwp.",
    auth: "cert",
    action: "sys.wrapping-key",
    async handler(ctx) {
      return { body: await ctx.services.transfer.wrappingKey(authCtx(ctx)) };
    },
  }),
  route({
    method: "POST",
    path: "/v1/keys/{name}/export",
    summary:
      "Export a version wrapped under a named RSA key (rsa-aes-kwp), a named AES key (aes-kwp) or a caller-supplied RSA public key (rsa-aes-kwp); never in clear.",
    auth: "cert",
    action: "key.export",
    params: nameParam,
    body: obj({
      version: opt(versionNo),
      wrappingKey,
      scheme: opt(enumOf(WRAP_SCHEMES, "rsa-aes-kwp for RSA wrapping keys, aes-kwp for AES (default: by wrapping key)")),
    }),
    async handler(ctx, b) {
      return {
        body: await ctx.services.transfer.exportKey(authCtx(ctx), {
          name: ctx.params.name,
          ...b,
          wrappingKey: b.wrappingKey as WrappingKeyRef,
        }),
      };
    },
  }),
  route({
    method: "POST",
    path: "/v1/keys/import",
    summary:
      "Import key material wrapped under GET /v1/sys/wrapping-key (rsa-aes-kwp), or in clear text when PCI mode is off, as a new key or a new version.",
    auth: "cert",
    action: "key.import",
    body: obj({
      name: keyName,
      type: enumOf(KEY_TYPES),
      wrapped: opt(b64text(16 * 1024, "rsa-aes-kwp blob: RSA-OAEP-SHA-256 ciphertext of an AES key, then the AES-KWP ciphertext")),
      scheme: opt(enumOf(["rsa-aes-kwp"] as const)),
      wrappingKeyId: opt(str({ min: 1, max: 64, pattern: /^[A-Za-z0-9-]+$/, description: "keyId of GET /v1/sys/wrapping-key" })),
      material: opt(b64text(8 * 1024, "clear-text material: raw bytes (AES, HMAC) or PKCS#8 DER (RSA, EC); refused in PCI mode")),
      version: opt(enumOf(["new-key", "new-version"] as const, "new-key (default) or a new version of the existing key")),
      description: opt(str({ max: 1024 })),
      policy: opt(policy),
      rotation: opt(rotation),
      exportable: opt(bool("whether material may be retrieved or exported (default true)")),
    }),
    response: keyView,
    async handler(ctx, b) {
      const key = await ctx.services.transfer.importKey(authCtx(ctx), b);
      return { status: b.version === "new-version" ? 200 : 201, body: key };
    },
  }),
];
