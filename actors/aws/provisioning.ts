/**
 * Fleet provisioning by CSR (PROTOCOLS.md §2): a device whose certificate
 * store is empty gets its own certificate and thing name, and its private
 * key never leaves it.
 *
 * ```
 * cloud:<name>
 * ├── connection     waits on AwsIdentity.login()
 * └── provisioning   ← this actor: claim session → create-from-csr → RegisterThing → store
 * ```
 *
 * Owns: while the device has no identity, one MQTT session with the claim
 * certificate, and one request in flight at a time. Receives:
 * `outpost.stop`. Sends: the new identity to the certificate store
 * (atomically, key 0600) and to the waiting connection. Supervised by: its
 * cloud's `rest_for_one` supervisor, right after the connection.
 *
 * A rejection by AWS (4xx other than 429) ends provisioning: the identity
 * fails with AWS's status, code and message, which the connection then
 * reports at every attempt; anything else (no network, a timeout, 429, 5xx)
 * is retried with backoff.
 */
import { getLogger } from "../runtime/logging.ts";
import { delay } from "../runtime/clock.ts";
import type { ActorLogic } from "../runtime/spec.ts";
import type { MqttBroker } from "../mqtt/connection.ts";
import { taskActor } from "../runtime/task_actor.ts";
import { backoffDelay, type RetryBackoff, withBackoffDefaults } from "../../machines/backoff.ts";
import { connectSession, type MqttConnectOptions } from "../../protocols/mqtt_session.ts";
import {
  decodeCreateFromCsrAccepted,
  decodeProvisioningRejected,
  decodeRegisterThingAccepted,
  encodeCreateFromCsr,
  encodeRegisterThing,
  generateKeyAndCsr,
  ProvisioningError,
  provisioningTopics,
} from "../../protocols/aws_csr.ts";
import type { CertStore } from "./cert_store.ts";
import type { AwsIdentity } from "./identity.ts";

/** What a provisioning run needs. */
export interface ProvisioningOptions {
  cloud: string;
  identity: AwsIdentity;
  store: CertStore;
  /** Broker and TLS (with the claim certificate and key); the client id is the claim's. */
  connect: Omit<MqttConnectOptions, "username" | "password" | "will">;
  /** Endpoints tried in turn, one per round (fail-over); each replaces connect's. Default: connect's. */
  brokers?: readonly MqttBroker[];
  /** The fleet provisioning template. */
  template: string;
  /** Template parameters (`SerialNumber`, …). */
  parameters: Record<string, string>;
  /** How long each reply may take. Default 30 s. */
  replyTimeoutMs?: number;
  /** Retry delays. Default 2 s doubling to 5 min, no jitter. */
  backoff?: Partial<RetryBackoff>;
}

/** Delays between provisioning rounds when the options name none. */
const PROVISIONING_BACKOFF: Readonly<RetryBackoff> = {
  minMs: 2000,
  maxMs: 300_000,
  jitter: 0,
};

const log = getLogger("aws");

/**
 * The `provisioning` child. An AWS rejection is reported to the identity
 * (the connection then fails its attempts with it) and is no error exit:
 * the child stays until `outpost.stop`, as it does once provisioned.
 *
 * ```
 * running ──provisioned, or AWS rejected──► done
 *    └──outpost.stop──► stopping ──► stopped (final)
 * ```
 */
export function fleetProvisioning(options: ProvisioningOptions): ActorLogic {
  const { identity } = options;
  return taskActor("awsProvisioning", async (signal) => {
    identity.provisioningStarted();
    try {
      await provision(options, signal);
      return { failed: false };
    } catch (error) {
      if (signal.aborted) return { failed: false };
      const failure = error instanceof Error ? error : new Error(String(error));
      log.error("Cloud {cloud}: fleet provisioning failed: {error}", {
        cloud: options.cloud,
        error: failure.message,
      });
      identity.failed(failure);
      return { failed: true, error: failure.message };
    }
  }, {
    untilStop: true,
    failedWhen: (output) => (output as { failed: boolean }).failed,
    onStop: () => identity.provisioningStopped(),
  });
}

/** Provisions until it succeeds, AWS rejects (throws), or `signal` aborts. */
async function provision(options: ProvisioningOptions, signal: AbortSignal): Promise<void> {
  const { cloud, identity, store } = options;
  if (await identity.load()) return;
  const backoff = withBackoffDefaults(PROVISIONING_BACKOFF, options.backoff);
  log.info("Cloud {cloud}: no device identity in {dir}; provisioning with template {template}", {
    cloud,
    dir: store.dir,
    template: options.template,
  });
  const brokers = options.brokers?.length ? options.brokers : [options.connect];
  for (let attempt = 0; !signal.aborted; attempt++) {
    const { url, alpnProtocols, servername } = brokers[attempt % brokers.length];
    const connect = { ...options.connect, url, alpnProtocols, servername };
    try {
      const result = await round({ ...options, connect }, signal);
      if (!result) return;
      await store.write(result);
      log.info("Cloud {cloud}: provisioned as thing {thing}; identity in {dir}", {
        cloud,
        thing: result.clientId,
        dir: store.dir,
      });
      identity.provisioned(result);
      return;
    } catch (error) {
      if (signal.aborted) return;
      if (isFinal(error)) throw error;
      const waitMs = backoffDelay(backoff, attempt, Math.random());
      log.warn("Cloud {cloud}: provisioning attempt failed, retrying in {waitMs} ms: {error}", {
        cloud,
        waitMs,
        error: (error as Error).message,
      });
      await delay(waitMs, signal);
    }
  }
}

function isFinal(error: unknown): boolean {
  const status = error instanceof ProvisioningError ? error.statusCode : undefined;
  return status !== undefined && status >= 400 && status < 500 && status !== 429;
}

/** One claim session: CSR, then RegisterThing. Resolves with nothing when aborted. */
async function round(options: ProvisioningOptions, signal: AbortSignal) {
  const topics = provisioningTopics(options.template);
  const replies = new Map<string, (payload: Uint8Array) => void>();
  let lost!: (error: Error) => void;
  const closed = new Promise<never>((_, reject) => (lost = reject));
  closed.catch(() => {});
  const open = await connectSession({ ...options.connect, clean: true }, {
    onMessage: (message) => replies.get(message.topic)?.(message.payload),
    onClose: (error) => lost(error ?? new Error("the claim session closed")),
    signal,
  });
  const aborted = new Promise<undefined>((resolve) => {
    if (signal.aborted) resolve(undefined);
    signal.addEventListener("abort", () => resolve(undefined), { once: true });
  });
  const timeoutMs = options.replyTimeoutMs ?? 30_000;

  // One request in flight: subscribe to both answers, publish, wait for one of them.
  async function request(
    what: string,
    pair: { request: string; accepted: string; rejected: string },
    body: string,
  ): Promise<Uint8Array | undefined> {
    const answer = new Promise<Uint8Array>((resolve, reject) => {
      replies.set(pair.accepted, resolve);
      replies.set(pair.rejected, (payload) => {
        try {
          const r = decodeProvisioningRejected(payload);
          reject(
            new ProvisioningError(
              `AWS rejected ${what}: ${r.statusCode} ${r.errorCode}: ${r.errorMessage}`,
              { statusCode: r.statusCode, errorCode: r.errorCode },
            ),
          );
        } catch (error) {
          reject(error);
        }
      });
    });
    const timer = new AbortController();
    const timeout = delay(timeoutMs, AbortSignal.any([signal, timer.signal])).then(() => {
      throw new Error(`no reply to ${what} within ${timeoutMs} ms`);
    });
    try {
      await open.session.publish(pair.request, body, { qos: 1, retain: false });
      return await Promise.race([answer, closed, aborted, timeout]);
    } finally {
      timer.abort();
      answer.catch(() => {});
      timeout.catch(() => {});
      replies.delete(pair.accepted);
      replies.delete(pair.rejected);
    }
  }

  try {
    await open.session.subscribe([
      { filter: topics.createFromCsr.accepted, qos: 1 },
      { filter: topics.createFromCsr.rejected, qos: 1 },
      { filter: topics.registerThing.accepted, qos: 1 },
      { filter: topics.registerThing.rejected, qos: 1 },
    ]);
    const keys = await generateKeyAndCsr();
    const created = await request(
      "CreateCertificateFromCsr",
      topics.createFromCsr,
      encodeCreateFromCsr(keys.csrPem),
    );
    if (!created) return undefined;
    const certificate = decodeCreateFromCsrAccepted(created);
    const registered = await request(
      `RegisterThing (template ${options.template})`,
      topics.registerThing,
      encodeRegisterThing(certificate.certificateOwnershipToken, options.parameters),
    );
    if (!registered) return undefined;
    const thing = decodeRegisterThingAccepted(registered);
    return {
      clientId: thing.thingName,
      certificatePem: certificate.certificatePem,
      privateKeyPem: keys.privateKeyPem,
      publicKeyPem: keys.publicKeyPem,
      rootCaPem: options.connect.ca,
    };
  } finally {
    await open.end();
  }
}
