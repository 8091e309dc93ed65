// Test harness: a real instance in a temp directory, a real HTTPS server on an ephemeral port, and a mutual-TLS client.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { Agent, request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type InitOptions, type InitResult, initInstance } from "../src/init.js";
import { createLogger } from "../src/logger.js";
import { type RunningServer, startServer } from "../src/server.js";

export interface Response<T = any> {
  status: number;
  body: T;
  headers: Record<string, string | string[] | undefined>;
}

/** A settable clock so rollover and destruction tests never sleep. */
export class TestClock {
  t: number;
  constructor(start = Date.now()) {
    this.t = start;
  }
  now = (): Date => new Date(this.t);
  advanceDays(d: number): void {
    this.t += d * 86400_000;
  }
}

export interface Client {
  agent: Agent;
  call<T = any>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Response<T>>;
  close(): void;
}

/** Opens a keep-alive mutual-TLS client; `tls` may be null for a client without a certificate. */
export function client(url: string, tls: { cert?: string; key?: string; ca: string; pfx?: Buffer; passphrase?: string }): Client {
  const agent = new Agent({ keepAlive: true, maxSockets: 4, ...tls, minVersion: "TLSv1.2" });
  return {
    agent,
    call(method, path, body, headers = {}) {
      return new Promise((resolve, reject) => {
        const raw = body === undefined ? undefined : typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body);
        const req = request(
          new URL(path, url),
          {
            method,
            agent,
            headers: {
              ...(raw !== undefined ? { "content-type": "application/json", "content-length": String(Buffer.byteLength(raw)) } : {}),
              ...headers,
            },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c) => chunks.push(c));
            res.on("end", () => {
              const text = Buffer.concat(chunks).toString("utf8");
              let parsed: unknown = text;
              try {
                parsed = JSON.parse(text);
              } catch {}
              resolve({ status: res.statusCode ?? 0, body: parsed as any, headers: res.headers });
            });
            res.on("error", reject);
          },
        );
        req.on("error", reject);
        req.end(raw);
      });
    },
    close() {
      agent.destroy();
    },
  };
}

export interface Instance {
  dir: string;
  init: InitResult;
  clock: TestClock;
  server: RunningServer;
  url: string;
  /** Clients for the init bundles: admin1, admin2, auditor, app. */
  as: Record<"admin1" | "admin2" | "auditor" | "app", Client>;
  bundle(name: string): { cert: string; key: string; ca: string };
  restart(): Promise<void>;
  stop(): Promise<void>;
  cleanup(): Promise<void>;
}

export async function newInstance(opts: Partial<InitOptions> = {}, env: NodeJS.ProcessEnv = {}): Promise<Instance> {
  const dir = mkdtempSync(join(tmpdir(), "strongroom-test-"));
  const clock = new TestClock();
  const init = await initInstance({
    dir,
    seal: "file",
    hosts: ["localhost", "127.0.0.1"],
    apiPort: 0,
    kmipPort: 0,
    timeZone: "UTC",
    // Tests opt in to dual control and owner-only themselves; production init turns both on.
    profile: "development",
    ...opts,
  });
  const log = createLogger(process.env.STRONGROOM_TEST_LOG ? process.stderr : null);
  let server = await startServer({ dir, address: "127.0.0.1", apiPort: 0, clock: clock.now, env, log });
  const bundle = (name: string) => {
    const b = init.bundles[name];
    return { cert: readFileSync(b.cert, "utf8"), key: readFileSync(b.key, "utf8"), ca: readFileSync(b.ca, "utf8") };
  };
  const inst: Instance = {
    dir,
    init,
    clock,
    server,
    url: `https://localhost:${server.apiPort}`,
    as: {} as Instance["as"],
    bundle,
    async restart() {
      for (const c of Object.values(inst.as)) c.close();
      await server.close();
      server = await startServer({ dir, address: "127.0.0.1", apiPort: 0, clock: clock.now, env, log });
      inst.server = server;
      inst.url = `https://localhost:${server.apiPort}`;
      connect();
    },
    async stop() {
      for (const c of Object.values(inst.as)) c.close();
      await server.close();
    },
    async cleanup() {
      await inst.stop().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const connect = () => {
    for (const n of ["admin1", "admin2", "auditor", "app"] as const) inst.as[n] = client(inst.url, bundle(n));
  };
  connect();
  return inst;
}
