// The master key behind one interface: software bytes (shamir, passphrase, file seals) or a non-extractable HSM key (pkcs11).
import { open, seal } from "../crypto/aead.js";

/**
 * What the barrier needs of a master key: wrap and unwrap keyring entries (KEKs, the audit MAC key),
 * each bound to its own additional data. An HSM implementation never exposes the key's bytes.
 */
export interface MasterKey {
  /** `software`: the bytes are in this process; `hsm`: only a handle is. */
  readonly kind: "software" | "hsm";
  /** Returns nonce || ciphertext || tag (AES-256-GCM). */
  wrap(plaintext: Buffer, aad: string): Buffer;
  /** Inverse of wrap; throws if the key, the blob or the additional data do not match. */
  unwrap(blob: Buffer, aad: string): Buffer;
  /** Forgets the key: zeroes software bytes, closes an HSM session. Idempotent. */
  destroy(): void;
}

export const MASTER_LEN = 32;

/** A master key held in memory; takes ownership of the buffer and zeroes it on destroy. */
export class SoftwareMasterKey implements MasterKey {
  readonly kind = "software" as const;
  private key: Buffer | null;

  constructor(key: Buffer) {
    if (key.length !== MASTER_LEN) {
      key.fill(0);
      throw new Error("a master key is 32 bytes");
    }
    this.key = key;
  }

  private bytes(): Buffer {
    if (!this.key) throw new Error("master key destroyed");
    return this.key;
  }

  wrap(plaintext: Buffer, aad: string): Buffer {
    return seal(this.bytes(), plaintext, aad);
  }

  unwrap(blob: Buffer, aad: string): Buffer {
    return open(this.bytes(), blob, aad);
  }

  destroy(): void {
    this.key?.fill(0);
    this.key = null;
  }
}

/** Accepts raw bytes (taking ownership) or a MasterKey. */
export const asMasterKey = (k: Buffer | MasterKey): MasterKey => (Buffer.isBuffer(k) ? new SoftwareMasterKey(k) : k);
