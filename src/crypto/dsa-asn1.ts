// DSA keys ↔ their components (p, q, g, x, y): PKCS#8 / SubjectPublicKeyInfo via the @peculiar ASN.1 schemas (node:crypto has no DSA JWK).
import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { PrivateKey, PrivateKeyInfo } from "@peculiar/asn1-pkcs8";
import { AsnConvert, AsnIntegerBigIntConverter, AsnProp, AsnPropTypes, AsnType, AsnTypeTypes } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier, SubjectPublicKeyInfo } from "@peculiar/asn1-x509";

const DSA_OID = "1.2.840.10040.4.1";

/** Dss-Parms (RFC 3279 2.3.2). Decorators applied as functions: the project compiles without experimentalDecorators. */
class DssParms {
  p = 0n;
  q = 0n;
  g = 0n;
}
for (const field of ["p", "q", "g"] as const) {
  AsnProp({ type: AsnPropTypes.Integer, converter: AsnIntegerBigIntConverter })(DssParms.prototype, field);
}
AsnType({ type: AsnTypeTypes.Sequence })(DssParms);

const integer = (n: bigint): ArrayBuffer => AsnIntegerBigIntConverter.toASN(n).toBER(false);
const readInteger = (der: ArrayBuffer | Uint8Array): bigint => AsnConvert.parse(der, IntegerHolder).value;
/** A bare INTEGER, as the DSA private key (inside the PKCS#8 OCTET STRING) and public key (inside the BIT STRING) are. */
class IntegerHolder {
  value = 0n;
}
AsnProp({ type: AsnPropTypes.Integer, converter: AsnIntegerBigIntConverter })(IntegerHolder.prototype, "value");
AsnType({ type: AsnTypeTypes.Choice })(IntegerHolder);

function algorithm(p: bigint, q: bigint, g: bigint): AlgorithmIdentifier {
  const params = Object.assign(new DssParms(), { p, q, g });
  return new AlgorithmIdentifier({ algorithm: DSA_OID, parameters: AsnConvert.serialize(params) });
}

/** A DSA private key from its domain parameters and private value x. */
export function dsaPrivateKey(p: bigint, q: bigint, g: bigint, x: bigint): KeyObject {
  const info = new PrivateKeyInfo({ privateKeyAlgorithm: algorithm(p, q, g), privateKey: new PrivateKey(integer(x)) });
  return createPrivateKey({ key: Buffer.from(AsnConvert.serialize(info)), format: "der", type: "pkcs8" });
}

/** A DSA public key from its domain parameters and public value y. */
export function dsaPublicKey(p: bigint, q: bigint, g: bigint, y: bigint): KeyObject {
  const spki = new SubjectPublicKeyInfo({ algorithm: algorithm(p, q, g), subjectPublicKey: integer(y) });
  return createPublicKey({ key: Buffer.from(AsnConvert.serialize(spki)), format: "der", type: "spki" });
}

/** Domain parameters and key values of a DSA KeyObject: x (and no y) for a private key, y for a public one. */
export function dsaComponents(k: KeyObject): { p: bigint; q: bigint; g: bigint; x?: bigint; y?: bigint } {
  if (k.type === "private") {
    const info = AsnConvert.parse(k.export({ type: "pkcs8", format: "der" }), PrivateKeyInfo);
    const { p, q, g } = AsnConvert.parse(info.privateKeyAlgorithm.parameters ?? new ArrayBuffer(0), DssParms);
    return { p, q, g, x: readInteger(info.privateKey.buffer) };
  }
  const spki = AsnConvert.parse(k.export({ type: "spki", format: "der" }), SubjectPublicKeyInfo);
  const { p, q, g } = AsnConvert.parse(spki.algorithm.parameters ?? new ArrayBuffer(0), DssParms);
  return { p, q, g, y: readInteger(spki.subjectPublicKey) };
}
