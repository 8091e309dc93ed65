// Test helper: a minimal KMIP client over mutual TLS (TTLV frames), built on the server's own codec.
import { connect, type TLSSocket } from "node:tls";
import { FrameReader } from "../src/kmip/codec/frame-reader.js";
import { Enum } from "../src/kmip/codec/tables.js";
import {
  decodeTtlv,
  encodeTtlv,
  enm,
  find,
  findAll,
  int,
  type StructureItem,
  struct,
  Tag,
  type TtlvItem,
  text,
} from "../src/kmip/codec/ttlv.js";

export interface KmipResult {
  operation: number | undefined;
  status: number;
  reason: number | undefined;
  message: string | undefined;
  payload: TtlvItem | undefined;
}

export class KmipClient {
  private readonly reader = new FrameReader({ maxFrameBytes: 16 * 1024 * 1024 });
  private waiting: ((frame: Buffer) => void)[] = [];
  private frames: Buffer[] = [];
  closed = false;

  private constructor(readonly socket: TLSSocket) {
    socket.on("data", (chunk: Buffer) => {
      for (const f of this.reader.push(chunk)) {
        const w = this.waiting.shift();
        if (w) w(Buffer.from(f));
        else this.frames.push(Buffer.from(f));
      }
    });
    socket.on("close", () => {
      this.closed = true;
      for (const w of this.waiting.splice(0)) w(Buffer.alloc(0));
    });
    socket.on("error", () => undefined);
  }

  static open(port: number, tls: { cert: string; key: string; ca: string }): Promise<KmipClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: "127.0.0.1", port, servername: "localhost", ...tls, minVersion: "TLSv1.2" }, () =>
        resolve(new KmipClient(s)),
      );
      s.once("error", reject);
    });
  }

  /** Sends raw bytes and waits for one response frame (empty when the server closed the connection). */
  sendRaw(bytes: Buffer): Promise<Buffer> {
    return new Promise((resolve) => {
      const ready = this.frames.shift();
      if (ready) {
        resolve(ready);
        return;
      }
      this.waiting.push(resolve);
      this.socket.write(bytes);
    });
  }

  /** One request message with the given batch items ([operation name, payload children]); returns the decoded results. */
  async call(
    version: [number, number],
    items: [keyof typeof Enum.Operation, TtlvItem[]][],
    header: TtlvItem[] = [],
  ): Promise<KmipResult[]> {
    const msg = request(version, items, header);
    const frame = await this.sendRaw(encodeTtlv(msg));
    if (frame.length === 0) throw new Error("connection closed by server");
    return results(decodeTtlv(frame));
  }

  /** A single-item call that must succeed; returns the response payload. */
  async ok(version: [number, number], op: keyof typeof Enum.Operation, payload: TtlvItem[]): Promise<TtlvItem> {
    const [r] = await this.call(version, [[op, payload]]);
    if (r.status !== Enum.ResultStatus.Success) throw new Error(`${op} failed: reason ${r.reason} ${r.message}`);
    return r.payload as TtlvItem;
  }

  close(): void {
    this.socket.destroy();
  }
}

export function request(
  version: [number, number],
  items: [keyof typeof Enum.Operation, TtlvItem[]][],
  header: TtlvItem[] = [],
): StructureItem {
  return struct(
    Tag.RequestMessage,
    struct(
      Tag.RequestHeader,
      struct(Tag.ProtocolVersion, int(Tag.ProtocolVersionMajor, version[0]), int(Tag.ProtocolVersionMinor, version[1])),
      ...header,
      int(Tag.BatchCount, items.length),
    ),
    ...items.map(([op, payload]) => struct(Tag.BatchItem, enm(Tag.Operation, Enum.Operation[op]), struct(Tag.RequestPayload, ...payload))),
  );
}

export function results(msg: TtlvItem): KmipResult[] {
  return findAll(msg, Tag.BatchItem).map((b) => ({
    operation: find(b, Tag.Operation)?.value as number | undefined,
    status: find(b, Tag.ResultStatus)?.value as number,
    reason: find(b, Tag.ResultReason)?.value as number | undefined,
    message: find(b, Tag.ResultMessage)?.value as string | undefined,
    payload: find(b, Tag.ResponsePayload),
  }));
}

/** A KMIP 1.x `Attribute {Attribute Name, Attribute Value}` (the value retagged as Attribute Value). */
export const attr1x = (name: string, value: TtlvItem): TtlvItem =>
  struct(Tag.Attribute, text(Tag.AttributeName, name), { ...value, tag: Tag.AttributeValue } as TtlvItem);

/** The payload of a KMIP 1.x Create for an AES key (optionally with a usage mask). */
export function aesCreate1x(bits: number, usageMask?: number): TtlvItem[] {
  return [
    enm(Tag.ObjectType, Enum.ObjectType.SymmetricKey),
    struct(
      Tag.TemplateAttribute,
      attr1x("Cryptographic Algorithm", enm(Tag.CryptographicAlgorithm, Enum.CryptographicAlgorithm.AES)),
      attr1x("Cryptographic Length", int(Tag.CryptographicLength, bits)),
      usageMask === undefined ? null : attr1x("Cryptographic Usage Mask", int(Tag.CryptographicUsageMask, usageMask)),
    ),
  ];
}

/** The Key Material bytes of a Get (or Export) response payload for a symmetric key. */
export function keyMaterialOf(payload: TtlvItem): Buffer {
  const block = find(find(payload, Tag.SymmetricKey) as TtlvItem, Tag.KeyBlock) as TtlvItem;
  return find(find(block, Tag.KeyValue) as TtlvItem, Tag.KeyMaterial)?.value as Buffer;
}
