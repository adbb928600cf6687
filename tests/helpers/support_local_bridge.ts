/**
 * A stand-in for the local API endpoint while it is built elsewhere: aedes
 * on a mutual-TLS `node:tls` server (the test PKI; the client certificate
 * is required and verified), and a tiny router that hands every publish
 * under `/v1.0/<clientId>/…` to the `LocalApiModule` that handles its path
 * and implements `LocalApiOutput` by publishing back.
 *
 * Unlike the real endpoint, a client's id here is its MQTT client id (all
 * test apps share one certificate); the broker still refuses any topic
 * under `/v1.0/` that is not the client's own.
 */
import { Aedes } from "aedes";
import { Buffer } from "node:buffer";
import { createServer, type TLSSocket } from "node:tls";
import type { LocalApiModule, LocalApiOutput } from "../../actors/local_api/module.ts";
import { testPki } from "./tls.ts";

/** A running bridge. */
export interface SupportBridge {
  /** `mqtts://127.0.0.1:<port>`. */
  url: string;
  /** What an app needs besides its client id. */
  tls: { ca: string; cert: string; key: string };
  /** Module failures seen by the router (a test asserts there were none). */
  failures: Error[];
  stop(): Promise<void>;
}

function ownPrefix(clientId: string): string {
  return `/v1.0/${clientId}`;
}

/** Starts the bridge in front of `modules` (asked on every request, so they may change). */
export async function startSupportBridge(
  modules: () => LocalApiModule[],
  options: { port?: number } = {},
): Promise<SupportBridge> {
  const pki = await testPki();
  const clients = new Set<string>();
  const failures: Error[] = [];
  const broker = await Aedes.createBroker({
    authorizePublish(client, packet, callback) {
      const topic = packet.topic;
      if (client && topic.startsWith("/v1.0/") && !topic.startsWith(`${ownPrefix(client.id)}/`)) {
        return callback(new Error(`${client.id} may not publish to ${topic}`));
      }
      callback(null);
    },
    authorizeSubscribe(client, subscription, callback) {
      const topic = subscription.topic;
      if (!topic.startsWith(`${ownPrefix(client.id)}/`)) {
        return callback(new Error(`${client.id} may not subscribe to ${topic}`));
      }
      callback(null, subscription);
    },
  });
  const output: LocalApiOutput = {
    send(clientId, path, payload) {
      const body = typeof payload === "string" ? payload : JSON.stringify(payload);
      broker.publish({
        cmd: "publish",
        topic: `${ownPrefix(clientId)}${path}`,
        payload: Buffer.from(body),
        qos: 1,
        retain: false,
        dup: false,
      }, () => {});
    },
    broadcast(path, payload) {
      for (const clientId of clients) output.send(clientId, path, payload);
    },
    connectedClients: () => [...clients],
  };
  const started = new Set<LocalApiModule>();
  const startModules = () => {
    for (const module of modules()) {
      if (started.has(module)) continue;
      started.add(module);
      module.start?.(output);
    }
  };
  startModules();
  broker.on("clientReady", (client) => void clients.add(client.id));
  broker.on("clientDisconnect", (client) => void clients.delete(client.id));
  broker.on("publish", (packet, client) => {
    if (!client) return;
    const prefix = `${ownPrefix(client.id)}/`;
    if (!packet.topic.startsWith(prefix)) return;
    const path = packet.topic.slice(prefix.length - 1);
    startModules();
    const module = modules().find((m) => m.handles(path));
    if (!module) return;
    Promise.resolve()
      .then(() =>
        module.handle(
          { clientId: client.id, path, payload: new Uint8Array(packet.payload as Buffer) },
          output,
        )
      )
      .catch((error) => failures.push(error));
  });
  const sockets = new Set<TLSSocket>();
  const server = createServer({
    key: pki.server.key,
    cert: pki.server.cert,
    ca: pki.ca.cert,
    requestCert: true,
    rejectUnauthorized: true,
  }, (socket) => {
    sockets.add(socket);
    // Request/reply traffic must not wait for Nagle's algorithm.
    socket.setNoDelay(true);
    socket.once("close", () => sockets.delete(socket));
    broker.handle(socket);
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `mqtts://127.0.0.1:${port}`,
    tls: { ca: pki.ca.cert, cert: pki.client.cert, key: pki.client.key },
    failures,
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
