// Starts a Strongroom server for an instance directory: opens the app, unseals where it can, serves HTTPS.
import { readFileSync } from "node:fs";
import type { Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { Server as TlsServer } from "node:tls";
import { type App, openApp } from "./app.js";
import { resolvePath } from "./config/config.js";
import { ConfigError } from "./config/config-error.js";
import { isStrongroomError, StrongroomError } from "./errors/registry.js";
import { createApiServer } from "./http/api-server.js";
import type { HttpServices } from "./http/route.js";
import { createRouter } from "./http/routes/index.js";
import { type InstanceLock, lockInstance } from "./instance-lock.js";
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

/** Binds a listener, turning the errors a sysadmin meets (port taken, not permitted, no such address) into a clear refusal. */
function listen(server: Server | TlsServer, port: number, address: string, what: { listener: string; setting: string }): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      const at = { address, port, listener: what.listener };
      if (e.code === "EADDRINUSE") reject(new StrongroomError("port_in_use", { ...at, setting: what.setting }));
      else if (e.code === "EACCES")
        reject(new StrongroomError("listen_failed", { ...at, reason: "permission denied (ports below 1024 need privileges)" }));
      else if (e.code === "EADDRNOTAVAIL")
        reject(new StrongroomError("listen_failed", { ...at, reason: "no such address on this machine (listen.address, --listen)" }));
      else reject(e);
    };
    server.once("error", onError);
    server.listen(port, address, () => {
      server.off("error", onError);
      resolve();
    });
  });
}

const closeListener = (s: Server | TlsServer): Promise<void> => new Promise((r) => (s.listening ? s.close(() => r()) : r()));

/**
 * Starts the server: takes the instance lock (before anything else, so a second server on the directory is refused at
 * once), opens the app (config, migrations), unseals where it can, binds both listeners. Every step says what it did
 * in the log; a failure is logged as fatal with its reason, undoes what was done and is thrown.
 */
export async function startServer(o: StartOptions): Promise<RunningServer> {
  const log = o.log;
  let lock: InstanceLock | undefined;
  let app: App | undefined;
  try {
    lock = lockInstance(o.dir);
    app = await openApp(o.dir, { clock: o.clock, log });
    // Said once the configured level applies (the lock is taken before the configuration is read).
    if (lock.replaced)
      log.warn("stale lock file replaced: its server is gone", {
        lock: lock.path,
        stalePid: lock.replaced.pid,
        staleSince: lock.replaced.startedAt,
      });
    log.info("instance locked", { dir: o.dir, lock: lock.path }); // the line's own pid is the holder
    const running = await serve(o, app, log);
    const held = lock;
    const opened = app;
    return {
      ...running,
      async close() {
        await running.close();
        await opened.close();
        held.release();
        log.info("server closed", { lock: "released" });
      },
    };
  } catch (e) {
    const code = isStrongroomError(e)
      ? e.code
      : e instanceof ConfigError
        ? "config_invalid"
        : ((e as NodeJS.ErrnoException).code ?? "internal");
    log.fatal("server did not start", { reason: (e as Error).message ?? String(e), code });
    await app?.close().catch(() => undefined);
    lock?.release();
    throw e;
  }
}

/** Unseals where it can and binds both listeners for an opened app; `close` stops the listeners (not the app). */
async function serve(o: StartOptions, app: App, log: Logger): Promise<Omit<RunningServer, "close"> & { close(): Promise<void> }> {
  try {
    await app.barrier.autoUnseal(o.env ?? process.env);
  } catch (e) {
    log.error("automatic unseal failed; the server starts sealed", { seal: app.config.seal.type, error: (e as Error).message });
  }
  const cfg = app.config;
  const tlsFiles = {
    ca: readFileSync(resolvePath(cfg, cfg.tls.ca), "utf8"),
    cert: readFileSync(resolvePath(cfg, cfg.tls.cert), "utf8"),
    key: readFileSync(resolvePath(cfg, cfg.tls.key), "utf8"),
  };
  // One guard for both listeners: connection counts (file descriptors) are a resource of the process.
  const guard = new ConnectionGuard(app.access, log, cfg.limits);
  warnIfFewDescriptors(cfg.limits.maxConnections, log);
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
    log,
    tls: tlsFiles,
    guard,
  });
  const kmip = createKmipListener({
    access: app.access,
    kmip: (auth, frame) => kmipHandler.reply(auth, frame, "ttlv"),
    allowlist: cfg.allowlists?.kmip,
    log,
    tls: tlsFiles,
    maxFrameBytes: cfg.limits.kmipMaxFrameBytes,
    guard,
    budget: inputBudget,
  });
  const kmipSockets = new Set<import("node:net").Socket>();
  kmip.on("connection", (s) => {
    kmipSockets.add(s);
    s.on("close", () => kmipSockets.delete(s));
  });
  const address = o.address ?? cfg.listen.address;
  const close = async () => {
    api.closeAllConnections();
    const kmipClosed = closeListener(kmip);
    for (const s of kmipSockets) s.destroy();
    await closeListener(api);
    await kmipClosed;
  };
  try {
    await listen(api, o.apiPort ?? cfg.listen.apiPort, address, { listener: "HTTPS API", setting: "listen.apiPort or --api-port" });
    const port = (api.address() as AddressInfo).port;
    log.info("listening", { listener: "https", address, port });
    await listen(kmip, o.kmipPort ?? cfg.listen.kmipPort, address, { listener: "KMIP", setting: "listen.kmipPort or --kmip-port" });
    const kmipPort = (kmip.address() as AddressInfo).port;
    log.info("listening", { listener: "kmip", address, port: kmipPort });
    const status = app.barrier.status();
    if (status.sealed)
      log.info(
        "sealed: waiting for unseal",
        cfg.seal.type === "shamir"
          ? { seal: cfg.seal.type, sharesNeeded: status.threshold, sharesSubmitted: status.progress, how: "strongroom unseal" }
          : { seal: cfg.seal.type, how: "strongroom unseal --passphrase" },
      );
    const host = address === "0.0.0.0" || address === "::" ? "localhost" : address.includes(":") ? `[${address}]` : address;
    return { app, api, apiPort: port, apiUrl: `https://${host}:${port}`, kmip, kmipPort, guard, inputBudget, kmipHandler, close };
  } catch (e) {
    await close();
    throw e;
  }
}
