// The REST route table and the OpenAPI route generated from it.
import { Router, route } from "../route.js";
import { approvalRoutes } from "./approvals.js";
import { auditRoutes } from "./audit.js";
import { certRoutes } from "./certs.js";
import { keyCryptoRoutes } from "./key-crypto.js";
import { keyRoutes } from "./keys.js";
import { kmipRoutes } from "./kmip.js";
import { sysRoutes } from "./sys.js";

export function createRouter(version: string): Router {
  const routes = [...sysRoutes, ...keyRoutes, ...keyCryptoRoutes, ...certRoutes, ...auditRoutes, ...approvalRoutes, ...kmipRoutes];
  let doc: unknown = null;
  const openapi = route({
    method: "GET",
    path: "/v1/openapi.json",
    summary: "This API's OpenAPI 3.1 document, generated from the schemas that validate requests.",
    auth: "cert",
    action: "sys.openapi",
    async handler(ctx) {
      await ctx.app.audit.record({ actor: ctx.identity, action: "sys.openapi", outcome: "success", requestId: ctx.requestId });
      return { body: doc };
    },
  });
  const router = new Router([...routes, openapi]);
  doc = router.openapi(version);
  return router;
}
