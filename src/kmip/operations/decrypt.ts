// KMIP Decrypt (KMIP 1.4 §4.30 and 2.x): AES/3DES/ChaCha20 modes (authenticated modes verify the tag) and RSA OAEP/PKCS#1 v1.5.
import { rsaDecrypt } from "../../crypto/rsa-cipher.js";
import type { KmipOperation } from "../operation.js";
import { runCipher } from "./cipher-op.js";
import { privateKeyOf } from "./crypto-params.js";
import { rsaScheme } from "./rsa-cipher.js";

export const decrypt: KmipOperation = {
  name: "Decrypt",
  // RSA decrypts with the Private Key object only.
  handle: (c) =>
    runCipher(c, "decrypt", (u, params, data) =>
      rsaDecrypt(privateKeyOf(u, "Decrypt"), u.unwrapped?.secret as Buffer, rsaScheme(params), data),
    ),
};
