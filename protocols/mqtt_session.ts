/**
 * One MQTT connection over npm:mqtt, and nothing more: its own reconnect is
 * off, because retry policy belongs to the connection actor. What it adds to
 * mqtt.js is the promises the link needs (a publish settles on PUBACK or when
 * the connection drops, a subscription the broker refused is an error naming
 * its filter), clear connect errors, and an `end` that leaves no socket or
 * timer behind.
 */
import { Buffer } from "node:buffer";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { connectError, MqttConnectError, SubscriptionRefusedError } from "./mqtt_errors.ts";

export { MqttConnectError, SubscriptionRefusedError } from "./mqtt_errors.ts";

/** How to reach and log in to a broker. */
export interface MqttConnectOptions {
  /** `mqtt://`, `mqtts://`, `ws://` or `wss://` with host and port. */
  url: string;
  /** Unique per broker: a second connection with the same id takes over the first. */
  clientId: string;
  /** Sent in CONNECT when given. */
  username?: string;
  /** Sent in CONNECT when given; never logged. */
  password?: string;
  /** PEM: the CAs trusted for the broker's certificate instead of the system's. */
  ca?: string;
  /** PEM client certificate, for mutual TLS. */
  cert?: string;
  /** PEM private key of `cert`. */
  key?: string;
  /** Default true. False accepts any broker certificate: for tests and labs only. */
  rejectUnauthorized?: boolean;
  /** TLS ALPN protocol names (AWS IoT takes MQTT on 443 with `x-amzn-mqtt-ca`). */
  alpnProtocols?: string[];
  /** TLS SNI name, when it differs from the URL's host. */
  servername?: string;
  /** Default true: the broker forgets the session when the connection ends. */
  clean?: boolean;
  /** Default 30. */
  keepaliveSec?: number;
  /** Time allowed for the socket, TLS and CONNACK together. Default 10000. */
  connectTimeoutMs?: number;
  /** Published by the broker when the connection dies without a DISCONNECT. */
  will?: { topic: string; payload: string; qos: 0 | 1; retain: boolean };
  /** 4 (MQTT 3.1.1, default) or 5. */
  protocolVersion?: 4 | 5;
}

/** A message from the broker. */
export interface InboundMessage {
  /** The topic it was published to. */
  topic: string;
  /** The bytes as published. */
  payload: Uint8Array;
  /** True when the broker sent it from its retained store (on subscribe). */
  retain: boolean;
}

/** What one live connection can do; structurally the link's `MqttSession`. */
export interface MqttSession {
  /** Resolves when written (QoS 0) or on PUBACK (QoS 1); rejects if the connection drops first. */
  publish(
    topic: string,
    payload: string | Uint8Array,
    options: { qos: 0 | 1; retain: boolean },
  ): Promise<void>;
  /** Resolves when the broker granted every filter; rejects naming the filters it refused. */
  subscribe(subscriptions: readonly { filter: string; qos: 0 | 1 }[]): Promise<void>;
  /** Resolves on UNSUBACK. */
  unsubscribe(filters: readonly string[]): Promise<void>;
}

/** Where {@link connectSession} reports what happens to the connection. */
export interface SessionHandlers {
  /** Receives every message of the session's subscriptions. */
  onMessage(message: InboundMessage): void;
  /** Called once when the established connection closes without `end()`. */
  onClose(error?: Error): void;
  /** Aborting it while connecting closes the socket and rejects the connect. */
  signal?: AbortSignal;
}

/** A connected session and the way to close it. */
export interface OpenSession {
  session: MqttSession;
  /**
   * Closes and releases every socket and timer. Graceful (default): rejects
   * what is in flight, sends DISCONNECT, so the broker drops the will.
   * `graceful: false` drops the socket instead, so the broker publishes it.
   */
  end(options?: { graceful?: boolean }): Promise<void>;
}

// A broker that never answers our DISCONNECT must not hold `end()` forever.
const GRACEFUL_CLOSE_MS = 2000;

/** The URL without user info, for messages. */
function safeUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, "$1");
}

function clientOptions(options: MqttConnectOptions): IClientOptions {
  const tls = {
    ...(options.ca !== undefined && { ca: options.ca }),
    ...(options.cert !== undefined && { cert: options.cert }),
    ...(options.key !== undefined && { key: options.key }),
    ...(options.servername !== undefined && { servername: options.servername }),
    ...(options.alpnProtocols !== undefined && { ALPNProtocols: options.alpnProtocols }),
    rejectUnauthorized: options.rejectUnauthorized ?? true,
  };
  return {
    clientId: options.clientId,
    username: options.username,
    password: options.password,
    clean: options.clean ?? true,
    keepalive: options.keepaliveSec ?? 30,
    connectTimeout: options.connectTimeoutMs ?? 10_000,
    protocolVersion: options.protocolVersion ?? 4,
    reconnectPeriod: 0,
    resubscribe: false,
    // Publishing while offline is the link's NotConnectedError, never a silent queue.
    queueQoSZero: false,
    // mqtt-packet's default cache of 65,536 pre-encoded numbers costs ~18 MB of
    // RSS on a small device for no gain at device message rates (BENCHMARKS.md).
    writeCache: false,
    will: options.will,
    ...tls,
    // mqtt.js hands only some TLS options to the WebSocket for wss://.
    wsOptions: tls,
  };
}

const SCHEMES = ["mqtt:", "mqtts:", "ws:", "wss:"];

function checkUrl(url: string): void {
  let scheme: string;
  try {
    scheme = new URL(url).protocol;
  } catch {
    throw new MqttConnectError(`Cannot connect to MQTT broker "${safeUrl(url)}": not a URL`);
  }
  if (!SCHEMES.includes(scheme)) {
    throw new MqttConnectError(
      `Cannot connect to MQTT broker ${safeUrl(url)}: the scheme must be one of ` +
        `${SCHEMES.map((s) => `${s}//`).join(", ")}, not ${scheme}//`,
    );
  }
}

function toBuffer(payload: string | Uint8Array): Buffer | string {
  return typeof payload === "string"
    ? payload
    : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
}

/**
 * Connects once, without retries. Resolves when the broker accepted the
 * CONNACK; rejects with an {@link MqttConnectError} on refusal, timeout,
 * socket or TLS error, after closing everything it opened.
 *
 * @example
 * ```ts
 * const { session, end } = await connectSession(
 *   { url: "mqtt://127.0.0.1:1883", clientId: "dev-1" },
 *   { onMessage: (m) => console.log(m.topic), onClose: (e) => console.warn(e) },
 * );
 * await session.publish("hello", "world", { qos: 1, retain: false });
 * await end();
 * ```
 */
export async function connectSession(
  options: MqttConnectOptions,
  handlers: SessionHandlers,
): Promise<OpenSession> {
  checkUrl(options.url);
  const url = safeUrl(options.url);
  const timeoutMs = options.connectTimeoutMs ?? 10_000;
  if (handlers.signal?.aborted) {
    throw new MqttConnectError(`Cannot connect to MQTT broker ${url}: aborted`);
  }
  let client: MqttClient;
  try {
    client = mqtt.connect(options.url, clientOptions(options));
  } catch (error) {
    throw connectError(url, error as Error, timeoutMs);
  }
  const stream = client.stream;
  // mqtt.js writes a packet in pieces; with Nagle on, a small QoS 1 publish
  // can wait for the peer's delayed ACK (40 ms on Linux) before it leaves.
  (stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
  const streamClosed = new Promise<void>((resolve) => stream.once("close", () => resolve()));
  // mqtt.js throws an 'error' event that nobody listens to; keep the last one as the reason.
  let lastError: Error | undefined;
  client.on("error", (error) => (lastError ??= error));

  try {
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        lastError = new Error("aborted");
        client.end(true);
      };
      const done = () => {
        client.off("connect", onConnect);
        client.off("close", onClose);
        handlers.signal?.removeEventListener("abort", onAbort);
      };
      const onConnect = () => {
        done();
        resolve();
      };
      const onClose = () => {
        done();
        reject(connectError(url, lastError, timeoutMs));
      };
      client.on("connect", onConnect);
      client.on("close", onClose);
      handlers.signal?.addEventListener("abort", onAbort, { once: true });
    });
  } catch (error) {
    client.end(true);
    await streamClosed;
    throw error;
  }
  lastError = undefined;
  return liveSession(client, streamClosed, url, handlers);
}

function liveSession(
  client: MqttClient,
  streamClosed: Promise<void>,
  url: string,
  handlers: SessionHandlers,
): OpenSession {
  const pending = new Set<(error: Error) => void>();
  let closed = false;
  let ending: Promise<void> | undefined;
  let lastError: Error | undefined;
  client.on("error", (error) => (lastError = error));

  client.on("message", (topic, payload, packet) => {
    handlers.onMessage({
      topic,
      payload: new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength),
      retain: packet.retain,
    });
  });

  client.once("close", () => {
    closed = true;
    failPending(`the connection to ${url} closed`);
    if (ending) return;
    // Closes mqtt.js's stores; the socket is already gone.
    client.end(true);
    handlers.onClose(lastError);
  });

  function failPending(why: string): void {
    for (const fail of pending) fail(new Error(why));
    pending.clear();
  }

  /** Runs one request; it settles with mqtt.js's callback or when the connection goes. */
  function request<T>(
    what: string,
    send: (callback: (error?: Error | null, result?: T) => void) => void,
  ): Promise<T | undefined> {
    if (closed || ending) {
      return Promise.reject(new Error(`Cannot ${what}: the connection to ${url} is closed`));
    }
    return new Promise((resolve, reject) => {
      const fail = (error: Error) => reject(new Error(`Cannot ${what}: ${error.message}`));
      pending.add(fail);
      const settle = (error?: Error | null, result?: T) => {
        if (!pending.delete(fail)) return;
        if (error) fail(error);
        else resolve(result);
      };
      try {
        send(settle);
      } catch (error) {
        settle(error as Error);
      }
    });
  }

  const session: MqttSession = {
    async publish(topic, payload, { qos, retain }) {
      await request(
        `publish to "${topic}"`,
        (callback) => client.publish(topic, toBuffer(payload), { qos, retain }, callback),
      );
    },
    async subscribe(subscriptions) {
      if (subscriptions.length === 0) return;
      const filters = subscriptions.map((s) => s.filter);
      const list = filters.map((f) => `"${f}"`).join(", ");
      const map = Object.fromEntries(subscriptions.map((s) => [s.filter, { qos: s.qos }]));
      // SUBACK return codes, one per filter in the order sent (Object.keys order).
      let granted: number[] = [];
      try {
        await request(
          `subscribe to ${list}`,
          (callback) =>
            client.subscribe(map, (error, _subs, packet) => {
              granted = (packet as { granted?: number[] } | undefined)?.granted ?? [];
              callback(error);
            }),
        );
      } catch (error) {
        // 0x80 in MQTT 3.1.1; any reason code from 0x80 up in MQTT 5.
        const refused = Object.keys(map).flatMap((filter, i) =>
          granted[i] >= 0x80 ? [{ filter, code: granted[i] }] : []
        );
        if (refused.length === 0) throw error;
        const named = refused.map((r) => `"${r.filter}" (code ${r.code})`).join(", ");
        throw new SubscriptionRefusedError(
          `The broker at ${url} refused the subscription to ${named}`,
          refused.map((r) => r.filter),
        );
      }
    },
    async unsubscribe(filters) {
      if (filters.length === 0) return;
      const list = filters.map((f) => `"${f}"`).join(", ");
      await request(
        `unsubscribe from ${list}`,
        (callback) => client.unsubscribe([...filters], (error) => callback(error)),
      );
    },
  };

  async function close(graceful: boolean): Promise<void> {
    failPending(`the session with ${url} was ended`);
    // mqtt.js would wait for their acks before sending DISCONNECT.
    for (const id of Object.keys(client.outgoing)) client.removeOutgoingMessage(Number(id));
    const stream = client.stream;
    const force = !graceful || closed || !client.connected;
    const deadline = setTimeout(() => stream.destroy(), GRACEFUL_CLOSE_MS);
    try {
      await new Promise<void>((resolve) => client.end(force, {}, () => resolve()));
      await streamClosed;
    } finally {
      clearTimeout(deadline);
    }
  }

  return {
    session,
    end: ({ graceful = true } = {}) => (ending ??= close(graceful)),
  };
}
