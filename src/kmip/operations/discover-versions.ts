// KMIP Discover Versions: the protocol versions this server supports, newest first, filtered by the client's list.
import { find, findAll, int, struct, Tag } from "../codec/ttlv.js";
import { SUPPORTED_VERSIONS } from "../message.js";
import type { KmipOperation } from "../operation.js";

export const discoverVersions: KmipOperation = {
  name: "DiscoverVersions",
  async handle(c) {
    // "If the request contains a list of versions, the server SHALL return the versions it supports from that list."
    const asked = findAll(c.payload, Tag.ProtocolVersion).map((v) => ({
      major: Number(find(v, Tag.ProtocolVersionMajor)?.value),
      minor: Number(find(v, Tag.ProtocolVersionMinor)?.value),
    }));
    const list = asked.length
      ? SUPPORTED_VERSIONS.filter((s) => asked.some((a) => a.major === s.major && a.minor === s.minor))
      : SUPPORTED_VERSIONS;
    return list.map((v) => struct(Tag.ProtocolVersion, int(Tag.ProtocolVersionMajor, v.major), int(Tag.ProtocolVersionMinor, v.minor)));
  },
};
