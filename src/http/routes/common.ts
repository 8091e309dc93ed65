// Shared pieces of REST routes: the caller's service context, name schemas, and JSON-safe result encoding.

import { Type } from "@sinclair/typebox";
import type { AuthCtx } from "../../auth/identity.js";
import { StrongroomError } from "../../errors/registry.js";
import type { RequestContext } from "../route.js";
import { obj, reply, str } from "../schemas.js";

/** The service context of an authenticated request. */
export function authCtx(ctx: RequestContext<unknown, unknown>): AuthCtx {
  if (!ctx.identity) throw new StrongroomError("unauthenticated");
  return { actor: ctx.identity, requestId: ctx.requestId };
}

export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;
export const keyName = str({ min: 1, max: 128, pattern: NAME_PATTERN, description: "unique key name" });
export const principal = str({ min: 1, max: 128, pattern: /^[^\u0000-\u001f]+$/, description: "certificate CN or OU" });

/** The `{name}` path parameter, validated like a body field. */
export const nameParam = obj({ name: keyName });

/** The key view every key route answers with (documentation; see docs/api.md for every member). */
export const keyView = reply(
  {
    name: keyName,
    type: str({ max: 32 }),
    currentVersion: Type.Integer(),
    versions: Type.Array(reply({ version: Type.Integer(), state: str({ max: 32 }) }, "one version: id, state, dates, origin")),
  },
  "a key with its versions",
);

/** Buffers become standard base64; everything else is passed through (one level deep, plus arrays). */
export function toJson(v: unknown): unknown {
  if (Buffer.isBuffer(v)) return v.toString("base64");
  if (Array.isArray(v)) return v.map(toJson);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toJson(x)]));
  return v;
}

/** Zeroes every Buffer in a result (after it was serialized). */
export function zeroBuffers(v: unknown): void {
  if (Buffer.isBuffer(v)) v.fill(0);
  else if (Array.isArray(v)) for (const x of v) zeroBuffers(x);
  else if (v && typeof v === "object") for (const x of Object.values(v)) zeroBuffers(x);
}
