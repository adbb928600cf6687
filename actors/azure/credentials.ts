/**
 * The credentials an Azure cloud connects to its IoT Hub with, and where
 * they are cached (PROTOCOLS.md §3, the iotc seed's "cache credentials").
 *
 * Owns: the hub and device id in use (configured, cached, or delivered by
 * DPS), the device key (given, or derived from a group key), the expiry of
 * the last SAS token it signed, and the failed hub connects since the last
 * success: refusals, and connects the hub did not answer (with their times).
 * Receives: `login()` from the connection actor before every attempt, with
 * the previous attempt's error; `provisioned()` from the DPS actor; link
 * status. Sends: a demand for DPS when there are no credentials, when the
 * hub kept refusing them, or when it kept not answering (gone from DNS,
 * deleted). Not an actor: the `provisioning` and `connection` children of
 * `cloud:<name>` share it.
 */
import { UNREACHABLE_DEFAULTS } from "./config.ts";
import { getLogger } from "../runtime/logging.ts";
import { readSecretFile, writeSecretFile } from "../store/secret_file.ts";
import { hubResourceUri, sasToken } from "../../protocols/azure_sas.ts";
import { hubUsername } from "../../protocols/azure_topics.ts";
import { MqttConnectError } from "../../protocols/mqtt_errors.ts";

/** What the iotc seed caches: the assigned hub, the device id and its key (none with X.509). */
export interface CachedCredentials {
  /** The assigned hub's host name. */
  hubName: string;
  /** The device id the hub knows. */
  deviceId: string;
  /** The device's SAS key; absent for an X.509 device. */
  deviceKey?: string;
}

/** Pluggable credential storage, as the seed's `Storage` (`retrieve` / `persist`). */
export interface CredentialStorage {
  /** The cached credentials, if any. */
  retrieve(): Promise<CachedCredentials | undefined>;
  /** Replaces the cached credentials. */
  persist(credentials: CachedCredentials): Promise<void>;
}

/**
 * A JSON file of mode 0600, written atomically.
 *
 * @example
 * ```ts
 * const storage = fileCredentialStorage("/var/lib/outpost/azure-central.credentials.json");
 * ```
 */
export function fileCredentialStorage(path: string): CredentialStorage {
  return {
    async retrieve() {
      const text = await readSecretFile(path);
      if (text === undefined) return undefined;
      try {
        const value = JSON.parse(text);
        if (typeof value?.hubName === "string" && typeof value?.deviceId === "string") {
          return {
            hubName: value.hubName,
            deviceId: value.deviceId,
            ...(typeof value.deviceKey === "string" && { deviceKey: value.deviceKey }),
          };
        }
      } catch {
        // Reported below, as for a file with the wrong fields.
      }
      log.warn("Ignoring {path}: it does not hold cached Azure credentials", { path });
      return undefined;
    },
    persist: (credentials) => writeSecretFile(path, JSON.stringify(credentials) + "\n"),
  };
}

/**
 * Keeps credentials in memory only (a process restart runs DPS again).
 *
 * @example
 * ```ts
 * const device = new AzureDevice("dev-1", scopeId, "deviceKey", key, {
 *   storage: memoryCredentialStorage(),
 * });
 * ```
 */
export function memoryCredentialStorage(): CredentialStorage {
  let kept: CachedCredentials | undefined;
  return {
    retrieve: () => Promise.resolve(kept && { ...kept }),
    persist: (credentials) => {
      kept = { ...credentials };
      return Promise.resolve();
    },
  };
}

/** Options of {@link AzureCredentials}. */
export interface AzureCredentialsOptions {
  /** The configured cloud name, in log lines. */
  cloud: string;
  /** The registration id (the configured device id). */
  deviceId: string;
  /** The device key (derived from a group key already); absent with X.509. */
  deviceKey?: string;
  /** The Plug and Play model id, for the user name. */
  modelId?: string;
  /** Lifetime of each SAS token. */
  tokenTtlSec: number;
  /** A configured hub: DPS is skipped unless it refuses the device. */
  hub?: string;
  /** Whether DPS can be asked (an id scope is configured). */
  canProvision: boolean;
  /** Cache of DPS results. */
  storage: CredentialStorage;
  /** Failed hub connects with cached credentials before DPS runs again. Default 3. */
  refusalsBeforeProvisioning?: number;
  /**
   * Connects the hub did not answer (DNS, TCP, TLS, no CONNACK) within
   * `unreachableWindowMs`, since the last success, before DPS runs again.
   * Default {@link UNREACHABLE_DEFAULTS}.connects (10).
   */
  unreachableConnects?: number;
  /** The window of `unreachableConnects`. Default {@link UNREACHABLE_DEFAULTS}.windowMs (15 min). */
  unreachableWindowMs?: number;
  /** DPS runs without a successful hub connect before the cloud fails (the seed's 5). Default 5. */
  maxProvisionings?: number;
  /** Wall-clock time in ms since the epoch (SAS expiries); a test passes its own. */
  now?: () => number;
}

const log = getLogger("azure");

// CONNACK return codes (MQTT 3.1.1) and reason codes (MQTT 5) that refuse the login.
const REFUSALS = new Set([4, 5, 134, 135]);

function isRefusal(error: Error | undefined): boolean {
  const code = (error as { returnCode?: unknown } | undefined)?.returnCode;
  return typeof code === "number" && REFUSALS.has(code);
}

// A connect that got no accepted CONNACK for another reason than a refusal:
// the hub did not answer (or answered "unavailable"). A failure to get
// credentials, or to resubscribe after a CONNACK, is not one.
function isUnanswered(error: Error | undefined): boolean {
  return error instanceof MqttConnectError && !isRefusal(error);
}

/** The times in `times` that lie within `windowMs` before `now`, and `now`. */
function withinWindow(times: readonly number[], now: number, windowMs: number): number[] {
  return [...times.filter((t) => now - t < windowMs), now];
}

/** The hub credentials of one Azure cloud. */
export class AzureCredentials {
  #current: CachedCredentials | undefined;
  #source: "configured" | "cached" | "provisioned" | undefined;
  #refusals = 0;
  #unanswered: number[] = [];
  #provisionings = 0;
  #demand = false;
  #demandWaiters = new Set<() => void>();
  #loginWaiters = new Set<{ resolve: () => void; reject: (error: Error) => void }>();
  #failure: Error | undefined;
  #failureListeners = new Set<(error: Error) => void>();
  #tokenExpiryMs: number | undefined;
  /** The wall clock used for SAS expiries (`options.now`, default `Date.now`). */
  readonly now: () => number;

  /** Credentials from `options`; call {@link load} before the first login. */
  constructor(readonly options: AzureCredentialsOptions) {
    this.now = options.now ?? Date.now;
    if (options.hub) {
      this.#current = {
        hubName: options.hub,
        deviceId: options.deviceId,
        ...(options.deviceKey && { deviceKey: options.deviceKey }),
      };
      this.#source = "configured";
    }
  }

  /** Reads the cache (unless a hub is configured); without credentials, DPS is demanded. */
  async load(): Promise<void> {
    if (!this.#current) {
      const cached = await this.options.storage.retrieve();
      // A cache of another device or key (the configuration changed) would only be refused.
      const matches = cached?.deviceId === this.options.deviceId &&
        cached.deviceKey === this.options.deviceKey;
      if (cached && !matches) {
        log.info(
          "Cloud {cloud}: the cached credentials are for another device or key; ignoring them",
          {
            cloud: this.options.cloud,
          },
        );
      }
      if (cached && matches) {
        this.#current = cached;
        this.#source = "cached";
        log.info("Cloud {cloud}: using cached credentials for hub {hub}; DPS skipped", {
          cloud: this.options.cloud,
          hub: cached.hubName,
        });
      }
    }
    if (!this.#current) this.#requestProvisioning("no credentials yet");
  }

  /** The credentials in use, once known. */
  get current(): CachedCredentials | undefined {
    return this.#current;
  }

  /** Where the current credentials came from. */
  get source(): "configured" | "cached" | "provisioned" | undefined {
    return this.#source;
  }

  /** Expiry (ms since the epoch) of the last SAS token signed, if any. */
  get tokenExpiryMs(): number | undefined {
    return this.#tokenExpiryMs;
  }

  /** Why the cloud cannot connect, once DPS failed for good. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /** Calls `listener` when DPS fails for good; returns a function to stop listening. */
  onFailure(listener: (error: Error) => void): () => void {
    this.#failureListeners.add(listener);
    return () => void this.#failureListeners.delete(listener);
  }

  /**
   * The connection's `credentials` hook: the hub URL, user name and a fresh
   * SAS token (no password with X.509). Waits while DPS runs.
   */
  async login(lastError?: Error): Promise<{ url: string; username: string; password?: string }> {
    if (this.#failure) throw this.#failure;
    this.#count(lastError);
    const reason = this.#reasonToProvision();
    if (reason) this.#requestProvisioning(reason);
    while (!this.#current || this.#demand) {
      if (this.#failure) throw this.#failure;
      await new Promise<void>((resolve, reject) => this.#loginWaiters.add({ resolve, reject }));
    }
    const { hubName, deviceId, deviceKey } = this.#current;
    const username = hubUsername(hubName, deviceId, this.options.modelId);
    const url = `mqtts://${hubName.includes(":") ? hubName : `${hubName}:8883`}`;
    if (deviceKey === undefined) return { url, username };
    const expirySec = Math.floor(this.now() / 1000) + this.options.tokenTtlSec;
    const password = await sasToken({
      resourceUri: hubResourceUri(hubName, deviceId),
      key: deviceKey,
      expirySec,
    });
    this.#tokenExpiryMs = expirySec * 1000;
    return { url, username, password };
  }

  /** For the link's status: a connection is up, so the credentials work. */
  connected(): void {
    this.#refusals = 0;
    this.#unanswered = [];
    this.#provisionings = 0;
  }

  // Refusals speak about the credentials; unanswered connects about the hub
  // (a device whose own network is down also lands here, and DPS then waits
  // for the network like the hub did).
  #count(lastError: Error | undefined): void {
    if (isRefusal(lastError)) this.#refusals += 1;
    else if (isUnanswered(lastError)) {
      const windowMs = this.options.unreachableWindowMs ?? UNREACHABLE_DEFAULTS.windowMs;
      this.#unanswered = withinWindow(this.#unanswered, this.now(), windowMs);
    }
  }

  #reasonToProvision(): string | undefined {
    if (this.#refusals >= (this.options.refusalsBeforeProvisioning ?? 3)) {
      return `the hub refused the ${this.#source} credentials ${this.#refusals} times in a row`;
    }
    const connects = this.options.unreachableConnects ?? UNREACHABLE_DEFAULTS.connects;
    if (this.#unanswered.length >= connects) {
      const windowMs = this.options.unreachableWindowMs ?? UNREACHABLE_DEFAULTS.windowMs;
      return `hub ${this.#current?.hubName} (${this.#source}) did not answer ${this.#unanswered.length} connects within ${
        Math.round(windowMs / 1000)
      } s`;
    }
    return undefined;
  }

  /** For the DPS actor: resolves once a registration is wanted. */
  waitForDemand(signal: AbortSignal): Promise<void> {
    if (this.#demand || this.#failure || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.#demandWaiters.delete(done);
        signal.removeEventListener("abort", done);
        resolve();
      };
      this.#demandWaiters.add(done);
      signal.addEventListener("abort", done, { once: true });
    });
  }

  /** For the DPS actor: the assignment, persisted, then handed to the waiting connection. */
  async provisioned(assigned: { hub: string; deviceId: string }): Promise<void> {
    const credentials: CachedCredentials = {
      hubName: assigned.hub,
      deviceId: assigned.deviceId,
      ...(this.options.deviceKey && { deviceKey: this.options.deviceKey }),
    };
    await this.options.storage.persist(credentials);
    this.#current = credentials;
    this.#source = "provisioned";
    this.#refusals = 0;
    this.#unanswered = [];
    this.#demand = false;
    for (const waiter of this.#loginWaiters) waiter.resolve();
    this.#loginWaiters.clear();
  }

  /** For the DPS actor: it failed for good; whoever waits for credentials gets `error`. */
  failed(error: Error): void {
    this.#failure = error;
    this.#demand = false;
    for (const waiter of this.#loginWaiters) waiter.reject(error);
    this.#loginWaiters.clear();
    for (const listener of this.#failureListeners) listener(error);
    for (const waiter of [...this.#demandWaiters]) waiter();
  }

  /** For the DPS actor, a while after a failure: forget it and register again. */
  retryAfterFailure(): void {
    const reason = this.#failure?.message ?? "retrying";
    this.#failure = undefined;
    this.#provisionings = 0;
    this.#refusals = 0;
    this.#unanswered = [];
    this.#requestProvisioning(`retrying after: ${reason}`);
  }

  /** For the DPS actor: it stopped; a connection waiting for credentials is released. */
  provisioningStopped(): void {
    const error = new Error(`cloud "${this.options.cloud}": DPS stopped before it assigned a hub`);
    for (const waiter of this.#loginWaiters) waiter.reject(error);
    this.#loginWaiters.clear();
  }

  #requestProvisioning(reason: string): void {
    if (this.#demand) return;
    if (!this.options.canProvision) {
      if (!this.#current) {
        this.failed(
          new Error(`cloud "${this.options.cloud}": ${reason} and no idScope to ask DPS`),
        );
      }
      return;
    }
    const max = this.options.maxProvisionings ?? 5;
    if (this.#provisionings >= max) {
      this.failed(
        new Error(
          `cloud "${this.options.cloud}": ${reason}, after ${max} DPS registrations without a hub connection`,
        ),
      );
      return;
    }
    this.#provisionings += 1;
    log.info("Cloud {cloud}: running DPS: {reason}", { cloud: this.options.cloud, reason });
    this.#demand = true;
    this.#refusals = 0;
    this.#unanswered = [];
    for (const waiter of [...this.#demandWaiters]) waiter();
  }
}
