/**
 * An aedes broker served over one `node:tls` server, for the two local API
 * ports. Loopback only unless told otherwise (the caller checks); every
 * socket, including those that never completed CONNECT, is closed with it.
 */
import { Aedes, type AedesOptions } from "aedes";
import type { Socket } from "node:net";
import { createServer, type TlsOptions } from "node:tls";
import { isLoopbackHost } from "../broker/embedded_broker.ts";
import { getLogger } from "../runtime/logging.ts";

const log = getLogger("local-api", "tls");

/** A running TLS broker. */
export interface TlsBroker {
  broker: Aedes;
  /** The port it listens on (the real one when 0 was asked). */
  port: number;
  close(): Promise<void>;
}

/** Starts aedes with `hooks` on `host:port` with TLS options `tls`. */
export async function startTlsBroker(
  what: string,
  options: { host: string; port: number; tls: TlsOptions; hooks: AedesOptions },
): Promise<TlsBroker> {
  const { host, port } = options;
  if (!isLoopbackHost(host)) {
    throw new TypeError(`Refusing to serve the ${what} on "${host}": it is not a loopback address`);
  }
  const broker = await Aedes.createBroker(options.hooks);
  const server = createServer(options.tls, (socket) => broker.handle(socket));
  // Every TCP connection, also those still in (or refused at) the handshake.
  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    // Small request/reply messages: Nagle plus delayed ACKs would add ~40 ms to each.
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  // A refused handshake (no, a foreign or a v1 client certificate) ends that
  // connection only; it is worth a line, since it may be a probe.
  server.on("tlsClientError", (error: Error) => {
    log.warn("Refused a TLS connection to the {what}: {reason}", { what, reason: error.message });
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (error) {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    const code = (error as { code?: string }).code;
    const why = code === "EADDRINUSE" ? "the address is already in use" : (error as Error).message;
    throw new Error(`Cannot serve the ${what} on ${host}:${port}: ${why}`, { cause: error });
  }
  let closing: Promise<void> | undefined;
  return {
    broker,
    port: (server.address() as { port: number }).port,
    close: () =>
      closing ??= (async () => {
        const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
        await new Promise<void>((resolve) => broker.close(() => resolve()));
        for (const socket of sockets) socket.destroy();
        await serverClosed;
      })(),
  };
}
