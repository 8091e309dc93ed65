// KMIP Encrypt (KMIP 1.4 §4.29 and 2.x): AES/3DES/ChaCha20 modes and RSA OAEP/PKCS#1 v1.5, one-shot or multi-part.
import { rsaEncrypt } from "../../crypto/rsa-cipher.js";
import type { KmipOperation } from "../operation.js";
import { runCipher } from "./cipher-op.js";
import { publicKeyOf } from "./crypto-params.js";
import { rsaScheme } from "./rsa-cipher.js";

export const encrypt: KmipOperation = {
  name: "Encrypt",
  // RSA encrypts with a Public Key object, or with the public half of a Private Key object.
  handle: (c) => runCipher(c, "encrypt", (u, params, data) => rsaEncrypt(publicKeyOf(u, "Encrypt"), rsaScheme(params), data)),
};
