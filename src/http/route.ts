// Route definitions for the REST API: path pattern, auth, body/query schemas, handler — and the OpenAPI document built from them.
import type { AuditService } from "../audit/audit-service.js";
import type { AccessService } from "../auth/access-service.js";
import type { GovernanceService } from "../auth/governance.js";
import type { AuthCtx, Identity } from "../auth/identity.js";
import { StrongroomError } from "../errors/registry.js";
import type { CryptoService } from "../keys/crypto-service.js";
import type { TransferService } from "../keys/export-import.js";
import type { KeyReports } from "../keys/key-report.js";
import type { KeyService } from "../keys/key-service.js";
import type { UsageTracker } from "../keys/usage-tracker.js";
import type { KmipEncoding, KmipReply } from "../kmip/handle-kmip.js";
import type { CertificateService } from "../pki/cert-service.js";
import type { OperatorService } from "../sys/operator-service.js";
import type { SysService } from "../sys/sys-service.js";
import type { JsonSchema, Schema } from "./schema.js";

/** KMIP's one entry point, bound by the composition root to the services and limits it runs with (POST /kmip). */
export type KmipEndpoint = (auth: AuthCtx, bytes: Buffer, encoding: KmipEncoding) => Promise<KmipReply>;

/**
 * The services REST handlers call — and nothing else: no store, no audit log, no barrier, no configuration. Each
 * service authorizes, acts and records its audit event itself (docs/architecture.md, "One service API").
 */
export interface RouteServices {
  keys: KeyService;
  crypto: CryptoService;
  transfer: TransferService;
  certs: CertificateService;
  usage: Pick<UsageTracker, "usage">;
  reports: KeyReports;
  governance: GovernanceService;
  sys: SysService;
  operator: OperatorService;
  auditQuery: AuditService;
  kmip: KmipEndpoint;
}

/** What the HTTPS listener itself uses besides the routes' services: identity lookup and the audit of refusals. */
export interface HttpServices extends RouteServices {
  access: AccessService;
}

export interface RequestContext {
  services: RouteServices;
  requestId: string;
  /** The authenticated caller (routes with auth "none" get null). */
  identity: Identity | null;
  address: string | null;
  params: Record<string, string>;
  query: URLSearchParams;
}

export interface Reply {
  status?: number;
  body: unknown;
  /** A non-JSON reply (POST /kmip answers in the request's encoding). */
  /** `sent`: called once the response is finished or the connection closed (releases the response budget). */
  raw?: { bytes: Buffer; contentType: string; sent?: () => void };
}

export interface Route<B = unknown> {
  method: "GET" | "POST" | "PATCH" | "DELETE";
  /** `/v1/keys/{name}/encrypt` */
  path: string;
  summary: string;
  /** "none": no client certificate needed; "cert": a registered, unrevoked client certificate. */
  auth: "none" | "cert";
  /** Served while sealed (health, status, unseal). */
  whileSealed?: boolean;
  /** Audit action for failures before the service runs (validation, auth). */
  action: string;
  body?: Schema<B>;
  /** The body is passed through as bytes (not JSON) with its content type; used by POST /kmip. */
  rawBody?: { contentTypes: string[] };
  /** Query parameters: validated like a body with string values. */
  query?: Record<string, Schema<unknown>>;
  /** Response schema for the documentation. */
  response?: JsonSchema;
  handler(ctx: RequestContext, body: B): Promise<Reply>;
}

export const route = <B>(r: Route<B>): Route<unknown> => r as Route<unknown>;

interface Compiled {
  route: Route<unknown>;
  regex: RegExp;
  names: string[];
}

export class Router {
  private readonly compiled: Compiled[];
  constructor(readonly routes: Route<unknown>[]) {
    this.compiled = routes.map((r) => {
      const names: string[] = [];
      const src = r.path.replace(/\{(\w+)\}/g, (_, n: string) => {
        names.push(n);
        return "([^/]+)";
      });
      return { route: r, regex: new RegExp(`^${src}$`), names };
    });
  }

  /** The matching route, or which methods the path allows (for 405), or nothing (404). */
  match(method: string, path: string): { route: Route<unknown>; params: Record<string, string> } | { allowed: string[] } | null {
    const allowed: string[] = [];
    for (const c of this.compiled) {
      const m = c.regex.exec(path);
      if (!m) continue;
      if (c.route.method !== method) {
        allowed.push(c.route.method);
        continue;
      }
      const params: Record<string, string> = {};
      for (const [i, n] of c.names.entries()) {
        try {
          params[n] = decodeURIComponent(m[i + 1]);
        } catch {
          throw new StrongroomError("validation", { detail: `${n}: malformed percent-encoding` });
        }
      }
      return { route: c.route, params };
    }
    return allowed.length ? { allowed } : null;
  }

  openapi(version: string): JsonSchema {
    const paths: Record<string, Record<string, unknown>> = {};
    for (const r of this.routes) {
      const params = [...r.path.matchAll(/\{(\w+)\}/g)].map((m) => ({
        name: m[1],
        in: "path",
        required: true,
        schema: { type: "string" },
      }));
      const query = Object.entries(r.query ?? {}).map(([name, s]) => ({ name, in: "query", required: !s.optional, schema: s.json }));
      paths[r.path] ??= {};
      paths[r.path][r.method.toLowerCase()] = {
        summary: r.summary,
        security: r.auth === "none" ? [] : [{ mutualTLS: [] }],
        parameters: [...params, ...query],
        ...(r.body ? { requestBody: { required: !r.body.optional, content: { "application/json": { schema: r.body.json } } } } : {}),
        responses: {
          default: { description: "error", content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } },
          "2XX": { description: "success", content: { "application/json": { schema: r.response ?? { type: "object" } } } },
        },
      };
    }
    return {
      openapi: "3.1.0",
      info: { title: "Strongroom REST API", version, description: "Key management over mutually authenticated TLS." },
      paths,
      components: {
        securitySchemes: { mutualTLS: { type: "mutualTLS", description: "client certificate issued by this server's CA" } },
        schemas: {
          Error: {
            type: "object",
            properties: {
              error: {
                type: "object",
                properties: { code: { type: "string" }, message: { type: "string" }, requestId: { type: "string" } },
                required: ["code", "message", "requestId"],
              },
            },
          },
        },
      },
    };
  }
}
