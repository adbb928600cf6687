/**
 * The embedded MQTT broker: aedes in this process, served over `node:net`,
 * for the apps on the device (the local API) and for tests.
 *
 * Owns: one aedes broker, its TCP server and every client connection. It
 * binds loopback only unless told `allowRemote`, because an open broker on a
 * device's LAN lets anyone there speak for the device. Receives:
 * `outpost.stop` (close everything, then finish). Sends: nothing; clients
 * talk to it over MQTT. Supervised by: the `local-api` supervisor, which
 * restarts it by its policy when binding fails (a port in use is an error
 * exit naming host:port).
 */
import { Aedes } from "aedes";
import { createServer, isIP, type Server, type Socket } from "node:net";
import { serviceActor } from "../runtime/service_actor.ts";
import { getLogger } from "../runtime/logging.ts";
import type { ActorLogic } from "../runtime/spec.ts";

/** Where the embedded broker listens. */
export interface EmbeddedBrokerOptions {
  /** Default "127.0.0.1". Must be loopback unless `allowRemote`. */
  host?: string;
  /** Default 1883; 0 takes a free port. */
  port?: number;
  /** Allows a host that is not loopback, exposing the broker to the network. Default false. */
  allowRemote?: boolean;
}

/** A running embedded broker. */
export interface EmbeddedBroker {
  /** The host it was asked to bind. */
  host: string;
  /** The port it listens on (the real one when 0 was asked). */
  port: number;
  /** Closes the server, every client connection and the broker. */
  close(): Promise<void>;
}

const log = getLogger("broker");

/**
 * True for 127.0.0.0/8, ::1 (also IPv4-mapped loopback) and "localhost".
 *
 * @example
 * ```ts
 * isLoopbackHost("127.0.0.1"); // true
 * isLoopbackHost("0.0.0.0"); // false
 * ```
 */
export function isLoopbackHost(host: string): boolean {
  const name = host.toLowerCase().replace(/^\[(.*)\]$/, "$1").replace(/\.$/, "");
  if (name === "localhost") return true;
  if (isIP(name) === 4) return name.startsWith("127.");
  if (isIP(name) === 6) {
    if (/^(0{0,4}:){1,7}0{0,3}1$/.test(name) || name === "::1") return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(name);
    return mapped !== null && mapped[1].startsWith("127.");
  }
  return false;
}

/**
 * Starts aedes on `host:port`. Refuses a host that is not loopback unless
 * `allowRemote`, without binding anything; rejects naming host:port when
 * the port cannot be bound.
 *
 * @example
 * ```ts
 * const broker = await startEmbeddedBroker({ port: 0 });
 * console.log(`mqtt://${broker.host}:${broker.port}`);
 * await broker.close();
 * ```
 */
export async function startEmbeddedBroker(
  options: EmbeddedBrokerOptions = {},
): Promise<EmbeddedBroker> {
  const { host = "127.0.0.1", port = 1883, allowRemote = false } = options;
  if (!allowRemote && !isLoopbackHost(host)) {
    throw new TypeError(
      `Refusing to start the embedded MQTT broker on "${host}": it is not a loopback address ` +
        "(127.0.0.0/8, ::1, localhost); set allowRemote to expose the broker to the network",
    );
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TypeError(`Cannot start the embedded MQTT broker: port ${port} is not 0..65535`);
  }
  const broker = await Aedes.createBroker();
  const server = createServer(broker.handle);
  // aedes only closes connections that completed CONNECT; the rest are ours to end.
  const sockets = new Set<Socket>();
  server.on("connection", (socket) => {
    // Small QoS 1 acks must not wait for the client's delayed ACK (decisions.md 14).
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  try {
    await listen(server, host, port);
  } catch (error) {
    await closeBroker(broker);
    const code = (error as { code?: string }).code;
    const why = code === "EADDRINUSE" ? "the address is already in use" : (error as Error).message;
    throw new Error(`Cannot start the embedded MQTT broker on ${host}:${port}: ${why}`, {
      cause: error,
    });
  }
  const bound = (server.address() as { port: number }).port;
  let closing: Promise<void> | undefined;
  return {
    host,
    port: bound,
    close: () =>
      closing ??= (async () => {
        const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
        await closeBroker(broker);
        for (const socket of sockets) socket.destroy();
        await serverClosed;
      })(),
  };
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => {
      server.off("listening", onListening);
      reject(error);
    };
    const onListening = () => {
      server.off("error", onError);
      resolve();
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen(port, host);
  });
}

function closeBroker(broker: Aedes): Promise<void> {
  return new Promise((resolve) => broker.close(() => resolve()));
}

/**
 * The embedded broker as a supervised actor: it starts the broker, and on
 * `outpost.stop` closes it and finishes. A bind failure is an error exit
 * whose message names host:port, so the supervisor applies its policy; a
 * forced stop still closes the broker.
 *
 * @example
 * ```ts
 * const tree = supervisor("local-api", { strategy: "rest_for_one" }, [
 *   child("broker", embeddedBroker({ port: 1883 })),
 * ]);
 * ```
 */
export function embeddedBroker(options: EmbeddedBrokerOptions = {}): ActorLogic {
  return serviceActor(
    "embedded MQTT broker",
    () => startEmbeddedBroker(options),
    (broker) =>
      log.info("Embedded MQTT broker listening on {host}:{port}", {
        host: broker.host,
        port: broker.port,
      }),
  );
}
