// Benchmark child process for `npm run bench:hostile`: runs one attack on the server (loopback only) until told to stop,
// so that the attacker's own work never shares an event loop with the well-behaved client being measured.
import { connect as netConnect, type Socket } from "node:net";
import { type TLSSocket, connect as tlsConnect } from "node:tls";
import { Enum } from "../src/kmip/codec/tables.js";
import { bytes, enm, int, struct, Tag, text } from "../src/kmip/codec/ttlv.js";
import { kmipMessage } from "./requests.js";

export type AttackKind =
  | "idle-tcp"
  | "no-cert-idle"
  | "slowloris"
  | "partial-frames"
  | "rsa-sign"
  | "rng-amplification"
  | "locate-amplification";

export interface AttackSpec {
  kind: AttackKind;
  apiPort: number;
  kmipPort: number;
  tls: { cert: string; key: string; ca: string };
  /** Connections held (connection attacks) or request loops (request attacks). */
  count: number;
  /** For rsa-sign: the Unique Identifier of an Active RSA-4096 private key with the Sign usage. */
  signKeyId?: string;
}

process.on("disconnect", () => process.exit(0)); // the benchmark went away: never outlive it

const sockets = new Set<Socket>();
let stopping = false;
const counters = { opened: 0, closedByServer: 0, responses: 0, errors: 0 };

function track(s: Socket, again: () => void): void {
  sockets.add(s);
  counters.opened++;
  s.on("error", () => {
    counters.errors++;
  });
  s.on("close", () => {
    sockets.delete(s);
    if (stopping) return;
    counters.closedByServer++;
    // Keep the pressure on: a connection the server closed is replaced after a short pause.
    setTimeout(again, 50).unref();
  });
}

/**
 * The attacker's own loopback address: the per-address connection limit then stops it and not the well-behaved client
 * on 127.0.0.1, as it would for an attacker on another machine.
 */
const ATTACKER_ADDRESS = "127.0.0.2";

const tlsOpts = (spec: AttackSpec, port: number, withCert: boolean) => ({
  host: "127.0.0.1",
  localAddress: ATTACKER_ADDRESS,
  port,
  servername: "localhost",
  ca: spec.tls.ca,
  ...(withCert ? { cert: spec.tls.cert, key: spec.tls.key } : {}),
  minVersion: "TLSv1.2" as const,
});

/** A frame header announcing a 1 MiB Request Message (tag 0x420078, Structure). */
function header(length: number): Buffer {
  const h = Buffer.from([0x42, 0x00, 0x78, 0x01, 0, 0, 0, 0]);
  h.writeUInt32BE(length, 4);
  return h;
}

function start(spec: AttackSpec): void {
  const { kind } = spec;
  const kmipTls = (withCert = true): TLSSocket => tlsConnect(tlsOpts(spec, spec.kmipPort, withCert));
  const connectionAttack = (open: () => void) => {
    for (let n = 0; n < spec.count; n++) open();
  };
  switch (kind) {
    case "idle-tcp": {
      // Raw TCP to both ports, never a byte: what exhausted file descriptors before handshake deadlines existed.
      const open = () => {
        if (stopping) return;
        const port = counters.opened % 2 === 0 ? spec.kmipPort : spec.apiPort;
        track(netConnect({ host: "127.0.0.1", port, localAddress: ATTACKER_ADDRESS }), open);
      };
      connectionAttack(open);
      return;
    }
    case "no-cert-idle": {
      // HTTPS handshake without a client certificate, then silence.
      const open = () => {
        if (stopping) return;
        track(tlsConnect(tlsOpts(spec, spec.apiPort, false)), open);
      };
      connectionAttack(open);
      return;
    }
    case "slowloris": {
      // An authenticated KMIP connection that starts a 1 MiB frame and then sends one byte per second.
      const open = () => {
        if (stopping) return;
        const s = kmipTls();
        track(s, open);
        s.once("secureConnect", () => {
          s.write(header(1024 * 1024 - 8));
          const t = setInterval(() => (s.destroyed ? clearInterval(t) : s.write(Buffer.from([0]))), 1000);
          t.unref();
        });
      };
      connectionAttack(open);
      return;
    }
    case "partial-frames": {
      // Each connection sends all but the last byte of a 1 MiB frame and holds it.
      const body = Buffer.alloc(1024 * 1024 - 9);
      const open = () => {
        if (stopping) return;
        const s = kmipTls();
        track(s, open);
        s.once("secureConnect", () => {
          s.write(header(1024 * 1024 - 8));
          s.write(body);
        });
      };
      connectionAttack(open);
      return;
    }
    default: {
      // Request attacks: `count` connections sending the same expensive request back to back.
      const request =
        kind === "rsa-sign"
          ? kmipMessage([
              [
                "Sign",
                [
                  text(Tag.UniqueIdentifier, spec.signKeyId ?? ""),
                  struct(
                    Tag.CryptographicParameters,
                    enm(Tag.PaddingMethod, Enum.PaddingMethod.PKCS1V1_5),
                    enm(Tag.HashingAlgorithm, Enum.HashingAlgorithm.SHA_256),
                    enm(Tag.CryptographicAlgorithm, Enum.CryptographicAlgorithm.RSA),
                  ),
                  bytes(Tag.Data, Buffer.from("attack at dawn")),
                ],
              ],
            ])
          : kind === "rng-amplification"
            ? kmipMessage(Array.from({ length: 1000 }, () => ["RNGRetrieve", [int(Tag.DataLength, 512 * 1024)]] as const) as never)
            : kmipMessage(Array.from({ length: 1000 }, () => ["Locate", []] as const) as never);
      const open = () => {
        if (stopping) return;
        const s = kmipTls();
        track(s, open);
        let expected = 0;
        let got = 0;
        s.on("data", (c: Buffer) => {
          // Responses are not parsed: count bytes until the announced frame length is complete, then ask again.
          let off = 0;
          while (off < c.length) {
            if (expected === 0) {
              if (c.length - off < 8) return; // a header split across chunks is rare enough to ignore here
              expected = 8 + c.readUInt32BE(off + 4);
              got = 0;
            }
            const take = Math.min(expected - got, c.length - off);
            got += take;
            off += take;
            if (got === expected) {
              expected = 0;
              counters.responses++;
              if (!stopping) s.write(request);
            }
          }
        });
        s.once("secureConnect", () => s.write(request));
      };
      connectionAttack(open);
    }
  }
}

process.on("message", (m: { type: string; id?: number; spec?: AttackSpec }) => {
  if (m.type === "start" && m.spec) {
    start(m.spec);
    process.send?.({ id: m.id, started: true });
  } else if (m.type === "stop") {
    stopping = true;
    for (const s of sockets) s.destroy();
    process.send?.({ id: m.id, ...counters });
  } else if (m.type === "close") {
    stopping = true;
    for (const s of sockets) s.destroy();
    process.exit(0);
  }
});
