/**
 * "The cloud" of one device on a broker cluster, as a test or benchmark
 * plays it: one mqtt.js client with a persistent session (clean = false,
 * QoS 1) on one node, that records every telemetry record and event of the
 * device (seq, ts, the DUP flag), and sends commands and desired state the
 * PROTOCOLS.md §0 way, waiting for the response and the reported state.
 * If its node closes the connection it reconnects to the same node and
 * resumes its session.
 */
import type { MqttClient } from "mqtt";
import { connectMqtt } from "./cluster_mqtt.ts";
import type { Arrival } from "./cluster_delivery.ts";
import { type OutpostTopics, outpostTopics } from "../../protocols/outpost_topics.ts";

/** Options of {@link observeDevice}. */
export interface DeviceCloudOptions {
  deviceId: string;
  /** Default "outpost". */
  topicPrefix?: string;
  /** The persistent session's client id; default `cloud-<deviceId>`. */
  clientId?: string;
}

/** What the cloud saw of the device, and how it talks to it. */
export interface DeviceCloud {
  readonly topics: OutpostTopics;
  /** Every telemetry record and event, in arrival order. */
  readonly arrivals: Arrival[];
  /** Reconnections of the cloud's own client (its node closed the connection). */
  readonly reconnects: number;
  /** The node it is connected to. */
  url(): string;
  /** Resumes the same session on another node (DISCONNECT here, CONNECT there). */
  moveTo(url: string): Promise<void>;
  /** The highest seq received so far (0 before any). */
  highestSeq(): number;
  /** Resolves with the first arrival (already received or future) that `match` accepts. */
  waitForArrival(
    what: string,
    match: (a: Arrival) => boolean,
    timeoutMs?: number,
  ): Promise<Arrival>;
  /** Sends command `name` with a fresh request id; resolves with its response. */
  command(
    name: string,
    payload: unknown,
    timeoutMs?: number,
  ): Promise<{ status: number; body: unknown }>;
  /** Publishes desired state `version` (retained); resolves once the device reports that version. */
  desire(
    version: number,
    state: Record<string, unknown>,
    timeoutMs?: number,
  ): Promise<{ version: number; state: unknown }>;
  /** Ends the client; the session stays on the broker (clean = false). */
  close(): Promise<void>;
}

/**
 * Connects to `url` with a persistent session and subscribes (QoS 1) to the
 * device's telemetry, events, responses and reported state.
 *
 * @example
 * ```ts
 * const cloud = await observeDevice(cluster.nodes[2].mqttUrl, { deviceId: "dev-1" });
 * const pong = await cloud.command("ping", null);
 * await cloud.close();
 * ```
 */
export async function observeDevice(
  url: string,
  options: DeviceCloudOptions,
): Promise<DeviceCloud> {
  const topics = outpostTopics(options.deviceId, options.topicPrefix);
  const base = topics.status.slice(0, -"/status".length);
  const responses = new Map<string, { status: number; body: unknown }>();
  let reported: { version: number; state: unknown } | undefined;
  const arrivals: Arrival[] = [];
  const wakers = new Set<() => void>();
  let highest = 0;
  let reconnects = 0;
  const onMessage = (topic: string, payload: Uint8Array, packet: { dup: boolean }) => {
    const text = new TextDecoder().decode(payload);
    const kind = topic.slice(base.length + 1).split("/")[0];
    if (kind === "telemetry" || kind === "events") {
      const record = JSON.parse(text);
      arrivals.push({
        topic,
        seq: record.seq,
        ts: Date.parse(record.ts),
        dup: packet.dup,
        at: performance.now(),
      });
      highest = Math.max(highest, record.seq);
    } else if (kind === "responses") {
      responses.set(topic.split("/").at(-1)!, JSON.parse(text));
    } else if (topic === topics.reported) {
      reported = JSON.parse(text);
    }
    for (const wake of [...wakers]) wake();
  };
  async function open(at: string): Promise<MqttClient> {
    const opened = await connectMqtt(at, {
      clientId: options.clientId ?? `cloud-${options.deviceId}`,
      clean: false,
      // Only if its node drops it; the session (and the messages queued in it) resume.
      reconnectPeriod: 500,
      connectTimeout: 10_000,
    });
    opened.on("connect", () => reconnects++);
    opened.on("message", onMessage);
    // Already in the session after the first time; subscribing again is a no-op then.
    await opened.subscribeAsync({
      [`${base}/telemetry/+`]: { qos: 1 },
      [`${base}/events/+`]: { qos: 1 },
      [`${base}/responses/+/+`]: { qos: 1 },
      [topics.reported]: { qos: 1 },
    });
    return opened;
  }
  let current = url;
  let client = await open(url);

  function until<T>(what: string, check: () => T | undefined, timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        wakers.delete(wake);
      };
      const wake = () => {
        const found = check();
        if (found === undefined) return;
        done();
        resolve(found);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`Waited ${timeoutMs} ms for ${what} (highest seq so far ${highest})`));
      }, timeoutMs);
      wakers.add(wake);
      wake();
    });
  }

  return {
    topics,
    arrivals,
    get reconnects() {
      return reconnects;
    },
    url: () => current,
    async moveTo(to) {
      await client.endAsync();
      client = await open(to);
      current = to;
    },
    highestSeq: () => highest,
    waitForArrival(what, match, timeoutMs = 30_000) {
      // Each arrival is looked at once, however often the wait wakes.
      let next = 0;
      return until(what, () => {
        for (; next < arrivals.length; next++) if (match(arrivals[next])) return arrivals[next];
      }, timeoutMs);
    },
    async command(name, payload, timeoutMs = 15_000) {
      const requestId = crypto.randomUUID();
      await client.publishAsync(topics.command(name, requestId), JSON.stringify(payload), {
        qos: 1,
      });
      return await until(
        `the response to ${name} ${requestId}`,
        () => responses.get(requestId),
        timeoutMs,
      );
    },
    async desire(version, state, timeoutMs = 15_000) {
      await client.publishAsync(topics.desired, JSON.stringify({ version, state }), {
        qos: 1,
        retain: true,
      });
      return await until(
        `reported state version ${version}`,
        () => (reported && reported.version >= version ? reported : undefined),
        timeoutMs,
      );
    },
    async close() {
      await client.endAsync(true);
    },
  };
}
