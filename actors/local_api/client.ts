/**
 * `LocalApiClient`: the app side of the local API (PROTOCOLS.md §4), for
 * TypeScript apps on the device; the TeamViewer IoT SDK's calls as
 * promises. It provisions itself with a CSR on the TLS port (key 0600,
 * CSR and certificate kept in `certFolder`), then talks over mutual TLS.
 * Replies carry no request id: each call waits on its reply topics, and
 * calls waiting on the same topics are answered in order (pending_calls.ts).
 */
import mqtt, { type MqttClient } from "mqtt";
import { generateKeyAndCsr } from "../../protocols/aws_csr.ts";
import type { MetricDefinition, MetricUpdate } from "../../protocols/local_api_payloads.ts";
import { apiTopic, liveDataPath } from "../../protocols/local_api_topics.ts";
import {
  APP_FILES,
  forgetAppIdentity,
  parseJson,
  readAppIdentity,
  requestCertificate,
  saveAppIdentity,
} from "./app_identity.ts";
import { PendingCalls, type Waiter } from "./pending_calls.ts";

export { LocalApiRequestError } from "./app_identity.ts";

/** Options of {@link LocalApiClient}. */
export interface LocalApiClientOptions {
  /** The CA certificate file the agent wrote (`localApi.caCertPath`). */
  caFile: string;
  /** Where the key (0600), CSR and certificate are kept. */
  certFolder: string;
  /** Default "127.0.0.1". */
  host?: string;
  /** The provisioning port. Default 18883. */
  provisionPort?: number;
  /** The mutual-TLS port. Default 18884. */
  port?: number;
  /** How long a call waits for its reply. Default 10000 ms. */
  timeoutMs?: number;
}

/** A sensor as `listSensors` returns it. */
export interface SensorInfo {
  /** The sensor's id. */
  sensorId: string;
  /** Its name. */
  name: string;
  /** Always true: values are stored (forwarded through the outbox). */
  store: boolean;
  /** Its metrics, each with the topic that describes it. */
  metrics: { metricId: string; link: string }[];
}

/** A metric as `describeMetric` returns it. */
export interface MetricInfo extends MetricDefinition {
  /** The metric's id. */
  metricId: string;
  /** Its sensor's id. */
  sensorId: string;
  /** The topic that describes it. */
  link: string;
}

/** One value to push. */
export interface MetricValue {
  /** Which metric. */
  metricId: string;
  /** A number (value unit, double, integer), a boolean (bool) or a string (string). */
  value: number | boolean | string;
}

/**
 * What the client subscribes to once connected: every reply topic ends in
 * `/inbox`, two to six levels below the client's prefix. Not `/#`, which
 * would also bring back each of the app's own requests, and the live data
 * of every push: over TLS, a message and a PUBACK more per call for each.
 * A sensor's live data is subscribed to by `onLiveData`.
 */
export const REPLY_FILTERS = [
  "/+/inbox",
  "/+/+/inbox",
  "/+/+/+/inbox",
  "/+/+/+/+/inbox",
  "/+/+/+/+/+/inbox",
];

const decoder = new TextDecoder();

/**
 * A local app's connection to the Outpost local API.
 *
 * @example
 * ```ts
 * const client = new LocalApiClient({ caFile: ".outpost/local-api/ca.crt", certFolder: "certs" });
 * await client.provision("thermometer");
 * await client.connect();
 * const sensorId = await client.createSensor("kitchen");
 * const [{ metricId }] = await client.createMetrics(sensorId, [
 *   { matchingId: "t", name: "temperature", valueUnit: "SI.Temperature.CELSIUS" },
 * ]);
 * await client.pushValues(sensorId, [{ metricId, value: 21.5 }]);
 * await client.close();
 * ```
 */
export class LocalApiClient {
  #options: Required<LocalApiClientOptions>;
  #mqtt?: MqttClient;
  #clientId?: string;
  readonly #replies: PendingCalls;
  #live = new Map<string, Set<(values: { metrics: MetricValue[]; timestamp: number }) => void>>();
  // Live data subscriptions not yet acknowledged: calls wait for them, so
  // the values they push are sent to the new subscription.
  #subscribing?: Promise<void>;

  /** A client; nothing connects until `provision` or `connect`. */
  constructor(options: LocalApiClientOptions) {
    this.#options = {
      ...options,
      // An option given as `undefined` takes the default, not the place of it.
      host: options.host ?? "127.0.0.1",
      provisionPort: options.provisionPort ?? 18883,
      port: options.port ?? 18884,
      timeoutMs: options.timeoutMs ?? 10_000,
    };
    this.#replies = new PendingCalls(this.#options.timeoutMs);
  }

  /** The client id (CN of the certificate) once provisioned. */
  get clientId(): string | undefined {
    return this.#clientId;
  }

  /** True while the mutual-TLS connection is up. */
  get connected(): boolean {
    return this.#mqtt?.connected ?? false;
  }

  /**
   * Uses the key and certificate in `certFolder`, or makes a key and CSR
   * (CN = `name`) and asks the agent for a certificate. In approval mode
   * this waits until the operator approves (up to `timeoutMs`).
   */
  async provision(
    name = "outpost-app",
  ): Promise<{ clientId: string; alreadyProvisioned: boolean }> {
    const folder = this.#options.certFolder;
    const kept = await readAppIdentity(folder);
    if (kept) {
      this.#clientId = kept.clientId;
      return { clientId: kept.clientId, alreadyProvisioned: true };
    }
    const { privateKeyPem, csrPem } = await generateKeyAndCsr({ commonName: name });
    const certPem = await requestCertificate(this.#url(this.#options.provisionPort), {
      ca: await Deno.readTextFile(this.#options.caFile),
      csrPem,
      timeoutMs: this.#options.timeoutMs,
    });
    const saved = await saveAppIdentity(folder, { keyPem: privateKeyPem, csrPem, certPem });
    this.#clientId = saved.clientId;
    return { clientId: saved.clientId, alreadyProvisioned: false };
  }

  /** Opens the mutual-TLS connection; call `provision` first. */
  async connect(): Promise<void> {
    const folder = this.#options.certFolder;
    const identity = await readAppIdentity(folder);
    if (!identity) {
      throw new Error(
        `Not provisioned: no ${APP_FILES.key} and ${APP_FILES.cert} in ${folder}; call provision()`,
      );
    }
    const { clientId } = identity;
    this.#clientId = clientId;
    // Topics name the client: those of an identity used before are no use.
    this.#replies.clear();
    const client = await mqtt.connectAsync(this.#url(this.#options.port), {
      ca: await Deno.readTextFile(this.#options.caFile),
      key: identity.keyPem,
      cert: identity.certPem,
      reconnectPeriod: 0,
      connectTimeout: this.#options.timeoutMs,
    });
    (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
    client.on("message", (topic, payload) => this.#receive(topic, payload));
    client.on("close", () => this.#replies.failAll(new Error("The local API connection closed")));
    const filters = [...REPLY_FILTERS, ...this.#live.keys()];
    await client.subscribeAsync(filters.map((f) => apiTopic(clientId, f)), { qos: 1 });
    this.#mqtt = client;
  }

  /** Checks the connection: the agent answers `{"request":"Ping"}`. */
  async ping(): Promise<void> {
    await this.#call("/ping", { request: "Ping" });
  }

  /** Creates a sensor; resolves with its id. */
  async createSensor(name: string): Promise<string> {
    return (await this.#call("/sensor/create", { name }) as { sensorId: string }).sensorId;
  }

  /** Renames a sensor. */
  async updateSensor(sensorId: string, name: string): Promise<void> {
    await this.#call(`/sensor/${sensorId}/update`, { name });
  }

  /** Deletes a sensor and its metrics. */
  async deleteSensor(sensorId: string): Promise<void> {
    await this.#call(`/sensor/${sensorId}/delete`, {});
  }

  /** Every sensor of this client with its metric ids. */
  async listSensors(): Promise<SensorInfo[]> {
    return await this.#call("/inventory", {}) as SensorInfo[];
  }

  /** Creates metrics; resolves with their ids, matched by `matchingId`. */
  async createMetrics(
    sensorId: string,
    metrics: MetricDefinition[],
  ): Promise<{ matchingId: string | number; metricId: string }[]> {
    return await this.#call(`/sensor/${sensorId}/metric`, { metrics }) as {
      matchingId: string | number;
      metricId: string;
    }[];
  }

  /** One metric's definition. */
  async describeMetric(sensorId: string, metricId: string): Promise<MetricInfo> {
    return await this.#call(`/sensor/${sensorId}/metric/${metricId}/inventory`, {}) as MetricInfo;
  }

  /** Renames metrics or changes their annotation. */
  async updateMetrics(sensorId: string, metrics: MetricUpdate[]): Promise<void> {
    await this.#call(`/sensor/${sensorId}/metric/update`, { metrics });
  }

  /** Deletes metrics of a sensor. */
  async deleteMetrics(sensorId: string, metricIds: string[]): Promise<void> {
    await this.#call(`/sensor/${sensorId}/metric/delete`, {
      metrics: metricIds.map((metricId) => ({ metricId })),
    });
  }

  /** Pushes values (at `timestamp` ms, default now); resolves once the agent stored them. */
  async pushValues(sensorId: string, values: MetricValue[], timestamp?: number): Promise<void> {
    await this.#call(`/sensor/${sensorId}/metric/pushValues`, {
      metrics: values,
      ...timestamp === undefined ? {} : { timestamp },
    });
  }

  /**
   * Calls `listener` with every value pushed to `sensorId` from now on (the
   * first listener of a sensor subscribes to its live data; calls made after
   * this one wait for that subscription); returns a function that stops it.
   */
  onLiveData(
    sensorId: string,
    listener: (values: { metrics: MetricValue[]; timestamp: number }) => void,
  ): () => void {
    const path = liveDataPath(sensorId);
    let set = this.#live.get(path);
    if (!set) {
      this.#live.set(path, set = new Set());
      this.#subscribeLive(path);
    }
    set.add(listener);
    return () => set.delete(listener);
  }

  /** Deprovisions this client (its sensors are deleted), forgets the files and closes. */
  async deprovision(): Promise<void> {
    await this.#call("/delete", {});
    await forgetAppIdentity(this.#options.certFolder);
    await this.close();
  }

  /** Closes the connection; pending calls reject. */
  async close(): Promise<void> {
    const client = this.#mqtt;
    this.#mqtt = undefined;
    this.#replies.failAll(new Error("The local API client was closed"));
    await client?.endAsync(true);
  }

  #url(port: number): string {
    const host = this.#options.host.includes(":") ? `[${this.#options.host}]` : this.#options.host;
    return `mqtts://${host}:${port}`;
  }

  // Without a connection, `connect` subscribes to every live data path.
  #subscribeLive(path: string): void {
    const client = this.#mqtt;
    if (!client || !this.#clientId) return;
    const subscribed = client.subscribeAsync(apiTopic(this.#clientId, path), { qos: 1 }).then(
      () => {},
      // A refused or failed subscription only means no live data; the calls go on.
      () => {},
    );
    const all = this.#subscribing ? Promise.all([this.#subscribing, subscribed]) : subscribed;
    const done = this.#subscribing = all.then(() => {
      if (this.#subscribing === done) this.#subscribing = undefined;
    });
  }

  #call(path: string, body: unknown): Promise<unknown> {
    const client = this.#mqtt;
    const clientId = this.#clientId;
    if (!client || !clientId) {
      return Promise.reject(new Error("Not connected: call connect() first"));
    }
    const topics = this.#replies.topicsOf(clientId, path);
    if (!topics) return Promise.reject(new TypeError(`Not a local API call: ${path}`));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        path,
        deadline: performance.now() + this.#options.timeoutMs,
        resolve,
        reject,
      };
      this.#replies.add(topics.queue, waiter);
      const send = () =>
        client.publishAsync(topics.request, JSON.stringify(body), { qos: 1 }).catch((error) =>
          this.#replies.settle(topics.queue, waiter, () => reject(error))
        );
      if (this.#subscribing) this.#subscribing.then(send);
      else send();
    });
  }

  #receive(topic: string, payload: Uint8Array): void {
    const body = parseJson(decoder.decode(payload));
    const prefix = apiTopic(this.#clientId!, "/");
    const live = this.#live.get(topic.slice(prefix.length - 1));
    if (live) {
      for (const listener of live) {
        listener(body as { metrics: MetricValue[]; timestamp: number });
      }
      return;
    }
    this.#replies.answer(topic, body);
  }
}
