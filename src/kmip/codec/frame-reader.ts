// Splits a KMIP TCP/TLS byte stream into frames (one top-level TTLV item each), refusing oversize frames from their header.
//
// A KMIP message on the wire is a single TTLV Structure (Request Message / Response Message) with nothing around
// it, so the frame length is known from its 8-byte header: 8 + Length. The reader checks that header as soon as
// all 8 bytes have arrived — before buffering any of the body — so a peer cannot make the server hold more than
// `maxFrameBytes`.

import { TtlvError, type TtlvErrorReason } from "./errors.js";

export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;

export interface FrameReaderOptions {
  /** Largest frame accepted, header included. Default 1 MiB. */
  maxFrameBytes?: number;
}

/**
 * A stream that cannot be framed. `frames` holds the complete frames that preceded the fault in the same chunk
 * (answer them, then answer the error and close); the reader accepts no more input.
 */
export class FrameError extends TtlvError {
  readonly frames: Buffer[];

  constructor(reason: TtlvErrorReason, message: string, frames: Buffer[] = []) {
    super(reason, message);
    this.frames = frames;
  }
}

export class FrameReader {
  readonly maxFrameBytes: number;
  readonly #header = Buffer.alloc(8);
  #headerBytes = 0;
  /** The frame being assembled (header included) once its header is known. */
  #frame: Buffer | null = null;
  #frameBytes = 0;
  #failure: string | null = null;

  constructor(options: FrameReaderOptions = {}) {
    const max = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    if (!Number.isInteger(max) || max < 8) throw new RangeError("maxFrameBytes must be an integer of at least 8");
    this.maxFrameBytes = max;
  }

  /** Bytes received of a frame not yet complete (0 between frames). */
  get pending(): number {
    return this.#frame === null ? this.#headerBytes : this.#frameBytes;
  }

  /**
   * Adds received bytes; returns the frames they complete, in order. A frame that arrives whole inside one chunk is
   * returned as a view of that chunk (no copy), so do not reuse a chunk's memory after pushing it. Throws
   * FrameError when a header is invalid or declares a frame larger than `maxFrameBytes`; the reader then refuses
   * further input.
   */
  push(chunk: Uint8Array): Buffer[] {
    if (this.#failure !== null) throw new FrameError("Invalid Message", this.#failure);
    const data = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const frames: Buffer[] = [];
    const end = data.length;
    let pos = 0;
    while (pos < end) {
      const frame = this.#frame;
      if (frame !== null) {
        const take = Math.min(frame.length - this.#frameBytes, end - pos);
        data.copy(frame, this.#frameBytes, pos, pos + take);
        this.#frameBytes += take;
        pos += take;
        if (this.#frameBytes === frame.length) {
          frames.push(frame);
          this.#frame = null;
          this.#frameBytes = 0;
        }
        continue;
      }
      if (this.#headerBytes === 0 && end - pos >= 8) {
        // Fast path: the whole header is in this chunk.
        const size = this.#frameSize(data, pos, frames);
        if (end - pos >= size) {
          frames.push(data.subarray(pos, pos + size));
          pos += size;
        } else {
          this.#frame = Buffer.allocUnsafe(size);
          this.#frameBytes = end - pos;
          data.copy(this.#frame, 0, pos, end);
          pos = end;
        }
        continue;
      }
      // The header straddles chunks: collect it byte by byte.
      const take = Math.min(8 - this.#headerBytes, end - pos);
      data.copy(this.#header, this.#headerBytes, pos, pos + take);
      this.#headerBytes += take;
      pos += take;
      if (this.#headerBytes < 8) break;
      this.#headerBytes = 0;
      const size = this.#frameSize(this.#header, 0, frames);
      const assembled = Buffer.allocUnsafe(size);
      this.#header.copy(assembled, 0, 0, 8);
      if (size === 8) frames.push(assembled);
      else {
        this.#frame = assembled;
        this.#frameBytes = 8;
      }
    }
    return frames;
  }

  /** Drops any partial frame and a previous failure. */
  reset(): void {
    this.#headerBytes = 0;
    this.#frame = null;
    this.#frameBytes = 0;
    this.#failure = null;
  }

  /** Validates a frame header and returns the frame size; on failure poisons the reader and throws. */
  #frameSize(header: Buffer, at: number, completed: Buffer[]): number {
    const lead = header[at];
    const type = header[at + 3];
    const length = header.readUInt32BE(at + 4);
    let problem: string | null = null;
    // "All tags SHALL contain either the value 42 in hex or the value 54 in hex as the first byte."
    if (lead !== 0x42 && lead !== 0x54) problem = "the stream does not start with a KMIP tag";
    // A message is one Structure; its value is whole padded items, so its length is a multiple of eight.
    else if (type !== 0x01) problem = `a KMIP message must be a Structure, got item type 0x${type.toString(16)}`;
    else if (length % 8 !== 0) problem = `message length ${length} is not a multiple of 8`;
    else if (length > this.maxFrameBytes - 8) problem = `message of ${length + 8} bytes exceeds the limit of ${this.maxFrameBytes} bytes`;
    if (problem === null) return length + 8;
    this.#failure = problem;
    this.#frame = null;
    this.#headerBytes = 0;
    throw new FrameError("Invalid Message", problem, completed);
  }
}
