/**
 * The device's Cumulocity credentials, and how a device without any gets
 * them: bootstrap registration (PROTOCOLS.md §1).
 *
 * ```
 * cloud:<name>
 * ├── connection     asks C8yCredentials.login() before every attempt
 * └── provisioning   ← registration: s/ucr until 70,<tenant>,<user>,<password>
 * ```
 *
 * Owns: the credentials in use (configured, or stored in
 * `<stateDir>/c8y-<cloud>.credentials.json`, mode 0600) and, while the
 * device has none, one bootstrap MQTT session (client id = serial, the
 * bootstrap user) that publishes an empty message to `s/ucr` every
 * `bootstrap.intervalSec` until the platform answers `70,…` on `s/dcr`.
 * Receives: `outpost.stop`. Sends: the new credentials to the file and to
 * the waiting connection, which then dials as `<tenant>/<user>`. Supervised
 * by: its cloud's `rest_for_one` supervisor, right after the connection, so
 * that it stops first and a connection waiting for credentials is released.
 */
import { delay } from "../runtime/clock.ts";
import { getLogger } from "../runtime/logging.ts";
import type { ActorLogic } from "../runtime/spec.ts";
import { taskActor } from "../runtime/task_actor.ts";
import type { MqttBroker } from "../mqtt/connection.ts";
import { readSecretFile, writeSecretFile } from "../store/secret_file.ts";
import {
  connectSession,
  type MqttConnectOptions,
  type OpenSession,
} from "../../protocols/mqtt_session.ts";
import { decodeMessage } from "../../protocols/smartrest.ts";
import { C8Y_TOPICS, parseBootstrapCredentials } from "../../protocols/c8y_messages.ts";

/** A device user of one tenant; the MQTT user name is `<tenant>/<user>`. */
export interface DeviceCredentials {
  tenant: string;
  user: string;
  password: string;
}

const log = getLogger("c8y");

/**
 * The credentials a Cumulocity cloud logs in with: the configured ones, the
 * stored result of an earlier registration, or (bootstrap) the ones a
 * running registration will deliver.
 */
export class C8yCredentials {
  #current: DeviceCredentials | undefined;
  // "waiting": no registration ran yet; "stopped": it was stopped, so nobody will deliver.
  #registration: "waiting" | "running" | "stopped" = "waiting";
  #waiters = new Set<{ resolve: () => void; reject: (error: Error) => void }>();

  /** `configured` credentials, or none yet; `cloud` names the cloud in messages. */
  constructor(private readonly cloud: string, configured?: DeviceCredentials) {
    this.#current = configured;
  }

  /** Reads credentials stored by an earlier registration; a missing or unreadable file is none. */
  static async stored(cloud: string, file: string): Promise<C8yCredentials> {
    const credentials = new C8yCredentials(cloud);
    const text = await readSecretFile(file);
    if (text === undefined) return credentials;
    try {
      const value = JSON.parse(text);
      if (["tenant", "user", "password"].every((k) => typeof value?.[k] === "string" && value[k])) {
        credentials.#current = { tenant: value.tenant, user: value.user, password: value.password };
        return credentials;
      }
    } catch {
      // Reported below, as for a file with the wrong fields.
    }
    log.warn(
      "Cloud {cloud}: ignoring {file}: it does not hold stored credentials; registering again",
      {
        cloud,
        file,
      },
    );
    return credentials;
  }

  /** The credentials in use, once known. */
  get current(): DeviceCredentials | undefined {
    return this.#current;
  }

  /** `Authorization` header value for the platform's HTTP and WebSocket APIs. */
  basicAuthorization(): string | undefined {
    const c = this.#current;
    if (!c) return undefined;
    const bytes = new TextEncoder().encode(`${c.tenant}/${c.user}:${c.password}`);
    return `Basic ${btoa(String.fromCharCode(...bytes))}`;
  }

  /**
   * The connection's `credentials` hook: the MQTT login now, or once a
   * registration delivers one. Rejects when no registration is running to
   * deliver one, so that a connection being stopped is not held.
   */
  async login(): Promise<{ username: string; password: string }> {
    if (!this.#current) {
      if (this.#registration === "stopped") {
        throw new Error(`cloud "${this.cloud}" has no credentials and its registration stopped`);
      }
      await new Promise<void>((resolve, reject) => this.#waiters.add({ resolve, reject }));
    }
    const c = this.#current!;
    return { username: `${c.tenant}/${c.user}`, password: c.password };
  }

  /** For the registration: it runs, so waiting for it makes sense. */
  registrationStarted(): void {
    this.#registration = "running";
  }

  /** For the registration: it stopped; whoever waits for credentials is released. */
  registrationStopped(): void {
    this.#registration = "stopped";
    const error = new Error(`cloud "${this.cloud}": the registration stopped before it succeeded`);
    for (const waiter of this.#waiters) waiter.reject(error);
    this.#waiters.clear();
  }

  /** For the registration: the platform's answer, already persisted. */
  registered(credentials: DeviceCredentials): void {
    this.#current = credentials;
    for (const waiter of this.#waiters) waiter.resolve();
    this.#waiters.clear();
  }
}

/** What a registration needs. */
export interface BootstrapOptions {
  cloud: string;
  credentials: C8yCredentials;
  /** Where the credentials are persisted (0600). */
  file: string;
  /** The device's serial: the bootstrap session's client id. */
  serial: string;
  /** The broker and its TLS settings; client id and login are set here. */
  connect: Omit<MqttConnectOptions, "clientId" | "username" | "password" | "will">;
  /** Brokers tried in turn, one per session (fail-over); each replaces connect's. Default: connect's. */
  brokers?: readonly MqttBroker[];
  /** Bootstrap user name (`management/devicebootstrap`) and password. */
  user: string;
  password: string;
  /** Between two `s/ucr` requests, and before reconnecting after a failed session. */
  intervalMs: number;
}

/**
 * The `provisioning` child: registers the device unless it has credentials,
 * then stays until `outpost.stop` (it is permanent). Only a failure to
 * persist the credentials is an error exit.
 *
 * ```
 * running ──registered──► done
 *    └──outpost.stop──► stopping (abort, close the bootstrap session) ──► stopped (final)
 * ```
 */
export function bootstrapRegistration(options: BootstrapOptions): ActorLogic {
  const { credentials } = options;
  return taskActor("c8yBootstrap", (signal) => {
    credentials.registrationStarted();
    return register(options, signal);
  }, { untilStop: true, onStop: () => credentials.registrationStopped() });
}

/** Registers until it succeeds or `signal` aborts; only a failure to persist rejects. */
async function register(options: BootstrapOptions, signal: AbortSignal): Promise<void> {
  const { cloud, credentials, serial } = options;
  if (credentials.current) return;
  log.info("Cloud {cloud}: registering device {serial} with the bootstrap user", { cloud, serial });
  const brokers = options.brokers?.length ? options.brokers : [options.connect];
  for (let session = 0; !signal.aborted; session++) {
    const { url, alpnProtocols, servername } = brokers[session % brokers.length];
    const connect = { ...options.connect, url, alpnProtocols, servername };
    let received: DeviceCredentials | undefined;
    try {
      received = await round({ ...options, connect }, signal);
    } catch (error) {
      if (signal.aborted) return;
      log.warn("Cloud {cloud}: bootstrap registration of {serial} failed, retrying: {error}", {
        cloud,
        serial,
        error: (error as Error).message,
      });
    }
    if (received) {
      await writeSecretFile(options.file, JSON.stringify(received) + "\n");
      log.info(
        "Cloud {cloud}: device {serial} registered as {tenant}/{user}; credentials in {file}",
        {
          cloud,
          serial,
          tenant: received.tenant,
          user: received.user,
          file: options.file,
        },
      );
      credentials.registered(received);
      return;
    }
    await delay(options.intervalMs, signal);
  }
}

/**
 * One bootstrap session: connect, subscribe `s/dcr`, ask on `s/ucr` every
 * interval until `70,…` arrives (resolves with it), the session closes
 * (rejects) or `signal` aborts (resolves with nothing).
 */
async function round(
  options: BootstrapOptions,
  signal: AbortSignal,
): Promise<DeviceCredentials | undefined> {
  let answer!: (credentials: DeviceCredentials) => void;
  let lost!: (error: Error) => void;
  const reply = new Promise<DeviceCredentials>((resolve, reject) => {
    answer = resolve;
    lost = reject;
  });
  const open: OpenSession = await connectSession({
    ...options.connect,
    clientId: options.serial,
    username: options.user,
    password: options.password,
    clean: true,
  }, {
    onMessage: (message) => {
      if (message.topic !== C8Y_TOPICS.bootstrapDown) return;
      try {
        for (const fields of decodeMessage(message.payload)) {
          if (fields[0] !== "70") continue;
          const c = parseBootstrapCredentials(fields);
          answer({ tenant: c.tenant, user: c.username, password: c.password });
        }
      } catch (error) {
        log.warn("Cloud {cloud}: unreadable bootstrap reply: {error}", {
          cloud: options.cloud,
          error: (error as Error).message,
        });
      }
    },
    onClose: (error) => lost(error ?? new Error("the bootstrap session closed")),
    signal,
  });
  const aborted = new Promise<undefined>((resolve) => {
    if (signal.aborted) resolve(undefined);
    signal.addEventListener("abort", () => resolve(undefined), { once: true });
  });
  // Ends the wait between two requests when the round ends for another reason.
  const ended = new AbortController();
  const waiting = AbortSignal.any([signal, ended.signal]);
  try {
    await open.session.subscribe([{ filter: C8Y_TOPICS.bootstrapDown, qos: 1 }]);
    while (!signal.aborted) {
      await open.session.publish(C8Y_TOPICS.bootstrapUp, "", { qos: 1, retain: false });
      const tick = delay(options.intervalMs, waiting);
      const outcome = await Promise.race([reply, aborted, tick.then(() => "tick" as const)]);
      if (outcome !== "tick") return outcome;
    }
    return undefined;
  } finally {
    ended.abort();
    reply.catch(() => {});
    await open.end();
  }
}
