/**
 * The `twin` child of an Azure cloud: the device twin with IoT Central's
 * Plug and Play conventions (PROTOCOLS.md §3).
 *
 * Owns: the requests in flight (by `$rid`) and the last desired `$version`
 * seen. Receives: `$iothub/twin/res/…` answers, desired patches on
 * `$iothub/twin/PATCH/properties/desired/…`, link status. Sends: a twin
 * `GET` on every connect, then acknowledges every desired property that
 * has no ack or an older `av` (boot sync); each desired patch goes property
 * by property to the property handler and its answer goes back as a
 * reported ack (`value`, `ac`, `av`, `ad`; wrapped with `"__t":"c"` inside a
 * component). A patch whose `$version` is not newer than the last twin or
 * patch seen is skipped. Unreadable JSON is logged and ignored. Supervised by:
 * `cloud:<name>` (rest_for_one), after the connection.
 */
import { fromCallback } from "xstate";
import { holdSubscriptions, type MqttLink } from "../mqtt/link.ts";
import { getLogger } from "../runtime/logging.ts";
import type { ActorLogic } from "../runtime/spec.ts";
import {
  AZURE_TOPICS,
  parseDesiredTopic,
  parseResponseTopic,
  twinGetTopic,
  twinReportTopic,
} from "../../protocols/azure_topics.ts";
import {
  desiredProperties,
  type DesiredProperty,
  pendingDesired,
  writableAckPatch,
} from "../../protocols/azure_pnp.ts";
import { isPlainObject } from "../../protocols/describe_value.ts";

/** A desired property handed to the app, with the `$version` it came with. */
export interface PropertyChange extends DesiredProperty {
  /** The desired document's `$version` (the ack's `av`). */
  version: number;
}

/** How the app answered: true = applied (200), false = not acknowledged, or an explicit ack. */
export type PropertyDecision =
  | boolean
  | void
  | { ac: number; ad?: string; value?: unknown };

/** Decides about one desired property. */
export type PropertyHandler = (
  change: PropertyChange,
) => PropertyDecision | Promise<PropertyDecision>;

/** The twin document. */
export interface TwinDocument {
  /** The desired properties, `$version` included. */
  desired: Record<string, unknown>;
  /** The reported properties, `$version` included. */
  reported: Record<string, unknown>;
}

interface Pending {
  resolve: (response: { status: number; version?: number; body: string }) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

const log = getLogger("azure");

/** The twin of one Azure device, over its cloud's link. */
export class AzureTwin {
  #rid = 0;
  #pending = new Map<string, Pending>();
  #release: (() => void) | undefined;
  #stopStatus: (() => void) | undefined;
  #running = false;
  #lastDesired = -1;

  /** A twin for `link`; `handler` decides desired properties. */
  constructor(
    private readonly link: MqttLink,
    private readonly options: {
      cloud: string;
      handler: () => PropertyHandler | undefined;
      timeoutMs?: number;
    },
  ) {}

  /** Subscribes and syncs on every connect. */
  start(): void {
    this.#running = true;
    this.#release = holdSubscriptions(this.link, [
      [AZURE_TOPICS.twinResponses, (m) => this.#onResponse(m.topic, m.payload)],
      [AZURE_TOPICS.desiredPatches, (m) => void this.#onDesired(m.topic, m.payload)],
    ]);
    this.#stopStatus = this.link.onStatus((up) => up && void this.#sync());
    if (this.link.connected) void this.#sync();
  }

  /** Unsubscribes; requests in flight are rejected. */
  stop(): void {
    this.#running = false;
    this.#release?.();
    this.#stopStatus?.();
    for (const [rid, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(new Error(`the twin actor stopped before request ${rid} was answered`));
    }
    this.#pending.clear();
  }

  /** Reads the whole twin (`GET`). */
  async get(): Promise<TwinDocument> {
    const response = await this.#request(twinGetTopic, "");
    if (response.status !== 200) {
      throw new Error(`IoT Hub answered the twin GET with ${response.status}`);
    }
    const body = JSON.parse(response.body);
    return {
      desired: isPlainObject(body?.desired) ? body.desired : {},
      reported: isPlainObject(body?.reported) ? body.reported : {},
    };
  }

  /** Sends a reported-properties patch; resolves with the new reported `$version` on 204. */
  async report(patch: Record<string, unknown>): Promise<number | undefined> {
    const response = await this.#request(twinReportTopic, JSON.stringify(patch));
    if (response.status < 200 || response.status >= 300) {
      throw new Error(`IoT Hub refused the reported patch with ${response.status}`);
    }
    return response.version;
  }

  #request(
    topic: (rid: string) => string,
    payload: string,
  ): Promise<{ status: number; version?: number; body: string }> {
    if (!this.#running) return Promise.reject(new Error("the twin actor is not running"));
    this.#rid += 1;
    const rid = String(this.#rid);
    const timeoutMs = this.options.timeoutMs ?? 30_000;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(rid);
        reject(new Error(`IoT Hub did not answer twin request ${rid} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(rid, { resolve, reject, timer });
      this.link.publish(topic(rid), payload, { qos: 0 }).catch((error) => {
        clearTimeout(timer);
        this.#pending.delete(rid);
        reject(error);
      });
    });
  }

  #onResponse(topic: string, payload: Uint8Array): void {
    let response;
    try {
      response = parseResponseTopic(topic);
    } catch (error) {
      log.warn("Cloud {cloud}: unreadable twin response topic: {error}", {
        cloud: this.options.cloud,
        error: (error as Error).message,
      });
      return;
    }
    if (!response || response.service !== "twin") return;
    const pending = this.#pending.get(response.rid);
    if (!pending) return;
    this.#pending.delete(response.rid);
    clearTimeout(pending.timer);
    pending.resolve({
      status: response.status,
      version: response.version,
      body: new TextDecoder().decode(payload),
    });
  }

  async #sync(): Promise<void> {
    let twin: TwinDocument;
    try {
      twin = await this.get();
    } catch (error) {
      log.warn("Cloud {cloud}: cannot read the twin: {error}", {
        cloud: this.options.cloud,
        error: (error as Error).message,
      });
      return;
    }
    const { version, properties } = pendingDesired(twin);
    this.#lastDesired = Math.max(this.#lastDesired, version);
    if (properties.length > 0) {
      log.info("Cloud {cloud}: {count} desired propert(ies) without a current ack at boot", {
        cloud: this.options.cloud,
        count: properties.length,
      });
    }
    for (const property of properties) await this.#decide({ ...property, version });
  }

  async #onDesired(topic: string, payload: Uint8Array): Promise<void> {
    let patch: unknown;
    let version: number | undefined;
    try {
      version = parseDesiredTopic(topic)?.version;
      patch = JSON.parse(new TextDecoder().decode(payload));
      if (!isPlainObject(patch)) throw new TypeError("the patch is not a JSON object");
    } catch (error) {
      log.warn("Cloud {cloud}: ignoring an unreadable desired patch on {topic}: {error}", {
        cloud: this.options.cloud,
        topic,
        error: (error as Error).message,
      });
      return;
    }
    const desired = patch as Record<string, unknown>;
    const v = typeof desired.$version === "number" ? desired.$version : version ?? 0;
    if (v <= this.#lastDesired) {
      // Already covered: the boot sync read a newer twin, or this patch came twice.
      log.debug("Cloud {cloud}: ignoring desired patch {version}: already at {last}", {
        cloud: this.options.cloud,
        version: v,
        last: this.#lastDesired,
      });
      return;
    }
    this.#lastDesired = v;
    for (const property of desiredProperties(desired)) {
      await this.#decide({ ...property, version: v });
    }
  }

  async #decide(change: PropertyChange): Promise<void> {
    const handler = this.options.handler();
    if (!handler) return;
    let decision: PropertyDecision;
    try {
      decision = await handler(structuredClone(change));
    } catch (error) {
      decision = { ac: 500, ad: (error as Error).message };
    }
    if (decision === false || decision === undefined) return;
    const ack = decision === true ? { ac: 200, ad: "completed" } : decision;
    const patch = writableAckPatch({
      component: change.component,
      name: change.name,
      value: "value" in ack && ack.value !== undefined ? ack.value : change.value,
      ac: ack.ac,
      av: change.version,
      ad: ack.ad,
    });
    try {
      await this.report(patch);
    } catch (error) {
      log.warn("Cloud {cloud}: cannot acknowledge property {name}: {error}", {
        cloud: this.options.cloud,
        name: change.component ? `${change.component}.${change.name}` : change.name,
        error: (error as Error).message,
      });
    }
  }
}

/** The `twin` child: runs `twin` while it is up. */
export function twinSync(twin: AzureTwin): ActorLogic {
  return fromCallback(() => {
    twin.start();
    return () => twin.stop();
  });
}
