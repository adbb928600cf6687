import { deepEqual, equal, ok } from "node:assert/strict";
import { createAgent } from "../../actors/agent/agent.ts";
import { parseConfig } from "../../actors/agent/config.ts";
import { type AzureEmulator, startAzureEmulator } from "../helpers/azure_emulator.ts";
import { type TestPki, testPki } from "../helpers/tls.ts";
import { LocalApiClient } from "../../actors/local_api/client.ts";
import { until } from "../helpers/wait.ts";
import { freePort } from "../helpers/brokers.ts";
import { fileCredentialStorage } from "../../actors/azure/credentials.ts";
import { deriveDeviceKey } from "../../protocols/azure_sas.ts";

const GROUP_KEY = btoa("the-enrollment-group-key-0123456");

/** An agent `deviceId` with its state in `stateDir`, no system telemetry, and `tables`. */
function agentConfig(deviceId: string, stateDir: string, tables: string) {
  return parseConfig(
    `[agent]\ndeviceId = "${deviceId}"\nstateDir = "${stateDir}"\n\n` +
      `[telemetry.system]\nenabled = false\n\n${tables}`,
    { source: "azure agent test", env: {} },
  );
}

/** `[clouds.central]`: DPS on the emulator with the enrollment group's key. */
function dpsCloud(emulator: AzureEmulator, pki: TestPki): string {
  return `[clouds.central]\ntype = "azure"\nidScope = "${emulator.idScope}"\n` +
    `groupKey = "${GROUP_KEY}"\ndpsHost = "${emulator.hub}"\ncaFile = "${pki.ca.certFile}"\n`;
}

Deno.test('an agent with [clouds.<name>] type = "azure" provisions, caches 0600 credentials, sends records and answers the twin and commands', async () => {
  const pki = await testPki();
  const emulator = await startAzureEmulator({ pki, groupKeys: [GROUP_KEY] });
  const stateDir = await Deno.makeTempDir({ prefix: "outpost-azure-agent-" });
  const config = agentConfig(
    "gw-1",
    stateDir,
    `${dpsCloud(emulator, pki)}modelId = "dtmi:outpost:gateway;1"

[clouds.central.backoff]
minMs = 20
maxMs = 200
`,
  );
  const agent = createAgent(config, { control: false });
  agent.onCommand("blink", (payload) => ({ blinked: payload }));
  agent.onDesired((desired) => desired);
  try {
    await agent.start();
    await agent.connected();
    const file = `${stateDir}/azure-central.credentials.json`;
    equal((await Deno.stat(file)).mode! & 0o777, 0o600);
    deepEqual(JSON.parse(await Deno.readTextFile(file)).hubName, emulator.hub);

    await agent.publish("climate", { celsius: 21.5 });
    await emulator.waitFor("the record", () => emulator.messages.length === 1);
    const [message] = emulator.messages;
    equal(message.deviceId, "gw-1");
    equal(message.properties.stream, "climate");
    equal(message.properties["$.ct"], "application/json");
    deepEqual(JSON.parse(message.payload), { celsius: 21.5 });

    deepEqual(await emulator.invoke("gw-1", "blink", 3), { status: 200, payload: { blinked: 3 } });
    equal((await emulator.invoke("gw-1", "nope", null)).status, 501);

    await emulator.setDesired("gw-1", { fan: "high" });
    const twin = emulator.twin("gw-1");
    await emulator.waitFor("the ack", () => twin.reported.fan !== undefined);
    deepEqual(twin.reported.fan, { value: "high", ac: 200, av: 2, ad: "completed" });
    ok(agent.status().clouds[0].connected);
    deepEqual(emulator.violations, []);
  } finally {
    await agent.stop();
    await emulator.stop();
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("an azure cloud table is checked: one credential, an idScope or hub, base64 keys", () => {
  const table = (body: string) => () =>
    parseConfig(`[clouds.a]\ntype = "azure"\n${body}`, { source: "t", env: {} });
  const message = (body: string) => {
    try {
      table(body)();
      return "";
    } catch (error) {
      return (error as Error).message;
    }
  };
  ok(message('idScope = "0ne1"').includes("exactly one of deviceKey, groupKey or certFile"));
  ok(message('deviceKey = "AAAA"').includes("a DPS id scope, or a hub"));
  ok(message('idScope = "0ne1"\ndeviceKey = "not base64!"').includes("a base64 key"));
  ok(!message('idScope = "0ne1"\ndeviceKey = "not base64!"').includes("not base64!"), "no echo");
  const config = table('idScope = "0ne1"\ndeviceKey = "AAAA"')();
  const cloud = config.clouds.a;
  equal(cloud.type, "azure");
  if (cloud.type === "azure") {
    equal(cloud.dpsHost, "global.azure-devices-provisioning.net");
    equal(cloud.tokenTtlSec, 3600);
    equal(cloud.deviceId, config.agent.deviceId);
  }
});

Deno.test("a DPS refusal leaves the agent running; DPS is asked again after dpsRetrySec and the cloud connects", async () => {
  const pki = await testPki();
  const emulator = await startAzureEmulator({ pki, groupKeys: [GROUP_KEY] });
  const stateDir = await Deno.makeTempDir({ prefix: "outpost-azure-agent-" });
  const config = agentConfig(
    "gw-2",
    stateDir,
    `${dpsCloud(emulator, pki)}dpsRetrySec = 1

[clouds.central.backoff]
minMs = 20
maxMs = 200
`,
  );
  emulator.failDps(401, 1, { errorCode: 401002, message: "The device is disabled" });
  const agent = createAgent(config, { control: false });
  let exited = false;
  agent.exited.then(() => (exited = true));
  try {
    await agent.start();
    await agent.connected();
    const registers = emulator.publishes.filter((p) => p.topic.includes("iotdps-register"));
    equal(registers.length, 2, "refused once, then registered");
    equal(exited, false);
    const cloud = agent.tree().children.find((c) => c.id === "cloud:central")!;
    equal(cloud.status, "running");
    equal(cloud.restarts, 0, "the refusal crashed nothing");
  } finally {
    await agent.stop();
    await emulator.stop();
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("an agent whose cached hub answers no connect runs DPS again after 10 failures (the default) and connects to the hub DPS assigns", async () => {
  const pki = await testPki();
  const emulator = await startAzureEmulator({ pki, groupKeys: [GROUP_KEY] });
  const stateDir = await Deno.makeTempDir({ prefix: "outpost-azure-agent-" });
  // A hub that is gone: nothing listens on its port.
  const cache = fileCredentialStorage(`${stateDir}/azure-central.credentials.json`);
  await cache.persist({
    hubName: `127.0.0.1:${freePort()}`,
    deviceId: "gw-4",
    deviceKey: await deriveDeviceKey(GROUP_KEY, "gw-4"),
  });
  const config = agentConfig(
    "gw-4",
    stateDir,
    `${dpsCloud(emulator, pki)}
[clouds.central.backoff]
minMs = 10
maxMs = 50
`,
  );
  const agent = createAgent(config, { control: false });
  try {
    await agent.start();
    await emulator.waitFor("a DPS registration", () => emulator.registrations.length === 1);
    await agent.connected();
    deepEqual((await cache.retrieve())?.hubName, emulator.hub);
    deepEqual(emulator.connects.map((c) => [c.service, c.accepted]), [["dps", true], [
      "hub",
      true,
    ]]);
  } finally {
    await agent.stop();
    await emulator.stop();
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("with a hub and no idScope the cloud connects straight to the hub, never to DPS", async () => {
  const pki = await testPki();
  const key = btoa("a-device-known-to-the-hub-012345");
  const emulator = await startAzureEmulator({ pki, hubDevices: { "gw-3": key } });
  const stateDir = await Deno.makeTempDir({ prefix: "outpost-azure-agent-" });
  const config = agentConfig(
    "gw-3",
    stateDir,
    `[clouds.hub]
type = "azure"
hub = "${emulator.hub}"
deviceKey = "${key}"
caFile = "${pki.ca.certFile}"
`,
  );
  const agent = createAgent(config, { control: false });
  try {
    await agent.start();
    await agent.connected();
    deepEqual(emulator.connects.map((c) => [c.service, c.accepted]), [["hub", true]]);
    const names = agent.tree().children.find((c) => c.id === "cloud:hub")!.children.map((c) =>
      c.id
    );
    deepEqual(names, ["connection", "token", "twin", "support", "commands", "drain"]);
  } finally {
    await agent.stop();
    await emulator.stop();
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("values pushed by a local app reach Azure as telemetry of stream local.<sensorId>", async () => {
  const pki = await testPki();
  const emulator = await startAzureEmulator({ pki, groupKeys: [GROUP_KEY] });
  const stateDir = await Deno.makeTempDir({ prefix: "outpost-azure-local-" });
  const certFolder = await Deno.makeTempDir({ prefix: "outpost-azure-app-" });
  const config = agentConfig(
    "gw-2",
    stateDir,
    `[localApi]
enabled = true
provisioningPort = 0
apiPort = 0

${dpsCloud(emulator, pki)}`,
  );
  const agent = createAgent(config, { control: false });
  let client: LocalApiClient | undefined;
  try {
    await agent.start();
    await agent.connected();
    await until("the local API ports", () => agent.localApi().ports().api !== undefined);
    const ports = agent.localApi().ports();
    client = new LocalApiClient({
      caFile: config.localApi.caCertPath,
      certFolder,
      provisionPort: ports.provisioning,
      port: ports.api,
    });
    await client.provision("thermometer");
    await client.connect();
    const sensorId = await client.createSensor("kitchen");
    const [metric] = await client.createMetrics(sensorId, [
      { matchingId: "t", name: "temperature", valueUnit: "SI.Temperature.CELSIUS" },
    ]);
    await client.pushValues(sensorId, [{ metricId: metric.metricId, value: 21.5 }]);
    await emulator.waitFor("the pushed value", () => emulator.messages.length === 1);
    const [message] = emulator.messages;
    equal(message.properties.stream, `local.${sensorId}`);
    deepEqual(JSON.parse(message.payload), { [metric.metricId]: 21.5 });
  } finally {
    await client?.close();
    await agent.stop();
    await emulator.stop();
    await Deno.remove(stateDir, { recursive: true });
    await Deno.remove(certFolder, { recursive: true });
  }
});
