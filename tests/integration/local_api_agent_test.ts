/**
 * The local API inside a whole agent whose cloud is a generic MQTT broker
 * or the Cumulocity emulator (PROTOCOLS.md §0, §1, §4): values an app
 * pushes over the local API arrive in the cloud's own format through the
 * outbox, and the agent tree shows the `local-api` subtree.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { startAedes } from "../helpers/brokers.ts";
import { observe } from "../helpers/mqtt_observer.ts";
import { testAgent } from "../helpers/agent.ts";
import { connectApi, provisionApp } from "../helpers/local_api_app.ts";
import { setup as c8ySetup } from "../helpers/c8y_agent.ts";

const LOCAL_API = `
[localApi]
enabled = true
provisioningPort = 0
apiPort = 0
`;

Deno.test("values an app pushes through the local API arrive at the generic cloud as telemetry", async () => {
  const broker = await startAedes();
  const cloud = await observe(broker.url, ["outpost/dev-1/telemetry/#"]);
  const { agent, stateDir } = await testAgent({ url: broker.url, extra: LOCAL_API });
  await agent.start();
  try {
    const localApi = agent.localApi();
    await localApi.ready();
    const { provisioning, api } = localApi.ports();
    const caPem = await Deno.readTextFile(`${stateDir}/local-api/ca.crt`);
    const app = await connectApi(api!, caPem, await provisionApp(provisioning!, caPem));
    try {
      const sid = ((await app.call("/sensor/create", { name: "climate" }, ["/sensor/inbox"]))
        .body as { sensorId: string }).sensorId;
      const [metric] = (await app.call(
        `/sensor/${sid}/metric`,
        { metrics: [{ matchingId: "1", name: "t", valueUnit: "SI.Temperature.CELSIUS" }] },
        [`/sensor/${sid}/metric/inbox`],
      )).body as { metricId: string }[];
      const pushed = await app.call(
        `/sensor/${sid}/metric/pushValues`,
        { metrics: [{ metricId: metric.metricId, value: 21.5 }], timestamp: 1700000000000 },
        [`/sensor/${sid}/info/inbox`, `/sensor/${sid}/error/inbox`],
      );
      equal(pushed.topic, `/v1.0/${app.clientId}/sensor/${sid}/info/inbox`);
      const seen = await cloud.waitFor((m) => m.topic === `outpost/dev-1/telemetry/local.${sid}`);
      const body = JSON.parse(seen.text);
      deepEqual(body.values, { [metric.metricId]: 21.5 });
      equal(body.ts, new Date(1700000000000).toISOString());
      ok(Number.isInteger(body.seq));
    } finally {
      await app.close();
    }
    const subtree = agent.tree().children?.find((c) => c.id === "local-api");
    deepEqual(subtree?.children?.map((c) => c.id), ["authority", "provisioning", "api"]);
  } finally {
    await agent.stop();
    await cloud.close();
    await broker.stop();
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("values an app pushes through the local API arrive at Cumulocity as measurements", async () => {
  const t = await c8ySetup({ extra: LOCAL_API });
  try {
    const localApi = t.agent.localApi();
    await localApi.ready();
    const { provisioning, api } = localApi.ports();
    const caPem = await Deno.readTextFile(`${t.stateDir}/local-api/ca.crt`);
    const app = await connectApi(api!, caPem, await provisionApp(provisioning!, caPem));
    try {
      const sid = ((await app.call("/sensor/create", { name: "climate" }, ["/sensor/inbox"]))
        .body as { sensorId: string }).sensorId;
      const [metric] = (await app.call(
        `/sensor/${sid}/metric`,
        { metrics: [{ matchingId: "1", name: "t", valueUnit: "SI.Temperature.CELSIUS" }] },
        [`/sensor/${sid}/metric/inbox`],
      )).body as { metricId: string }[];
      await app.call(
        `/sensor/${sid}/metric/pushValues`,
        { metrics: [{ metricId: metric.metricId, value: 21.5 }], timestamp: 1700000000000 },
        [`/sensor/${sid}/info/inbox`],
      );
      const [line] = await t.emulator.waitForLines((f) =>
        f[0] === "200" && f[1] === `local.${sid}`
      );
      deepEqual(line.fields.slice(1, 4), [`local.${sid}`, metric.metricId, "21.5"]);
    } finally {
      await app.close();
    }
  } finally {
    await t.teardown();
  }
});
