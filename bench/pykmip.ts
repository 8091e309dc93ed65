// Starts the PyKMIP reference server (Debian python3-pykmip) for the benchmark's comparison, when it is installed:
// its own CA and server certificate, a generated configuration on a free loopback port, a temporary SQLite database.
import { type ChildProcess, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { createServer, connect as tcpConnect } from "node:net";
import { join } from "node:path";
import { createCa, generateLeafKey, issueWithCa } from "../src/pki/cert-service.js";
import { killGroup, spawnGroup } from "./children.js";

export const PYTHON = "/usr/bin/python3";

export function pykmipInstalled(): boolean {
  if (!existsSync(PYTHON)) return false;
  try {
    execFileSync(PYTHON, ["-c", "import kmip.services.server"], { stdio: "ignore", timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as import("node:net").AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

// Runs the server in the main thread (it installs signal handlers); a watcher thread kills the whole process group
// (the server, its multiprocessing manager and policy monitor) when the benchmark's end of stdin closes, so PyKMIP
// never outlives the benchmark even if the benchmark is killed.
const WRAPPER = `
import os, signal, sys, threading
def watch():
    try:
        while os.read(0, 4096):  # the raw fd: sys.stdin's lock would deadlock multiprocessing's forked children
            pass
    finally:
        if os.getpgid(0) == os.getpid():
            os.killpg(os.getpid(), signal.SIGKILL)
        os._exit(0)
threading.Thread(target=watch, daemon=True).start()
from kmip.services.server.server import KmipServer
server = KmipServer(config_path=sys.argv[1], log_path=sys.argv[2], live_policies=False)
with server:
    server.serve()
`;

export interface PyKmip {
  port: number;
  /** PEM of the CA that signed PyKMIP's server certificate (the load generator trusts it). */
  ca: string;
  proc: ChildProcess;
  stop(): void;
}

/**
 * Starts PyKMIP on 127.0.0.1 with TLS 1.2 and client certificate checks (clientAuth EKU required); `clientCa` is the CA
 * of the certificates the benchmark's clients present (Strongroom's instance CA).
 */
export async function startPyKmip(dir: string, clientCaPem: string): Promise<PyKmip> {
  mkdirSync(join(dir, "policies"), { recursive: true });
  const now = new Date();
  const ca = createCa("ec-p256", "pykmip-bench", now);
  const serverKey = generateLeafKey("ec-p256");
  const cert = issueWithCa(ca, {
    cn: "localhost",
    ou: "pykmip",
    publicKey: serverKey.publicKey,
    days: 2,
    now,
    server: { dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] },
  });
  const paths = {
    cert: join(dir, "server.pem"),
    key: join(dir, "server.key"),
    ca: join(dir, "client-ca.pem"),
    conf: join(dir, "server.conf"),
    log: join(dir, "server.log"),
    db: join(dir, "pykmip.sqlite"),
  };
  writeFileSync(paths.cert, cert.pem);
  writeFileSync(paths.key, serverKey.privateKey.export({ type: "pkcs8", format: "pem" }) as string, { mode: 0o600 });
  writeFileSync(paths.ca, clientCaPem);
  const port = await freePort();
  writeFileSync(
    paths.conf,
    [
      "[server]",
      "hostname=127.0.0.1",
      `port=${port}`,
      `certificate_path=${paths.cert}`,
      `key_path=${paths.key}`,
      `ca_path=${paths.ca}`,
      "auth_suite=TLS1.2",
      `policy_path=${join(dir, "policies")}`,
      "enable_tls_client_auth=True",
      // Per-request INFO lines go to a log file; WARNING keeps PyKMIP at its fastest (the comparison is conservative).
      "logging_level=WARNING",
      `database_path=${paths.db}`,
      "",
    ].join("\n"),
  );
  const proc = spawnGroup(PYTHON, ["-c", WRAPPER, paths.conf, paths.log], { stdio: ["pipe", "ignore", "pipe"] });
  let stderr = "";
  proc.stderr?.on("data", (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4000);
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`PyKMIP exited during start-up: ${stderr.trim().slice(-800)}`);
    if (await canConnect(port)) break;
    if (Date.now() > deadline) {
      killGroup(proc);
      throw new Error(`PyKMIP did not listen on port ${port} within 30 s: ${stderr.trim().slice(-800)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    ca: ca.certPem,
    proc,
    stop: () => {
      proc.stdin?.destroy();
      killGroup(proc);
    },
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host: "127.0.0.1", port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on("error", () => resolve(false));
  });
}
