// Property-based tests of the KMIP codec (fast-check): random trees round-trip through TTLV, XML and JSON; random and mutated input only ever yields TtlvError, quickly and within limits.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { TtlvError } from "../src/kmip/codec/errors.js";
import {
  DEFAULT_MAX_DEPTH,
  decodeTtlv,
  encodeTtlv,
  FrameReader,
  ItemType,
  jsonToTtlv,
  TAG_TABLE,
  type TtlvItem,
  ttlvToJson,
  ttlvToXml,
  xmlToTtlv,
} from "../src/kmip/codec/index.js";

const RUNS = Number(process.env.KMIP_FC_RUNS ?? 300);

const knownTags = TAG_TABLE.map(([t]) => t);
const tagArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...knownTags) },
  { weight: 1, arbitrary: fc.integer({ min: 0x420000, max: 0x42ffff }) },
  { weight: 1, arbitrary: fc.integer({ min: 0x540000, max: 0x54ffff }) },
);
const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
const uint32 = fc.integer({ min: 0, max: 0xffffffff });

/** Strings XML 1.0 can carry (the encoders refuse the rest). */
const xmlText = fc
  .string({ unit: "binary", maxLength: 40 })
  .map((s) => s.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, "?"));

const leaf = (text: fc.Arbitrary<string>): fc.Arbitrary<TtlvItem> =>
  fc
    .oneof(
      fc.record({ tag: tagArb, type: fc.constant(ItemType.Integer), value: fc.integer() }),
      fc.record({ tag: tagArb, type: fc.constant(ItemType.LongInteger), value: int64 }),
      fc.record({ tag: tagArb, type: fc.constant(ItemType.BigInteger), value: fc.bigInt({ min: -(2n ** 300n), max: 2n ** 300n }) }),
      fc.record({ tag: tagArb, type: fc.constant(ItemType.Enumeration), value: uint32 }),
      fc.record({ tag: tagArb, type: fc.constant(ItemType.Boolean), value: fc.boolean() }),
      fc.record({ tag: tagArb, type: fc.constant(ItemType.TextString), value: text }),
      fc.record({
        tag: tagArb,
        type: fc.constant(ItemType.ByteString),
        value: fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
      }),
      fc.record({ tag: tagArb, type: fc.constant(ItemType.DateTime), value: int64 }),
      fc.record({ tag: tagArb, type: fc.constant(ItemType.Interval), value: uint32 }),
      fc.record({ tag: tagArb, type: fc.constant(ItemType.DateTimeExtended), value: int64 }),
    )
    .map((r) => ({ ...r }) as TtlvItem); // plain objects, as the decoders build them

function treeOf(text: fc.Arbitrary<string>): fc.Arbitrary<TtlvItem> {
  const { tree } = fc.letrec<{ tree: TtlvItem; structure: TtlvItem }>((tie) => ({
    tree: fc.oneof({ maxDepth: 6, depthIdentifier: "ttlv" }, leaf(text), tie("structure")),
    structure: fc
      .record({
        tag: tagArb,
        type: fc.constant(ItemType.Structure),
        value: fc.array(tie("tree"), { maxLength: 6, depthIdentifier: "ttlv" }),
      })
      .map((r) => ({ ...r }) as TtlvItem),
  }));
  return tree;
}

const anyTree = treeOf(fc.string({ unit: "binary", maxLength: 40 }));
const xmlTree = treeOf(xmlText);

/** Runs fn; anything thrown must be a TtlvError. Returns the result or undefined. */
function onlyTtlvErrors<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch (e) {
    if (!(e instanceof TtlvError)) throw new Error(`non-TtlvError thrown: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    assert.ok(e.reason === "Invalid Message" || e.reason === "Invalid Field");
    return undefined;
  }
}

function stats(item: TtlvItem, depth = 1): { items: number; depth: number } {
  if (item.type !== ItemType.Structure) return { items: 1, depth };
  let items = 1;
  let max = depth;
  for (const c of item.value) {
    const s = stats(c, depth + 1);
    items += s.items;
    max = Math.max(max, s.depth);
  }
  return { items, depth: max };
}

test("property: random trees round-trip through TTLV", { timeout: 120_000 }, () => {
  fc.assert(
    fc.property(anyTree, (tree) => {
      const enc = encodeTtlv(tree);
      assert.equal(enc.length % 8, 0);
      assert.deepEqual(decodeTtlv(enc), tree);
    }),
    { numRuns: RUNS * 3 },
  );
});

test("property: random trees round-trip through XML and JSON", { timeout: 120_000 }, () => {
  fc.assert(
    fc.property(xmlTree, (tree) => {
      assert.deepEqual(xmlToTtlv(ttlvToXml(tree)), tree);
      assert.deepEqual(xmlToTtlv(ttlvToXml(tree, { indent: "", maskSeparator: "|" })), tree);
      assert.deepEqual(jsonToTtlv(ttlvToJson(tree)), tree);
    }),
    { numRuns: RUNS * 2 },
  );
});

test("property: random bytes decode to a TtlvError, never another exception", { timeout: 120_000 }, () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 256 }), fc.boolean(), (raw, plausible) => {
      const bytes = Buffer.from(raw);
      if (plausible && bytes.length >= 8) {
        bytes[0] = 0x42; // a KMIP tag and a Structure, so decoding gets further
        bytes[3] = 0x01;
        bytes.writeUInt32BE(bytes.length - 8, 4);
      }
      onlyTtlvErrors(() => decodeTtlv(bytes));
    }),
    { numRuns: RUNS * 10 },
  );
});

type Mutation =
  | { kind: "set"; at: number; byte: number }
  | { kind: "truncate"; at: number }
  | { kind: "insert"; at: number; bytes: Uint8Array }
  | { kind: "length"; at: number; value: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("set" as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 9 }) }),
  fc.record({ kind: fc.constant("length" as const), at: fc.nat(), value: fc.oneof(fc.nat(64), fc.constant(0xffffffff), fc.nat()) }),
);

/** Applies byte edits, truncation, insertion, or rewrites a length field (items start on 8-byte boundaries). */
function mutate(input: Buffer, steps: Mutation[]): Buffer {
  let b = Buffer.from(input);
  for (const m of steps) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    if (m.kind === "set") b[at] = m.byte;
    else if (m.kind === "truncate") b = b.subarray(0, at);
    else if (m.kind === "insert") b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
    else if (b.length >= 8) b.writeUInt32BE(m.value >>> 0, 8 * (m.at % Math.floor(b.length / 8)) + 4);
  }
  return b;
}

test("property: mutated valid messages decode or fail with TtlvError, quickly and within limits", { timeout: 120_000 }, () => {
  const limits = { maxDepth: 8, maxItems: 50 };
  fc.assert(
    fc.property(anyTree, fc.array(mutation, { minLength: 1, maxLength: 4 }), (tree, steps) => {
      const bytes = mutate(encodeTtlv(tree, { maxDepth: DEFAULT_MAX_DEPTH }), steps);
      const start = performance.now();
      const item = onlyTtlvErrors(() => decodeTtlv(bytes, limits));
      assert.ok(performance.now() - start < 1000, "decode took more than a second");
      if (item !== undefined) {
        const s = stats(item);
        assert.ok(s.items <= limits.maxItems && s.depth <= limits.maxDepth);
        assert.ok(encodeTtlv(item).length <= bytes.length);
      }
    }),
    { numRuns: RUNS * 5 },
  );
});

test("property: the frame reader splits any chunking of a valid stream correctly", { timeout: 120_000 }, () => {
  fc.assert(
    fc.property(
      fc.array(anyTree, { minLength: 1, maxLength: 4 }),
      fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 50 }),
      (trees, cuts) => {
        const frames = trees.map((t) => encodeTtlv({ tag: 0x420078, type: ItemType.Structure, value: [t] }));
        const all = Buffer.concat(frames);
        const reader = new FrameReader();
        const got: Buffer[] = [];
        let pos = 0;
        for (let i = 0; pos < all.length; i++) {
          const n = cuts[i % cuts.length];
          got.push(...reader.push(all.subarray(pos, pos + n)));
          pos += n;
        }
        assert.deepEqual(got, frames);
        assert.equal(reader.pending, 0);
      },
    ),
    { numRuns: RUNS },
  );
});

test("property: the frame reader on random or mutated streams only throws FrameError and holds no more than allowed", {
  timeout: 120_000,
}, () => {
  const maxFrameBytes = 512;
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 2048 }).map((a) => Buffer.from(a)),
        fc.tuple(anyTree, fc.array(mutation, { maxLength: 3 })).map(([t, m]) => mutate(encodeTtlv(t), m)),
      ),
      fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 1, maxLength: 20 }),
      (bytes, cuts) => {
        const reader = new FrameReader({ maxFrameBytes });
        let pos = 0;
        let out = 0;
        try {
          for (let i = 0; pos < bytes.length; i++) {
            const n = cuts[i % cuts.length];
            for (const f of reader.push(bytes.subarray(pos, pos + n))) {
              assert.ok(f.length <= maxFrameBytes);
              out += f.length;
              onlyTtlvErrors(() => decodeTtlv(f));
            }
            pos += n;
            assert.ok(reader.pending < maxFrameBytes);
          }
        } catch (e) {
          if (!(e instanceof TtlvError)) throw e;
        }
        assert.ok(out + reader.pending <= bytes.length);
      },
    ),
    { numRuns: RUNS * 3 },
  );
});

test("property: mutated XML and JSON documents fail only with TtlvError", { timeout: 120_000 }, () => {
  fc.assert(
    fc.property(
      xmlTree,
      fc.array(fc.tuple(fc.nat(), fc.string({ unit: "binary", maxLength: 3 })), { minLength: 1, maxLength: 4 }),
      (tree, edits) => {
        for (let doc of [ttlvToXml(tree), ttlvToJson(tree)]) {
          for (const [at, s] of edits) {
            const i = doc.length === 0 ? 0 : at % doc.length;
            doc = doc.slice(0, i) + s + doc.slice(i + (at % 3));
          }
          onlyTtlvErrors(() => (doc.startsWith("<") ? xmlToTtlv(doc) : jsonToTtlv(doc)));
          onlyTtlvErrors(() => xmlToTtlv(doc));
          onlyTtlvErrors(() => jsonToTtlv(doc));
        }
      },
    ),
    { numRuns: RUNS * 3 },
  );
});
