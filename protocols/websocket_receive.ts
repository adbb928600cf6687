/**
 * The receiving side of a WebSocket for bulk data (the tunnel's cloud →
 * device path): frames decoded where they were read, data payloads joined
 * in place. The rules and close codes are websocket_decode.ts's.
 */
import { OPCODE, WebSocketProtocolError } from "./websocket_frame.ts";
import {
  decodeClose,
  type DecoderOptions,
  parseHeader,
  type WebSocketEvent,
} from "./websocket_decode.ts";
import { maskInPlace } from "./websocket_mask.ts";

/** Options of {@link ReceiveBuffer}. */
export interface ReceiveOptions extends DecoderOptions {
  /** Size of the buffer at first (at least 64 bytes). */
  initialBytes: number;
  /**
   * Most bytes held: those not yet decoded plus the data returned last.
   * The buffer grows to this once a read filled it; only a single frame
   * larger than this (up to `maxFrameBytes`) makes it larger, for as long
   * as that frame is being received.
   */
  capacity: number;
}

/** What {@link ReceiveBuffer.next} found. */
export type ReceiveEvent =
  /**
   * Payloads of data frames, unmasked, in order, joined: borrowed from the
   * buffer, valid until the next `space()` or `push()`. `fin`: the last
   * frame joined ended its message; `text`: they belong to a text message
   * (checked to be UTF-8 so far).
   */
  | { type: "data"; text: boolean; fin: boolean; data: Uint8Array }
  | Exclude<WebSocketEvent, { type: "message" }>;

/**
 * Decodes frames where they were received: the reader reads straight into
 * {@link space}, says how much came with {@link commit}, and takes events
 * with {@link next}. Data frames are unmasked in place and their payloads
 * moved together over the headers between them, so a run of frames comes
 * out as one contiguous array without a copy per read or per frame, and
 * the buffer is reused for the next read (what {@link next} returned is
 * only valid until then). Checks the same rules, with the same close codes,
 * as {@link MessageDecoder}, which is the reference its tests compare to.
 *
 * @example
 * ```ts
 * const rx = new ReceiveBuffer({ maxFrameBytes: 1 << 20, masking: "forbidden", initialBytes: 16384, capacity: 49152 });
 * while (true) {
 *   const event = rx.next(true);
 *   if (event?.type === "data") await writeAll(target, event.data);
 *   else if (!event) rx.commit((await socket.read(rx.space())) ?? 0);
 * }
 * ```
 */
export class ReceiveBuffer {
  #buffer: Uint8Array;
  #start = 0;
  #end = 0;
  /** Bytes from `#start` that the frame being received needs in all, once its header is known. */
  #need = 0;
  /** The last read filled the space it was given: grow to the capacity. */
  #filled = false;
  #lastSpace = 0;
  /** The last frame decoded was larger than the capacity: keep the larger buffer for now. */
  #lastLarge = false;
  /** A message is unfinished: whether it is text. */
  #fragmented: boolean | undefined;
  #messageBytes = 0;
  #utf8: TextDecoder | undefined;
  readonly #options: DecoderOptions;
  readonly #maxMessageBytes: number;
  readonly #capacity: number;

  /** Builds an empty buffer of `initialBytes`. */
  constructor(options: ReceiveOptions) {
    this.#options = { maxFrameBytes: options.maxFrameBytes, masking: options.masking };
    this.#maxMessageBytes = options.maxMessageBytes ?? options.maxFrameBytes;
    const initial = Math.max(64, options.initialBytes);
    this.#capacity = Math.max(initial, options.capacity);
    this.#buffer = new Uint8Array(initial);
  }

  /** Bytes received and not yet decoded (a frame still arriving). */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /** The buffer's size now: what it holds at most, until a larger frame comes. */
  get size(): number {
    return this.#buffer.length;
  }

  /**
   * Free space to read into, after the bytes not yet decoded. Moves those
   * to the front first (or into a new buffer when it must grow or may
   * shrink): data returned by {@link next} before is no longer valid.
   */
  space(): Uint8Array {
    const held = this.#end - this.#start;
    let size = this.#buffer.length;
    if (size < this.#capacity && this.#filled) size = this.#capacity;
    // Back to the capacity after a frame that fitted it, not between two larger ones.
    if (size > this.#capacity && !this.#lastLarge) size = this.#capacity;
    size = Math.max(size, this.#need, held + 1);
    if (size !== this.#buffer.length) {
      const next = new Uint8Array(size);
      next.set(this.#buffer.subarray(this.#start, this.#end));
      this.#buffer = next;
    } else if (this.#start > 0) {
      this.#buffer.copyWithin(0, this.#start, this.#end);
    }
    this.#start = 0;
    this.#end = held;
    this.#lastSpace = size - held;
    return this.#buffer.subarray(held);
  }

  /** `n` bytes were read into the array {@link space} returned last. */
  commit(n: number): void {
    if (n < 0 || n > this.#lastSpace) {
      throw new RangeError(`Cannot commit ${n} bytes to a space of ${this.#lastSpace}`);
    }
    if (n > 0 && n === this.#lastSpace) this.#filled = true;
    this.#end += n;
    this.#lastSpace -= n;
  }

  /** Appends a copy of `bytes` (e.g. what came with the handshake's answer). */
  push(bytes: Uint8Array): void {
    let offset = 0;
    while (offset < bytes.length) {
      const space = this.space();
      const n = Math.min(space.length, bytes.length - offset);
      space.set(bytes.subarray(offset, offset + n));
      this.commit(n);
      offset += n;
    }
  }

  /**
   * The next event, or undefined until more bytes arrive. `join`: data of
   * consecutive frames is joined across message boundaries (a byte stream,
   * as a tunnel carries); otherwise it stops at the end of each message.
   * Data is never joined across a control frame, nor text with binary.
   */
  next(join: boolean): ReceiveEvent | undefined {
    const buffer = this.#buffer;
    let outStart = -1;
    let outEnd = 0;
    let text = false;
    let fin = false;
    this.#need = 0;
    while (true) {
      const at = this.#start;
      const available = this.#end - at;
      const header = parseHeader(buffer, at, available, this.#options);
      if (!header) {
        if (available >= 2) this.#need = 14;
        break;
      }
      const { headerLength, length, opcode, masked } = header;
      if (available < headerLength + length) {
        this.#need = headerLength + length;
        break;
      }
      const payloadStart = at + headerLength;
      const payloadEnd = payloadStart + length;
      this.#lastLarge = headerLength + length > this.#capacity;
      const key = masked ? buffer.subarray(payloadStart - 4, payloadStart) : undefined;
      if (opcode >= 0x8) {
        if (outStart >= 0) break; // the data before it goes first
        this.#start = payloadEnd;
        const payload = buffer.slice(payloadStart, payloadEnd);
        if (key) maskInPlace(payload, key);
        if (opcode === OPCODE.close) return decodeClose(payload);
        return { type: opcode === OPCODE.ping ? "ping" : "pong", data: payload };
      }
      let frameText: boolean;
      if (opcode === OPCODE.continuation) {
        if (this.#fragmented === undefined) {
          throw new WebSocketProtocolError("Continuation frame without a message to continue");
        }
        frameText = this.#fragmented;
      } else {
        if (this.#fragmented !== undefined) {
          throw new WebSocketProtocolError(
            "New data frame while a fragmented message was unfinished",
          );
        }
        frameText = opcode === OPCODE.text;
      }
      if (outStart >= 0 && frameText !== text) break;
      const messageBytes = (opcode === OPCODE.continuation ? this.#messageBytes : 0) + length;
      if (messageBytes > this.#maxMessageBytes) {
        throw new WebSocketProtocolError(
          `Message of more than ${this.#maxMessageBytes} bytes exceeds the limit`,
          1009,
        );
      }
      const payload = buffer.subarray(payloadStart, payloadEnd);
      if (key) maskInPlace(payload, key);
      if (frameText) this.#checkText(payload, header.fin);
      this.#start = payloadEnd;
      this.#fragmented = header.fin ? undefined : frameText;
      this.#messageBytes = header.fin ? 0 : messageBytes;
      // A byte stream has nothing to say for an empty frame: it is consumed, not returned.
      if (length === 0 && join) continue;
      if (outStart < 0) {
        outStart = payloadStart;
        outEnd = payloadEnd;
      } else {
        buffer.copyWithin(outEnd, payloadStart, payloadEnd);
        outEnd += length;
      }
      text = frameText;
      fin = header.fin;
      if (fin && !join) break;
    }
    if (outStart < 0) return undefined;
    return { type: "data", text, fin, data: buffer.subarray(outStart, outEnd) };
  }

  #checkText(payload: Uint8Array, fin: boolean): void {
    this.#utf8 ??= new TextDecoder("utf-8", { fatal: true });
    try {
      this.#utf8.decode(payload, { stream: !fin });
    } catch {
      throw new WebSocketProtocolError("Text message is not valid UTF-8", 1007);
    }
  }
}
