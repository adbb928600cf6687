/**
 * Plain mqtt.js clients for checking a broker cluster from the outside:
 * {@link connectMqtt} (a connect that always settles: CONNACK, refusal,
 * timeout or a close without CONNACK), and {@link mqttRoundTrip}, which
 * proves that QoS 1 messages published on every given node reach a QoS 1
 * subscriber on every other one. Used by nats_cluster.ts's `ready()`; a
 * test may call them itself with any set of MQTT URLs.
 */
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";

/**
 * Connects to `url` and resolves with the client once the broker accepted
 * (CONNACK 0). Rejects, with the client already closed, on a refusal, on
 * no CONNACK within `connectTimeout` (default 5 s), or when the broker
 * closes the connection first (what nats-server does when JetStream cannot
 * store the session). No automatic reconnect unless `reconnectPeriod` is set.
 *
 * @example
 * ```ts
 * const client = await connectMqtt("mqtt://127.0.0.1:1883", { clientId: "probe", clean: false });
 * await client.endAsync();
 * ```
 */
export function connectMqtt(url: string, options: IClientOptions = {}): Promise<MqttClient> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
  return new Promise((resolve, reject) => {
    const settle = (error?: Error) => {
      client.off("connect", onConnect);
      client.off("error", settle);
      client.off("close", onClose);
      if (!error) return resolve(client);
      client.endAsync(true).finally(() =>
        reject(new Error(`MQTT connect to ${url} failed: ${error.message}`, { cause: error }))
      );
    };
    const onConnect = () => settle();
    const onClose = () => settle(new Error("the broker closed the connection before CONNACK"));
    client.on("connect", onConnect);
    client.on("error", settle);
    client.on("close", onClose);
  });
}

/** Options of {@link mqttRoundTrip}. */
export interface RoundTripOptions {
  /** The whole check's deadline; default 5000 ms. */
  timeoutMs?: number;
  /** Topic of the probe messages; default `outpost-cluster-probe/<random>`. */
  topic?: string;
}

/**
 * Resolves once, for every URL in `urls`, a clean-session client connected,
 * subscribed with QoS 1, published one QoS 1 message that was PUBACKed, and
 * received the message of every client (its own included). Rejects naming
 * the node and the step that failed; every client is closed either way.
 *
 * @example
 * ```ts
 * await mqttRoundTrip(["mqtt://127.0.0.1:1883", "mqtt://127.0.0.1:1884"], { timeoutMs: 5000 });
 * ```
 */
export async function mqttRoundTrip(
  urls: readonly string[],
  options: RoundTripOptions = {},
): Promise<void> {
  const { timeoutMs = 5000 } = options;
  const nonce = crypto.randomUUID().slice(0, 8);
  const topic = options.topic ?? `outpost-cluster-probe/${nonce}`;
  const clients: (MqttClient | undefined)[] = urls.map(() => undefined);
  const seen = urls.map(() => new Set<string>());
  const changed = { wake: () => {} };
  let timer: ReturnType<typeof setTimeout> | undefined;
  let step = "connect";
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`the MQTT round trip did not finish within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  const within = <T>(what: string, work: Promise<T>) => {
    step = what;
    return Promise.race([work, late]);
  };
  // Every connect settles by itself (connectTimeout), so `finally` can wait for all of them.
  const connecting = urls.map(async (url, i) => {
    const client = await connectMqtt(url, {
      clientId: `cluster-probe-${nonce}-${i}`,
      clean: true,
      connectTimeout: timeoutMs,
    });
    clients[i] = client;
    client.on("message", (_topic, payload) => {
      seen[i].add(new TextDecoder().decode(payload));
      changed.wake();
    });
  });
  try {
    await within("connect", Promise.all(connecting));
    await within(
      "subscribe",
      Promise.all(clients.map(async (client, i) => {
        const granted = await client!.subscribeAsync(topic, { qos: 1 });
        if (granted[0]?.qos !== 1) {
          throw new Error(`${urls[i]} granted QoS ${granted[0]?.qos} for ${topic}, not 1`);
        }
      })),
    );
    await within(
      "publish",
      Promise.all(clients.map((client, i) => client!.publishAsync(topic, String(i), { qos: 1 }))),
    );
    const everyone = () => seen.every((s) => s.size === urls.length);
    await within(
      "receive",
      new Promise<void>((resolve) => {
        changed.wake = () => everyone() && resolve();
        changed.wake();
      }),
    );
  } catch (error) {
    const missing = seen.map((s, i) => `${urls[i]} got ${s.size}/${urls.length}`).join(", ");
    throw new Error(
      `MQTT round trip failed at "${step}" (${missing}): ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  } finally {
    clearTimeout(timer);
    late.catch(() => {});
    await Promise.allSettled(connecting);
    await Promise.all(clients.map((client) => client?.endAsync(true)));
  }
}
