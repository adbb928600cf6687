/**
 * The byte pipe of a remote-access tunnel: a WebSocket on one side, a TCP
 * connection on the other. A thin transport adapter with no policy.
 *
 * Backpressure both ways: each direction reads one chunk, awaits its write
 * to the other side, then reads the next, so a slow reader on either side
 * stops the sender through TCP flow control and the pipe never holds more
 * than one chunk per direction (plus the WebSocket's partly read frame).
 * When either side ends, the pipe ends the other and reports who ended it.
 */
import type { WebSocketConnection } from "./websocket_client.ts";
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
  /** Bytes read from the TCP side at a time. */
  bufferSize: number;
  /** The TCP side's chunks, when it was read ahead before the pipe started ({@link ReadAhead}). */
  upstream?: ByteSource;
  /** The WebSocket's messages, when read ahead before the pipe started. */
  downstream?: ByteSource;
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

  async next(): Promise<Uint8Array | null> {
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
      if (!this.#reading) return await this.read(this.limit);
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
  const graceMs = options.closeGraceMs ?? 2000;
  const meter = options.meter ?? pipeMeter();
  const readTcp = tcpReader(tcp);
  const up = options.upstream ?? { next: () => readTcp(bufferSize), buffered: 0 };
  const down = options.downstream ?? { next: () => ws.read(), buffered: 0 };
  const held = { up: 0, down: 0 };
  const measure = () => {
    meter.inFlight = held.up + held.down + up.buffered + down.buffered + ws.buffered;
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

  async function upstream(): Promise<void> {
    while (!ending) {
      let chunk: Uint8Array | null;
      try {
        chunk = await up.next();
      } catch (error) {
        return end("error", 1011, `the connection to the target failed: ${message(error)}`, true);
      }
      if (ending) return;
      if (chunk === null) return end("device", 1000, "device closed", true);
      held.up = chunk.length;
      measure();
      try {
        await ws.write(chunk);
      } catch (error) {
        // The server may have sent a close frame before it hung up: the reading
        // direction reports that, if it comes within the grace period.
        await Promise.race([readingDone, graceTimer.start()]);
        graceTimer.stop();
        return end("error", 1006, `the WebSocket failed: ${message(error)}`, true);
      }
      held.up = 0;
      meter.bytesUp += chunk.length;
    }
  }

  async function downstream(): Promise<void> {
    while (!ending) {
      let data: Uint8Array | null;
      try {
        data = await down.next();
      } catch (error) {
        const code = error instanceof WebSocketProtocolError ? error.closeCode : 1006;
        return end("error", code, `the WebSocket failed: ${message(error)}`, true);
      }
      if (ending) return;
      if (data === null) {
        const { code, reason } = await ws.closed;
        // 1006: the socket ended without a close frame, a failure rather than a close.
        return end(code === 1006 ? "error" : "cloud", code, reason, false);
      }
      held.down = data.length;
      measure();
      meter.tcpWritePending = true;
      try {
        await writeAll(tcp, data);
      } catch (error) {
        if (ending) return;
        return end("error", 1011, `the connection to the target failed: ${message(error)}`, true);
      } finally {
        meter.tcpWritePending = false;
      }
      held.down = 0;
      meter.bytesDown += data.length;
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
