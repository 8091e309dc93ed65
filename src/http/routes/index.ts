// The REST route table and the OpenAPI route generated from it.
import { audited } from "../../audit/operation.js";
import { requireRole, SIGNED_IN_ROLES } from "../../auth/policy.js";
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
      const c = authCtx(ctx);
      await audited(ctx.app.audit, c, "sys.openapi", {}, async () => requireRole(c.actor, SIGNED_IN_ROLES, "read the API description"));
      return { body: doc };
    },
  });
  const router = new Router([...routes, openapi]);
  doc = router.openapi(version);
  return router;
}
