/**
 * The byte pipe of a remote-access tunnel: a WebSocket on one side, a TCP
 * connection on the other. A thin transport adapter with no policy.
 *
 * Backpressure both ways: each direction reads one chunk, awaits its write
 * to the other side, then reads the next, so a slow reader on either side
 * stops the sender through TCP flow control. When either side ends, the
 * pipe ends the other and reports who ended it.
 *
 * No copies and no allocation per chunk in the steady state (BENCHMARKS.md,
 * tunnels): device → cloud, the target is read straight into a reused
 * buffer behind the room for the frame header, and the payload is masked
 * in place and written with its header in one write; cloud → device, the
 * WebSocket's receive buffer hands over the payloads of all frames that
 * have arrived, moved together into one array, for one write to the target.
 *
 * In flight per tunnel (bytes read from one side and not yet written to the
 * other), with B = `bufferSize`:
 * - device → cloud: one chunk, B at first; a read that fills the chunk
 *   doubles it, up to `maxChunkBytes` (default max(B, min(4 B, 64 KiB)):
 *   64 KiB for the default 16 KiB), so bulk transfers go in larger frames
 *   and interactive ones are sent as soon as they are read, never held back.
 * - cloud → device: the WebSocket's receive buffer, 3 B (`receiveBufferBytes`
 *   of the WebSocket; it starts at B), or one frame if the relay sends a
 *   larger one (up to its `maxFrameBytes`).
 * - before both sides are up: at most B per side ({@link ReadAhead}).
 * So at most 3 B + max(B, min(4 B, 64 KiB)): 112 KiB for B = 16 KiB.
 */
import { FRAME_HEADROOM, type WebSocketConnection } from "./websocket_client.ts";
import { WebSocketProtocolError } from "./websocket_frame.ts";

/** A pull source of chunks; null at the end. */
export interface ByteSource {
  /** The next chunk, or null once the side has ended. */
  next(): Promise<Uint8Array | null>;
  /** Bytes read from the side and held here, not yet returned. */
  readonly buffered: number;
}

/** Who ended a tunnel, and with which WebSocket close status. */
export interface PipeResult {
  /** `cloud`: the WebSocket closed; `device`: the TCP side closed or the pipe was stopped; `error`: a side failed. */
  initiator: "cloud" | "device" | "error";
  code: number;
  reason: string;
  /** Bytes from the device (TCP) to the cloud. */
  bytesUp: number;
  /** Bytes from the cloud to the device (TCP). */
  bytesDown: number;
}

/** Live counters of a pipe, for tests and benchmarks of its memory bound. */
export interface PipeMeter {
  /** Bytes read from one side and not yet written to the other, now. */
  inFlight: number;
  /** The most `inFlight` has been. */
  maxInFlight: number;
  /** Bytes from the device (TCP) to the cloud so far. */
  bytesUp: number;
  /** Bytes from the cloud to the device (TCP) so far. */
  bytesDown: number;
  /** A write to the TCP side is waiting for the target to read. */
  tcpWritePending: boolean;
}

/** A zeroed {@link PipeMeter}. */
export function pipeMeter(): PipeMeter {
  return { inFlight: 0, maxInFlight: 0, bytesUp: 0, bytesDown: 0, tcpWritePending: false };
}

/** Options of {@link pipeTunnel}. */
export interface PipeOptions {
  /** Bytes read from the TCP side at a time at first. */
  bufferSize: number;
  /** Largest chunk read from the TCP side, one frame. Default max(B, min(4 B, 64 KiB)). */
  maxChunkBytes?: number;
  /** The TCP side's chunks, when it was read ahead before the pipe started. */
  upstream?: ReadAhead;
  /** The WebSocket's messages, when read ahead before the pipe started. */
  downstream?: ReadAhead;
  /** Updated as bytes move. */
  meter?: PipeMeter;
  /** Ends the tunnel from this side: WebSocket close 1001 "stopped", TCP closed. */
  signal?: AbortSignal;
  /**
   * After a failed WebSocket write, how long to wait for the server's close
   * frame (still unread) before reporting the failure. Default 2000.
   */
  closeGraceMs?: number;
}

/**
 * Reads a side ahead, up to `limit` bytes, until someone asks for its
 * chunks: what a side sends before the other is up (an SSH banner, a VNC
 * greeting, early WebSocket messages) waits here. Past the limit it stops
 * reading, so TCP flow control holds the sender. The first `next()` ends
 * the reading ahead; from then on it reads only on demand.
 */
export class ReadAhead implements ByteSource {
  #chunks: Uint8Array[] = [];
  #bytes = 0;
  #reading: Promise<void> | undefined;
  #ended: { error?: unknown } | undefined;
  #ahead = true;

  /** Starts reading at once; `read` is asked for at most `max` bytes, `limit` once reading on demand. */
  constructor(
    private readonly read: (max: number) => Promise<Uint8Array | null>,
    private readonly limit: number,
  ) {
    this.#fill();
  }

  get buffered(): number {
    return this.#bytes;
  }

  /** What was read ahead first, then reads on demand. */
  async next(): Promise<Uint8Array | null> {
    const held = await this.drain();
    return held === undefined ? await this.read(this.limit) : held;
  }

  /**
   * Hands the side over: like {@link next}, and undefined once nothing read
   * ahead is left and no read is in progress, so that the caller reads the
   * side itself from then on. Held chunks come at once, without waiting
   * for the read in progress (which may wait on the other side).
   */
  async drain(): Promise<Uint8Array | null | undefined> {
    this.#ahead = false;
    while (true) {
      const chunk = this.#chunks.shift();
      if (chunk) {
        this.#bytes -= chunk.length;
        return chunk;
      }
      if (this.#ended) {
        if ("error" in this.#ended) throw this.#ended.error;
        return null;
      }
      if (!this.#reading) return undefined;
      await this.#reading;
    }
  }

  #fill(): void {
    if (!this.#ahead || this.#reading || this.#ended || this.#bytes >= this.limit) return;
    this.#reading = this.read(this.limit - this.#bytes).then(
      (chunk) => {
        this.#reading = undefined;
        if (chunk === null) this.#ended = {};
        else if (chunk.length > 0) {
          this.#chunks.push(chunk);
          this.#bytes += chunk.length;
        }
        this.#fill();
      },
      (error) => {
        this.#reading = undefined;
        this.#ended = { error };
      },
    );
  }
}

/** A reader of `tcp` for {@link ReadAhead}: a fresh array per chunk, since chunks are kept. */
export function tcpReader(tcp: Deno.Conn): (max: number) => Promise<Uint8Array | null> {
  return async (max) => {
    const buffer = new Uint8Array(max);
    const n = await tcp.read(buffer);
    return n === null ? null : buffer.subarray(0, n);
  };
}

/**
 * Copies bytes both ways until either side ends, then ends the other:
 * TCP closed → WebSocket close 1000 "device closed"; WebSocket closed →
 * TCP closed. Resolves (never rejects) once both sides are closed.
 *
 * @example
 * ```ts
 * const result = await pipeTunnel(ws, await Deno.connect({ port: 22 }), { bufferSize: 16384 });
 * console.log(result.initiator, result.code, result.reason);
 * ```
 */
export async function pipeTunnel(
  ws: WebSocketConnection,
  tcp: Deno.Conn,
  options: PipeOptions,
): Promise<PipeResult> {
  const { bufferSize, signal } = options;
  const maxChunk = options.maxChunkBytes ??
    Math.max(bufferSize, Math.min(4 * bufferSize, 64 * 1024));
  const graceMs = options.closeGraceMs ?? 2000;
  const meter = options.meter ?? pipeMeter();
  const upAhead = options.upstream;
  const downAhead = options.downstream;
  const held = { up: 0, down: 0 };
  const measure = () => {
    meter.inFlight = held.up + held.down + (upAhead?.buffered ?? 0) +
      (downAhead?.buffered ?? 0) + ws.buffered;
    if (meter.inFlight > meter.maxInFlight) meter.maxInFlight = meter.inFlight;
  };

  let ending: Omit<PipeResult, "bytesUp" | "bytesDown"> | undefined;
  let wsClosed: Promise<unknown> = Promise.resolve();
  function end(
    initiator: PipeResult["initiator"],
    code: number,
    reason: string,
    closeWebSocket: boolean,
  ): void {
    if (ending) return;
    ending = { initiator, code, reason };
    closeQuietly(tcp);
    if (closeWebSocket) wsClosed = ws.close(code, reason);
  }
  const onAbort = () => end("device", 1001, "stopped", true);
  if (signal?.aborted) onAbort();
  signal?.addEventListener("abort", onAbort, { once: true });

  let timer: ReturnType<typeof setTimeout> | undefined;
  const graceTimer = {
    start: () => new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs))),
    stop: () => clearTimeout(timer),
  };
  const targetFailed = (error: unknown) =>
    end("error", 1011, `the connection to the target failed: ${message(error)}`, true);

  /** Sends one chunk up; false once the pipe is ending. */
  async function sendUp(length: number, send: () => Promise<void>): Promise<boolean> {
    held.up = length;
    measure();
    try {
      await send();
    } catch (error) {
      // The server may have sent a close frame before it hung up: the reading
      // direction reports that, if it comes within the grace period.
      await Promise.race([readingDone, graceTimer.start()]);
      graceTimer.stop();
      end("error", 1006, `the WebSocket failed: ${message(error)}`, true);
      return false;
    }
    held.up = 0;
    meter.bytesUp += length;
    return !ending;
  }

  async function upstream(): Promise<void> {
    // What the target sent before the pipe started goes first.
    while (upAhead && !ending) {
      let chunk: Uint8Array | null | undefined;
      try {
        chunk = await upAhead.drain();
      } catch (error) {
        return targetFailed(error);
      }
      if (chunk === undefined || ending) break;
      if (chunk === null) return end("device", 1000, "device closed", true);
      const early = chunk;
      if (!await sendUp(early.length, () => ws.write(early))) return;
    }
    // Then straight from the socket into the frame buffer, behind the header's room.
    let size = bufferSize;
    let buffer = new Uint8Array(FRAME_HEADROOM + size);
    while (!ending) {
      let n: number | null;
      try {
        n = await tcp.read(buffer.subarray(FRAME_HEADROOM, FRAME_HEADROOM + size));
      } catch (error) {
        return targetFailed(error);
      }
      if (ending) return;
      if (n === null) return end("device", 1000, "device closed", true);
      const frame = buffer;
      if (!await sendUp(n, () => ws.writeInPlace(frame, n))) return;
      // A full read says more is waiting: read (and frame) more at a time.
      if (n === size && size < maxChunk) {
        size = Math.min(2 * size, maxChunk);
        buffer = new Uint8Array(FRAME_HEADROOM + size);
      }
    }
  }

  /** Writes one chunk down; false once the pipe is ending. */
  async function sendDown(data: Uint8Array): Promise<boolean> {
    held.down = data.length;
    measure();
    meter.tcpWritePending = true;
    try {
      await writeAll(tcp, data);
    } catch (error) {
      targetFailed(error);
      return false;
    } finally {
      meter.tcpWritePending = false;
    }
    held.down = 0;
    meter.bytesDown += data.length;
    return !ending;
  }

  function webSocketFailed(error: unknown): void {
    const code = error instanceof WebSocketProtocolError ? error.closeCode : 1006;
    end("error", code, `the WebSocket failed: ${message(error)}`, true);
  }

  async function webSocketEnded(): Promise<void> {
    const { code, reason } = await ws.closed;
    // 1006: the socket ended without a close frame, a failure rather than a close.
    end(code === 1006 ? "error" : "cloud", code, reason, false);
  }

  async function downstream(): Promise<void> {
    while (downAhead && !ending) {
      let data: Uint8Array | null | undefined;
      try {
        data = await downAhead.drain();
      } catch (error) {
        return webSocketFailed(error);
      }
      if (data === undefined || ending) break;
      if (data === null) return await webSocketEnded();
      if (!await sendDown(data)) return;
    }
    while (!ending) {
      let data: Uint8Array | null;
      try {
        // Borrowed from the WebSocket's receive buffer until the next read: written before it.
        data = await ws.readBytes();
      } catch (error) {
        return webSocketFailed(error);
      }
      if (ending) return;
      if (data === null) return await webSocketEnded();
      if (!await sendDown(data)) return;
    }
  }

  const readingDone = downstream();
  try {
    await Promise.all([upstream(), readingDone]);
    await wsClosed;
  } finally {
    graceTimer.stop();
    signal?.removeEventListener("abort", onAbort);
  }
  held.up = held.down = 0;
  measure();
  return { ...ending!, bytesUp: meter.bytesUp, bytesDown: meter.bytesDown };
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
