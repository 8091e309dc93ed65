// Route definitions for the REST API: path pattern, auth, TypeBox body/query/params/response schemas, handler — and the OpenAPI document built from them.
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
import type { Static, TObject, TSchema } from "./schemas.js";
import { type Check, compileBody, compileQuery } from "./validator.js";

export type JsonSchema = Record<string, unknown>;

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

export interface RequestContext<Q = Record<string, never>, P = Record<string, string>> {
  services: RouteServices;
  requestId: string;
  /** The authenticated caller (routes with auth "none" get null). */
  identity: Identity | null;
  address: string | null;
  /** Path parameters, validated by the route's `params` schema. */
  params: P;
  /** Query parameters, validated and typed by the route's `query` schema (numbers are numbers). */
  query: Q;
}

export interface Reply {
  status?: number;
  body: unknown;
  /** A non-JSON reply (POST /kmip answers in the request's encoding). */
  /** `sent`: called once the response is finished or the connection closed (releases the response budget). */
  raw?: { bytes: Buffer; contentType: string; sent?: () => void };
}

/** A route as written: the handler's argument types follow from its schemas. */
export interface RouteDef<B extends TSchema, Q extends TObject, P extends TObject> {
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
  /** The JSON body's schema; an empty body is validated as `{}`. */
  body?: B;
  /** The body may be left out (documentation: every field of such a body is optional). */
  optionalBody?: true;
  /** The body is passed through as bytes (not JSON) with its content type; used by POST /kmip. */
  rawBody?: { contentTypes: string[] };
  /** Query parameters (values typed by the schema: Ajv coerces the text). */
  query?: Q;
  /** Path parameters: one property per `{name}` in the path. */
  params?: P;
  /** Response schema (documentation only). */
  response?: TSchema;
  handler(ctx: RequestContext<Static<Q>, Static<P>>, body: Static<B>): Promise<Reply>;
}

export type Route = RouteDef<TSchema, TObject, TObject>;

export const route = <B extends TSchema = TSchema, Q extends TObject = TObject, P extends TObject = TObject>(r: RouteDef<B, Q, P>): Route =>
  r as unknown as Route;

/** A route with its path regex and its validators, compiled once when the router is built (start-up). */
export interface Compiled {
  route: Route;
  regex: RegExp;
  names: string[];
  body: Check | null;
  query: ((q: URLSearchParams) => unknown) | null;
  params: Check | null;
}

export class Router {
  private readonly compiled: Compiled[];
  constructor(readonly routes: Route[]) {
    this.compiled = routes.map((r) => {
      const names: string[] = [];
      const src = r.path.replace(/\{(\w+)\}/g, (_, n: string) => {
        names.push(n);
        return "([^/]+)";
      });
      const declared = Object.keys(r.params?.properties ?? {});
      if (names.join() !== declared.join())
        throw new Error(`${r.method} ${r.path}: params schema declares ${declared.join(", ") || "none"}`);
      return {
        route: r,
        regex: new RegExp(`^${src}$`),
        names,
        body: r.body ? compileBody(r.body) : null,
        query: r.query ? compileQuery(r.query) : null,
        params: r.params ? compileBody(r.params, "params") : null,
      };
    });
  }

  /** The matching route, or which methods the path allows (for 405), or nothing (404). */
  match(method: string, path: string): { route: Compiled; params: Record<string, string> } | { allowed: string[] } | null {
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
      return { route: c, params };
    }
    return allowed.length ? { allowed } : null;
  }

  openapi(version: string): JsonSchema {
    const paths: Record<string, Record<string, unknown>> = {};
    for (const r of this.routes) {
      const parameters = (where: "path" | "query", o: TObject | undefined) =>
        Object.entries(o?.properties ?? {}).map(([name, schema]) => ({
          name,
          in: where,
          required: where === "path" || (o?.required ?? []).includes(name),
          schema,
        }));
      paths[r.path] ??= {};
      paths[r.path][r.method.toLowerCase()] = {
        summary: r.summary,
        security: r.auth === "none" ? [] : [{ mutualTLS: [] }],
        parameters: [...parameters("path", r.params), ...parameters("query", r.query)],
        ...(r.body ? { requestBody: { required: !r.optionalBody, content: { "application/json": { schema: r.body } } } } : {}),
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
