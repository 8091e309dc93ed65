// REST resource /v1/sys: health (no auth), status (the monitor's authenticated no-op), unseal, OpenAPI document.
import { route } from "../route.js";
import { obj, opt, str } from "../schemas.js";
import { authCtx } from "./common.js";

export const sysRoutes = [
  route({
    method: "GET",
    path: "/v1/sys/health",
    summary: "Liveness and seal state; needs no client certificate.",
    auth: "none",
    whileSealed: true,
    action: "sys.health",
    async handler(ctx) {
      return { body: ctx.services.sys.health() };
    },
  }),
  route({
    method: "GET",
    path: "/v1/sys/status",
    summary: "Authenticated no-op for monitors: node, version, caller, uptime, seal state.",
    auth: "cert",
    action: "sys.status",
    async handler(ctx) {
      return { body: await ctx.services.sys.status(authCtx(ctx)) };
    },
  }),
  route({
    method: "POST",
    path: "/v1/sys/unseal",
    summary: "Submit one Shamir share (or the passphrase). Unseals when the threshold of distinct valid shares is reached.",
    auth: "cert",
    whileSealed: true,
    action: "sys.unseal",
    body: obj({ share: opt(str({ min: 1, max: 600 })), passphrase: opt(str({ min: 1, max: 1024 })) }),
    async handler(ctx, b) {
      return { body: await ctx.services.sys.unseal(authCtx(ctx), b) };
    },
  }),
];
