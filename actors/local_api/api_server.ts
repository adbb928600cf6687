/**
 * The mutual-TLS port of the local API (PROTOCOLS.md §4) and its router.
 * node:tls verifies the client certificate against the local CA
 * (`requestCert` and `rejectUnauthorized: true`); the client id is the CN
 * of that certificate, accepted only while the client is active with that
 * certificate's serial (a deprovisioned client's certificate is dead).
 * A client may publish and subscribe only under `/v1.0/<its id>`; a
 * publish in another client's namespace closes its connection, one in
 * nobody's is acknowledged and dropped (`publishVerdict`).
 *
 * A revocation, whoever made it (`/delete` here, the operator's `reject`),
 * reaches this port through the registry's `onRevoked`: the client gets
 * nothing more and its open connections are closed (connections.ts).
 *
 * Each request is answered by the built-in calls (`/ping`, `/delete`) or
 * by the first `LocalApiModule` that handles its path; a module's throw
 * is answered InternalError, a path nobody handles UnknownError.
 */
import { Buffer } from "node:buffer";
import type { TLSSocket } from "node:tls";
import { LocalApiError } from "../../protocols/local_api_errors.ts";
import { parseObject } from "../../protocols/local_api_payloads.ts";
import {
  apiTopic,
  CLIENT_ID,
  filterWithinClient,
  parseApiTopic,
  publishVerdict,
  routeOf,
  topicShape,
} from "../../protocols/local_api_topics.ts";
import { getLogger } from "../runtime/logging.ts";
import type { Authority } from "./authority.ts";
import type { ClientRegistry } from "./client_registry.ts";
import { ApiConnections } from "./connections.ts";
import type { LocalApiModule, LocalApiOutput } from "./module.ts";
import { startTlsBroker } from "./tls_broker.ts";

/** Options of {@link startApiServer}. */
export interface ApiServerOptions {
  host: string;
  port: number;
  authority: Authority;
  registry: ClientRegistry;
  modules: readonly LocalApiModule[];
  /** Revokes a client and lets every module forget it (`/delete`). */
  removeClient(clientId: string): Promise<void>;
}

/** The running mutual-TLS port. */
export interface ApiServer {
  port: number;
  output: LocalApiOutput;
  close(): Promise<void>;
}

/** Largest request payload answered; a bigger one is refused OutOfRange. */
export const MAX_REQUEST_BYTES = 256 * 1024;

/** How many distinct dropped-publish shapes are logged; a flood of made-up topics stops there. */
const MAX_LOGGED_STRAYS = 1000;

const log = getLogger("local-api", "api");

/** Serves the API on `host:port`. */
export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const { registry, modules } = options;
  const connections = new ApiConnections();
  const stray = strayLog();

  const server = await startTlsBroker("local API", {
    host: options.host,
    port: options.port,
    tls: {
      cert: options.authority.serverCertPem,
      key: options.authority.serverKeyPem,
      ca: [options.authority.caCertPem],
      requestCert: true,
      rejectUnauthorized: true,
    },
    hooks: {
      authenticate(client, _username, _password, done) {
        const peer = (client.conn as TLSSocket).getPeerCertificate?.();
        const cn = typeof peer?.subject?.CN === "string" ? peer.subject.CN : "";
        const serial = typeof peer?.serialNumber === "string" ? peer.serialNumber : "";
        if (!CLIENT_ID.test(cn) || !registry.accepts(cn, serial)) {
          log.warn(
            "Refused a local API connection with certificate CN {cn}: not an active client",
            {
              cn,
            },
          );
          const error = Object.assign(new Error("Not an active local API client"), {
            returnCode: 5,
          });
          return done(error, false);
        }
        connections.authenticated(client, cn);
        done(null, true);
      },
      authorizePublish(client, packet, callback) {
        if (!client) return callback(null);
        const clientId = connections.activeId(client);
        const verdict = clientId ? publishVerdict(packet.topic, clientId) : "refuse";
        if (verdict === "refuse") {
          log.warn("Refused a publish on {topic} by {clientId}", {
            topic: packet.topic,
            clientId: clientId ?? "an inactive client",
          });
          return callback(new Error("Forbidden topic"));
        }
        if (verdict === "drop") {
          stray(clientId!, packet.topic);
          // Acknowledged, but kept by nobody: no subscription can match it, and it is not retained.
          packet.retain = false;
        }
        callback(null);
      },
      authorizeSubscribe(client, subscription, callback) {
        const clientId = connections.activeId(client);
        if (clientId && filterWithinClient(subscription.topic, clientId)) {
          return callback(null, subscription);
        }
        log.warn("Refused a subscription to {topic} by {clientId}", {
          topic: subscription.topic,
          clientId: clientId ?? "an inactive client",
        });
        callback(null, null);
      },
    },
  });
  const { broker } = server;

  broker.on("clientReady", (client) => connections.ready(client));
  broker.on("clientDisconnect", (client) => connections.gone(client));
  const stopListening = registry.onRevoked((clientId) => connections.revoke(clientId));

  /** Publishes to `clientId`; calls `done` once written to its connections. */
  function publish(
    clientId: string,
    path: string,
    payload: unknown,
    done: (error?: Error | null) => void,
  ): void {
    let body: string;
    try {
      body = typeof payload === "string" ? payload : JSON.stringify(payload);
    } catch (error) {
      return done(error as Error);
    }
    broker.publish(
      {
        cmd: "publish",
        topic: apiTopic(clientId, path),
        payload: Buffer.from(body),
        qos: 1,
        retain: false,
        dup: false,
      },
      done,
    );
  }

  /** Publishes to `clientId`; resolves once written to its connections. */
  function deliver(clientId: string, path: string, payload: unknown): Promise<void> {
    return new Promise((resolve, reject) =>
      publish(clientId, path, payload, (error) => error ? reject(error) : resolve())
    );
  }

  // Replies and live data: no promise per message, a failure is only logged.
  const logFailure = (clientId: string) => (error?: Error | null) => {
    if (error) log.error("Cannot publish to {clientId}: {error}", { clientId, error });
  };

  const output: LocalApiOutput = {
    send(clientId, path, payload) {
      // A revoked client gets nothing more: a module may still answer a request it made before.
      if (connections.isRevoked(clientId)) {
        log.debug("Not sending {path} to revoked client {clientId}", { path, clientId });
        return;
      }
      publish(clientId, path, payload, logFailure(clientId));
    },
    broadcast(path, payload) {
      for (const clientId of connections.clientIds()) output.send(clientId, path, payload);
    },
    connectedClients: () => connections.clientIds(),
  };

  async function deprovision(clientId: string, payload: Uint8Array): Promise<void> {
    parseObject(payload);
    await options.removeClient(clientId);
    log.info("Deprovisioned local API client {clientId}", { clientId });
    // The last message a revoked client gets; its connections close once it is written.
    await deliver(clientId, "/delete/info/inbox", { message: "Client was deprovisioned" });
  }

  async function dispatch(clientId: string, path: string, payload: Uint8Array): Promise<void> {
    const route = routeOf(path);
    const errorPath = route?.error ?? `${path}/error/inbox`;
    try {
      if (payload.length > MAX_REQUEST_BYTES) {
        throw new LocalApiError(
          "OutOfRange",
          `A request may have at most ${MAX_REQUEST_BYTES} bytes`,
        );
      }
      if (route?.call === "ping") {
        parseObject(payload);
        return output.send(clientId, route.ok, { request: "Ping" });
      }
      if (route?.call === "deprovision") return await deprovision(clientId, payload);
      const module = modules.find((m) => m.handles(path));
      if (!module) {
        throw new LocalApiError("UnknownError", `Unknown call ${JSON.stringify(path)}`);
      }
      await module.handle({ clientId, path, payload }, output);
    } catch (error) {
      if (error instanceof LocalApiError) {
        log.debug("Refused {path} from {clientId}: {reason}", {
          path,
          clientId,
          reason: error.message,
        });
        return output.send(clientId, errorPath, error.toBody());
      }
      log.error("Answering {path} for {clientId} failed: {error}", { path, clientId, error });
      output.send(
        clientId,
        errorPath,
        new LocalApiError("InternalError", "The agent could not answer this request").toBody(),
      );
    }
  }

  broker.on("publish", (packet, client) => {
    const clientId = connections.activeId(client);
    if (clientId === undefined) return;
    const topic = parseApiTopic(packet.topic);
    const path = topic?.clientId === clientId ? topic.path : undefined;
    // Replies and live data are the agent's to send; an app echoing them is ignored.
    if (!path || /\/(inbox|livedata)$/.test(path)) return;
    const payload = new Uint8Array(packet.payload as Buffer);
    // dispatch answers every failure itself; this only catches a reply that
    // could not be sent (the broker closing), which must not become an
    // unhandled rejection that ends the agent.
    connections.answer(clientId, () => dispatch(clientId, path, payload)).catch((error) =>
      log.error("Cannot answer {path} for {clientId}: {error}", { path, clientId, error })
    );
  });

  // Modules that push on their own (support events) get the output now, and again after a restart.
  for (const module of modules) module.start?.(output);
  return {
    port: server.port,
    output,
    close: () => {
      stopListening();
      return server.close();
    },
  };
}

/**
 * Logs a dropped publish once per client and topic shape: an app whose
 * library re-sends the same stray publish must not flood the log.
 */
function strayLog(): (clientId: string, topic: string) => void {
  const seen = new Set<string>();
  return (clientId, topic) => {
    const shape = topicShape(topic);
    const key = `${clientId} ${shape}`;
    if (seen.has(key) || seen.size > MAX_LOGGED_STRAYS) return;
    seen.add(key);
    log.warn(
      seen.size > MAX_LOGGED_STRAYS
        ? "Dropped a publish on {shape} by {clientId} (in no client's namespace); further new ones are dropped without a log line"
        : "Dropped a publish on {shape} by {clientId}: it is in no client's namespace (logged once)",
      { shape, clientId },
    );
  };
}
