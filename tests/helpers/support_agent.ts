/**
 * An agent with its support modules in reach: the agent on an in-process
 * cloud broker, a plain MQTT client playing the remote side, the relay and
 * an echo target for real tunnels, and the local-API bridge that apps
 * (`AgentConnection` or raw mqtt clients) connect to over mutual TLS.
 */
import mqtt, { type MqttClient } from "mqtt";
import { startAedes, type TestBroker } from "./brokers.ts";
import { observe, type Observer } from "./mqtt_observer.ts";
import { testAgent } from "./agent.ts";
import {
  type EchoServer,
  type RemoteAccessServer,
  startEchoServer,
  startRemoteAccessServer,
} from "./remote_access_server.ts";
import { startSupportBridge, type SupportBridge } from "./support_local_bridge.ts";
import { Condition } from "./condition.ts";
import type { Agent } from "../../actors/agent/agent.ts";
import { AgentConnection } from "../../actors/support/agent_connection.ts";

/** The device id of every support test agent. */
export const DEVICE = "dev-1";
/** The device's generic-cloud topics. */
export const P = `outpost/${DEVICE}`;
const TOKEN = "relay-token";

/** Options of {@link supportSetup}. */
export interface SupportSetupOptions {
  /** Extra TOML under `[support]` (e.g. `confirmationTimeoutSec = 0.3`), or made from the echo port. */
  support?: string | ((echoPort: number) => string);
  /** Reuse a state directory (restart tests). */
  stateDir?: string;
  /** Reuse a broker (restart tests). */
  broker?: TestBroker;
}

/** Everything a support test drives. */
export interface SupportSetup {
  agent: Agent;
  stateDir: string;
  broker: TestBroker;
  cloud: Observer;
  relay: RemoteAccessServer;
  echo: EchoServer;
  bridge: SupportBridge;
  /** Sends `tunnel.open` for a fresh relay key and resolves with the response and the key. */
  tunnelOpen(
    extra?: Record<string, unknown>,
  ): Promise<{ status: number; body: { tunnel: string; error: string } }>;
  /** A started AgentConnection for app `clientId`, Connected. */
  app(clientId: string): Promise<AgentConnection>;
  /** A raw mqtt.js client for app `clientId`, subscribed to its support events. */
  raw(clientId: string): Promise<RawApp>;
  /** Stops the agent and the bridge only (the broker and state stay for a restart). */
  stopAgent(): Promise<void>;
  teardown(options?: { keepState?: boolean; keepBroker?: boolean }): Promise<void>;
}

/** A plain MQTT app: publishes requests, records events. */
export interface RawApp {
  client: MqttClient;
  events: { topic: string; payload: Record<string, unknown> }[];
  request(module: string, call: string, payload: unknown): Promise<void>;
  /** Resolves with the first event (seen or future) on `…/event/<module>/<event>` that matches. */
  waitFor(
    path: string,
    match?: (payload: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
}

/** Starts the whole support test world. */
export async function supportSetup(options: SupportSetupOptions = {}): Promise<SupportSetup> {
  const broker = options.broker ?? await startAedes();
  const relay = await startRemoteAccessServer({ bearer: TOKEN });
  const echo = startEchoServer();
  const cloud = await observe(broker.url, [`${P}/#`]);
  const { agent, stateDir } = await testAgent({
    url: broker.url,
    deviceId: DEVICE,
    stateDir: options.stateDir,
    extra: `
[remoteAccess]
allow = ["127.0.0.1:${echo.port}"]
dialTimeoutSec = 5

[support]
${typeof options.support === "function" ? options.support(echo.port) : options.support ?? ""}
`,
  });
  await agent.start();
  await cloud.waitFor((m) => m.topic === `${P}/status` && JSON.parse(m.text).online === true);
  const bridge = await startSupportBridge(() => agent.localApiModules());
  const apps: AgentConnection[] = [];
  const raws: MqttClient[] = [];
  let requests = 0;
  let stopped = false;
  const stopAgent = async () => {
    if (stopped) return;
    stopped = true;
    for (const app of apps) await app.stop();
    for (const client of raws) await client.endAsync();
    await bridge.stop();
    await agent.stop();
  };
  return {
    agent,
    stateDir,
    broker,
    cloud,
    relay,
    echo,
    bridge,
    async tunnelOpen(extra = {}) {
      const id = `r${++requests}`;
      const key = `key-${id}`;
      await relay.open(key);
      await cloud.publish(
        `${P}/commands/tunnel.open/${id}`,
        JSON.stringify({
          url: relay.deviceUrl(key),
          token: TOKEN,
          host: "127.0.0.1",
          port: echo.port,
          ...extra,
        }),
      );
      const seen = await cloud.waitFor((m) => m.topic === `${P}/responses/tunnel.open/${id}`);
      return JSON.parse(seen.text);
    },
    async app(clientId) {
      const app = new AgentConnection({ url: bridge.url, clientId, ...bridge.tls });
      apps.push(app);
      app.start();
      await app.whenConnected();
      return app;
    },
    async raw(clientId) {
      const client = await mqtt.connectAsync(bridge.url, {
        clientId,
        ...bridge.tls,
        rejectUnauthorized: true,
        reconnectPeriod: 0,
      });
      raws.push(client);
      const prefix = `/v1.0/${clientId}/support`;
      const events: RawApp["events"] = [];
      const condition = new Condition();
      client.on("message", (topic, payload) => {
        let parsed: Record<string, unknown>;
        try {
          parsed = JSON.parse(new TextDecoder().decode(payload));
        } catch {
          parsed = { unparsable: true };
        }
        events.push({ topic: topic.slice(prefix.length + "/event/".length), payload: parsed });
        condition.changed();
      });
      await client.subscribeAsync(`${prefix}/event/#`, { qos: 1 });
      return {
        client,
        events,
        async request(module, call, payload) {
          const body = typeof payload === "string" || payload instanceof Uint8Array
            ? payload
            : JSON.stringify(payload);
          await client.publishAsync(`${prefix}/request/${module}/${call}`, body as string, {
            qos: 1,
          });
        },
        async waitFor(path, match = () => true, timeoutMs = 5000) {
          const found = await condition.until(
            `event ${path}`,
            () => events.find((e) => e.topic === path && match(e.payload)),
            {
              timeoutMs,
              context: () =>
                `seen: ${events.map((e) => `${e.topic} ${JSON.stringify(e.payload)}`).join("; ")}`,
            },
          );
          return found.payload;
        },
      };
    },
    stopAgent,
    async teardown({ keepState = false, keepBroker = false } = {}) {
      await stopAgent();
      await cloud.close();
      await relay.close();
      await echo.close();
      if (!keepBroker) await broker.stop();
      if (!keepState) await Deno.remove(stateDir, { recursive: true });
    },
  };
}
