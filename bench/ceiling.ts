// Benchmark child process: the ceiling responders. A bare TLS server that answers every KMIP frame with a canned
// response, and a bare HTTPS server that answers every request with a canned JSON body — same certificates and TLS
// settings as Strongroom (mutual TLS against the instance CA), no other work. What they sustain under the benchmark's
// load generator is what this machine can do at all; Strongroom's numbers are reported as a share of it.
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import { FrameReader } from "../src/kmip/codec/frame-reader.js";
import { mutualTlsOptions, type TlsFiles } from "../src/transport/tls.js";

process.on("disconnect", () => process.exit(0)); // never outlive the benchmark

let kmipResponse = Buffer.alloc(0);
let httpHeaders: Record<string, string> = {};
let httpBody = Buffer.alloc(0);

function start(tls: TlsFiles): Promise<{ kmipPort: number; httpsPort: number }> {
  const kmip = createTlsServer(mutualTlsOptions(tls, true), (socket: TLSSocket) => {
    socket.setNoDelay(true);
    const reader = new FrameReader();
    socket.on("data", (chunk: Buffer) => {
      for (const _ of reader.push(chunk)) socket.write(kmipResponse);
    });
    socket.on("error", () => socket.destroy());
  });
  // Strongroom's API listener verifies certificates per request (health needs none); the ceiling does the same TLS work.
  const https = createHttpsServer(
    { ...mutualTlsOptions(tls, false), keepAliveTimeout: 60_000, requestTimeout: 30_000, headersTimeout: 20_000 },
    (req, res) => {
      req.on("data", () => undefined);
      req.on("end", () => {
        if (!(req.socket as TLSSocket).authorized) {
          res.writeHead(401).end();
          return;
        }
        res.writeHead(200, { ...httpHeaders, "content-length": httpBody.length });
        res.end(httpBody);
      });
    },
  );
  https.on("secureConnection", (s: TLSSocket) => s.setNoDelay(true));
  const listen = (s: import("node:net").Server) =>
    new Promise<number>((resolve, reject) => {
      s.once("error", reject);
      s.listen(0, "127.0.0.1", () => resolve((s.address() as AddressInfo).port));
    });
  return Promise.all([listen(kmip), listen(https)]).then(([kmipPort, httpsPort]) => ({ kmipPort, httpsPort }));
}

process.on(
  "message",
  (m: { id: number; type: string; tls?: TlsFiles; response?: Buffer; headers?: Record<string, string>; body?: Buffer }) => {
    const reply = (x: object) => process.send?.({ id: m.id, ...x });
    if (m.type === "start") void start(m.tls as TlsFiles).then((ports) => reply({ ...ports, pid: process.pid }));
    else if (m.type === "kmip") {
      kmipResponse = Buffer.from(m.response as Buffer);
      reply({});
    } else if (m.type === "http") {
      httpHeaders = m.headers ?? {};
      httpBody = Buffer.from(m.body as Buffer);
      reply({});
    } else if (m.type === "close") process.exit(0);
  },
);
