/**
 * AWS IoT alone, for an app that embeds Outpost: what the seed's Python
 * client offers (connect with a certificate store, provision on first run,
 * publish telemetry, sync the shadow), with Outpost's supervision and
 * durable outbox underneath. It is an agent with one `aws` cloud, one layer
 * above the agent: the AWS folder never imports the agent.
 */
import { type Agent, createAgent } from "../agent/agent.ts";
import { resolveConfig } from "../agent/config.ts";
import type { AwsEnvelope } from "../aws/config.ts";
import type { AwsParts } from "../aws/mod.ts";
import type { DeltaHandler, ShadowReplica } from "../aws/shadow_replica.ts";
import type { GateDrops } from "../aws/telemetry.ts";
import type { TelemetrySettings } from "../../protocols/aws_ingest.ts";

/** How an {@link AwsDevice} reaches AWS IoT and who it is. */
export interface AwsDeviceOptions {
  /** `mqtts://<prefix>-ats.iot.<region>.amazonaws.com:8883` (or `:443`, with ALPN). */
  url: string;
  /**
   * More endpoints of the same account and region to fail over to after
   * `url`, in order (docs/failover.md); each gets its own ALPN.
   */
  fallbackUrls?: string[];
  /** The seed-compatible certificate store folder. */
  certStore: string;
  /** Where the outbox and the shadows' last state live. Default `.outpost`. */
  stateDir?: string;
  /** Used before provisioning names the thing, and as the claim's client id. */
  deviceId?: string;
  /** PEM file of the CA (`AmazonRootCA1.pem`); default: the store's, else the system's. */
  caFile?: string;
  /** Basic Ingest rule for telemetry; none: telemetry is not sent. */
  ingestRule?: string;
  /** Envelope header fields. */
  envelope?: Partial<AwsEnvelope>;
  /** Shadows to sync. Default `["classic"]`. */
  shadows?: string[];
  /** Fleet provisioning when the store is empty. */
  provisioning?: {
    claimCertFile: string;
    claimKeyFile: string;
    template: string;
    parameters?: Record<string, string>;
  };
}

/**
 * A device on AWS IoT Core.
 *
 * @example
 * ```ts
 * const device = new AwsDevice({
 *   url: "mqtts://abc123-ats.iot.eu-west-1.amazonaws.com:8883",
 *   certStore: "./certificate_store",
 *   ingestRule: "iot_data_platform_telemetry_stg",
 * });
 * device.onDelta("fan", (speed) => setFan(speed as number));
 * await device.connect();
 * await device.publish("reference-client-test", { temperature: 21.5 });
 * await device.disconnect();
 * ```
 */
export class AwsDevice {
  readonly #agent: Agent;
  readonly #handlers: { key: string; handler: DeltaHandler; shadow: string }[] = [];

  /** A device that connects with `options` on {@link AwsDevice.connect}. */
  constructor(options: AwsDeviceOptions) {
    const cloud: Record<string, unknown> = {
      type: "aws",
      ...(options.fallbackUrls?.length
        ? { urls: [options.url, ...options.fallbackUrls] }
        : { url: options.url }),
      certStore: options.certStore,
      shadows: options.shadows ?? ["classic"],
      telemetryShadow: (options.shadows ?? ["classic"])[0],
      envelope: options.envelope ?? {},
    };
    if (options.caFile) cloud.caFile = options.caFile;
    if (options.ingestRule) cloud.ingestRule = options.ingestRule;
    if (options.provisioning) cloud.provisioning = { enabled: true, ...options.provisioning };
    const config = resolveConfig({
      agent: {
        stateDir: options.stateDir ?? ".outpost",
        ...(options.deviceId && { deviceId: options.deviceId }),
      },
      telemetry: { system: { enabled: false } },
      clouds: { aws: cloud },
    }, { source: "AwsDevice options" });
    this.#agent = createAgent(config, {
      control: false,
      // Handlers registered before connect() are in place before the first delta.
      onCloudsBuilt: (clouds) => {
        const aws = clouds.find((c) => c.name === "aws")?.parts as AwsParts | undefined;
        for (const { key, handler, shadow } of this.#handlers) {
          aws?.shadows.get(shadow)?.handle(key, handler);
        }
      },
    });
  }

  /** Starts the device and resolves once it is connected (after provisioning, if it runs). */
  async connect(): Promise<void> {
    await this.#agent.start();
    await Promise.race([
      this.#agent.connected(),
      this.#aws().identity.ready().then(() => this.#agent.connected()),
    ]);
  }

  /** Stops everything; records not yet sent stay in the outbox for the next run. */
  async disconnect(): Promise<void> {
    await this.#agent.stop();
  }

  /** True while the MQTT connection is up. */
  isConnected(): boolean {
    return this.#agent.cloud("aws")?.link.connected ?? false;
  }

  /** Records stored and not yet acknowledged by AWS. */
  pending(): number {
    return this.#agent.status().clouds.find((c) => c.name === "aws")?.queued ?? 0;
  }

  /** The thing name, once provisioned or read from the store. */
  get thingName(): string | undefined {
    return this.#aws().identity.thingName;
  }

  /**
   * Stores telemetry for Basic Ingest (envelope `eventType` = `eventType`);
   * resolves once it is on disk. It is sent when connected, unless the
   * shadow disables publishing or blacklists the type.
   */
  publish(eventType: string, payload: Record<string, unknown>): Promise<number> {
    return this.#agent.publish(eventType, payload);
  }

  /** A synced shadow ("classic" by default) while connected: read it, report to it. */
  shadow(name = "classic"): ShadowReplica {
    const replica = this.#aws().shadows.get(name);
    if (!replica) throw new Error(`Shadow "${name}" is not synced; add it to the shadows option`);
    return replica;
  }

  /**
   * Applies desired `key` of shadow `shadow` with `handler` (before or after
   * `connect()`); its return value is reported, a throw reports the current value.
   */
  onDelta(key: string, handler: DeltaHandler, shadow = "classic"): void {
    this.#handlers.push({ key, handler, shadow });
    this.#agent.cloud<AwsParts>("aws")?.parts.shadows.get(shadow)?.handle(key, handler);
  }

  /** What the shadow currently lets through. */
  get telemetrySettings(): TelemetrySettings {
    return this.#aws().gate.settings;
  }

  /** Records the shadow kept from AWS so far. */
  get drops(): GateDrops {
    return this.#aws().gate.drops;
  }

  #aws(): AwsParts {
    const cloud = this.#agent.cloud<AwsParts>("aws");
    if (!cloud) throw new Error("The device is not connected: call connect() first");
    return cloud.parts;
  }
}
