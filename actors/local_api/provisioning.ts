/**
 * The provisioning port of the local API (PROTOCOLS.md §4): TLS with the
 * agent's server certificate, loopback only. An app subscribes to
 * `/certBack/<sha256 of its CSR PEM>` (and `…/error`), publishes the CSR
 * PEM on `/createConnector`, and receives a certificate with CN = a fresh
 * 32-hex client id, or an error body. Nothing else may be published or
 * subscribed here.
 *
 * Approval mode: a new CSR is recorded as pending and answered only when
 * the operator approves it (`approve`), then on a retained message so an
 * app that reconnected still gets it; `reject` answers ForbiddendAccess.
 */
import { Buffer } from "node:buffer";
import { LocalApiError } from "../../protocols/local_api_errors.ts";
import {
  certBackErrorTopic,
  certBackTopic,
  CREATE_CONNECTOR,
  csrHash,
  isCertBackTopic,
} from "../../protocols/local_api_topics.ts";
import { getLogger } from "../runtime/logging.ts";
import { type Authority, checkCsr } from "./authority.ts";
import type { ClientRegistry } from "./client_registry.ts";
import { newId } from "./sensor_store.ts";
import { startTlsBroker } from "./tls_broker.ts";

/** Options of {@link startProvisioning}. */
export interface ProvisioningOptions {
  host: string;
  port: number;
  authority: Authority;
  registry: ClientRegistry;
  /** New clients wait for `approve`. */
  approval: boolean;
}

/** The running provisioning port. */
export interface ProvisioningServer {
  port: number;
  /** Signs and sends the certificate of a pending client. */
  approve(clientId: string): Promise<void>;
  /** Refuses a pending client. */
  reject(clientId: string): Promise<void>;
  close(): Promise<void>;
}

const log = getLogger("local-api", "provisioning");
const MAX_CSR_BYTES = 16 * 1024;

/** Serves provisioning on `host:port`. */
export async function startProvisioning(options: ProvisioningOptions): Promise<ProvisioningServer> {
  const { authority, registry, approval } = options;
  const server = await startTlsBroker("local API provisioning port", {
    host: options.host,
    port: options.port,
    tls: { cert: options.authority.serverCertPem, key: options.authority.serverKeyPem },
    hooks: {
      authorizePublish(client, packet, callback) {
        if (client && packet.topic !== CREATE_CONNECTOR) {
          log.warn("Refused a publish on {topic} on the provisioning port", {
            topic: packet.topic,
          });
          return callback(new Error(`Only ${CREATE_CONNECTOR} may be published here`));
        }
        callback(null);
      },
      authorizeSubscribe(_client, subscription, callback) {
        if (isCertBackTopic(subscription.topic)) return callback(null, subscription);
        log.warn("Refused a subscription to {topic} on the provisioning port", {
          topic: subscription.topic,
        });
        callback(null, null);
      },
    },
  });
  const { broker } = server;

  function send(topic: string, body: string, retain: boolean): Promise<void> {
    return new Promise((resolve, reject) =>
      broker.publish(
        { cmd: "publish", topic, payload: Buffer.from(body), qos: 1, retain, dup: false },
        (error?: Error | null) => error ? reject(error) : resolve(),
      )
    );
  }

  function sendError(hash: string, error: LocalApiError, retain = false): Promise<void> {
    return send(certBackErrorTopic(hash), JSON.stringify(error.toBody()), retain);
  }

  async function issue(clientId: string, csrPem: string, hash: string): Promise<void> {
    const { certPem, serial } = authority.signClient(csrPem, clientId);
    registry.activate(clientId, serial, certPem);
    log.info("Provisioned local API client {clientId}", { clientId });
    await send(certBackTopic(hash), certPem, approval);
  }

  async function provision(payload: Uint8Array): Promise<void> {
    const hash = await csrHash(payload);
    if (payload.length > MAX_CSR_BYTES) {
      return sendError(
        hash,
        new LocalApiError("OutOfRange", `A CSR may have at most ${MAX_CSR_BYTES} bytes`),
      );
    }
    const csrPem = new TextDecoder().decode(payload);
    let name: string;
    try {
      name = checkCsr(csrPem).commonName ?? "";
    } catch (error) {
      if (!(error instanceof LocalApiError)) throw error;
      log.warn("Refused a CSR: {reason}", { reason: error.message });
      return sendError(hash, error);
    }
    const known = registry.byCsrHash(hash);
    if (known?.state === "pending") {
      log.info("Client {clientId} asked again; still waiting for approval", {
        clientId: known.clientId,
      });
      return;
    }
    // An app that lost the reply asks again: it gets the same certificate, so
    // whoever else holds a copy of its CSR cannot make the agent replace it.
    if (known?.state === "active") {
      const certPem = registry.certificateOf(known.clientId);
      if (certPem) return send(certBackTopic(hash), certPem, approval);
    }
    const clientId = newId();
    registry.add({
      clientId,
      name,
      csrHash: hash,
      csrPem,
      state: approval ? "pending" : "active",
    });
    if (approval) {
      log.info("Client {clientId} ({name}) waits for approval", {
        clientId,
        name,
      });
      return;
    }
    await issue(clientId, csrPem, hash);
  }

  broker.on("publish", (packet, client) => {
    if (!client || packet.topic !== CREATE_CONNECTOR) return;
    provision(new Uint8Array(packet.payload as Buffer)).catch((error) =>
      log.error("Provisioning failed: {error}", { error })
    );
  });

  function pendingOf(clientId: string) {
    const record = registry.get(clientId);
    if (record?.state !== "pending") {
      throw new Error(`No client ${JSON.stringify(clientId)} is waiting for approval`);
    }
    return record;
  }

  return {
    port: server.port,
    async approve(clientId) {
      const record = pendingOf(clientId);
      await issue(clientId, registry.csrOf(clientId)!, record.csrHash);
    },
    async reject(clientId) {
      const record = pendingOf(clientId);
      registry.revoke(clientId);
      log.info("Refused client {clientId}", { clientId });
      await sendError(
        record.csrHash,
        new LocalApiError("ForbiddendAccess", "The operator refused this client"),
        true,
      );
    },
    close: server.close,
  };
}
