/**
 * `AzureDevice`: the IoT Central device client's shape (the iotc seed) on
 * top of Outpost's actors. One device is a one-cloud actor system:
 *
 * ```
 * device                one_for_one
 * └── cloud:azure       rest_for_one (actors/azure/mod.ts): provisioning,
 *                       connection, token, twin, commands, drain
 * ```
 * Owns: that system, the SQLite outbox in `stateDir` (telemetry survives
 * restarts and outages), the app's callbacks. Receives: the app's calls.
 * Sends: telemetry to the outbox, reported properties through the twin.
 * Supervised by: the app that created it (`connect` / `disconnect`).
 */
import { cloudSupervisor, drainChild } from "../cloud/tree.ts";
import type { DatabaseSync } from "node:sqlite";
import { type ActorSystem, createSystem } from "../runtime/system.ts";
import { supervisor } from "../runtime/spec.ts";
import type { Clock } from "../runtime/clock.ts";
import type { ActorTreeNode } from "../runtime/node.ts";
import { openDatabase } from "../store/database.ts";
import { Outbox } from "../telemetry/outbox.ts";
import type { RetryBackoff } from "../../machines/mqtt_connection.ts";
import type { DpsMachineInput } from "../../machines/azure_dps.ts";
import { reportedPatch } from "../../protocols/azure_pnp.ts";
import { type CredentialStorage, fileCredentialStorage } from "../azure/credentials.ts";
import { azureMessage } from "../azure/messages.ts";
import type { AzureCommand, AzureCommandResponder } from "../azure/commands.ts";
import type { PropertyChange } from "../azure/twin.ts";
import { type AzureCloud, azureCloud } from "../azure/mod.ts";

/** How the device authenticates, as the seed's `IOTCConnectType`. */
export type AzureConnectType = "deviceKey" | "groupKey" | "x509";

/**
 * The seed's connect types by their seed names.
 *
 * @example
 * ```ts
 * new AzureDevice("dev-1", scopeId, IOTCConnectType.IOTC_CONNECT_SYMM_KEY, groupKey);
 * ```
 */
export const IOTCConnectType = {
  /** A group (enrollment) key; the device key is derived from it. */
  IOTC_CONNECT_SYMM_KEY: "groupKey",
  /** The device's own key. */
  IOTC_CONNECT_DEVICE_KEY: "deviceKey",
  /** A client certificate. */
  IOTC_CONNECT_X509_CERT: "x509",
} as const;

/** The seed's log levels. */
export type AzureLogLevel = "disabled" | "api_only" | "all";

/**
 * The seed's log level names.
 *
 * @example
 * ```ts
 * device.setLogLevel(IOTCLogLevel.IOTC_LOGGING_ALL);
 * ```
 */
export const IOTCLogLevel = {
  IOTC_LOGGING_DISABLED: "disabled",
  IOTC_LOGGING_API_ONLY: "api_only",
  IOTC_LOGGING_ALL: "all",
} as const;

/** A logger with the seed's shape. */
export interface AzureDeviceLogger {
  /** API-level messages (levels `api_only` and `all`). */
  info(message: string): void;
  /** Everything else (level `all`). */
  debug(message: string): void;
}

/** A certificate for X.509 devices (PEM text). */
export interface X509Key {
  /** The device certificate (chain), PEM. */
  cert: string;
  /** Its private key, PEM. */
  key: string;
}

/** Options of an {@link AzureDevice}. */
export interface AzureDeviceOptions {
  /**
   * Where the outbox (and, by default, the credential cache) lives; one
   * device per directory. Default `.outpost-azure/<deviceId>`.
   */
  stateDir?: string;
  /** Credential cache; default `<stateDir>/azure-<deviceId>.credentials.json` (0600). */
  storage?: CredentialStorage;
  /** DPS endpoint (`host` or `host:port`). */
  dpsHost?: string;
  /** A PEM CA to trust (tests, gateways). */
  ca?: string;
  /** Default `api_only`. */
  logLevel?: AzureLogLevel;
  /** Default: the console. */
  logger?: AzureDeviceLogger;
  /** SAS token lifetime. Default 3600 s. */
  tokenTtlSec?: number;
  /** Connection retry delays. */
  backoff?: Partial<RetryBackoff>;
  /** DPS retry limits. */
  dpsLimits?: DpsMachineInput;
  /** Wait before registering again after DPS refused the device. Default 300000 ms. */
  dpsRetryMs?: number;
  /** Hub refusals (CONNACK 4/5) since the last connect before DPS runs again. Default 3. */
  refusalsBeforeProvisioning?: number;
  /**
   * Connects the hub did not answer (DNS, TCP, TLS, no CONNACK) within
   * `unreachableWindowMs` before DPS runs again. Default 10.
   */
  unreachableConnects?: number;
  /** The window of `unreachableConnects`. Default 900000 ms (15 min). */
  unreachableWindowMs?: number;
  /** Timers of the token renewal (tests). */
  clock?: Clock;
  /** Wall-clock time for SAS expiries (tests). */
  now?: () => number;
}

/** A command as the app's callback gets it; `ack` answers it. */
export interface IoTCCommand extends AzureCommand {
  /**
   * Answers the command at once (a direct method's response, default status
   * 200; offline commands have none) and resolves once it is sent. The
   * first ack is the answer: what the callback does afterwards (a throw, a
   * second ack) is logged and changes nothing.
   */
  ack(payload?: unknown, status?: number): Promise<void>;
}

/**
 * Decides a writable property: return true to apply and acknowledge it
 * (200), false (or nothing) to leave it unacknowledged.
 */
export type PropertiesCallback = (
  name: string,
  value: unknown,
  component: string | undefined,
  change: PropertyChange,
) => boolean | void | Promise<boolean | void>;
/**
 * Handles a command; call `command.ack(...)` to answer (sent at once, the
 * callback may go on working). Returning without an ack answers 501
 * ("Unknown command"); throwing before it answers 500 with the message.
 */
export type CommandCallback = (command: IoTCCommand) => void | Promise<void>;

const CLOUD = "azure";

/**
 * An IoT Central / IoT Hub device with the iotc client's shape.
 *
 * @example
 * ```ts
 * const device = new AzureDevice("dev-1", "0ne00000000", "groupKey", groupKey);
 * device.on("properties", (name, value) => true);
 * device.on("command", (command) => command.ack({ done: true }));
 * await device.connect();
 * await device.sendTelemetry({ temperature: 21.5 });
 * await device.disconnect();
 * ```
 */
export class AzureDevice {
  #modelId: string | undefined;
  #contentType = "application/json";
  #contentEncoding = "utf-8";
  #logLevel: AzureLogLevel;
  #logger: AzureDeviceLogger;
  #properties: PropertiesCallback | undefined;
  #command: CommandCallback | undefined;
  #running:
    | { system: ActorSystem; cloud: AzureCloud; db: DatabaseSync; outbox: Outbox }
    | undefined;

  /**
   * `key` is the device key, the group key, or (X.509) `{cert, key}` as PEM.
   */
  constructor(
    readonly deviceId: string,
    readonly scopeId: string,
    readonly connectType: AzureConnectType,
    private readonly key: string | X509Key,
    private readonly options: AzureDeviceOptions = {},
  ) {
    if ((connectType === "x509") !== (typeof key === "object")) {
      throw new TypeError(
        `AzureDevice "${deviceId}": connect type ${connectType} needs ${
          connectType === "x509" ? "{cert, key}" : "a base64 key"
        }`,
      );
    }
    this.#logLevel = options.logLevel ?? "api_only";
    this.#logger = options.logger ?? {
      info: (message) => console.log(`[iotc] ${message}`),
      debug: (message) => console.debug(`[iotc:debug] ${message}`),
    };
  }

  /** Sets the Plug and Play model id (template id) sent to DPS; call before `connect`. */
  setModelId(modelId: string): void {
    this.#modelId = modelId;
  }

  /** `disabled`, `api_only` (default) or `all`. */
  setLogLevel(level: AzureLogLevel): void {
    this.#logLevel = level;
  }

  /** Content type of telemetry (`$.ct`); default `application/json`. */
  setContentType(contentType: string): void {
    this.#contentType = contentType;
  }

  /** Content encoding of telemetry (`$.ce`); default `utf-8`. */
  setContentEncoding(contentEncoding: string): void {
    this.#contentEncoding = contentEncoding;
  }

  /** Registers the writable-property or command callback (the seed's `on`). */
  on(event: "properties", callback: PropertiesCallback): void;
  /** Registers the command callback. */
  on(event: "command", callback: CommandCallback): void;
  on(event: "properties" | "command", callback: PropertiesCallback | CommandCallback): void {
    if (event === "properties") this.#properties = callback as PropertiesCallback;
    else if (event === "command") this.#command = callback as CommandCallback;
    else throw new TypeError(`Unknown event "${event}": use "properties" or "command"`);
  }

  /** The device's supervision tree (`device/cloud:azure/…`), for inspection. */
  tree(): ActorTreeNode | undefined {
    return this.#running?.system.tree();
  }

  /** Whether the hub connection is up. */
  isConnected(): boolean {
    return this.#running?.cloud.link.connected ?? false;
  }

  /**
   * Provisions (or uses cached credentials) and connects; resolves once the
   * hub connection is up, rejects when DPS fails for good. Reconnection is
   * automatic afterwards.
   */
  async connect(): Promise<void> {
    if (this.#running) {
      if (this.isConnected()) return;
      await this.disconnect();
    }
    const stateDir = this.options.stateDir ?? `.outpost-azure/${this.deviceId}`;
    await Deno.mkdir(stateDir, { recursive: true });
    const db = openDatabase(stateDir);
    const outbox = new Outbox(db);
    let system: ActorSystem | undefined = undefined;
    const key = this.key;
    try {
      const cloud = await azureCloud({
        name: CLOUD,
        deviceId: this.deviceId,
        idScope: this.scopeId,
        dpsHost: this.options.dpsHost,
        ...(typeof key === "object"
          ? { x509: key }
          : this.connectType === "groupKey"
          ? { groupKey: key }
          : { deviceKey: key }),
        ca: this.options.ca,
        modelId: this.#modelId,
        tokenTtlSec: this.options.tokenTtlSec,
        backoff: this.options.backoff,
        storage: this.options.storage ??
          fileCredentialStorage(`${stateDir}/azure-${this.deviceId}.credentials.json`),
        properties: () => this.#properties && ((change) => this.#onProperty(change)),
        commands: () => this.#command && ((command, respond) => this.#onCommand(command, respond)),
        reconnect: () =>
          system?.get(`device/cloud:${CLOUD}/connection`)?.send({ type: "reconnect" }),
        clock: this.options.clock,
        dpsLimits: this.options.dpsLimits,
        dpsRetryMs: this.options.dpsRetryMs,
        refusalsBeforeProvisioning: this.options.refusalsBeforeProvisioning,
        unreachableConnects: this.options.unreachableConnects,
        unreachableWindowMs: this.options.unreachableWindowMs,
        now: this.options.now,
      });
      const subtree = cloudSupervisor(CLOUD, [
        ...cloud.children,
        drainChild(outbox, cloud.link, CLOUD),
      ]);
      system = createSystem(supervisor("device", { intensity: 5, periodMs: 30_000 }, [subtree]));
      this.#running = { system, cloud, db, outbox };
      cloud.link.onStatus((up) => this.#api(up ? "Device connected" : "Device disconnected"));
      await system.start();
      await new Promise<void>((resolve, reject) => {
        const done = (error?: Error) => {
          stopStatus();
          stopFailure();
          error ? reject(error) : resolve();
        };
        const stopStatus = cloud.link.onStatus((up) => up && done());
        const stopFailure = cloud.credentials.onFailure((error) => done(error));
        if (cloud.link.connected) done();
        else if (cloud.credentials.failure) done(cloud.credentials.failure);
        system!.exited.then((exit) =>
          done(exit.reason === "gave_up" ? exit.error : new Error("the device was disconnected"))
        );
      });
    } catch (error) {
      this.#debug(`connect failed: ${(error as Error).message}`);
      if (this.#running) {
        await this.disconnect();
      } else {
        outbox.close();
        db.close();
      }
      throw error;
    }
  }

  /** Stops every actor and closes the outbox; telemetry not yet sent stays queued on disk. */
  async disconnect(): Promise<void> {
    const running = this.#running;
    if (!running) return;
    this.#running = undefined;
    await running.system.stop();
    running.outbox.close();
    running.db.close();
  }

  /**
   * Queues telemetry in the durable outbox; it is sent as soon as (and
   * whenever) the device is connected. `properties` are the message's own
   * properties; `$.sub` names a component.
   */
  async sendTelemetry(data: unknown, properties: Record<string, string> = {}): Promise<void> {
    const running = this.#live();
    const record = azureMessage(this.deviceId, data, {
      properties,
      contentType: this.#contentType,
      contentEncoding: this.#contentEncoding,
    });
    await running.outbox.append(CLOUD, [record]);
    this.#debug(`telemetry queued on ${record.topic}`);
  }

  /**
   * Resolves true once every queued message reached the hub, or false when
   * `timeoutMs` passed first (they stay queued).
   */
  async flush(timeoutMs = 10_000): Promise<boolean> {
    const running = this.#live();
    const deadline = Date.now() + timeoutMs;
    while (running.outbox.size(CLOUD) > 0) {
      if (Date.now() >= deadline || this.#running !== running) return false;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return true;
  }

  /** Reports properties (wrapped as a component when `component` is given). */
  async sendProperty(data: Record<string, unknown>, component?: string): Promise<void> {
    const running = this.#live();
    await running.cloud.twin.report(reportedPatch(data, component));
    this.#api(`Properties sent: ${Object.keys(data).join(", ")}`);
  }

  #live() {
    if (!this.#running) throw new Error(`AzureDevice "${this.deviceId}" is not connected`);
    return this.#running;
  }

  async #onProperty(change: PropertyChange): Promise<boolean> {
    this.#api(
      `Received property ${change.component ? `${change.component}.` : ""}${change.name}`,
    );
    return (await this.#properties?.(change.name, change.value, change.component, change)) ===
      true;
  }

  async #onCommand(command: AzureCommand, respond: AzureCommandResponder) {
    this.#api(`Received command ${command.name}`);
    const callback = this.#command;
    if (!callback) return undefined;
    // `ack` answers at once, as the seed's does: the cloud does not wait for the callback.
    await callback({ ...command, ack: (payload, status = 200) => respond({ status, payload }) });
    // Acknowledged, or (no ack) a command the callback does not know: 501.
    return undefined;
  }

  #api(message: string): void {
    if (this.#logLevel !== "disabled") this.#logger.info(message);
  }

  #debug(message: string): void {
    if (this.#logLevel === "all") this.#logger.debug(message);
  }
}
