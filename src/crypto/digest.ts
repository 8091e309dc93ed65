// Digest lengths of node:crypto hash names (SHA-1, SHA-2, SHA-3), for the paddings and the parameter checks that size by them.

/** Digest length in bytes of a node:crypto hash name ("sha1", "sha256", "sha512-224", "sha3-384", …). */
export const hashBytes = (h: string): number => {
  const m = /(\d+)$/.exec(h);
  if (h === "sha1") return 20;
  return Number(m?.[1]) / 8;
};
