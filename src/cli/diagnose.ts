// Plain-language causes of connection failures the CLI can establish itself: a key that is not the certificate's, a client certificate from another CA or out of date, the KMIP port given instead of the REST API's.
import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import { connect } from "node:tls";
import { Enum } from "../kmip/codec/tables.js";
import { encodeTtlv, enm, int, struct, Tag } from "../kmip/codec/ttlv.js";

export const DEFAULT_KMIP_PORT = 5696;
export const DEFAULT_API_PORT = 8443;

export const KMIP_PORT_HINT = `this looks like the KMIP port (${DEFAULT_KMIP_PORT} by default), not the REST API: the REST API is on ${DEFAULT_API_PORT} by default (the 'api' line of strongroom init; listen.apiPort in strongroom.yaml)`;

const cnOf = (subject: string): string => /(?:^|\n)CN=([^\n]*)/.exec(subject)?.[1] ?? subject.replace(/\n/g, ", ");

/**
 * Whether the private key is not the one of the certificate (e.g. key.pem of one bundle with cert.pem of another).
 * Compared by public key, because OpenSSL accepts a key of another type next to a certificate without complaint.
 * Null when either does not parse (the TLS layer reports that in its own words).
 */
export function keyMismatch(certPem: string, keyPem: string): boolean | null {
  try {
    const fromCert = new X509Certificate(certPem).publicKey.export({ type: "spki", format: "der" });
    const fromKey = createPublicKey(createPrivateKey(keyPem)).export({ type: "spki", format: "der" });
    return !fromCert.equals(fromKey);
  } catch {
    return null;
  }
}

/** Why the server would refuse this client certificate, as far as the CLI can tell without it: another CA, expired. */
export function clientCertProblem(certPem: string, caPem: string, now = new Date()): string | null {
  let cert: X509Certificate;
  let ca: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
    ca = new X509Certificate(caPem);
  } catch {
    return null;
  }
  // The handshake already verified the server's certificate with this CA: it is the server's CA.
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) {
    const issuer = cnOf(cert.issuer);
    const same = issuer === cnOf(ca.subject) ? " (a different CA of the same name: another instance)" : "";
    return `the client certificate (CN ${cnOf(cert.subject)}) is from another CA: issued by '${issuer}'${same}, while this server accepts only certificates its own CA issued; use a bundle of this instance (strongroom certs issue)`;
  }
  if (Date.parse(cert.validTo) < now.getTime()) return `the client certificate (CN ${cnOf(cert.subject)}) expired on ${cert.validTo}`;
  if (Date.parse(cert.validFrom) > now.getTime())
    return `the client certificate (CN ${cnOf(cert.subject)}) is not valid before ${cert.validFrom}`;
  return null;
}

/** A KMIP 1.0 Discover Versions request: any KMIP server answers it with a Response Message. */
function discoverVersions(): Buffer {
  return encodeTtlv(
    struct(
      Tag.RequestMessage,
      struct(
        Tag.RequestHeader,
        struct(Tag.ProtocolVersion, int(Tag.ProtocolVersionMajor, 1), int(Tag.ProtocolVersionMinor, 0)),
        int(Tag.BatchCount, 1),
      ),
      struct(Tag.BatchItem, enm(Tag.Operation, Enum.Operation.DiscoverVersions), struct(Tag.RequestPayload)),
    ),
  );
}

/**
 * Whether `url` answers KMIP: sends one Discover Versions request over the same mutual TLS and looks at the first
 * three bytes of the answer (tag 0x42007B, Response Message). Only run after a request failed; bounded by `timeoutMs`.
 */
export function answersKmip(url: URL, tls: { cert: string; key: string; ca: string }, timeoutMs = 3000): Promise<boolean> {
  const host = url.hostname.replace(/^\[|\]$/g, "");
  return new Promise((resolve) => {
    let done = false;
    const finish = (v: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(v);
    };
    const socket = connect({
      host,
      port: Number(url.port || 443),
      ...(isIP(host) ? {} : { servername: host }),
      cert: tls.cert,
      key: tls.key,
      ca: tls.ca,
      minVersion: "TLSv1.2",
    });
    const timer = setTimeout(() => finish(false), timeoutMs);
    let head = Buffer.alloc(0);
    socket.on("secureConnect", () => socket.write(discoverVersions()));
    socket.on("data", (c: Buffer) => {
      head = Buffer.concat([head, c]).subarray(0, 3);
      if (head.length >= 3) finish(head[0] === 0x42 && head[1] === 0x00 && head[2] === 0x7b);
    });
    socket.on("error", () => finish(false));
    socket.on("close", () => finish(false));
  });
}
