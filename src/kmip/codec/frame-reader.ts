// Splits a KMIP TCP/TLS byte stream into frames (one top-level TTLV item each), refusing oversize frames from their header.
//
// A KMIP message on the wire is a single TTLV Structure (Request Message / Response Message) with nothing around
// it, so the frame length is known from its 8-byte header: 8 + Length. The reader checks that header as soon as
// all 8 bytes have arrived — before buffering any of the body — so a peer cannot make the server hold more than
// `maxFrameBytes`; and the buffer of a partial frame grows with the bytes received, not with the length declared.

import { TtlvError, type TtlvErrorReason } from "./errors.js";

export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;

const EMPTY = Buffer.alloc(0);

/** A memory budget shared by many readers (the server's limits.maxBufferedInputBytes). */
export interface InputBudgetLike {
  reserve(bytes: number): boolean;
  release(bytes: number): void;
}

export interface FrameReaderOptions {
  /** Largest frame accepted, header included. Default 1 MiB. */
  maxFrameBytes?: number;
  /**
   * Charged with the buffer of a partial frame before it grows, released when the frame completes or `reset()` is
   * called; a push that would exceed it throws FrameError. Frames that arrive whole in one chunk are never charged.
   */
  budget?: InputBudgetLike;
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
  /** Size of the frame being assembled once its header is known, else 0. */
  #frameSize = 0;
  /** Bytes of that frame received so far, in a buffer that grows with them (never ahead of what was received). */
  #frame: Buffer = EMPTY;
  #frameBytes = 0;
  #failure: string | null = null;
  readonly #budget: InputBudgetLike | undefined;

  constructor(options: FrameReaderOptions = {}) {
    const max = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    if (!Number.isInteger(max) || max < 8) throw new RangeError("maxFrameBytes must be an integer of at least 8");
    this.maxFrameBytes = max;
    this.#budget = options.budget;
  }

  /** Bytes of memory held for the partial frame (its buffer's size, which may run ahead of `pending`). */
  get held(): number {
    return this.#frame.length;
  }

  /** Bytes received of a frame not yet complete (0 between frames). */
  get pending(): number {
    return this.#frameSize === 0 ? this.#headerBytes : this.#frameBytes;
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
      if (this.#frameSize !== 0) {
        const take = Math.min(this.#frameSize - this.#frameBytes, end - pos);
        this.#append(data, pos, take, frames);
        pos += take;
        if (this.#frameBytes === this.#frameSize) {
          frames.push(this.#frame);
          this.#budget?.release(this.#frame.length); // handed over: the connection's request queue bounds it from here
          this.#frame = EMPTY;
          this.#frameBytes = 0;
          this.#frameSize = 0;
        }
        continue;
      }
      if (this.#headerBytes === 0 && end - pos >= 8) {
        // Fast path: the whole header is in this chunk.
        const size = this.#sizeFromHeader(data, pos, frames);
        if (end - pos >= size) {
          frames.push(data.subarray(pos, pos + size));
          pos += size;
        } else {
          this.#frameSize = size;
          this.#append(data, pos, end - pos, frames);
          pos = end;
        }
        continue;
      }
      // The header straddles chunks: collect it first.
      const take = Math.min(8 - this.#headerBytes, end - pos);
      data.copy(this.#header, this.#headerBytes, pos, pos + take);
      this.#headerBytes += take;
      pos += take;
      if (this.#headerBytes < 8) break;
      this.#headerBytes = 0;
      const size = this.#sizeFromHeader(this.#header, 0, frames);
      if (size === 8) frames.push(Buffer.from(this.#header));
      else {
        this.#frameSize = size;
        this.#append(this.#header, 0, 8, frames);
      }
    }
    return frames;
  }

  /**
   * Copies bytes into the partial frame, growing its buffer geometrically up to the declared frame size; the growth is
   * charged to the budget first (a refusal poisons the reader and throws, with the frames completed before it).
   */
  #append(from: Buffer, at: number, count: number, completed: Buffer[]): void {
    const needed = this.#frameBytes + count;
    if (needed > this.#frame.length) {
      const size = Math.min(this.#frameSize, Math.max(needed, 2 * this.#frame.length, 4096));
      if (this.#budget && !this.#budget.reserve(size - this.#frame.length)) {
        this.reset();
        this.#failure = "the server's buffer for partial requests is full (limits.maxBufferedInputBytes)";
        throw new FrameError("Invalid Message", this.#failure, completed);
      }
      const grown = Buffer.allocUnsafe(size);
      this.#frame.copy(grown, 0, 0, this.#frameBytes);
      this.#frame = grown;
    }
    from.copy(this.#frame, this.#frameBytes, at, at + count);
    this.#frameBytes = needed;
  }

  /** Drops any partial frame (releasing its budget) and a previous failure. */
  reset(): void {
    this.#budget?.release(this.#frame.length);
    this.#headerBytes = 0;
    this.#frame = EMPTY;
    this.#frameBytes = 0;
    this.#frameSize = 0;
    this.#failure = null;
  }

  /** Validates a frame header and returns the frame size; on failure poisons the reader and throws. */
  #sizeFromHeader(header: Buffer, at: number, completed: Buffer[]): number {
    const lead = header[at];
    const type = header[at + 3];
    const length = header.readUInt32BE(at + 4);
    let problem: string | null = null;
    // "All tags SHALL contain either the value 42 in hex or the value 54 in hex as the first byte."
    if (lead !== 0x42 && lead !== 0x54) problem = "the stream does not start with a KMIP tag";
    // A message is one Structure; its value is whole padded items, so its length is a multiple of eight.
    else if (type !== 0x01) problem = "a KMIP message must be a Structure";
    else if (length % 8 !== 0) problem = "the message length is not a multiple of 8";
    else if (length > this.maxFrameBytes - 8) problem = `the message exceeds the limit of ${this.maxFrameBytes} bytes`;
    if (problem === null) return length + 8;
    this.reset();
    this.#failure = problem;
    throw new FrameError("Invalid Message", problem, completed);
  }
}
