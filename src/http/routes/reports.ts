// REST resources for key usage and reports: GET /v1/keys/{name}/usage, GET /v1/reports/keys (admins and auditors).
import { route } from "../route.js";
import { opt, queryInt } from "../schema.js";
import { authCtx, pathName } from "./common.js";

const num = (q: URLSearchParams, name: string): number | undefined => (q.get(name) ? Number(q.get(name)) : undefined);

export const reportRoutes = [
  route({
    method: "GET",
    path: "/v1/keys/{name}/usage",
    summary: "How often each principal (CN) used each version of a key, per operation, with last-use times and totals.",
    auth: "cert",
    action: "key.usage",
    async handler(ctx) {
      return { body: await ctx.services.usage.usage(authCtx(ctx), pathName(ctx)) };
    },
  }),
  route({
    method: "GET",
    path: "/v1/reports/keys",
    summary:
      "Keys not used for staleDays days (or never), keys past their cryptoperiod, and the keys used by the most distinct principals.",
    auth: "cert",
    action: "report.keys",
    query: {
      staleDays: opt(queryInt({ min: 1, max: 36500, description: "days without use that make a key stale (default 90)" })),
      top: opt(queryInt({ min: 1, max: 1000, description: "length of the most-principals list (default 10)" })),
      limit: opt(queryInt({ min: 1, max: 10000, description: "most stale and most overdue keys listed (default 1000)" })),
    },
    async handler(ctx) {
      const q = ctx.query;
      return {
        body: await ctx.services.reports.keys(authCtx(ctx), { staleDays: num(q, "staleDays"), top: num(q, "top"), limit: num(q, "limit") }),
      };
    },
  }),
];
