// The request/response flow shared by KMIP Encrypt and Decrypt: key checks, parameters, one-shot or multi-part, response fields.
import { type Direction, type SymOp, symmetric } from "../../crypto/sym-cipher.js";
import { fail } from "../../errors/registry.js";
import { Enum } from "../codec/tables.js";
import { bytes, Tag, type TtlvItem } from "../codec/ttlv.js";
import type { KmipCall } from "../operation.js";
import { uidItem } from "./common.js";
import {
  type CryptoParams,
  effectiveParams,
  familyOf,
  optionalBytes,
  requiredBytes,
  symmetricSecret,
  type UsableKey,
  useKey,
  wrongKey,
} from "./crypto-params.js";
import { endStream, guarded, openStream, resumeStream, streamStep } from "./crypto-streams.js";
import { symParams } from "./sym-params.js";

/** The response fields that are present. */
const present = (...items: (TtlvItem | null)[]): TtlvItem[] => items.filter((x): x is TtlvItem => x !== null);

/** Key families Encrypt/Decrypt serve (HMAC and EC keys do not encrypt). */
const CIPHER_FAMILIES = new Set(["aes", "des3", "chacha20", "chacha20poly1305", "rsa"]);

const OP: Record<Direction, "Encrypt" | "Decrypt"> = { encrypt: "Encrypt", decrypt: "Decrypt" };

/**
 * Runs an Encrypt or Decrypt request. `asymmetric` handles RSA keys (one-shot only). Response:
 * Unique Identifier, Data, IV/Counter/Nonce (when the server generated it), Correlation Value
 * (while a multi-part operation continues), Authenticated Encryption Tag ("only returned on
 * completion of the encryption of the last of the plaintext by an authenticated encryption cipher").
 */
export async function runCipher(
  c: KmipCall,
  dir: Direction,
  asymmetric: (u: UsableKey, params: CryptoParams, data: Buffer) => Buffer | Promise<Buffer>,
): Promise<TtlvItem[]> {
  const op = OP[dir];
  const step = streamStep(c);
  // Encrypt protects (Active only); Decrypt processes (Active, Deactivated, Compromised).
  const u = await useKey(c, dir, op, dir === "encrypt" ? "protect" : "process");
  const tagIn = dir === "decrypt" ? optionalBytes(c, Tag.AuthenticatedEncryptionTag, "Authenticated Encryption Tag") : undefined;

  if (step.kind === "continue") {
    // A multi-part decryption hands out plaintext before the final part verifies an AEAD tag: the
    // client must discard it if the last part fails.
    const data = optionalBytes(c, Tag.Data, "Data") ?? Buffer.alloc(0);
    const s = resumeStream<SymOp>(c, op, u.id, step.correlation);
    return guarded(c, step.correlation, () => {
      if (optionalBytes(c, Tag.AuthenticatedEncryptionAdditionalData, "Authenticated Encryption Additional Data")) {
        fail("crypto_params", { detail: "Authenticated Encryption Additional Data must be sent with the first part" });
      }
      const out = s.update(data);
      if (!step.final) return [uidItem(u.id), bytes(Tag.Data, out), bytes(Tag.CorrelationValue, step.correlation)];
      const f = s.final(tagIn);
      endStream(c, step.correlation);
      return present(
        uidItem(u.id),
        bytes(Tag.Data, Buffer.concat([out, f.data])),
        f.tag ? bytes(Tag.AuthenticatedEncryptionTag, f.tag) : null,
      );
    });
  }

  const data = requiredBytes(c, Tag.Data, "Data");
  const params = effectiveParams(c, u.obj);
  const family = familyOf(u.obj.type);
  if (!CIPHER_FAMILIES.has(family)) wrongKey(u, op);
  if (family === "rsa") {
    if (step.kind === "start") fail("feature_not_supported", { detail: "RSA encryption cannot be a multi-part operation" });
    return [uidItem(u.id), bytes(Tag.Data, await asymmetric(u, params, data))];
  }
  // PCI mode: a key-wrap decryption would hand wrapped key material back in clear (a key-use rule).
  const M = Enum.BlockCipherMode;
  if (dir === "decrypt" && (params.mode === M.NISTKeyWrap || params.mode === M.AESKeyWrapPadding)) c.services.keyUse.refuseClearUnwrap();
  const s = symmetric({
    dir,
    key: symmetricSecret(u, op),
    params: symParams(family, params),
    iv: optionalBytes(c, Tag.IVCounterNonce, "IV/Counter/Nonce"),
    aad: optionalBytes(c, Tag.AuthenticatedEncryptionAdditionalData, "Authenticated Encryption Additional Data"),
    tag: tagIn,
    totalLength: step.kind === "one-shot" ? data.length : undefined,
  });
  const ivItem = s.generated && s.iv ? bytes(Tag.IVCounterNonce, s.iv) : null;
  if (step.kind === "start") {
    if (!s.streamable) fail("feature_not_supported", { detail: "this mode cannot be a multi-part operation" });
    const out = s.update(data);
    const correlation = openStream(c, op, u.id, s);
    return present(uidItem(u.id), bytes(Tag.Data, out), ivItem, bytes(Tag.CorrelationValue, correlation));
  }
  const out = s.update(data);
  const f = s.final(tagIn);
  return present(
    uidItem(u.id),
    bytes(Tag.Data, Buffer.concat([out, f.data])),
    ivItem,
    f.tag ? bytes(Tag.AuthenticatedEncryptionTag, f.tag) : null,
  );
}
