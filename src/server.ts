// Starts a Strongroom server for an instance directory: opens the app, unseals where it can, serves HTTPS.
import { readFileSync } from "node:fs";
import type { Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { Server as TlsServer } from "node:tls";
import { type App, openApp } from "./app.js";
import { resolvePath } from "./config/config.js";
import { createApiServer } from "./http/api-server.js";
import type { HttpServices } from "./http/route.js";
import { createRouter } from "./http/routes/index.js";
import { KmipHandler } from "./kmip/handle-kmip.js";
import type { KmipServices } from "./kmip/operation.js";
import { createKmipListener } from "./kmip/tls-listener.js";
import type { Logger } from "./logger.js";
import { ConnectionGuard, InputBudget, warnIfFewDescriptors } from "./transport/connection-guard.js";

export interface StartOptions {
  dir: string;
  apiPort?: number;
  kmipPort?: number;
  /** Overrides listen.address (tests bind to 127.0.0.1). */
  address?: string;
  clock?: () => Date;
  env?: NodeJS.ProcessEnv;
  log: Logger;
}

export interface RunningServer {
  app: App;
  api: Server;
  apiPort: number;
  apiUrl: string;
  kmip: TlsServer;
  kmipPort: number;
  /** Open connections and their limits (both listeners). */
  guard: ConnectionGuard;
  /** Bytes of partial KMIP frames held now, against limits.maxBufferedInputBytes. */
  inputBudget: InputBudget;
  /** KMIP's entry point as both listeners call it (the TLS listener and POST /kmip), with its response budget. */
  kmipHandler: KmipHandler;
  close(): Promise<void>;
}

export async function startServer(o: StartOptions): Promise<RunningServer> {
  const app = await openApp(o.dir, { clock: o.clock, log: o.log });
  try {
    const unsealed = await app.barrier.autoUnseal(o.env ?? process.env);
    o.log.info(unsealed ? "unsealed" : "sealed: waiting for unseal shares", { seal: app.config.seal.type });
  } catch (e) {
    o.log.error("automatic unseal failed; the server starts sealed", { error: (e as Error).message });
  }
  const cfg = app.config;
  const tlsFiles = {
    ca: readFileSync(resolvePath(cfg, cfg.tls.ca), "utf8"),
    cert: readFileSync(resolvePath(cfg, cfg.tls.cert), "utf8"),
    key: readFileSync(resolvePath(cfg, cfg.tls.key), "utf8"),
  };
  // One guard for both listeners: connection counts (file descriptors) are a resource of the process.
  const guard = new ConnectionGuard(app.access, o.log, cfg.limits);
  warnIfFewDescriptors(cfg.limits.maxConnections, o.log);
  const inputBudget = new InputBudget(cfg.limits.maxBufferedInputBytes);
  // The transports get the services they call, never the container (no store, no audit log): KMIP's entry point is
  // bound here to its services and the limits both listeners apply.
  const kmipServices: KmipServices = {
    objects: app.objects,
    keyUse: app.keyUse,
    keys: app.keys,
    kmipAudit: app.kmipAudit,
    sys: app.sys,
    clock: app.clock,
    settings: {
      node: cfg.node,
      kmipPort: cfg.listen.kmipPort,
      locateMaxItems: cfg.limits.kmipLocateMaxItems,
      locateScanMax: cfg.limits.kmipLocateScanMax,
    },
  };
  const kmipHandler = new KmipHandler(
    kmipServices,
    { maxBatchItems: cfg.limits.kmipMaxBatchItems, maxDepth: 32, maxResponseBytes: cfg.limits.maxResponseBytes },
    cfg.limits.responseMemoryBytes,
  );
  // Sealing drops every multi-part session: their cipher contexts hold key material.
  app.barrier.onSeal(() => kmipHandler.sessions.clear());
  const services: HttpServices = {
    keys: app.keys,
    crypto: app.crypto,
    transfer: app.transfer,
    certs: app.certs,
    usage: app.usage,
    reports: app.reports,
    governance: app.governance,
    sys: app.sys,
    operator: app.operator,
    auditQuery: app.auditQuery,
    access: app.access,
    kmip: (auth, bytes, encoding) => kmipHandler.reply(auth, bytes, encoding),
  };
  const api = createApiServer({
    services,
    router: createRouter(app.version),
    maxBodyBytes: cfg.limits.maxBodyBytes,
    allowlist: cfg.allowlists?.api,
    log: o.log,
    tls: tlsFiles,
    guard,
  });
  const address = o.address ?? cfg.listen.address;
  await new Promise<void>((resolve, reject) => {
    api.once("error", reject);
    api.listen(o.apiPort ?? cfg.listen.apiPort, address, () => {
      api.off("error", reject);
      resolve();
    });
  });
  const port = (api.address() as AddressInfo).port;
  const kmip = createKmipListener({
    access: app.access,
    kmip: (auth, frame) => kmipHandler.reply(auth, frame, "ttlv"),
    allowlist: cfg.allowlists?.kmip,
    log: o.log,
    tls: tlsFiles,
    maxFrameBytes: cfg.limits.kmipMaxFrameBytes,
    guard,
    budget: inputBudget,
  });
  await new Promise<void>((resolve, reject) => {
    kmip.once("error", reject);
    kmip.listen(o.kmipPort ?? cfg.listen.kmipPort, address, () => {
      kmip.off("error", reject);
      resolve();
    });
  });
  const kmipPort = (kmip.address() as AddressInfo).port;
  const kmipSockets = new Set<import("node:net").Socket>();
  kmip.on("connection", (s) => {
    kmipSockets.add(s);
    s.on("close", () => kmipSockets.delete(s));
  });
  const host = address === "0.0.0.0" || address === "::" ? "localhost" : address.includes(":") ? `[${address}]` : address;
  return {
    app,
    api,
    apiPort: port,
    apiUrl: `https://${host}:${port}`,
    kmip,
    kmipPort,
    guard,
    inputBudget,
    kmipHandler,
    async close() {
      api.closeAllConnections();
      const kmipClosed = new Promise<void>((r) => kmip.close(() => r()));
      for (const s of kmipSockets) s.destroy();
      await new Promise<void>((r) => api.close(() => r()));
      await kmipClosed;
      await app.close();
    },
  };
}
