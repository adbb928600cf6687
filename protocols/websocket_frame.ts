/**
 * The WebSocket frame format (RFC 6455 §5), pure: opcodes, the frame, the
 * error a peer's protocol violation ends in, and encoding frames (whole or
 * in place) and close payloads. Decoding bytes into frames and messages is
 * `websocket_decode.ts`'s; no sockets here, `websocket_client.ts` carries
 * these bytes.
 */
import { applyMask, maskInPlace, nextMaskKey } from "./websocket_mask.ts";

/** Frame opcodes (RFC 6455 §5.2). */
export const OPCODE = {
  continuation: 0x0,
  text: 0x1,
  binary: 0x2,
  close: 0x8,
  ping: 0x9,
  pong: 0xa,
} as const;

/** One frame, unmasked. */
export interface Frame {
  /** Last frame of its message. */
  fin: boolean;
  /** One of {@link OPCODE}. */
  opcode: number;
  /** The payload, already unmasked when it was decoded. */
  payload: Uint8Array;
}

/** The peer broke RFC 6455; `closeCode` is the status to close with (1002, 1007 or 1009). */
export class WebSocketProtocolError extends Error {
  /** Builds an error naming what the peer sent. */
  constructor(message: string, readonly closeCode: number = 1002) {
    super(message);
    this.name = "WebSocketProtocolError";
  }
}

/** Options of {@link encodeFrame}. */
export interface EncodeOptions {
  /** The 4-byte masking key; `false` sends unmasked (a server). Default: a random key (a client). */
  mask?: Uint8Array | false;
}

/**
 * Encodes one frame. Clients must mask every frame (RFC 6455 §5.3), so a
 * random key is used unless `mask` says otherwise.
 *
 * @example
 * ```ts
 * const bytes = encodeFrame({ fin: true, opcode: OPCODE.binary, payload: data });
 * ```
 */
export function encodeFrame(frame: Frame, options: EncodeOptions = {}): Uint8Array {
  const { fin, opcode, payload } = frame;
  const length = payload.length;
  if (opcode >= 0x8 && (length > 125 || !fin)) {
    throw new RangeError(
      `Cannot encode control frame 0x${opcode.toString(16)}: ` +
        `${length > 125 ? `payload of ${length} bytes exceeds 125` : "it is fragmented"}`,
    );
  }
  const mask = options.mask === undefined ? nextMaskKey() : options.mask;
  if (mask && mask.length !== 4) {
    throw new RangeError(`A masking key has 4 bytes, got ${mask.length}`);
  }
  const extended = length < 126 ? 0 : length <= 0xffff ? 2 : 8;
  const headerLength = 2 + extended + (mask ? 4 : 0);
  const out = new Uint8Array(headerLength + length);
  out[0] = (fin ? 0x80 : 0) | (opcode & 0x0f);
  const lengthBits = extended === 0 ? length : extended === 2 ? 126 : 127;
  out[1] = (mask ? 0x80 : 0) | lengthBits;
  const view = new DataView(out.buffer);
  if (extended === 2) view.setUint16(2, length);
  if (extended === 8) {
    view.setUint32(2, Math.floor(length / 2 ** 32));
    view.setUint32(6, length >>> 0);
  }
  if (!mask) {
    out.set(payload, headerLength);
    return out;
  }
  out.set(mask, headerLength - 4);
  applyMask(payload, mask, out, headerLength);
  return out;
}

/**
 * Bytes that a buffer given to {@link frameInPlace} keeps free before its
 * payload: the longest client header (14 bytes) rounded up so that a
 * payload at this offset of a fresh buffer is 4-byte aligned for masking.
 */
export const FRAME_HEADROOM = 16;

/**
 * Frames `buffer.subarray(FRAME_HEADROOM, FRAME_HEADROOM + length)` in
 * place as one final frame: writes the header just before the payload and
 * masks the payload where it is, then returns header and payload as one
 * contiguous array, ready for a single write. No allocation, no copy: what
 * a sender reads from its source into a reused buffer goes out as is.
 * `mask`: a 4-byte key, `true` (default) for a fresh key from the CSPRNG
 * (a client), `false` to send unmasked (a server). Same bytes as
 * {@link encodeFrame} with `fin` set.
 *
 * @example
 * ```ts
 * const buffer = new Uint8Array(FRAME_HEADROOM + 16384);
 * const n = await tcp.read(buffer.subarray(FRAME_HEADROOM));
 * if (n !== null) await writeAll(socket, frameInPlace(buffer, n));
 * ```
 */
export function frameInPlace(
  buffer: Uint8Array,
  length: number,
  opcode: number = OPCODE.binary,
  mask: Uint8Array | boolean = true,
): Uint8Array {
  if (!Number.isInteger(length) || length < 0 || FRAME_HEADROOM + length > buffer.length) {
    throw new RangeError(
      `Cannot frame ${length} bytes in place in a buffer of ${buffer.length} ` +
        `(the payload starts at ${FRAME_HEADROOM})`,
    );
  }
  if (opcode >= 0x8 && length > 125) {
    throw new RangeError(`Cannot encode control frame 0x${opcode.toString(16)}: ${length} > 125`);
  }
  if (mask instanceof Uint8Array && mask.length !== 4) {
    throw new RangeError(`A masking key has 4 bytes, got ${mask.length}`);
  }
  const masked = mask !== false;
  const extended = length < 126 ? 0 : length <= 0xffff ? 2 : 8;
  const start = FRAME_HEADROOM - (2 + extended + (masked ? 4 : 0));
  buffer[start] = 0x80 | (opcode & 0x0f);
  buffer[start + 1] = (masked ? 0x80 : 0) | (extended === 0 ? length : extended === 2 ? 126 : 127);
  if (extended === 2) {
    buffer[start + 2] = length >>> 8;
    buffer[start + 3] = length & 0xff;
  } else if (extended === 8) {
    const high = Math.floor(length / 2 ** 32);
    const low = length >>> 0;
    for (let i = 0; i < 4; i++) {
      buffer[start + 2 + i] = (high >>> (24 - 8 * i)) & 0xff;
      buffer[start + 6 + i] = (low >>> (24 - 8 * i)) & 0xff;
    }
  }
  if (masked) {
    const keyAt = FRAME_HEADROOM - 4;
    if (mask === true) nextMaskKey(buffer, keyAt);
    else buffer.set(mask, keyAt);
    maskInPlace(
      buffer.subarray(FRAME_HEADROOM, FRAME_HEADROOM + length),
      buffer.subarray(keyAt, FRAME_HEADROOM),
    );
  }
  return buffer.subarray(start, FRAME_HEADROOM + length);
}

/** A close frame's payload: status then UTF-8 reason (cut to fit 125 bytes). */
export function encodeClosePayload(code: number, reason = ""): Uint8Array {
  if (code === 1005) return new Uint8Array(0);
  const bytes = new TextEncoder().encode(reason);
  let end = Math.min(bytes.length, 123);
  // Never cut inside a multi-byte character: the peer would fail on invalid UTF-8.
  while (end < bytes.length && end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  const out = new Uint8Array(2 + end);
  new DataView(out.buffer).setUint16(0, code);
  out.set(bytes.subarray(0, end), 2);
  return out;
}

/** Whether `code` may appear in a close frame on the wire (RFC 6455 §7.4). */
export function isValidCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
    (code >= 3000 && code <= 4999);
}
