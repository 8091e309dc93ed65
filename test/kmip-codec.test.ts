// KMIP TTLV codec and frame reader: spec byte vectors, padding, strict decoding, limits, builders/readers, stream splitting, speed.
import assert from "node:assert/strict";
import { test } from "node:test";
import { TtlvError } from "../src/kmip/codec/errors.js";
import { FrameError, FrameReader } from "../src/kmip/codec/frame-reader.js";
import {
  bigInt,
  bool,
  bytes,
  dateTime,
  dateTimeExtended,
  decodeTtlv,
  encodedLength,
  encodeTtlv,
  enm,
  find,
  findAll,
  getOrThrow,
  ItemType,
  int,
  interval,
  long,
  optionalValue,
  struct,
  Tag,
  type TtlvItem,
  text,
  valueOrThrow,
} from "../src/kmip/codec/index.js";

const hex = (s: string) => Buffer.from(s.replace(/[\s|]/g, ""), "hex");

/** Asserts that fn throws a TtlvError with this reason (and message fragment). */
function rejects(fn: () => unknown, reason: "Invalid Message" | "Invalid Field", fragment?: string | RegExp): TtlvError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof TtlvError, `expected TtlvError, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    assert.equal(e.reason, reason, e.message);
    if (fragment !== undefined)
      assert.match(e.message, typeof fragment === "string" ? new RegExp(fragment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")) : fragment);
    return e;
  }
  assert.fail("expected a TtlvError");
}

// -----------------------------------------------------------------------------------------------------------------
// The worked examples of the KMIP specification ("Examples" of the TTLV encoding; tag 420020 throughout).

const T = 0x420020;
const specExamples: [string, TtlvItem, string][] = [
  ["Integer 8", int(T, 8), "42 00 20 | 02 | 00 00 00 04 | 00 00 00 08 00 00 00 00"],
  ["Long Integer 123456789000000000", long(T, 123456789000000000n), "42 00 20 | 03 | 00 00 00 08 | 01 B6 9B 4B A5 74 92 00"],
  [
    "Big Integer 1234567890000000000000000000",
    bigInt(T, 1234567890000000000000000000n),
    "42 00 20 | 04 | 00 00 00 10 | 00 00 00 00 03 FD 35 EB 6B C2 DF 46 18 08 00 00",
  ],
  ["Enumeration 255", enm(T, 255), "42 00 20 | 05 | 00 00 00 04 | 00 00 00 FF 00 00 00 00"],
  ["Boolean True", bool(T, true), "42 00 20 | 06 | 00 00 00 08 | 00 00 00 00 00 00 00 01"],
  ["Text String Hello World", text(T, "Hello World"), "42 00 20 | 07 | 00 00 00 0B | 48 65 6C 6C 6F 20 57 6F 72 6C 64 00 00 00 00 00"],
  ["Byte String 01 02 03", bytes(T, Buffer.from([1, 2, 3])), "42 00 20 | 08 | 00 00 00 03 | 01 02 03 00 00 00 00 00"],
  [
    "Date-Time 2008-03-14T11:56:40Z",
    dateTime(T, new Date("2008-03-14T11:56:40Z")),
    "42 00 20 | 09 | 00 00 00 08 | 00 00 00 00 47 DA 67 F8",
  ],
  ["Interval 10 days", interval(T, 10 * 86400), "42 00 20 | 0A | 00 00 00 04 | 00 0D 2F 00 00 00 00 00"],
  [
    "Structure (Enumeration 254, Integer 255)",
    struct(T, enm(0x420004, 254), int(0x420005, 255)),
    "42 00 20 | 01 | 00 00 00 20 | 42 00 04 | 05 | 00 00 00 04 | 00 00 00 FE 00 00 00 00 | 42 00 05 | 02 | 00 00 00 04 | 00 00 00 FF 00 00 00 00",
  ],
  [
    "Date-Time Extended 2008-03-14T11:56:40.123456Z",
    dateTimeExtended(T, 1205495800123456n),
    "42 00 20 | 0B | 00 00 00 08 | 00 04 48 64 5C F1 D0 40",
  ],
];

test("TTLV: the specification's worked examples encode and decode byte for byte", () => {
  for (const [name, item, bytesHex] of specExamples) {
    const expected = hex(bytesHex);
    assert.deepEqual(encodeTtlv(item), expected, name);
    assert.equal(encodedLength(item), expected.length, name);
    assert.deepEqual(decodeTtlv(expected), item, name);
  }
});

test("TTLV: a message with every item type round-trips and every item starts on an 8-byte boundary", () => {
  const msg = struct(
    "RequestMessage",
    int("BatchCount", -1),
    long("UsageLimitsTotal", -(2n ** 63n)),
    bigInt("Modulus", -(2n ** 70n) + 5n),
    enm("Operation", "Create Key Pair"),
    bool("Sensitive", false),
    text("Description", "naïve ✓ 😀"),
    bytes("KeyMaterial", Buffer.alloc(13, 0xab)),
    dateTime("TimeStamp", 0n),
    interval("LeaseTime", 0xffffffff),
    dateTimeExtended("ActivationDate", -1n),
    struct("Attributes"),
  );
  const buf = encodeTtlv(msg);
  assert.equal(buf.length % 8, 0);
  assert.deepEqual(decodeTtlv(buf), msg);
  // Walk the encoding: each item header sits at a multiple of 8 and padding is zero.
  let off = 8;
  while (off < buf.length) {
    assert.equal(off % 8, 0);
    const len = buf.readUInt32BE(off + 4);
    const type = buf[off + 3];
    const padded = type === ItemType.Structure ? len : Math.ceil(len / 8) * 8;
    assert.ok(buf.subarray(off + 8 + len, off + 8 + padded).every((b) => b === 0));
    off += 8 + padded;
  }
  assert.equal(off, buf.length);
});

test("TTLV: Text and Byte String padding for every length 0..17", () => {
  for (let n = 0; n <= 17; n++) {
    const s = "x".repeat(n);
    const enc = encodeTtlv(text(T, s));
    assert.equal(enc.length, 8 + Math.ceil(n / 8) * 8, `length ${n}`);
    assert.equal(enc.readUInt32BE(4), n);
    assert.deepEqual(decodeTtlv(enc), text(T, s));
    const b = encodeTtlv(bytes(T, Buffer.alloc(n, 7)));
    assert.equal(b.length, enc.length);
  }
});

test("TTLV: Big Integers are two's complement, sign-extended to a multiple of 8 bytes", () => {
  const cases: [bigint, string][] = [
    [0n, "0000000000000000"],
    [1n, "0000000000000001"],
    [-1n, "ffffffffffffffff"],
    [127n, "000000000000007f"],
    [-128n, "ffffffffffffff80"],
    [2n ** 63n - 1n, "7fffffffffffffff"],
    [2n ** 63n, "00000000000000008000000000000000"],
    [-(2n ** 63n), "8000000000000000"],
    [-(2n ** 63n) - 1n, "ffffffffffffffff7fffffffffffffff"],
    [65537n, "0000000000010001"],
  ];
  for (const [value, valueHex] of cases) {
    const enc = encodeTtlv(bigInt(T, value));
    assert.equal(enc.subarray(8).toString("hex"), valueHex, String(value));
    assert.equal(enc.readUInt32BE(4), valueHex.length / 2);
    assert.equal((decodeTtlv(enc) as { value: bigint }).value, value);
  }
  // Non-minimal but aligned encodings decode too; unaligned lengths do not.
  assert.equal((decodeTtlv(hex("420020 04 00000010 0000000000000000 0000000000000005")) as { value: bigint }).value, 5n);
  rejects(() => decodeTtlv(hex("420020 04 00000004 00000005 00000000")), "Invalid Message", "multiple of 8");
  rejects(() => decodeTtlv(hex("420020 04 00000000")), "Invalid Message", "multiple of 8");
});

test("TTLV: Byte Strings decode as views of the input (no copy)", () => {
  const enc = encodeTtlv(struct(T, bytes(0x420043, Buffer.from("secret"))));
  const item = decodeTtlv(enc);
  const value = valueOrThrow(item, 0x420043, ItemType.ByteString);
  assert.equal(value.buffer, enc.buffer);
  enc.fill(0);
  assert.deepEqual(value, Buffer.alloc(6));
});

test("TTLV decode: fixed lengths, Boolean values, UTF-8, types and tags are checked", () => {
  rejects(() => decodeTtlv(hex("420020 02 00000008 0000000000000008")), "Invalid Message", "requires 4");
  rejects(() => decodeTtlv(hex("420020 05 00000002 0001000000000000")), "Invalid Message", "requires 4");
  rejects(() => decodeTtlv(hex("420020 0A 00000008 0000000000000001")), "Invalid Message", "requires 4");
  rejects(() => decodeTtlv(hex("420020 03 00000004 0000000100000000")), "Invalid Message", "requires 8");
  rejects(() => decodeTtlv(hex("420020 06 00000004 0000000100000000")), "Invalid Message", "requires 8");
  rejects(() => decodeTtlv(hex("420020 09 00000010 00000000000000000000000000000000")), "Invalid Message", "requires 8");
  rejects(() => decodeTtlv(hex("420020 0B 00000004 0000000100000000")), "Invalid Message", "requires 8");
  rejects(() => decodeTtlv(hex("420020 06 00000008 0000000000000002")), "Invalid Field", "neither 0 nor 1");
  rejects(() => decodeTtlv(hex("420020 06 00000008 0000000100000001")), "Invalid Field", "neither 0 nor 1");
  rejects(() => decodeTtlv(hex("420020 07 00000002 c328000000000000")), "Invalid Field", "UTF-8");
  rejects(() => decodeTtlv(hex("420020 07 00000003 eda080 0000000000")), "Invalid Field", "UTF-8"); // a surrogate
  rejects(() => decodeTtlv(hex("420020 0C 00000000")), "Invalid Message", "unknown item type");
  rejects(() => decodeTtlv(hex("420020 00 00000000")), "Invalid Message", "unknown item type");
  rejects(() => decodeTtlv(hex("430020 02 00000004 0000000800000000")), "Invalid Message", "not a KMIP tag");
  assert.deepEqual(decodeTtlv(hex("540001 02 00000004 0000000800000000")), int(0x540001, 8)); // extension tags are fine
});

test("TTLV decode: padding must be zero and lengths must fit the input and the enclosing structure", () => {
  rejects(() => decodeTtlv(hex("420020 02 00000004 0000000800000001")), "Invalid Message", "padding");
  rejects(() => decodeTtlv(hex("420020 07 00000001 41 00000000000001")), "Invalid Message", "padding");
  rejects(() => decodeTtlv(hex("420020 07 00000009 4141414141414141")), "Invalid Message", "exceeds");
  rejects(() => decodeTtlv(hex("420020 07 ffffffff 4141414141414141")), "Invalid Message", "exceeds");
  rejects(() => decodeTtlv(hex("420020 01 00000018 420004 02 00000004 0000000100000000")), "Invalid Message", "exceeds");
  // A child that runs past its structure's declared end, though the buffer has the bytes.
  rejects(
    () => decodeTtlv(hex("420020 01 00000010 420021 01 00000008 420004 02 00000004 00000001 00000000")),
    "Invalid Message",
    "exceeds",
  );
  // Trailing bytes after the item.
  rejects(() => decodeTtlv(hex("420020 02 00000004 0000000800000000 00")), "Invalid Message", "after the TTLV item");
  rejects(() => decodeTtlv(Buffer.alloc(0)), "Invalid Message", "truncated");
});

test("TTLV decode: every truncation of a valid message is refused", () => {
  const enc = encodeTtlv(getResponse());
  for (let n = 0; n < enc.length; n++) rejects(() => decodeTtlv(enc.subarray(0, n)), "Invalid Message");
});

test("TTLV decode: maxDepth (default 32) and maxItems (default 100,000) are enforced", () => {
  const nest = (levels: number): TtlvItem => {
    let item: TtlvItem = struct(T);
    for (let i = 1; i < levels; i++) item = struct(T, item);
    return item;
  };
  assert.doesNotThrow(() => decodeTtlv(encodeTtlv(nest(32))));
  const deep = encodeTtlv(nest(33), { maxDepth: 40 });
  rejects(() => decodeTtlv(deep), "Invalid Message", "deeper than 32");
  assert.doesNotThrow(() => decodeTtlv(deep, { maxDepth: 33 }));
  rejects(() => decodeTtlv(encodeTtlv(nest(5)), { maxDepth: 4 }), "Invalid Message", "deeper than 4");
  // The encoder refuses deep trees too (and so cannot loop on a cyclic one).
  rejects(() => encodeTtlv(nest(33)), "Invalid Field", "deeper than 32");
  const cyclic = struct(T);
  cyclic.value.push(cyclic);
  rejects(() => encodeTtlv(cyclic), "Invalid Field", "deeper");

  const wide = (n: number) => struct(T, ...Array.from({ length: n - 1 }, () => struct(T)));
  assert.equal((decodeTtlv(encodeTtlv(wide(100_000))) as { value: unknown[] }).value.length, 99_999);
  rejects(() => decodeTtlv(encodeTtlv(wide(100_001))), "Invalid Message", "more than 100000 items");
  rejects(() => decodeTtlv(encodeTtlv(wide(11)), { maxItems: 10 }), "Invalid Message", "more than 10 items");
});

test("TTLV encode: values the type cannot carry are refused with TtlvError", () => {
  const bad: [string, unknown][] = [
    ["Integer 2^31", { tag: T, type: ItemType.Integer, value: 2 ** 31 }],
    ["Integer 1.5", { tag: T, type: ItemType.Integer, value: 1.5 }],
    ["Enumeration -1", { tag: T, type: ItemType.Enumeration, value: -1 }],
    ["Interval 2^32", { tag: T, type: ItemType.Interval, value: 2 ** 32 }],
    ["Long Integer 2^63", { tag: T, type: ItemType.LongInteger, value: 2n ** 63n }],
    ["Long Integer as number", { tag: T, type: ItemType.LongInteger, value: 5 }],
    ["Date-Time as number", { tag: T, type: ItemType.DateTime, value: 5 }],
    ["Boolean as number", { tag: T, type: ItemType.Boolean, value: 1 }],
    ["lone surrogate", { tag: T, type: ItemType.TextString, value: "a\ud800b" }],
    ["Byte String as string", { tag: T, type: ItemType.ByteString, value: "00" }],
    ["unknown type", { tag: T, type: 0x0c, value: 0 }],
    ["bad tag", { tag: 0x430001, type: ItemType.Integer, value: 0 }],
    ["structure value not array", { tag: T, type: ItemType.Structure, value: {} }],
    ["null child", { tag: T, type: ItemType.Structure, value: [null] }],
  ];
  for (const [name, item] of bad) {
    const e = rejects(() => encodeTtlv(item as TtlvItem), "Invalid Field");
    assert.ok(e.message.length > 0, name);
  }
});

// -----------------------------------------------------------------------------------------------------------------
// Builders and readers

/** A typical Get response: a 256-bit AES key with the usual response header. */
function getResponse(): TtlvItem {
  return struct(
    "ResponseMessage",
    struct(
      "ResponseHeader",
      struct("ProtocolVersion", int("ProtocolVersionMajor", 2), int("ProtocolVersionMinor", 1)),
      dateTime("TimeStamp", 1_700_000_000n),
      int("BatchCount", 1),
    ),
    struct(
      "BatchItem",
      enm("Operation", "Get"),
      enm("ResultStatus", "Success"),
      struct(
        "ResponsePayload",
        enm("ObjectType", "SymmetricKey"),
        text("UniqueIdentifier", "6c1a2e4f-0d3b-4b7a-9c55-1f2e3d4c5b6a"),
        struct(
          "SymmetricKey",
          struct(
            "KeyBlock",
            enm("KeyFormatType", "Raw"),
            struct("KeyValue", bytes("KeyMaterial", Buffer.alloc(32, 0x5a))),
            enm("CryptographicAlgorithm", "AES"),
            int("CryptographicLength", 256),
          ),
        ),
      ),
    ),
  );
}

test("builders and readers: names, optional children, typed access and clear errors", () => {
  const header = struct("RequestHeader", int("BatchCount", 2), false, undefined, null, text("ClientCorrelationValue", "c1"));
  assert.equal(header.tag, Tag.RequestHeader);
  assert.equal(header.value.length, 2);
  assert.deepEqual(enm("Operation", "CreateKeyPair"), { tag: Tag.Operation, type: ItemType.Enumeration, value: 2 });
  assert.deepEqual(enm(Tag.Operation, "Create Key Pair"), enm("Operation", 2));
  rejects(() => enm("Operation", "Frobnicate"), "Invalid Field", "Frobnicate");
  assert.equal(dateTime("TimeStamp", new Date(1500)).value, 1n);

  const msg = getResponse();
  const batch = getOrThrow(msg, "BatchItem", ItemType.Structure);
  assert.equal(valueOrThrow(batch, "Operation", ItemType.Enumeration), 0x0a);
  assert.equal(valueOrThrow(getOrThrow(msg, Tag.ResponseHeader), "BatchCount", ItemType.Integer), 1);
  assert.equal(optionalValue(batch, "ResultMessage", ItemType.TextString), undefined);
  assert.equal(find(batch, "ResultReason"), undefined);
  assert.equal(findAll(msg, "BatchItem").length, 1);
  assert.deepEqual(findAll(int(T, 1), T), []);
  rejects(() => getOrThrow(batch, "ResultReason"), "Invalid Message", "missing ResultReason");
  rejects(() => valueOrThrow(batch, "Operation", ItemType.Integer), "Invalid Message", "expected 2");
  rejects(() => optionalValue(batch, "Operation", ItemType.TextString), "Invalid Message");
});

// -----------------------------------------------------------------------------------------------------------------
// Frame reader

function stream(): { bytes: Buffer; frames: Buffer[] } {
  const frames = [
    encodeTtlv(getResponse()),
    encodeTtlv(struct("RequestMessage")), // the smallest frame: 8 bytes
    encodeTtlv(struct("RequestMessage", struct("RequestHeader", int("BatchCount", 1)), text("Description", "x".repeat(300)))),
  ];
  return { bytes: Buffer.concat(frames), frames };
}

function feed(reader: FrameReader, chunks: Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  for (const c of chunks) out.push(...reader.push(c));
  return out;
}

test("frame reader: a multi-frame stream split at every byte position yields the same frames", () => {
  const { bytes: all, frames } = stream();
  for (let i = 0; i <= all.length; i++) {
    const reader = new FrameReader();
    const got = feed(reader, [all.subarray(0, i), all.subarray(i)]);
    assert.deepEqual(got, frames, `split at ${i}`);
    assert.equal(reader.pending, 0);
  }
  // Two split points: every first cut, second cut a few bytes later (inside headers and bodies).
  for (let i = 0; i < all.length; i++) {
    for (const d of [1, 3, 7, 8, 9]) {
      const got = feed(new FrameReader(), [all.subarray(0, i), all.subarray(i, i + d), all.subarray(i + d)]);
      assert.deepEqual(got, frames, `split at ${i} and ${i + d}`);
    }
  }
});

test("frame reader: one byte at a time, and whole frames returned without copying", () => {
  const { bytes: all, frames } = stream();
  const reader = new FrameReader();
  const got: Buffer[] = [];
  let pendingSeen = 0;
  for (let i = 0; i < all.length; i++) {
    got.push(...reader.push(all.subarray(i, i + 1)));
    pendingSeen = Math.max(pendingSeen, reader.pending);
  }
  assert.deepEqual(got, frames);
  assert.equal(pendingSeen, Math.max(...frames.map((f) => f.length)) - 1);
  const whole = new FrameReader().push(all);
  assert.deepEqual(whole, frames);
  assert.equal(whole[0].buffer, all.buffer, "a frame inside one chunk is a view");
  for (const f of whole) assert.doesNotThrow(() => decodeTtlv(f));
});

test("frame reader: an oversize declared length is refused from the header, before any body is buffered", () => {
  const header = hex("420078 01 00200000"); // a 2 MiB Request Message
  const reader = new FrameReader();
  const e = rejects(() => reader.push(header), "Invalid Message", "exceeds the limit of 1048576 bytes");
  assert.ok(e instanceof FrameError);
  assert.equal(reader.pending, 0);
  rejects(() => reader.push(Buffer.alloc(16)), "Invalid Message"); // the reader stays failed
  // Header split across pushes: refused as soon as its last byte arrives.
  const split = new FrameReader();
  assert.deepEqual(split.push(header.subarray(0, 7)), []);
  rejects(() => split.push(header.subarray(7)), "Invalid Message", "exceeds");
  // Configurable, and the boundary is exact (the limit includes the 8-byte header).
  const small = new FrameReader({ maxFrameBytes: 24 });
  assert.equal(small.push(encodeTtlv(struct(T, int(T, 1)))).length, 1);
  rejects(() => small.push(encodeTtlv(struct(T, int(T, 1), int(T, 2)))), "Invalid Message", "exceeds the limit of 24");
  assert.throws(() => new FrameReader({ maxFrameBytes: 4 }), RangeError);
});

test("frame reader: the first item must be a Structure with a KMIP tag; errors carry the frames completed before", () => {
  rejects(() => new FrameReader().push(hex("420020 02 00000004 0000000800000000")), "Invalid Message", "must be a Structure");
  rejects(() => new FrameReader().push(Buffer.from("GET / HTTP/1.1\r\n")), "Invalid Message", "KMIP tag");
  rejects(() => new FrameReader().push(hex("420078 01 00000004")), "Invalid Message", "multiple of 8");
  const good = encodeTtlv(struct("RequestMessage", int("BatchCount", 1)));
  const reader = new FrameReader();
  const e = rejects(() => reader.push(Buffer.concat([good, good, hex("420078 01 7fffffff")])), "Invalid Message");
  assert.ok(e instanceof FrameError);
  assert.deepEqual(e.frames, [good, good]);
  reader.reset();
  assert.deepEqual(reader.push(good), [good]);
});

// -----------------------------------------------------------------------------------------------------------------

test("micro-measure: encode and decode of a typical Get response (printed, not asserted)", (t) => {
  const msg = getResponse();
  const enc = encodeTtlv(msg);
  // Best of five rounds: other test files run alongside, so single rounds are noisy.
  const time = (fn: () => unknown, n: number): number => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn();
    return Number(process.hrtime.bigint() - start) / n;
  };
  time(() => decodeTtlv(encodeTtlv(msg)), 5000); // warm up
  let encNs = Number.POSITIVE_INFINITY;
  let decNs = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 5; round++) {
    encNs = Math.min(
      encNs,
      time(() => encodeTtlv(msg), 10_000),
    );
    decNs = Math.min(
      decNs,
      time(() => decodeTtlv(enc), 10_000),
    );
  }
  const count = (item: TtlvItem): number => (item.type === ItemType.Structure ? 1 + item.value.reduce((n, c) => n + count(c), 0) : 1);
  t.diagnostic(
    `Get response (${enc.length} bytes, ${count(msg)} items): encode ${(encNs / 1000).toFixed(2)} µs (${Math.round(1e9 / encNs)}/s), ` +
      `decode ${(decNs / 1000).toFixed(2)} µs (${Math.round(1e9 / decNs)}/s)`,
  );
});
