/**
 * `AgentConnection`: the client side of the support API for apps on the
 * device, shaped like the TeamViewer IoT Agent API's connection object.
 * It speaks MQTT (npm:mqtt) over mutual TLS to the local API
 * (`/v1.0/<clientId>/support/…`, docs/support.md), reports its status
 * (Disconnected, Disconnecting, Connecting, Connected, ConnectionLost),
 * keeps the link alive with an MQTT ping about every 5 s and reconnects on
 * its own. The four modules live in agent_modules.ts.
 */
import mqtt, { type MqttClient } from "mqtt";
import type { SupportModuleName } from "../../protocols/support_api.ts";
import {
  AccessControlModule,
  ChatModule,
  InstantSupportModule,
  type ModuleLink,
  SessionManagementModule,
} from "./agent_modules.ts";

/** The connection's status, as the seed names it. */
export type ConnectionStatus =
  | "Disconnected"
  | "Disconnecting"
  | "Connecting"
  | "Connected"
  | "ConnectionLost";

/** How to reach the local API. */
export interface AgentConnectionOptions {
  /** `mqtts://127.0.0.1:18884`: the mutual-TLS port of the local API. */
  url: string;
  /** PEM of the local CA (the agent's `caCertPath`). */
  ca: string;
  /** PEM client certificate (from `LocalApiClient.provision`). */
  cert: string;
  /** PEM private key of `cert`. */
  key: string;
  /** The certificate's CN: the topics are `/v1.0/<clientId>/…`. */
  clientId: string;
  /** MQTT keep-alive in seconds. Default 5. */
  keepaliveSec?: number;
  /** Wait between reconnection attempts. Default 1000 ms. */
  reconnectMs?: number;
  /** Time for the agent to answer a request. Default 10 000 ms. */
  requestTimeoutMs?: number;
}

/** A request the agent refused, with its error code. */
export class AgentRequestError extends Error {
  /** Builds an error carrying the agent's `code`. */
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = "AgentRequestError";
  }
}

interface Pending {
  resolve(payload: Record<string, unknown>): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * A connection to the local Outpost agent's support API.
 *
 * @example
 * ```ts
 * const connection = new AgentConnection({ url: "mqtts://127.0.0.1:18884", ca, cert, key, clientId });
 * connection.setCallbacks({ statusChanged: (status) => console.log(status) });
 * connection.start();
 * await connection.whenConnected();
 * console.log(await connection.sessions.getRunningSessions());
 * await connection.stop();
 * ```
 */
export class AgentConnection {
  /** Session management: `sessionStarted`, `sessionStopped`, list, terminate all. */
  readonly sessions: SessionManagementModule;
  /** Access control: per-feature access and confirmation of access requests. */
  readonly accessControl: AccessControlModule;
  /** Instant support: request help, close the case, answer connection requests. */
  readonly instantSupport: InstantSupportModule;
  /** Chat: rooms created by the remote side, messages, history. */
  readonly chat: ChatModule;
  #status: ConnectionStatus = "Disconnected";
  #client: MqttClient | undefined;
  #statusChanged: ((status: ConnectionStatus) => void) | undefined;
  #waiters = new Set<() => void>();
  #pending = new Map<number, Pending>();
  #nextId = 1;
  #handlers = new Map<
    SupportModuleName,
    (event: string, payload: Record<string, unknown>) => void
  >();
  readonly #prefix: string;

  /** Builds a connection; nothing happens until `start()`. */
  constructor(private readonly options: AgentConnectionOptions) {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(options.clientId)) {
      throw new TypeError(`Invalid client id ${JSON.stringify(options.clientId)}`);
    }
    this.#prefix = `/v1.0/${options.clientId}/support`;
    const link: ModuleLink = {
      request: (module, call, body) => this.#request(module, call, body),
      publish: (module, call, body) => this.#publish(module, call, body),
      connected: () => this.#status === "Connected",
      on: (module, handler) => void this.#handlers.set(module, handler),
    };
    this.sessions = new SessionManagementModule(link);
    this.accessControl = new AccessControlModule(link);
    this.instantSupport = new InstantSupportModule(link);
    this.chat = new ChatModule(link);
  }

  /** The current status. */
  get status(): ConnectionStatus {
    return this.#status;
  }

  /** Sets the status callback (as the seed's `setCallbacks(statusChanged=…)`). */
  setCallbacks(callbacks: { statusChanged?: (status: ConnectionStatus) => void }): void {
    this.#statusChanged = callbacks.statusChanged;
  }

  /** Starts connecting in the background; reconnects until `stop()`. */
  start(): void {
    if (this.#client) return;
    const o = this.options;
    this.#setStatus("Connecting");
    const client = mqtt.connect(o.url, {
      clientId: o.clientId,
      ca: o.ca,
      cert: o.cert,
      key: o.key,
      rejectUnauthorized: true,
      keepalive: o.keepaliveSec ?? 5,
      reconnectPeriod: o.reconnectMs ?? 1000,
      connectTimeout: 5000,
      clean: true,
    });
    this.#client = client;
    client.on("connect", () => {
      // Request/reply on loopback: without this, Nagle's algorithm and delayed ACKs add ~40 ms
      // to every QoS 1 round trip.
      (client.stream as { setNoDelay?: (on: boolean) => void } | undefined)?.setNoDelay?.(true);
      void this.#handshake(client);
    });
    client.on("reconnect", () => this.#setStatus("Connecting"));
    client.on("close", () => {
      if (this.#status === "Connected") this.#setStatus("ConnectionLost");
      this.#failPending("the connection to the agent was lost");
    });
    client.on("error", () => {
      // Errors surface as close/reconnect; the status says what matters.
    });
    client.on("message", (topic, payload) => this.#onMessage(topic, payload));
  }

  /** Resolves once the status is Connected. */
  whenConnected(timeoutMs = 10_000): Promise<void> {
    if (this.#status === "Connected") return Promise.resolve();
    return new Promise((resolve, reject) => {
      const wake = () => {
        if (this.#status !== "Connected") return;
        clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(wake);
        reject(new Error(`Not connected to the agent within ${timeoutMs} ms (${this.#status})`));
      }, timeoutMs);
      this.#waiters.add(wake);
    });
  }

  /** Disconnects and stops reconnecting. */
  async stop(): Promise<void> {
    const client = this.#client;
    if (!client) return;
    this.#client = undefined;
    this.#setStatus("Disconnecting");
    this.#failPending("the connection was stopped");
    await client.endAsync();
    this.#setStatus("Disconnected");
  }

  async #handshake(client: MqttClient): Promise<void> {
    try {
      await client.subscribeAsync(`${this.#prefix}/event/#`, { qos: 1 });
      await this.#request("connection", "hello", {});
      if (this.#client === client) this.#setStatus("Connected");
    } catch {
      // The next reconnect tries again.
      if (this.#client === client) client.stream?.destroy();
    }
  }

  #setStatus(status: ConnectionStatus): void {
    if (status === this.#status) return;
    this.#status = status;
    try {
      this.#statusChanged?.(status);
    } finally {
      for (const wake of [...this.#waiters]) wake();
    }
  }

  #publish(module: SupportModuleName, call: string, body: Record<string, unknown>): void {
    const client = this.#client;
    if (!client?.connected) {
      throw new AgentRequestError("NotConnected", "Not connected to the agent");
    }
    client.publish(`${this.#prefix}/request/${module}/${call}`, JSON.stringify(body), { qos: 1 });
  }

  #request(
    module: SupportModuleName,
    call: string,
    body: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timeoutMs = this.options.requestTimeoutMs ?? 10_000;
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(
          new AgentRequestError("Timeout", `No answer to ${module}/${call} in ${timeoutMs} ms`),
        );
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      try {
        this.#publish(module, call, { ...body, id });
      } catch (error) {
        clearTimeout(timer);
        this.#pending.delete(id);
        reject(error);
      }
    });
  }

  #onMessage(topic: string, bytes: Uint8Array): void {
    const rest = topic.startsWith(`${this.#prefix}/event/`)
      ? topic.slice(`${this.#prefix}/event/`.length).split("/")
      : [];
    if (rest.length !== 2) return;
    const [module, event] = rest as [SupportModuleName, string];
    let payload: Record<string, unknown>;
    try {
      const value = JSON.parse(new TextDecoder().decode(bytes));
      if (typeof value !== "object" || value === null || Array.isArray(value)) return;
      payload = value;
    } catch {
      return;
    }
    const id = typeof payload.id === "number" ? payload.id : undefined;
    const pending = id === undefined ? undefined : this.#pending.get(id);
    if (pending) {
      this.#pending.delete(id!);
      clearTimeout(pending.timer);
      if (event === "error" || event === "requestError") {
        pending.reject(
          new AgentRequestError(String(payload.code), String(payload.message ?? payload.code)),
        );
      } else {
        pending.resolve(payload);
      }
    }
    this.#handlers.get(module)?.(event, payload);
  }

  #failPending(reason: string): void {
    for (const [id, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(new AgentRequestError("NotConnected", reason));
      this.#pending.delete(id);
    }
  }
}
