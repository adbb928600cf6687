/**
 * The cloud contract (actors/cloud/connector.ts) held by every registered
 * cloud type, and a fifth type that exists only in this test: registered
 * here, with no edit under actors/agent/, it is validated, overridden from
 * the environment, built, drained and shown like the four built-in ones.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import { createAgent } from "../../actors/agent/agent.ts";
import { buildCloud } from "../../actors/agent/clouds.ts";
import { ConfigError, parseConfig } from "../../actors/agent/config.ts";
import type { CloudConfig } from "../../actors/agent/config_types.ts";
import type { CloudConnector, CloudContext } from "../../actors/cloud/connector.ts";
import { HandlerRegistry } from "../../actors/cloud/handlers.ts";
import { mqttConnectionOptions } from "../../actors/cloud/mqtt_config.ts";
import { BUILT_IN_CLOUDS, registerCloud, unregisterCloud } from "../../actors/clouds.ts";
import { mqttConnection } from "../../actors/mqtt/connection.ts";
import { MqttLink } from "../../actors/mqtt/link.ts";
import { configureLogging, resetLogging } from "../../actors/runtime/logging.ts";
import { child } from "../../actors/runtime/spec.ts";
import { openDatabase } from "../../actors/store/database.ts";
import { Outbox } from "../../actors/telemetry/outbox.ts";
import { allowAll } from "../../actors/tunnels/types.ts";
import { startAedes } from "../helpers/brokers.ts";
import { observe } from "../helpers/mqtt_observer.ts";

/** The smallest table each built-in type documents as valid (docs/configuration.md). */
const MINIMAL: Record<string, Record<string, unknown>> = {
  mqtt: { type: "mqtt", url: "mqtt://127.0.0.1:1883" },
  c8y: {
    type: "c8y",
    url: "mqtts://tenant.example.invalid:8883",
    tenant: "t1",
    user: "device",
    password: "secret",
  },
  aws: { type: "aws", url: "mqtts://endpoint.example.invalid:8883" },
  azure: { type: "azure", idScope: "0ne00000001", deviceKey: "c2VjcmV0a2V5c2VjcmV0a2V5" },
};

async function withState(fn: (dir: string, outbox: Outbox, ctx: CloudContext) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "outpost_contract_" });
  const db = openDatabase(dir);
  const outbox = new Outbox(db);
  const ctx: CloudContext = {
    name: "under-test",
    deviceId: "dev-1",
    stateFile: (file) => `${dir}/${file}`,
    db,
    handlers: new HandlerRegistry(),
    tree: () => ({ id: "agent", path: "agent", kind: "supervisor", status: "running" }) as never,
    events: () => Promise.resolve(),
    tunnels: {
      remoteAccess: {
        allow: [],
        maxTunnels: 1,
        bufferSize: 16384,
        pingIntervalSec: 10,
        dialTimeoutSec: 5,
      },
      accessCheck: allowAll,
      start: () => Promise.reject(new Error("no tunnels in this test")),
    },
    send: () => {},
  };
  try {
    await fn(dir, outbox, ctx);
  } finally {
    outbox.close();
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("every registered cloud type: its schema takes the minimal documented table and refuses an unknown key", () => {
  assert.deepEqual(BUILT_IN_CLOUDS.map((c) => c.type), ["mqtt", "c8y", "aws", "azure"]);
  for (const connector of BUILT_IN_CLOUDS) {
    const table = MINIMAL[connector.type];
    assert.ok(table, `a minimal table for ${connector.type}`);
    assert.equal((connector.schema.parse(table) as { type: string }).type, connector.type);
    assert.throws(
      () => connector.schema.parse({ ...table, surplus: 1 }),
      /surplus/,
      `${connector.type} refuses an unknown key`,
    );
  }
});

Deno.test("every registered cloud type builds children without a drain, connection first; the agent's subtree ends with the drain", async () => {
  for (const connector of BUILT_IN_CLOUDS) {
    await withState(async (dir, outbox, ctx) => {
      const config = parseConfig(undefined, { env: {} });
      const raw = { ...MINIMAL[connector.type] };
      if (connector.type === "aws") {
        // A fixed identity, so nothing waits for provisioning.
        await Deno.writeTextFile(`${dir}/cert.pem`, "-----BEGIN CERTIFICATE-----\n");
        await Deno.writeTextFile(`${dir}/key.pem`, "-----BEGIN PRIVATE KEY-----\n");
        Object.assign(raw, { certFile: `${dir}/cert.pem`, keyFile: `${dir}/key.pem` });
        raw.thingName = "thing-1";
      }
      const table = connector.schema.parse(raw);
      const resolved = connector.resolve?.(table, { deviceId: "dev-1", stateDir: dir }) ?? table;
      const built = await connector.build(resolved, ctx);
      const ids = built.children.map((c: { id: string }) => c.id);
      assert.equal(ids[0], "connection", `${connector.type}: ${ids}`);
      assert.ok(!ids.includes("drain"), `${connector.type} leaves the drain to the agent: ${ids}`);

      const parts = await buildCloud("c", resolved as CloudConfig, {
        config: { ...config, agent: { ...config.agent, stateDir: dir } },
        db: ctx.db,
        outbox,
        handlers: ctx.handlers,
        tree: ctx.tree,
        reportEvent: ctx.events,
        accessCheck: allowAll,
        startChild: () => Promise.reject(new Error("no tunnels")),
        sendTo: () => {},
      });
      const subtree = parts.spec.children.map((c) => c.id);
      assert.equal(parts.spec.strategy, "rest_for_one");
      assert.equal(subtree.at(-1), "drain", `${connector.type}: ${subtree}`);
      if (subtree.includes("tunnels")) {
        assert.ok(
          subtree.indexOf("tunnels") < subtree.indexOf("drain"),
          "a drain crash never restarts tunnels",
        );
      }
    });
  }
});

interface EchoTable {
  type: "echo";
  url: string;
  topic: string;
}

/** A cloud type that publishes each record as `{seq, values}` to `<topic>/<stream>`. */
const echoConnector: CloudConnector<EchoTable> = {
  type: "echo",
  schema: z.strictObject({
    type: z.literal("echo"),
    url: z.string().describe("an MQTT URL"),
    topic: z.string().describe("a topic prefix").default("echo"),
  }),
  serves: { commands: false, desired: false },
  async build(config, ctx) {
    const link = new MqttLink(ctx.name);
    const connection = await mqttConnectionOptions({
      url: config.url,
      clientId: `echo-${ctx.deviceId}`,
      insecure: false,
      cleanSession: true,
      keepaliveSec: 30,
      backoff: { minMs: 20, maxMs: 200, jitter: 0 },
    });
    return {
      link,
      encoder: {
        name: ctx.name,
        telemetry: (seq, _ts, stream, values) => ({
          topic: `${config.topic}/${stream}`,
          payload: JSON.stringify({ seq, values }),
          qos: 1,
        }),
        event: (seq, _ts, type, text) => ({
          topic: `${config.topic}/events/${type}`,
          payload: JSON.stringify({ seq, text }),
          qos: 1,
        }),
      },
      children: [child("connection", mqttConnection(link, connection), { shutdownMs: 2000 })],
      parts: { topic: config.topic },
    };
  },
};

Deno.test("a fifth cloud type registered by a test: validated, overridden from the environment, drained to its broker, shown in status and tree, warned about handlers it cannot serve", async () => {
  registerCloud(echoConnector);
  const broker = await startAedes();
  const stateDir = await Deno.makeTempDir({ prefix: "outpost_echo_" });
  const lines: string[] = [];
  await configureLogging({ level: "warning", write: (line) => lines.push(line) });
  try {
    const toml = (extra = "") =>
      `[agent]\ndeviceId = "dev-1"\nstateDir = "${stateDir}"\n[telemetry.system]\nenabled = false\n` +
      `[clouds.e]\ntype = "echo"\nurl = "${broker.url}"\n${extra}`;
    assert.throws(
      () => parseConfig(toml("colour = 1"), { env: {} }),
      (error: ConfigError) => /clouds\.e\.colour/.test(error.message),
    );
    assert.throws(
      () => parseConfig(toml().replace('"echo"', '"echoes"'), { env: {} }),
      /one of "mqtt", "c8y", "aws", "azure", "echo"/,
    );
    const config = parseConfig(toml(), { env: { OUTPOST_CLOUDS__E__TOPIC: "site/7" } });
    assert.equal((config.clouds.e as unknown as EchoTable).topic, "site/7");

    const cloud = await observe(broker.url, ["site/7/#"]);
    const agent = createAgent(config, { control: false });
    agent.onCommand("reboot", () => "ok");
    await agent.start();
    try {
      await agent.connected();
      const seq = await agent.publish("climate", { celsius: 21.5 });
      const seen = await cloud.waitFor((m) => m.topic === "site/7/climate");
      assert.deepEqual(JSON.parse(seen.text), { seq, values: { celsius: 21.5 } });
      assert.deepEqual(agent.status().clouds.map((c) => [c.name, c.connected]), [["e", true]]);
      const subtree = agent.tree().children.find((c) => c.id === "cloud:e")!;
      assert.deepEqual(subtree.children.map((c) => c.id), ["connection", "drain"]);
      assert.deepEqual(agent.cloud<{ topic: string }>("e")?.parts, { topic: "site/7" });
      assert.ok(
        lines.some((l) => /Cloud "?e"? \(echo\) cannot deliver commands/.test(l)),
        `a warning names the cloud: ${lines.join("\n")}`,
      );
    } finally {
      await agent.stop();
      await cloud.close();
    }
  } finally {
    await resetLogging();
    unregisterCloud("echo");
    await broker.stop();
    await Deno.remove(stateDir, { recursive: true });
  }
});
