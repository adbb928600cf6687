/**
 * Decoding the WebSocket frame format (RFC 6455 §5), pure: a byte stream
 * into frames, and frames into messages and control events. Everything a
 * peer can send that breaks the RFC ends in a {@link WebSocketProtocolError}
 * with the close code to answer with, never in another kind of exception.
 * Encoding is `websocket_frame.ts`'s; `websocket_receive.ts` decodes in
 * place with the same header checks.
 */
import { type Frame, isValidCloseCode, OPCODE, WebSocketProtocolError } from "./websocket_frame.ts";

/** What the peer's byte stream means, frame by frame. */
export type WebSocketEvent =
  /** A whole data message (fragments joined); `text` was checked to be UTF-8. */
  | { type: "message"; text: boolean; data: Uint8Array }
  | { type: "ping"; data: Uint8Array }
  | { type: "pong"; data: Uint8Array }
  /** A close frame: 1005 when it carried no status. */
  | { type: "close"; code: number; reason: string };

/** Options of {@link FrameDecoder} and {@link MessageDecoder}. */
export interface DecoderOptions {
  /** Largest frame payload accepted; larger ones fail with close code 1009. */
  maxFrameBytes: number;
  /** Largest whole message (fragments joined). Default: `maxFrameBytes`. */
  maxMessageBytes?: number;
  /**
   * `"forbidden"` for a client reading a server (§5.1: servers never mask),
   * `"required"` for a server reading a client.
   */
  masking: "forbidden" | "required";
}

/** A frame's header, as {@link parseHeader} read it. */
export interface FrameHeader {
  fin: boolean;
  opcode: number;
  masked: boolean;
  headerLength: number;
  length: number;
}

/**
 * Reads and checks the header of the frame at `bytes[offset]`, of which
 * `available` bytes are here: undefined until the whole header is; a
 * {@link WebSocketProtocolError} for anything RFC 6455 forbids, found as
 * soon as the bytes that show it are here.
 */
export function parseHeader(
  bytes: Uint8Array,
  offset: number,
  available: number,
  options: DecoderOptions,
): FrameHeader | undefined {
  if (available < 2) return undefined;
  const b0 = bytes[offset];
  const b1 = bytes[offset + 1];
  const fin = (b0 & 0x80) !== 0;
  const opcode = b0 & 0x0f;
  if (b0 & 0x70) {
    throw new WebSocketProtocolError(
      `Frame with reserved bits 0x${(b0 & 0x70).toString(16)} set: no extension was agreed`,
    );
  }
  if ((opcode > 0x2 && opcode < 0x8) || opcode > 0xa) {
    throw new WebSocketProtocolError(`Frame with unknown opcode 0x${opcode.toString(16)}`);
  }
  const masked = (b1 & 0x80) !== 0;
  if (masked && options.masking === "forbidden") {
    throw new WebSocketProtocolError("Masked frame from the server (RFC 6455 §5.1 forbids it)");
  }
  if (!masked && options.masking === "required") {
    throw new WebSocketProtocolError("Unmasked frame from the client (RFC 6455 §5.1 forbids it)");
  }
  const bits = b1 & 0x7f;
  if (opcode >= 0x8 && (bits > 125 || !fin)) {
    throw new WebSocketProtocolError(
      `Control frame 0x${opcode.toString(16)} ${
        bits > 125 ? "longer than 125 bytes" : "is fragmented"
      }`,
    );
  }
  const extended = bits === 126 ? 2 : bits === 127 ? 8 : 0;
  const headerLength = 2 + extended + (masked ? 4 : 0);
  if (available < headerLength) return undefined;
  let length = bits;
  if (extended === 2) length = (bytes[offset + 2] << 8) | bytes[offset + 3];
  if (extended === 8) {
    const high = readUint32(bytes, offset + 2);
    if (high & 0x80000000) {
      throw new WebSocketProtocolError("Frame length with its most significant bit set");
    }
    length = high * 2 ** 32 + readUint32(bytes, offset + 6);
  }
  if (length > options.maxFrameBytes) {
    throw new WebSocketProtocolError(
      `Frame of ${length} bytes exceeds the limit of ${options.maxFrameBytes}`,
      1009,
    );
  }
  return { fin, opcode, masked, headerLength, length };
}

function readUint32(bytes: Uint8Array, at: number): number {
  return ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>> 0;
}

/**
 * Splits a byte stream into frames. Push bytes as they arrive; `next()`
 * gives a frame once all of it is here. Holds at most the bytes pushed and
 * not yet returned.
 */
export class FrameDecoder {
  #chunks: Uint8Array[] = [];
  #length = 0;

  /** Builds a decoder; limits apply to every frame it returns. */
  constructor(readonly options: DecoderOptions) {}

  /** Bytes received and not yet returned as frames. */
  get buffered(): number {
    return this.#length;
  }

  /** Appends bytes from the peer; the decoder keeps the array, so do not reuse it. */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#length += chunk.length;
  }

  /** The next whole frame, or undefined until more bytes arrive. */
  next(): Frame | undefined {
    if (this.#length < 2) return undefined;
    const head = this.#peek(Math.min(this.#length, 14));
    const header = parseHeader(head, 0, head.length, this.options);
    if (!header) return undefined;
    const { fin, opcode, masked, headerLength, length } = header;
    if (this.#length < headerLength + length) return undefined;
    const mask = masked ? head.slice(headerLength - 4, headerLength) : undefined;
    this.#take(headerLength);
    const payload = this.#take(length);
    if (mask) {
      // #take may return a view into a pushed chunk; unmask a copy, never the caller's bytes.
      const own = payload.slice();
      for (let i = 0; i < own.length; i++) own[i] ^= mask[i & 3];
      return { fin, opcode, payload: own };
    }
    return { fin, opcode, payload };
  }

  /** The first `n` bytes (n <= buffered), without consuming them. */
  #peek(n: number): Uint8Array {
    const first = this.#chunks[0];
    if (first.length >= n) return first.subarray(0, n);
    const out = new Uint8Array(n);
    let offset = 0;
    for (const chunk of this.#chunks) {
      const part = chunk.subarray(0, n - offset);
      out.set(part, offset);
      offset += part.length;
      if (offset === n) break;
    }
    return out;
  }

  /** Removes and returns the first `n` bytes (n <= buffered); zero-copy when one chunk has them. */
  #take(n: number): Uint8Array {
    this.#length -= n;
    const first = this.#chunks[0];
    if (n === 0) return new Uint8Array(0);
    if (first.length > n) {
      this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    if (first.length === n) {
      this.#chunks.shift();
      return first;
    }
    const out = new Uint8Array(n);
    let offset = 0;
    while (offset < n) {
      const chunk = this.#chunks[0];
      const part = chunk.subarray(0, n - offset);
      out.set(part, offset);
      offset += part.length;
      if (part.length === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(part.length);
    }
    return out;
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Turns a byte stream into messages and control events: joins fragments
 * (control frames may arrive between them), checks text and close reasons
 * for UTF-8 and close codes for validity.
 *
 * @example
 * ```ts
 * const decoder = new MessageDecoder({ maxFrameBytes: 1 << 20, masking: "forbidden" });
 * decoder.push(bytesFromSocket);
 * for (let e = decoder.next(); e; e = decoder.next()) console.log(e.type);
 * ```
 */
export class MessageDecoder {
  readonly #frames: FrameDecoder;
  readonly #maxMessageBytes: number;
  #fragments: Uint8Array[] = [];
  #fragmentBytes = 0;
  #fragmentedText: boolean | undefined;

  /** Builds a decoder with the limits in `options`. */
  constructor(options: DecoderOptions) {
    this.#frames = new FrameDecoder(options);
    this.#maxMessageBytes = options.maxMessageBytes ?? options.maxFrameBytes;
  }

  /** Bytes held: not yet decoded, plus fragments of an unfinished message. */
  get buffered(): number {
    return this.#frames.buffered + this.#fragmentBytes;
  }

  /** Appends bytes from the peer. */
  push(chunk: Uint8Array): void {
    this.#frames.push(chunk);
  }

  /** The next event, or undefined until more bytes arrive. */
  next(): WebSocketEvent | undefined {
    for (let frame = this.#frames.next(); frame; frame = this.#frames.next()) {
      const event = this.#accept(frame);
      if (event) return event;
    }
    return undefined;
  }

  #accept({ fin, opcode, payload }: Frame): WebSocketEvent | undefined {
    switch (opcode) {
      case OPCODE.ping:
        return { type: "ping", data: payload };
      case OPCODE.pong:
        return { type: "pong", data: payload };
      case OPCODE.close:
        return decodeClose(payload);
      case OPCODE.continuation:
        if (this.#fragmentedText === undefined) {
          throw new WebSocketProtocolError("Continuation frame without a message to continue");
        }
        return this.#gather(payload, fin, this.#fragmentedText);
      default:
        if (this.#fragmentedText !== undefined) {
          throw new WebSocketProtocolError(
            "New data frame while a fragmented message was unfinished",
          );
        }
        return this.#gather(payload, fin, opcode === OPCODE.text);
    }
  }

  #gather(payload: Uint8Array, fin: boolean, text: boolean): WebSocketEvent | undefined {
    if (this.#fragmentBytes + payload.length > this.#maxMessageBytes) {
      throw new WebSocketProtocolError(
        `Message of more than ${this.#maxMessageBytes} bytes exceeds the limit`,
        1009,
      );
    }
    if (!fin) {
      this.#fragments.push(payload);
      this.#fragmentBytes += payload.length;
      this.#fragmentedText = text;
      return undefined;
    }
    let data = payload;
    if (this.#fragments.length > 0) {
      data = new Uint8Array(this.#fragmentBytes + payload.length);
      let offset = 0;
      for (const part of [...this.#fragments, payload]) {
        data.set(part, offset);
        offset += part.length;
      }
      this.#fragments = [];
      this.#fragmentBytes = 0;
    }
    this.#fragmentedText = undefined;
    if (text) checkUtf8(data, "Text message");
    return { type: "message", text, data };
  }
}

/** A close frame's payload read: 1005 when empty; throws on a bad status or reason. */
export function decodeClose(payload: Uint8Array): { type: "close"; code: number; reason: string } {
  if (payload.length === 0) return { type: "close", code: 1005, reason: "" };
  if (payload.length === 1) {
    throw new WebSocketProtocolError("Close frame with a 1-byte payload (a status needs 2)");
  }
  const code = (payload[0] << 8) | payload[1];
  if (!isValidCloseCode(code)) {
    throw new WebSocketProtocolError(`Close frame with invalid status ${code}`);
  }
  return { type: "close", code, reason: checkUtf8(payload.subarray(2), "Close reason") };
}

/** `bytes` as UTF-8 text; throws a 1007 protocol error naming `what` when they are not. */
export function checkUtf8(bytes: Uint8Array, what: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new WebSocketProtocolError(`${what} is not valid UTF-8`, 1007);
  }
}
