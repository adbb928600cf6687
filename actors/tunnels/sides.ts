/**
 * The two sides of a tunnel: the WebSocket to the cloud's relay and the TCP
 * connection to the target, dialed, handed to the pipe and let go of. The
 * proxy actor (`proxy_actor.ts`) runs these as its statechart's effects.
 *
 * Owns, per start of the actor (a {@link Run}): both connections, what was
 * read ahead from each before both were up, and the dials in progress. A
 * dial that completes after a forced stop closes its connection at once; a
 * release waits for the dials, then for the pipe, which closes both sides.
 */
import { type PipeEnd, TunnelFailure } from "../../machines/tunnel_proxy.ts";
import {
  connectWebSocket,
  type WebSocketConnection,
  WebSocketHandshakeError,
} from "../../protocols/websocket_client.ts";
import { ReadAhead, tcpReader } from "../../protocols/tunnel_pipe.ts";
import type { TunnelOptions } from "./types.ts";

/** One tunnel: its options, and what its log lines and reports need. */
export interface Tunnel {
  options: TunnelOptions;
  /** The target as logged and reported. */
  shown: string;
  /** Scheme and host of the relay, for logs. */
  relay: string;
  /** The URL's path (its last segment is the connection key) and the same, redacted. */
  keyPath: string;
  redactedPath: string;
  opened: boolean;
}

/** What one start of the actor holds; each start is a new XState system. */
export interface Run {
  tunnel: Tunnel;
  ws?: WebSocketConnection;
  tcp?: Deno.Conn;
  wsAhead?: ReadAhead;
  tcpAhead?: ReadAhead;
  /** Dials in progress, so a release waits for the sockets they may still hand over. */
  dialing: Set<Promise<void>>;
  pipe?: Promise<unknown>;
  /** Stopped by force: a dial that completes now closes its socket at once. */
  dead: boolean;
}

/** The WebSocket subprotocol Cloud Remote Access forces. */
export const TUNNEL_SUBPROTOCOL = "binary";

/** Counts `attempt` among the run's dials in progress until it settles; returns it as is. */
export function track(run: Run, attempt: Promise<void>): Promise<void> {
  const settled = attempt.catch(() => {});
  run.dialing.add(settled);
  settled.then(() => run.dialing.delete(settled));
  return attempt;
}

/**
 * Opens the WebSocket to the relay into `run`. Fails with a
 * {@link TunnelFailure} whose reason never shows the connection key.
 */
export async function dialWebSocket(run: Run, signal: AbortSignal): Promise<void> {
  const { options, keyPath, redactedPath } = run.tunnel;
  let ws: WebSocketConnection;
  try {
    ws = await connectWebSocket(options.url, {
      headers: options.headers,
      protocols: [TUNNEL_SUBPROTOCOL],
      caCerts: options.caCerts,
      proxy: options.proxy,
      signal,
      pingIntervalMs: options.pingIntervalMs,
      // Cloud → device in flight: the receive buffer, at most 3 × bufferSize (protocols/tunnel_pipe.ts).
      readChunkBytes: options.bufferSize,
      receiveBufferBytes: 3 * options.bufferSize,
    });
  } catch (error) {
    const status = error instanceof WebSocketHandshakeError ? error.status : undefined;
    if (status === 401 || status === 403) {
      throw new TunnelFailure("unauthorized", `WebSocket authentication rejected (${status})`);
    }
    // The reason is logged and sent to the cloud: keep the connection key out of it.
    const text = (error as Error).message;
    const reason = keyPath.length > 1 ? text.replaceAll(keyPath, redactedPath) : text;
    throw new TunnelFailure("dial", reason, { cause: error });
  }
  if (run.dead) {
    ws.abort();
    throw new TunnelFailure("dial", "stopped while the WebSocket opened");
  }
  run.ws = ws;
  run.wsAhead = new ReadAhead(() => ws.read(), options.bufferSize);
}

/**
 * Opens the TCP connection to the target into `run`. Fails with a
 * {@link TunnelFailure}: `refused` when the target refused, else `dial`.
 */
export async function dialTarget(run: Run, signal: AbortSignal): Promise<void> {
  const { options: { target, bufferSize }, shown } = run.tunnel;
  let tcp: Deno.TcpConn;
  try {
    tcp = await Deno.connect({
      hostname: target.host.replace(/^\[|\]$/g, ""),
      port: target.port,
      signal,
    });
  } catch (error) {
    if (error instanceof Deno.errors.ConnectionRefused) {
      throw new TunnelFailure("refused", `connection refused: ${shown}`, { cause: error });
    }
    throw new TunnelFailure("dial", `cannot connect to ${shown}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (run.dead) {
    closeQuietly(tcp);
    throw new TunnelFailure("dial", "stopped while the target connection opened");
  }
  // Interactive sessions (SSH keystrokes) must not wait for Nagle's algorithm.
  tcp.setNoDelay(true);
  run.tcp = tcp;
  run.tcpAhead = new ReadAhead(tcpReader(tcp), bufferSize);
}

/**
 * Lets go of both sides once the dials in progress have settled: the pipe
 * closes them when it ran; otherwise they are closed here, the WebSocket
 * with `code` and `reason`.
 */
export async function release(run: Run, { code, reason }: PipeEnd): Promise<void> {
  await Promise.all(run.dialing);
  if (run.pipe) {
    await run.pipe;
    return;
  }
  closeQuietly(run.tcp);
  await run.ws?.close(code, reason);
}

/** Stops by force: both sides close now, and so does any that a dial still hands over. */
export function destroy(run: Run): void {
  run.dead = true;
  run.ws?.abort();
  closeQuietly(run.tcp);
}

function closeQuietly(conn: Deno.Conn | undefined): void {
  try {
    conn?.close();
  } catch {
    // Already closed.
  }
}
