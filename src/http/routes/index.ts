// The REST route table and the OpenAPI route generated from it.
import { Router, route } from "../route.js";
import { approvalRoutes } from "./approvals.js";
import { auditRoutes } from "./audit.js";
import { certRoutes } from "./certs.js";
import { authCtx } from "./common.js";
import { keyCryptoRoutes } from "./key-crypto.js";
import { keyTransferRoutes } from "./key-transfer.js";
import { keyRoutes } from "./keys.js";
import { kmipRoutes } from "./kmip.js";
import { operatorRoutes } from "./operator.js";
import { reportRoutes } from "./reports.js";
import { sysRoutes } from "./sys.js";

export function createRouter(version: string): Router {
  const routes = [
    ...sysRoutes,
    ...keyRoutes,
    ...keyCryptoRoutes,
    ...keyTransferRoutes,
    ...certRoutes,
    ...auditRoutes,
    ...approvalRoutes,
    ...operatorRoutes,
    ...reportRoutes,
    ...kmipRoutes,
  ];
  let doc: unknown = null;
  const openapi = route({
    method: "GET",
    path: "/v1/openapi.json",
    summary: "This API's OpenAPI 3.1 document, generated from the schemas that validate requests.",
    auth: "cert",
    action: "sys.openapi",
    async handler(ctx) {
      return { body: await ctx.services.sys.describeApi(authCtx(ctx), doc) };
    },
  });
  const router = new Router([...routes, openapi]);
  doc = router.openapi(version);
  return router;
}
