/**
 * A minimal RFC 6455 WebSocket client over `Deno.connect` (+ `Deno.startTls`
 * for wss), written by hand for one reason: backpressure. Deno's `WebSocket`
 * reads the socket whether or not anyone takes the messages, and
 * `WebSocketStream` needs `--unstable-net`. Here reading is pull based: the
 * socket is read only inside `read()`, so a caller that stops reading stops
 * the peer through TCP flow control.
 *
 * A thin transport adapter with no policy: no retries, no reconnects. The
 * frame format is in `websocket_frame.ts`.
 */
import { closeQuietly, openUpgrade, type UpgradeOptions, writeAll } from "./websocket_handshake.ts";
import {
  encodeClosePayload,
  encodeFrame,
  frameInPlace,
  isValidCloseCode,
  OPCODE,
  WebSocketProtocolError,
} from "./websocket_frame.ts";
import { ReceiveBuffer, type ReceiveEvent } from "./websocket_receive.ts";

export { FRAME_HEADROOM, WebSocketProtocolError } from "./websocket_frame.ts";
export { WebSocketHandshakeError } from "./websocket_handshake.ts";

/** Options of {@link connectWebSocket}: the handshake's, and the connection's. */
export interface WebSocketConnectOptions extends UpgradeOptions {
  /** Largest frame and message accepted from the server. Default 1 MiB. */
  maxFrameBytes?: number;
  /** Bytes read from the socket at a time at first. Default 16 KiB. */
  readChunkBytes?: number;
  /**
   * Most bytes held from the socket and not yet taken (the receive
   * buffer): reads grow up to this once one filled `readChunkBytes`. Only a
   * single frame larger than this (up to `maxFrameBytes`) needs more.
   * Default 3 × `readChunkBytes`.
   */
  receiveBufferBytes?: number;
  /** Send a ping this often; 0 or missing: never. */
  pingIntervalMs?: number;
  /** How long `close()` waits for the server's close frame. Default 2000. */
  closeTimeoutMs?: number;
}

/** How a connection ended: the server's close status, 1005 (none given) or 1006 (no close frame). */
export interface WebSocketCloseInfo {
  code: number;
  reason: string;
}

/** An open WebSocket whose messages are pulled, not pushed. */
export interface WebSocketConnection {
  /** The subprotocol the server chose ("" when none was requested). */
  readonly protocol: string;
  /** Bytes received from the socket and not yet returned by `read()`. */
  readonly buffered: number;
  /** The next message's payload (binary or text), or null once the connection has closed. */
  read(): Promise<Uint8Array | null>;
  /**
   * The payloads of the data messages received so far, joined as one byte
   * stream (message boundaries dropped; a tunnel's bytes), or null once the
   * connection has closed. No copy: the array is borrowed from the receive
   * buffer and valid only until the next `read()` or `readBytes()`.
   */
  readBytes(): Promise<Uint8Array | null>;
  /** Sends one binary message; resolves once it is written to the socket. */
  write(data: Uint8Array): Promise<void>;
  /**
   * Sends `buffer.subarray(FRAME_HEADROOM, FRAME_HEADROOM + length)` as one
   * binary message, framed and masked in place (header and payload go out in
   * one write, without a copy). Overwrites the buffer's first
   * `FRAME_HEADROOM + length` bytes; it may be reused once this resolves.
   */
  writeInPlace(buffer: Uint8Array, length: number): Promise<void>;
  /** Starts the closing handshake and resolves once the socket is closed. */
  close(code?: number, reason?: string): Promise<void>;
  /** Closes the socket at once, without the closing handshake. */
  abort(): void;
  /** Resolves once the connection has closed, with the server's status and reason. */
  readonly closed: Promise<WebSocketCloseInfo>;
}

/**
 * Opens a WebSocket: TCP (through the proxy, if any), TLS for wss, the
 * opening handshake with `Sec-WebSocket-Accept` and the subprotocol checked.
 *
 * @example
 * ```ts
 * const ws = await connectWebSocket("wss://example.com/service/remoteaccess/device/abc", {
 *   headers: { Authorization: `Bearer ${jwt}` },
 *   protocols: ["binary"],
 * });
 * await ws.write(new TextEncoder().encode("hello"));
 * const reply = await ws.read();
 * await ws.close();
 * ```
 */
export async function connectWebSocket(
  url: string | URL,
  options: WebSocketConnectOptions = {},
): Promise<WebSocketConnection> {
  const { conn, protocol, rest } = await openUpgrade(url, options);
  return new ClientConnection(conn, protocol, rest, options);
}

class ClientConnection implements WebSocketConnection {
  readonly closed: Promise<WebSocketCloseInfo>;
  #resolveClosed!: (info: WebSocketCloseInfo) => void;
  #rx: ReceiveBuffer;
  #readLock: Promise<unknown> = Promise.resolve();
  #writeChain: Promise<unknown> = Promise.resolve();
  /** Our close frame is queued: no more data goes out, data coming in is dropped. */
  #closeSent = false;
  /** The server's close frame, once it came. */
  #received: WebSocketCloseInfo | undefined;
  #finished = false;
  #pingTimer: ReturnType<typeof setInterval> | undefined;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  #closeTimeoutMs: number;

  constructor(
    private readonly conn: Deno.Conn,
    readonly protocol: string,
    early: Uint8Array,
    options: WebSocketConnectOptions,
  ) {
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    const chunk = options.readChunkBytes ?? 16_384;
    this.#rx = new ReceiveBuffer({
      maxFrameBytes: options.maxFrameBytes ?? 1 << 20,
      masking: "forbidden",
      initialBytes: chunk,
      capacity: options.receiveBufferBytes ?? 3 * chunk,
    });
    this.#rx.push(early);
    this.#closeTimeoutMs = options.closeTimeoutMs ?? 2000;
    if (options.pingIntervalMs && options.pingIntervalMs > 0) {
      this.#pingTimer = setInterval(() => {
        this.#send(OPCODE.ping, new Uint8Array(0)).catch(() => {});
      }, options.pingIntervalMs);
    }
  }

  get buffered(): number {
    return this.#rx.buffered;
  }

  read(): Promise<Uint8Array | null> {
    const result = this.#readLock.then(() => this.#readMessage());
    this.#readLock = result.catch(() => {});
    return result;
  }

  readBytes(): Promise<Uint8Array | null> {
    const result = this.#readLock.then(() => this.#readStream());
    this.#readLock = result.catch(() => {});
    return result;
  }

  async write(data: Uint8Array): Promise<void> {
    if (this.#closeSent || this.#finished) {
      throw new Error("Cannot write to a WebSocket that is closing or closed");
    }
    await this.#send(OPCODE.binary, data);
  }

  async writeInPlace(buffer: Uint8Array, length: number): Promise<void> {
    if (this.#closeSent || this.#finished) {
      throw new Error("Cannot write to a WebSocket that is closing or closed");
    }
    await this.#enqueue(frameInPlace(buffer, length));
  }

  async close(code = 1000, reason = ""): Promise<void> {
    if (!this.#closeSent && !this.#finished) {
      this.#sendClose(isValidCloseCode(code) ? code : 1000, reason, false);
      // The server answers with its own close frame; read (and drop) until it comes.
      try {
        while (await this.read() !== null) { /* data after our close frame is dropped */ }
      } catch {
        // A connection that broke has finished closing, too.
      }
    }
    await this.closed;
  }

  abort(): void {
    this.#finish(1006, "aborted by this side");
  }

  /** One whole message, in an array of its own. */
  async #readMessage(): Promise<Uint8Array | null> {
    let parts: Uint8Array[] | undefined;
    while (true) {
      const event = await this.#nextData(false);
      if (!event) return null;
      if (this.#closeSent) continue; // data after our close frame is dropped
      // The receive buffer is reused by the next read: what is returned is copied out.
      if (event.fin && !parts) return event.data.slice();
      (parts ??= []).push(event.data.slice());
      if (event.fin) return concat(parts);
    }
  }

  /** Data of any number of messages, borrowed from the receive buffer. */
  async #readStream(): Promise<Uint8Array | null> {
    while (true) {
      const event = await this.#nextData(true);
      if (!event) return null;
      if (this.#closeSent) continue;
      return event.data;
    }
  }

  /** The next data event; control frames are answered on the way. Null once closed. */
  async #nextData(join: boolean): Promise<(ReceiveEvent & { type: "data" }) | null> {
    while (true) {
      let event;
      try {
        event = await this.#nextEvent(join);
      } catch (error) {
        if (error instanceof WebSocketProtocolError && !this.#closeSent) {
          this.#sendClose(error.closeCode, error.message, true);
        } else {
          this.#finish(1006, message(error));
        }
        throw error;
      }
      if (!event) return null;
      switch (event.type) {
        case "data":
          return event;
        case "ping":
          if (!this.#closeSent) this.#send(OPCODE.pong, event.data).catch(() => {});
          continue;
        case "pong":
          continue;
        case "close":
          this.#received = { code: event.code, reason: event.reason };
          if (this.#closeSent) this.#finish(event.code, event.reason);
          else this.#sendClose(event.code, "", true);
          return null;
      }
    }
  }

  /** The next decoded event; null once the socket ended or the server's close frame came. */
  async #nextEvent(join: boolean): Promise<ReceiveEvent | null> {
    while (true) {
      if (this.#finished || this.#received) return null;
      const event = this.#rx.next(join);
      if (event) return event;
      let n: number | null;
      try {
        n = await this.conn.read(this.#rx.space());
      } catch (error) {
        if (this.#finished) return null;
        throw new Error(`WebSocket connection failed: ${message(error)}`, { cause: error });
      }
      if (n === null) {
        this.#finish(1006, "the connection closed without a close frame");
        return null;
      }
      this.#rx.commit(n);
    }
  }

  /**
   * Queues our close frame after the data already queued. The socket closes
   * once it is written (`thenFinish`: the server's close already came or the
   * connection failed) or the server answers, and at the latest after the
   * close timeout, so a server that stopped reading cannot hold it open.
   */
  #sendClose(code: number, reason: string, thenFinish: boolean): void {
    this.#closeSent = true;
    this.#stopPing();
    this.#closeTimer = setTimeout(
      () => this.#finish(1006, "the closing handshake did not finish in time"),
      this.#closeTimeoutMs,
    );
    this.#send(OPCODE.close, encodeClosePayload(code, reason)).then(
      () => thenFinish && this.#finish(code, reason),
      () => this.#finish(1006, "the connection broke while closing"),
    );
  }

  #send(opcode: number, payload: Uint8Array): Promise<void> {
    return this.#enqueue(encodeFrame({ fin: true, opcode, payload }));
  }

  /** Writes a whole frame after those queued before it. */
  #enqueue(frame: Uint8Array): Promise<void> {
    const written = this.#writeChain.then(() => {
      if (this.#finished) throw new Error("Cannot write to a closed WebSocket");
      return writeAll(this.conn, frame);
    });
    this.#writeChain = written.catch(() => {});
    return written;
  }

  #stopPing(): void {
    clearInterval(this.#pingTimer);
    this.#pingTimer = undefined;
  }

  /** Closes the socket; `closed` reports the server's close frame when one came. */
  #finish(code: number, reason: string): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#stopPing();
    clearTimeout(this.#closeTimer);
    closeQuietly(this.conn);
    this.#resolveClosed(this.#received ?? { code, reason });
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
