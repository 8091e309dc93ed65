// REST resource /v1/audit: query events, verify the hash chain.
import { fail } from "../../errors/registry.js";
import { route } from "../route.js";
import { enumOf, int, obj, opt, str } from "../schemas.js";
import { authCtx } from "./common.js";

const isoTime = str({ min: 10, max: 40, pattern: /^\d{4}-\d{2}-\d{2}(T[0-9:.]+(Z|[+-]\d{2}:\d{2})?)?$/, description: "ISO 8601 time" });

export const auditRoutes = [
  route({
    method: "GET",
    path: "/v1/audit",
    summary: "Query audit events by time range, actor, key, action and outcome; page with after=<seq>.",
    auth: "cert",
    action: "audit.query",
    query: obj({
      from: opt(isoTime),
      to: opt(isoTime),
      actor: opt(str({ min: 1, max: 128 })),
      key: opt(str({ min: 1, max: 128 })),
      action: opt(str({ min: 1, max: 64, pattern: /^[a-z0-9.-]+$/ })),
      outcome: opt(enumOf(["success", "denied", "error"] as const)),
      after: opt(int({ min: 0, max: Number.MAX_SAFE_INTEGER })),
      limit: opt(int({ min: 1, max: 1000 })),
    }),
    async handler(ctx) {
      const c = authCtx(ctx);
      const q = ctx.query;
      const toIso = (v: string | undefined, name: string) => {
        if (!v) return undefined;
        const t = new Date(v);
        // The pattern admits impossible dates (month 13): refused as input, not failed as an internal error.
        if (Number.isNaN(t.getTime())) fail("validation", { detail: `${name}: not a valid time` });
        return t.toISOString();
      };
      const body = await ctx.services.auditQuery.query(c, {
        from: toIso(q.from, "from"),
        to: toIso(q.to, "to"),
        actor: q.actor,
        key: q.key,
        action: q.action,
        outcome: q.outcome,
        after: q.after,
        limit: q.limit,
      });
      return { body };
    },
  }),
  route({
    method: "GET",
    path: "/v1/audit/verify",
    summary: "Recompute the HMAC chain; reports every altered, missing or unchained range of sequence numbers.",
    auth: "cert",
    action: "audit.verify",
    async handler(ctx) {
      return { body: await ctx.services.auditQuery.verify(authCtx(ctx)) };
    },
  }),
];
