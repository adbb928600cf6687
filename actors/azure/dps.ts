/**
 * The `provisioning` child of an Azure cloud: Device Provisioning Service
 * registration over its own short MQTT session (PROTOCOLS.md §3).
 *
 * Owns: while a registration runs, one DPS session (client id = the
 * registration id, user `<idScope>/registrations/<id>/api-version=…`,
 * password a SAS token with `skn=registration`, or the device certificate)
 * and the registration statechart (machines/azure_dps.ts), which decides
 * retries. Receives: demands from {@link AzureCredentials} (no credentials,
 * or the hub kept refusing or not answering them), `outpost.stop`. Sends: the
 * assigned hub and device id to the credentials, which cache them and let
 * the connection dial. A failed registration (a 4xx other than 429, or
 * throttling past its attempts) is reported to the credentials with the
 * service's reason (the connection then fails its attempts with it) and
 * retried after a while; this actor itself does not fail.
 * Supervised by: `cloud:<name>` (rest_for_one), right after the connection,
 * so that it stops first and a connection waiting for credentials is released.
 */
import { createActor } from "xstate";
import { getLogger } from "../runtime/logging.ts";
import { delay } from "../runtime/clock.ts";
import type { ActorLogic } from "../runtime/spec.ts";
import { taskActor } from "../runtime/task_actor.ts";
import {
  connectSession,
  type MqttConnectError,
  type MqttConnectOptions,
  type OpenSession,
} from "../../protocols/mqtt_session.ts";
import { dpsResourceUri, sasToken } from "../../protocols/azure_sas.ts";
import {
  AZURE_TOPICS,
  dpsPollTopic,
  dpsRegisterTopic,
  dpsUsername,
  parseResponseTopic,
} from "../../protocols/azure_topics.ts";
import { dpsRegistrationBody, parseDpsReply } from "../../protocols/azure_dps.ts";
import {
  type DpsMachineInput,
  dpsRegistrationMachine,
  type DpsResult,
} from "../../machines/azure_dps.ts";
import { backoffDelay, type RetryBackoff } from "../../machines/backoff.ts";
import type { AzureCredentials } from "./credentials.ts";

/** What a registration needs. */
export interface DpsOptions {
  cloud: string;
  credentials: AzureCredentials;
  /** `global.azure-devices-provisioning.net`, or `host:port`. */
  dpsHost: string;
  idScope: string;
  /** The registration id: the configured device id. */
  registrationId: string;
  modelId?: string;
  /** TLS: the CA to trust, the client certificate and key (X.509), verification. */
  tls: Pick<MqttConnectOptions, "ca" | "cert" | "key" | "rejectUnauthorized">;
  /** Retry limits of the statechart. */
  limits?: DpsMachineInput;
  /** Wait before registering again after a registration failed for good. Default 300000 ms. */
  retryAfterFailureMs?: number;
}

/** Delays while DPS cannot be reached: 1 s doubling to 60 s, without jitter. */
const UNREACHABLE_BACKOFF: Readonly<RetryBackoff> = { minMs: 1000, maxMs: 60_000, jitter: 0 };

const log = getLogger("azure");

/** The `provisioning` child: registers whenever the credentials ask for it, until `outpost.stop`. */
export function dpsProvisioning(options: DpsOptions): ActorLogic {
  return taskActor("azureDpsActor", (signal) => serve(options, signal), {
    onStop: () => options.credentials.provisioningStopped(),
  });
}

/**
 * Registers whenever asked, until `signal` aborts. Never throws: an
 * unreachable DPS is retried with exponential backoff (1 s doubling to
 * 60 s); a registration that failed for good is reported to the
 * credentials and retried after `retryAfterFailureMs`, so one cloud's
 * refusal never takes the agent's tree down.
 */
async function serve(options: DpsOptions, signal: AbortSignal): Promise<void> {
  const { cloud, credentials, registrationId } = options;
  let unreachable = 0;
  while (!signal.aborted) {
    await credentials.waitForDemand(signal);
    if (signal.aborted) return;
    if (credentials.failure) {
      const waitMs = options.retryAfterFailureMs ?? 300_000;
      log.info("Cloud {cloud}: asking DPS again in {seconds} s", {
        cloud,
        seconds: Math.round(waitMs / 1000),
      });
      await delay(waitMs, signal);
      if (!signal.aborted) credentials.retryAfterFailure();
      continue;
    }
    log.info("Cloud {cloud}: registering {id} with DPS {host} (scope {scope})", {
      cloud,
      id: registrationId,
      host: options.dpsHost,
      scope: options.idScope,
    });
    let result: DpsResult;
    try {
      result = await register(options, signal);
      unreachable = 0;
    } catch (error) {
      if (signal.aborted) return;
      unreachable += 1;
      const waitMs = backoffDelay(UNREACHABLE_BACKOFF, unreachable - 1, 0);
      log.warn("Cloud {cloud}: cannot reach DPS {host}: {error}; retrying in {ms} ms", {
        cloud,
        host: options.dpsHost,
        error: (error as Error).message,
        ms: waitMs,
      });
      await delay(waitMs, signal);
      continue;
    }
    if (signal.aborted) return;
    if (result.kind === "failed") {
      const error = new Error(
        `Cloud "${cloud}": DPS registration of "${registrationId}" failed: ${result.reason}`,
      );
      log.error("{message}", { message: error.message });
      credentials.failed(error);
      continue;
    }
    log.info("Cloud {cloud}: DPS assigned {id} to hub {hub}", {
      cloud,
      id: result.deviceId,
      hub: result.hub,
    });
    await credentials.provisioned(result);
  }
}

/** One registration on one DPS session: resolves with the statechart's result. */
export async function register(options: DpsOptions, signal: AbortSignal): Promise<DpsResult> {
  const { idScope, registrationId, credentials } = options;
  const key = credentials.options.deviceKey;
  const host = options.dpsHost.includes(":") ? options.dpsHost : `${options.dpsHost}:8883`;
  const connect: MqttConnectOptions = {
    url: `mqtts://${host}`,
    clientId: registrationId,
    username: dpsUsername(idScope, registrationId),
    clean: true,
    ...options.tls,
  };
  if (key !== undefined) {
    connect.password = await sasToken({
      resourceUri: dpsResourceUri(idScope, registrationId),
      key,
      expirySec: Math.floor(credentials.now() / 1000) + 3600,
      policy: "registration",
    });
  }
  let rid = 0;
  let lost!: (error: Error) => void;
  const closed = new Promise<never>((_, reject) => (lost = reject));
  closed.catch(() => {});
  const machine = dpsRegistrationMachine.provide({
    actions: {
      sendRegister: () => {
        rid += 1;
        publish(
          dpsRegisterTopic(String(rid)),
          dpsRegistrationBody(registrationId, options.modelId),
        );
      },
      sendPoll: (_, { operationId }) => {
        rid += 1;
        publish(dpsPollTopic(String(rid), operationId), "");
      },
    },
  });
  const actor = createActor(machine, { input: options.limits ?? {} });
  let open: OpenSession;
  try {
    open = await connectSession(connect, {
      onMessage: (message) => {
        try {
          const response = parseResponseTopic(message.topic);
          if (!response || response.service !== "dps" || response.rid !== String(rid)) return;
          const outcome = parseDpsReply(
            response.status,
            new TextDecoder().decode(message.payload),
            response.retryAfterSec,
          );
          log.debug("Cloud {cloud}: DPS answered {status}: {kind}", {
            cloud: options.cloud,
            status: response.status,
            kind: outcome.kind,
          });
          actor.send({ type: "dps.reply", outcome });
        } catch (error) {
          log.warn("Cloud {cloud}: unreadable DPS reply on {topic}: {error}", {
            cloud: options.cloud,
            topic: message.topic,
            error: (error as Error).message,
          });
        }
      },
      onClose: (error) => lost(error ?? new Error("the DPS session closed")),
      signal,
    });
  } catch (error) {
    // Refused credentials will not get better by retrying; anything else (DPS unreachable) may.
    const code = (error as MqttConnectError).returnCode;
    if (code === 4 || code === 5) {
      return { kind: "failed", reason: `DPS refused the device: ${(error as Error).message}` };
    }
    throw error;
  }
  function publish(topic: string, payload: string): void {
    open.session.publish(topic, payload, { qos: 1, retain: false }).catch((error) =>
      log.warn("Cloud {cloud}: a DPS request failed: {error}", {
        cloud: options.cloud,
        error: (error as Error).message,
      })
    );
  }
  const stop = () => actor.send({ type: "outpost.stop" });
  signal.addEventListener("abort", stop, { once: true });
  try {
    await open.session.subscribe([{ filter: AZURE_TOPICS.dpsResponses, qos: 1 }]);
    const done = new Promise<DpsResult>((resolve) => {
      actor.subscribe((snapshot) => {
        if (snapshot.status === "done") resolve(snapshot.output);
      });
    });
    actor.start();
    return await Promise.race([done, closed]);
  } catch (error) {
    return { kind: "failed", reason: `the DPS session failed: ${(error as Error).message}` };
  } finally {
    signal.removeEventListener("abort", stop);
    actor.stop();
    await open.end();
  }
}
