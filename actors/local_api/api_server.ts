/**
 * The mutual-TLS port of the local API (PROTOCOLS.md §4) and its router.
 * node:tls verifies the client certificate against the local CA
 * (`requestCert` and `rejectUnauthorized: true`); the client id is the CN
 * of that certificate, accepted only while the client is active with that
 * certificate's serial (a deprovisioned client's certificate is dead).
 * A client may publish and subscribe only under `/v1.0/<its id>`.
 *
 * Each request is answered by the built-in calls (`/ping`, `/delete`) or
 * by the first `LocalApiModule` that handles its path; a module's throw
 * is answered InternalError, a path nobody handles UnknownError.
 */
import { Buffer } from "node:buffer";
import type { TLSSocket } from "node:tls";
import type { Client } from "aedes";
import { LocalApiError } from "../../protocols/local_api_errors.ts";
import { parseObject } from "../../protocols/local_api_payloads.ts";
import {
  apiTopic,
  CLIENT_ID,
  filterWithinClient,
  parseApiTopic,
  routeOf,
} from "../../protocols/local_api_topics.ts";
import { getLogger } from "../runtime/logging.ts";
import type { Authority } from "./authority.ts";
import type { ClientRegistry } from "./client_registry.ts";
import type { LocalApiModule, LocalApiOutput } from "./module.ts";
import { startTlsBroker } from "./tls_broker.ts";

/** Options of {@link startApiServer}. */
export interface ApiServerOptions {
  host: string;
  port: number;
  authority: Authority;
  registry: ClientRegistry;
  modules: readonly LocalApiModule[];
}

/** The running mutual-TLS port. */
export interface ApiServer {
  port: number;
  output: LocalApiOutput;
  /** Revokes an active client for the operator and closes its connections. */
  revoke(clientId: string): Promise<void>;
  close(): Promise<void>;
}

/** Largest request payload answered; a bigger one is refused OutOfRange. */
export const MAX_REQUEST_BYTES = 256 * 1024;

const log = getLogger("local-api", "api");

/** Serves the API on `host:port`. */
export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const { registry, modules } = options;
  const ids = new WeakMap<Client, string>();
  const connected = new Map<string, Set<Client>>();
  // A connection was active when it authenticated; only `/delete` on this
  // port revokes an active client, so that is all a publish must check.
  const revoked = new Set<string>();
  const active = (client: Client | null): string | undefined => {
    const clientId = client ? ids.get(client) : undefined;
    return clientId !== undefined && !revoked.has(clientId) ? clientId : undefined;
  };

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
        ids.set(client, cn);
        done(null, true);
      },
      authorizePublish(client, packet, callback) {
        if (!client) return callback(null);
        const clientId = active(client);
        if (!clientId || parseApiTopic(packet.topic)?.clientId !== clientId) {
          log.warn("Refused a publish on {topic} by {clientId}", {
            topic: packet.topic,
            clientId: clientId ?? "an inactive client",
          });
          return callback(new Error("Forbidden topic"));
        }
        callback(null);
      },
      authorizeSubscribe(client, subscription, callback) {
        const clientId = active(client);
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

  broker.on("clientReady", (client) => {
    const clientId = ids.get(client);
    if (clientId === undefined) return;
    const set = connected.get(clientId) ?? new Set();
    set.add(client);
    connected.set(clientId, set);
  });
  broker.on("clientDisconnect", (client) => {
    const clientId = ids.get(client);
    const set = clientId === undefined ? undefined : connected.get(clientId);
    set?.delete(client);
    if (set?.size === 0) connected.delete(clientId!);
  });

  const output: LocalApiOutput = {
    send(clientId, path, payload) {
      const body = typeof payload === "string" ? payload : JSON.stringify(payload);
      broker.publish(
        {
          cmd: "publish",
          topic: apiTopic(clientId, path),
          payload: Buffer.from(body),
          qos: 1,
          retain: false,
          dup: false,
        },
        (error?: Error | null) => {
          if (error) log.error("Cannot publish to {clientId}: {error}", { clientId, error });
        },
      );
    },
    broadcast(path, payload) {
      for (const clientId of connected.keys()) output.send(clientId, path, payload);
    },
    connectedClients: () => [...connected.keys()],
  };

  async function revokeClient(clientId: string, message: string): Promise<void> {
    registry.revoke(clientId);
    revoked.add(clientId);
    for (const module of modules) await module.clientRemoved?.(clientId);
    output.send(clientId, "/delete/info/inbox", { message });
  }

  async function deprovision(clientId: string, payload: Uint8Array): Promise<void> {
    parseObject(payload);
    await revokeClient(clientId, "Client was deprovisioned");
    log.info("Deprovisioned local API client {clientId}", { clientId });
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
    const clientId = client ? ids.get(client) : undefined;
    if (clientId === undefined) return;
    const path = parseApiTopic(packet.topic)?.path;
    // Replies and live data are the agent's to send; an app echoing them is ignored.
    if (!path || /\/(inbox|livedata)$/.test(path)) return;
    // dispatch answers every failure itself; this only catches a reply that
    // could not be sent (the broker closing), which must not become an
    // unhandled rejection that ends the agent.
    dispatch(clientId, path, new Uint8Array(packet.payload as Buffer)).catch((error) =>
      log.error("Cannot answer {path} for {clientId}: {error}", { path, clientId, error })
    );
  });

  // Modules that push on their own (support events) get the output now, and again after a restart.
  for (const module of modules) module.start?.(output);
  async function revoke(clientId: string): Promise<void> {
    await revokeClient(clientId, "Client was revoked by the operator");
    log.info("Revoked local API client {clientId} for the operator", { clientId });
    for (const client of connected.get(clientId) ?? []) client.close();
  }

  return { port: server.port, output, revoke, close: server.close };
}
