// REST resource /v1/approvals and /v1/sys/governance: dual control — pending requests, approve/deny, authorization windows, settings.
import { route } from "../route.js";
import { bool, enumOf, int, obj, opt, str } from "../schemas.js";
import { authCtx } from "./common.js";

const idParam = obj({ id: str({ min: 1, max: 64, pattern: /^[0-9a-f-]+$/, description: "approval request id" }) });

export const approvalRoutes = [
  route({
    method: "GET",
    path: "/v1/approvals",
    summary:
      "Dual-control requests (admins and auditors; filter by status): who asked, for which principal, the execution summary of exactly what will run, and the digest to approve it with.",
    auth: "cert",
    action: "approval.list",
    query: obj({ status: opt(enumOf(["pending", "executed", "failed", "denied", "expired"] as const)) }),
    async handler(ctx) {
      return { body: { approvals: await ctx.services.governance.list(authCtx(ctx), ctx.query.status) } };
    },
  }),
  route({
    method: "POST",
    path: "/v1/approvals/{id}/approve",
    summary:
      "Approve, as an admin acting for another principal, exactly the content you reviewed: {digest} as listed by GET /v1/approvals; at quorum the request executes as its requester.",
    auth: "cert",
    action: "approval.approve",
    // The digest is checked by the service (a missing one gets its own error naming where to find it).
    params: idParam,
    body: obj({ digest: opt(str({ min: 1, max: 80, pattern: /^sha256:[0-9a-f]{64}$/, description: "digest of the reviewed request" })) }),
    optionalBody: true,
    async handler(ctx, b) {
      return { body: await ctx.services.governance.approve(authCtx(ctx), ctx.params.id, b.digest) };
    },
  }),
  route({
    method: "POST",
    path: "/v1/approvals/{id}/deny",
    summary: "Deny (discard) a pending request.",
    auth: "cert",
    action: "approval.deny",
    params: idParam,
    body: obj({}),
    optionalBody: true,
    async handler(ctx) {
      return { body: await ctx.services.governance.deny(authCtx(ctx), ctx.params.id) };
    },
  }),
  route({
    method: "POST",
    path: "/v1/approvals/window",
    summary: "Open an authorization window: for {minutes}, protected operations by other admins execute directly.",
    auth: "cert",
    action: "approval.window",
    body: obj({ minutes: int({ min: 1, max: 1440 }) }),
    async handler(ctx, b) {
      return { status: 201, body: await ctx.services.governance.openWindow(authCtx(ctx), b.minutes) };
    },
  }),
  route({
    method: "GET",
    path: "/v1/sys/governance",
    summary: "Dual control and PCI settings in force.",
    auth: "cert",
    action: "governance.read",
    async handler(ctx) {
      return { body: await ctx.services.governance.read(authCtx(ctx)) };
    },
  }),
  route({
    method: "PATCH",
    path: "/v1/sys/governance",
    summary: "Change dual control, approval window, quorum or PCI mode (itself protected while dual control is on).",
    auth: "cert",
    action: "governance.change",
    body: obj({
      dualControl: opt(bool()),
      approvalWindowMinutes: opt(int({ min: 1, max: 10080 })),
      quorum: opt(int({ min: 2, max: 16 })),
      pciMode: opt(bool()),
    }),
    async handler(ctx, b) {
      return { body: await ctx.services.governance.change(authCtx(ctx), b) };
    },
  }),
];
