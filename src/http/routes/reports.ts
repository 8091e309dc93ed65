// REST resources for key usage and reports: GET /v1/keys/{name}/usage, GET /v1/reports/keys (admins and auditors).
import { route } from "../route.js";
import { int, obj, opt } from "../schemas.js";
import { authCtx, nameParam } from "./common.js";

export const reportRoutes = [
  route({
    method: "GET",
    path: "/v1/keys/{name}/usage",
    summary: "How often each principal (CN) used each version of a key, per operation, with last-use times and totals.",
    auth: "cert",
    action: "key.usage",
    params: nameParam,
    async handler(ctx) {
      return { body: await ctx.services.usage.usage(authCtx(ctx), ctx.params.name) };
    },
  }),
  route({
    method: "GET",
    path: "/v1/reports/keys",
    summary:
      "Keys not used for staleDays days (or never), keys past their cryptoperiod, and the keys used by the most distinct principals.",
    auth: "cert",
    action: "report.keys",
    query: obj({
      staleDays: opt(int({ min: 1, max: 36500, description: "days without use that make a key stale (default 90)" })),
      top: opt(int({ min: 1, max: 1000, description: "length of the most-principals list (default 10)" })),
      limit: opt(int({ min: 1, max: 10000, description: "most stale and most overdue keys listed (default 1000)" })),
    }),
    async handler(ctx) {
      const { staleDays, top, limit } = ctx.query;
      return { body: await ctx.services.reports.keys(authCtx(ctx), { staleDays, top, limit }) };
    },
  }),
];
