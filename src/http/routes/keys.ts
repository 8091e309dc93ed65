// REST resource /v1/keys: create, list, show, update, rotate, revoke, schedule/cancel destruction.

import { Type } from "@sinclair/typebox";
import { USE_OPERATIONS } from "../../auth/policy.js";
import { KEY_TYPES } from "../../crypto/keygen.js";
import { fail } from "../../errors/registry.js";
import { REVOCATION_REASONS, type Rotation } from "../../keys/key-model.js";
import { route } from "../route.js";
import { arr, bool, enumOf, int, obj, opt, reply, str } from "../schemas.js";
import { authCtx, keyName, keyView, nameParam, principal } from "./common.js";

const STATES = ["Pre-Active", "Active", "Deactivated", "Compromised", "Destroyed", "Destroyed Compromised"] as const;

const rotation = obj({
  mode: enumOf(
    ["auto", "manual", "none"],
    "auto: rollover every periodDays at local midnight; manual: only on request; none: rotate refused",
  ),
  periodDays: opt(
    int({ min: 1, max: 3650, description: "cryptoperiod in days (auto: rollover period; manual: reported as overdue when exceeded)" }),
  ),
});
const policy = obj({
  users: opt(arr(principal, { max: 256, description: "CNs allowed to use the key" })),
  groups: opt(arr(principal, { max: 256, description: "OUs allowed to use the key" })),
  operations: opt(arr(enumOf(USE_OPERATIONS), { max: USE_OPERATIONS.length, description: "granted use operations; empty = all" })),
});

function checkRotation(r: Rotation | undefined): Rotation | undefined {
  if (!r) return r;
  if (r.mode === "auto" && r.periodDays === undefined) fail("validation", { detail: "rotation.periodDays: is required for mode auto" });
  if (r.mode === "none" && r.periodDays !== undefined) fail("validation", { detail: "rotation.periodDays: does not apply to mode none" });
  return r;
}

export const keyRoutes = [
  route({
    method: "POST",
    path: "/v1/keys",
    summary: "Create a key (version 1, Active). The caller becomes its owner.",
    auth: "cert",
    action: "key.create",
    body: obj({
      name: keyName,
      type: enumOf(KEY_TYPES),
      rotation: opt(rotation),
      policy: opt(policy),
      exportable: opt(bool("whether material may be retrieved (default true)")),
      description: opt(str({ max: 1024 })),
    }),
    response: keyView,
    async handler(ctx, b) {
      const key = await ctx.services.keys.create(authCtx(ctx), { ...b, rotation: checkRotation(b.rotation) });
      return { status: 201, body: key };
    },
  }),
  route({
    method: "GET",
    path: "/v1/keys",
    summary: "List keys (sorted by name) with prefix/state/type filters and cursor pagination.",
    auth: "cert",
    action: "key.list",
    query: obj({
      prefix: opt(str({ min: 1, max: 128, pattern: /^[A-Za-z0-9._:@-]+$/ })),
      state: opt(enumOf(STATES)),
      type: opt(enumOf(KEY_TYPES)),
      limit: opt(int({ min: 1, max: 1000 })),
      cursor: opt(keyName),
    }),
    response: reply(
      {
        keys: Type.Array(
          reply({
            name: keyName,
            type: enumOf(KEY_TYPES),
            state: enumOf(STATES, "state of the current version"),
            currentVersion: Type.Integer(),
            owner: Type.String(),
            createdAt: Type.String(),
            deletionScheduledAt: Type.Union([Type.String(), Type.Null()]),
          }),
        ),
        next: Type.Union([keyName, Type.Null()], { description: "cursor of the next page; null on the last" }),
      },
      "one page of keys, sorted by name",
    ),
    async handler(ctx) {
      const { prefix, state, type, limit, cursor } = ctx.query;
      return { body: await ctx.services.keys.list(authCtx(ctx), { prefix, state, type, limit, cursor }) };
    },
  }),
  route({
    method: "GET",
    path: "/v1/keys/{name}",
    params: nameParam,
    summary: "Show a key: metadata and every version with id, state and dates.",
    auth: "cert",
    action: "key.read",
    response: keyView,
    async handler(ctx) {
      return { body: await ctx.services.keys.get(authCtx(ctx), ctx.params.name) };
    },
  }),
  route({
    method: "PATCH",
    path: "/v1/keys/{name}",
    params: nameParam,
    summary: "Change policy, rotation, description or exportability.",
    auth: "cert",
    action: "key.update",
    body: obj({ rotation: opt(rotation), policy: opt(policy), description: opt(str({ max: 1024 })), exportable: opt(bool()) }),
    response: keyView,
    async handler(ctx, b) {
      if (Object.keys(b).length === 0)
        fail("validation", { detail: "body: give at least one of rotation, policy, description, exportable" });
      return { body: await ctx.services.keys.update(authCtx(ctx), ctx.params.name, { ...b, rotation: checkRotation(b.rotation) }) };
    },
  }),
  route({
    method: "POST",
    path: "/v1/keys/{name}/rotate",
    params: nameParam,
    summary: "Create a new version and make it current; older versions stay usable for decryption.",
    auth: "cert",
    action: "key.rotate",
    body: obj({}),
    optionalBody: true,
    response: keyView,
    async handler(ctx) {
      return { body: await ctx.services.keys.rotate(authCtx(ctx), ctx.params.name) };
    },
  }),
  route({
    method: "POST",
    path: "/v1/keys/{name}/revoke",
    params: nameParam,
    summary: "Revoke the key (all versions) or one version. Compromise reasons move to Compromised, others to Deactivated.",
    auth: "cert",
    action: "key.revoke",
    body: obj({ reason: enumOf(REVOCATION_REASONS), version: opt(int({ min: 1, max: 2 ** 31 - 1 })), message: opt(str({ max: 512 })) }),
    response: keyView,
    async handler(ctx, b) {
      return { body: await ctx.services.keys.revoke(authCtx(ctx), ctx.params.name, b) };
    },
  }),
  route({
    method: "DELETE",
    path: "/v1/keys/{name}",
    params: nameParam,
    summary: "Schedule destruction after a waiting period (default 30 days); cancellable until then.",
    auth: "cert",
    action: "key.schedule-destroy",
    body: obj({ pendingDays: opt(int({ min: 1, max: 365, description: "waiting period in days (default 30)" })) }),
    optionalBody: true,
    response: keyView,
    async handler(ctx, b) {
      return { body: await ctx.services.keys.scheduleDeletion(authCtx(ctx), ctx.params.name, b.pendingDays ?? 30) };
    },
  }),
  route({
    method: "POST",
    path: "/v1/keys/{name}/cancel-deletion",
    params: nameParam,
    summary: "Cancel a scheduled destruction.",
    auth: "cert",
    action: "key.cancel-destroy",
    body: obj({}),
    optionalBody: true,
    response: keyView,
    async handler(ctx) {
      return { body: await ctx.services.keys.cancelDeletion(authCtx(ctx), ctx.params.name) };
    },
  }),
];
