// REST resource /v1/certs: issue (server-generated key or CSR), list, revoke client certificates.
import { CERT_ROLES, LEAF_KEY_TYPES } from "../../pki/cert-service.js";
import { route } from "../route.js";
import { bool, enumOf, int, obj, opt, str } from "../schemas.js";
import { authCtx, principal, toJson } from "./common.js";

export const certRoutes = [
  route({
    method: "POST",
    path: "/v1/certs",
    summary:
      "Issue a client certificate: CN = user, OU = group, with a role. Without csr the server generates the key and returns a PEM bundle and PKCS#12.",
    auth: "cert",
    action: "cert.issue",
    body: obj({
      cn: principal,
      ou: opt(principal),
      role: enumOf(CERT_ROLES),
      days: opt(int({ min: 1, max: 3650, description: "validity (default 365)" })),
      csr: opt(str({ min: 1, max: 64 * 1024, description: "PEM PKCS#10 request" })),
      keyType: opt(enumOf(LEAF_KEY_TYPES, "key type for server-side generation (default ec-p256)")),
      newPrincipal: opt(bool("the holder is a person of their own toward dual-control quorums (default: counts as the requesting admin)")),
    }),
    async handler(ctx, b) {
      return { status: 201, body: toJson(await ctx.services.certs.issue(authCtx(ctx), b)) };
    },
  }),
  route({
    method: "GET",
    path: "/v1/certs",
    summary: "List issued certificates.",
    auth: "cert",
    action: "cert.list",
    query: obj({
      status: opt(enumOf(["valid", "revoked"] as const)),
      cn: opt(principal),
      cursor: opt(str({ min: 1, max: 64, pattern: /^[0-9A-F]+$/ })),
      limit: opt(int({ min: 1, max: 1000 })),
    }),
    async handler(ctx) {
      const { status, cn, cursor, limit } = ctx.query;
      return { body: await ctx.services.certs.list(authCtx(ctx), { status, cn, cursor, limit }) };
    },
  }),
  route({
    method: "DELETE",
    path: "/v1/certs/{serial}",
    summary: "Revoke a certificate immediately (next handshake and next request on open connections are refused).",
    auth: "cert",
    action: "cert.revoke",
    params: obj({ serial: str({ min: 1, max: 64, pattern: /^[0-9A-Fa-f:]+$/, description: "certificate serial (hex)" }) }),
    async handler(ctx) {
      return { body: await ctx.services.certs.revoke(authCtx(ctx), ctx.params.serial) };
    },
  }),
];
