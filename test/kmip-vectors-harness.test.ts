// The conformance harness itself: placeholder binding and substitution, $NOW windows, and first-mismatch paths.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Enum } from "../src/kmip/codec/tables.js";
import { bytes, dateTime, enm, find, findAll, int, struct, Tag, type TtlvItem, text } from "../src/kmip/codec/ttlv.js";
import { parseSteps, type Transport, VectorMismatch, VectorRun } from "./kmip-vectors/harness.js";

const header =
  '<ProtocolVersion><ProtocolVersionMajor type="Integer" value="1"/><ProtocolVersionMinor type="Integer" value="4"/></ProtocolVersion>';
const VECTOR = `<KMIP>
<RequestMessage><RequestHeader>${header}<BatchCount type="Integer" value="1"/></RequestHeader>
  <BatchItem><Operation type="Enumeration" value="Create"/><RequestPayload>
    <ObjectType type="Enumeration" value="SymmetricKey"/>
    <TemplateAttribute><Attribute><AttributeName type="TextString" value="Activation Date"/><AttributeValue type="DateTime" value="$NOW-3600"/></Attribute></TemplateAttribute>
  </RequestPayload></BatchItem></RequestMessage>
<ResponseMessage><ResponseHeader>${header}<TimeStamp type="DateTime" value="$NOW"/><BatchCount type="Integer" value="1"/></ResponseHeader>
  <BatchItem><Operation type="Enumeration" value="Create"/><ResultStatus type="Enumeration" value="Success"/><ResponsePayload>
    <ObjectType type="Enumeration" value="SymmetricKey"/><UniqueIdentifier type="TextString" value="$UNIQUE_IDENTIFIER_0"/>
  </ResponsePayload></BatchItem></ResponseMessage>
<RequestMessage><RequestHeader>${header}<BatchCount type="Integer" value="1"/></RequestHeader>
  <BatchItem><Operation type="Enumeration" value="Get"/><RequestPayload><UniqueIdentifier type="TextString" value="$UNIQUE_IDENTIFIER_0"/></RequestPayload></BatchItem></RequestMessage>
<ResponseMessage><ResponseHeader>${header}<TimeStamp type="DateTime" value="$NOW"/><BatchCount type="Integer" value="1"/></ResponseHeader>
  <BatchItem><Operation type="Enumeration" value="Get"/><ResultStatus type="Enumeration" value="Success"/><ResponsePayload>
    <ObjectType type="Enumeration" value="SymmetricKey"/><UniqueIdentifier type="TextString" value="$UNIQUE_IDENTIFIER_0"/>
    <SymmetricKey><KeyBlock><KeyFormatType type="Enumeration" value="Raw"/>
      <KeyValue><KeyMaterial type="ByteString" value="00112233445566778899aabbccddeeff"/></KeyValue>
      <CryptographicAlgorithm type="Enumeration" value="AES"/><CryptographicLength type="Integer" value="128"/>
    </KeyBlock></SymmetricKey>
  </ResponsePayload></BatchItem></ResponseMessage>
</KMIP>`;

interface Tweaks {
  id2?: string;
  length?: number;
  skewSeconds?: number;
  message?: string;
}

/** A fake server: answers Create with "id-1" and Get with a random-looking AES-128 key. */
function fakeServer(t: Tweaks = {}): Transport & { seen: TtlvItem[] } {
  const seen: TtlvItem[] = [];
  return {
    name: "fake",
    seen,
    async exchange(req) {
      seen.push(req);
      const item = findAll(req, Tag.BatchItem)[0];
      const op = find(item, Tag.Operation)?.value as number;
      const now = new Date(Date.now() + (t.skewSeconds ?? 0) * 1000);
      const payload =
        op === Enum.Operation.Create
          ? struct(Tag.ResponsePayload, enm(Tag.ObjectType, Enum.ObjectType.SymmetricKey), text(Tag.UniqueIdentifier, "id-1"))
          : struct(
              Tag.ResponsePayload,
              enm(Tag.ObjectType, Enum.ObjectType.SymmetricKey),
              text(Tag.UniqueIdentifier, t.id2 ?? "id-1"),
              struct(
                Tag.SymmetricKey,
                struct(
                  Tag.KeyBlock,
                  enm(Tag.KeyFormatType, Enum.KeyFormatType.Raw),
                  struct(Tag.KeyValue, bytes(Tag.KeyMaterial, Buffer.alloc(16, 7))),
                  enm(Tag.CryptographicAlgorithm, Enum.CryptographicAlgorithm.AES),
                  int(Tag.CryptographicLength, t.length ?? 128),
                ),
              ),
            );
      return struct(
        Tag.ResponseMessage,
        struct(
          Tag.ResponseHeader,
          struct(Tag.ProtocolVersion, int(Tag.ProtocolVersionMajor, 1), int(Tag.ProtocolVersionMinor, 4)),
          dateTime(Tag.TimeStamp, now),
          int(Tag.BatchCount, 1),
        ),
        struct(
          Tag.BatchItem,
          enm(Tag.Operation, op),
          enm(Tag.ResultStatus, Enum.ResultStatus.Success),
          t.message ? text(Tag.ResultMessage, t.message) : null,
          payload,
        ),
      );
    },
    close() {},
  };
}

const run = (t?: Tweaks) => {
  const server = fakeServer(t);
  return { server, done: new VectorRun(server).run(parseSteps(VECTOR)) };
};

test("binds $UNIQUE_IDENTIFIER_0 from a response and substitutes it (and $NOW-3600) in later requests", async () => {
  const { server, done } = run();
  assert.equal(await done, 2);
  const get = findAll(server.seen[1], Tag.BatchItem)[0];
  assert.equal(find(find(get, Tag.RequestPayload) as TtlvItem, Tag.UniqueIdentifier)?.value, "id-1");
  const create = find(findAll(server.seen[0], Tag.BatchItem)[0], Tag.RequestPayload) as TtlvItem;
  const when = Number(find(find(find(create, Tag.TemplateAttribute) as TtlvItem, Tag.Attribute) as TtlvItem, Tag.AttributeValue)?.value);
  assert.ok(Math.abs(when - (Date.now() / 1000 - 3600)) < 5);
});

test("server-generated key material is tolerated, free-text Result Message is optional", async () => {
  assert.equal(await run({ message: "anything" }).done, 2);
});

test("a wrong value fails with the path of the first difference", async () => {
  await assert.rejects(run({ length: 256 }).done, (e: Error) => {
    assert.ok(e instanceof VectorMismatch);
    assert.match(
      e.message,
      /step 1 \(Get\): BatchItem\[0\]\/ResponsePayload\/SymmetricKey\/KeyBlock\/CryptographicLength: got 256, expected 128/,
    );
    return true;
  });
});

test("a bound placeholder must keep its value", async () => {
  await assert.rejects(run({ id2: "id-2" }).done, /ResponsePayload\/UniqueIdentifier: got id-2, expected \$UNIQUE_IDENTIFIER_0 = id-1/);
});

test("$NOW is a window around the time of the request", async () => {
  await assert.rejects(run({ skewSeconds: 7200 }).done, /step 0 \(Create\): ResponseHeader\/TimeStamp: got .*, expected \$NOW/);
});
