import { cloudSupervisor, drainChild } from "../../actors/cloud/tree.ts";
import { deepEqual, equal, match, ok, rejects } from "node:assert/strict";
import { SimulatedClock } from "xstate";
import { AzureDevice, type AzureDeviceOptions } from "../../actors/facades/azure_device.ts";
import { type CachedCredentials, memoryCredentialStorage } from "../../actors/azure/credentials.ts";
import { type AzureEmulator, startAzureEmulator } from "../helpers/azure_emulator.ts";
import { testPki } from "../helpers/tls.ts";
import { until } from "../helpers/wait.ts";
import { freePort } from "../helpers/brokers.ts";
import { azureCloud } from "../../actors/azure/mod.ts";
import { createSystem } from "../../actors/runtime/system.ts";
import { supervisor } from "../../actors/runtime/spec.ts";
import { openDatabase } from "../../actors/store/database.ts";
import { Outbox } from "../../actors/telemetry/outbox.ts";

const DEVICE_KEY = btoa("device-key-of-dev-1-0123456789ab");
const GROUP_KEY = btoa("the-enrollment-group-key-0123456");
const connectionState = (device: AzureDevice) =>
  device.tree()?.children[0]?.children.find((c) => c.id === "connection")?.state;
const quiet = { info: () => {}, debug: () => {} };

async function withDevice(
  emulatorOptions: Omit<Parameters<typeof startAzureEmulator>[0], "pki">,
  build: (emulator: AzureEmulator, options: AzureDeviceOptions) => AzureDevice,
  body: (emulator: AzureEmulator, device: AzureDevice) => Promise<void>,
): Promise<void> {
  const pki = await testPki();
  const emulator = await startAzureEmulator({ pki, ...emulatorOptions });
  const stateDir = await Deno.makeTempDir({ prefix: "outpost-azure-" });
  const device = build(emulator, {
    stateDir,
    dpsHost: emulator.hub,
    ca: pki.ca.cert,
    logger: quiet,
    backoff: { minMs: 50, maxMs: 200 },
    dpsLimits: { minBackoffMs: 10, maxBackoffMs: 50, replyTimeoutMs: 5000 },
  });
  try {
    await body(emulator, device);
  } finally {
    await device.disconnect();
    await emulator.stop();
    await Deno.remove(stateDir, { recursive: true });
  }
}

const keyed = (
  id: string,
  type: "deviceKey" | "groupKey",
  key: string,
  extra: Partial<AzureDeviceOptions> = {},
) =>
(emulator: AzureEmulator, options: AzureDeviceOptions) =>
  new AzureDevice(id, emulator.idScope, type, key, { ...options, ...extra });

Deno.test("a device key registers with DPS, connects to the assigned hub and sends telemetry with its property bag", async () => {
  await withDevice(
    { devices: { "dev-1": DEVICE_KEY } },
    keyed("dev-1", "deviceKey", DEVICE_KEY),
    async (emulator, device) => {
      device.setModelId("dtmi:outpost:test;1");
      await device.connect();
      ok(device.isConnected());
      deepEqual(emulator.registrations[0].body, {
        registrationId: "dev-1",
        payload: { iotcModelId: "dtmi:outpost:test;1", modelId: "dtmi:outpost:test;1" },
      });
      const hubLogin = emulator.connects.find((c) => c.service === "hub" && c.accepted)!;
      equal(
        hubLogin.username,
        `${emulator.hub}/dev-1/?api-version=2021-04-12&model-id=dtmi:outpost:test;1`,
      );
      match(hubLogin.password!, /^SharedAccessSignature sr=[^&]+&sig=[^&]+&se=\d+$/);
      await device.sendTelemetry({ temperature: 21.5 }, { alert: "a b", "$.sub": "thermostat1" });
      await emulator.waitFor("a telemetry message", () => emulator.messages.length === 1);
      const [message] = emulator.messages;
      deepEqual(JSON.parse(message.payload), { temperature: 21.5 });
      equal(message.properties["$.ct"], "application/json");
      equal(message.properties["$.ce"], "utf-8");
      equal(message.properties["$.sub"], "thermostat1");
      equal(message.properties.alert, "a b");
      match(message.properties["$.mid"], /^[0-9a-f-]{36}$/);
      deepEqual(emulator.violations, []);
    },
  );
});

Deno.test("a group key derives the device key and registers", async () => {
  await withDevice(
    { groupKeys: [GROUP_KEY] },
    keyed("dev-g", "groupKey", GROUP_KEY),
    async (emulator, device) => {
      await device.connect();
      ok(device.isConnected());
      equal(emulator.connects.filter((c) => !c.accepted).length, 0);
    },
  );
});

Deno.test("a wrong key is refused by DPS and connect() fails with the reason", async () => {
  await withDevice(
    { devices: { "dev-1": DEVICE_KEY } },
    keyed("dev-1", "deviceKey", btoa("not-the-right-key-0123456789abcd")),
    async (_emulator, device) => {
      await rejects(device.connect(), /DPS refused the device: .*not authorized/);
      equal(device.isConnected(), false);
    },
  );
});

Deno.test("DPS 429 is retried with backoff; 401 fails with DPS's message", async () => {
  await withDevice(
    { devices: { "dev-1": DEVICE_KEY } },
    keyed("dev-1", "deviceKey", DEVICE_KEY),
    async (emulator, device) => {
      emulator.failDps(429, 2);
      await device.connect();
      equal(emulator.registrations.length, 1, "the third request registered");
      ok(emulator.publishes.filter((p) => p.topic.includes("iotdps-register")).length >= 3);
    },
  );
  await withDevice(
    { devices: { "dev-1": DEVICE_KEY } },
    keyed("dev-1", "deviceKey", DEVICE_KEY),
    async (emulator, device) => {
      emulator.failDps(401, 1, { errorCode: 401002, message: "The device is disabled" });
      await rejects(
        device.connect(),
        /failed: DPS refused the registration with 401 \(401002\): The device is disabled/,
      );
    },
  );
});

Deno.test("cached credentials skip DPS; a hub that refuses them makes DPS run again", async () => {
  const storage = memoryCredentialStorage();
  await withDevice(
    { devices: { "dev-1": DEVICE_KEY } },
    keyed("dev-1", "deviceKey", DEVICE_KEY, { storage }),
    async (emulator, device) => {
      await device.connect();
      const cached = await storage.retrieve() as CachedCredentials;
      deepEqual(cached, { hubName: emulator.hub, deviceId: "dev-1", deviceKey: DEVICE_KEY });
      await device.disconnect();
      const dpsBefore = emulator.connects.filter((c) => c.service === "dps").length;
      await device.connect();
      equal(emulator.connects.filter((c) => c.service === "dps").length, dpsBefore, "no DPS");
      await device.disconnect();

      emulator.forget("dev-1");
      await device.connect();
      ok(emulator.connects.filter((c) => c.service === "hub" && !c.accepted).length >= 1);
      equal(emulator.connects.filter((c) => c.service === "dps").length, dpsBefore + 1);
    },
  );
});

Deno.test("a cached hub that answers no connect sends the device back to DPS after N failures; it connects to the hub DPS assigns", async () => {
  const storage = memoryCredentialStorage();
  const gone = `127.0.0.1:${freePort()}`; // nothing listens: every connect is refused by TCP
  await storage.persist({ hubName: gone, deviceId: "dev-1", deviceKey: DEVICE_KEY });
  await withDevice(
    { devices: { "dev-1": DEVICE_KEY } },
    keyed("dev-1", "deviceKey", DEVICE_KEY, {
      storage,
      unreachableConnects: 3,
      unreachableWindowMs: 60_000,
    }),
    async (emulator, device) => {
      const connecting = device.connect();
      connecting.catch(() => {}); // awaited below; before that a timeout may end the test
      await emulator.waitFor("a DPS registration", () => emulator.registrations.length === 1);
      await connecting;
      ok(device.isConnected());
      deepEqual(await storage.retrieve(), {
        hubName: emulator.hub,
        deviceId: "dev-1",
        deviceKey: DEVICE_KEY,
      });
      deepEqual(emulator.connects.map((c) => [c.service, c.accepted]), [["dps", true], [
        "hub",
        true,
      ]]);
    },
  );
});

Deno.test("writable properties are acknowledged in and out of components, and missed ones at boot", async () => {
  await withDevice(
    { devices: { "dev-1": DEVICE_KEY } },
    keyed("dev-1", "deviceKey", DEVICE_KEY),
    async (emulator, device) => {
      emulator.presetDesired("dev-1", { fanSpeed: 3 });
      const seen: string[] = [];
      device.on("properties", (name, value, component) => {
        seen.push(`${component ?? ""}/${name}=${JSON.stringify(value)}`);
        return name !== "refused";
      });
      await device.connect();
      const twin = emulator.twin("dev-1");
      await emulator.waitFor("the boot ack", () => twin.reported.fanSpeed !== undefined);
      deepEqual(twin.reported.fanSpeed, { value: 3, ac: 200, av: 2, ad: "completed" });

      // "refused" first: once the component's ack arrives, it was decided too.
      await emulator.setDesired("dev-1", { refused: 1, thermostat: { __t: "c", target: 22 } });
      await emulator.waitFor("the component ack", () => twin.reported.thermostat !== undefined);
      deepEqual(twin.reported.thermostat, {
        __t: "c",
        target: { value: 22, ac: 200, av: 3, ad: "completed" },
      });
      equal(twin.reported.refused, undefined, "false means no ack");
      deepEqual(seen, ["/fanSpeed=3", "/refused=1", "thermostat/target=22"]);

      await device.sendProperty({ serial: "A1" });
      equal(twin.reported.serial, "A1");
    },
  );
});

Deno.test("malformed desired JSON is logged and the device keeps working", async () => {
  await withDevice(
    { devices: { "dev-1": DEVICE_KEY } },
    keyed("dev-1", "deviceKey", DEVICE_KEY),
    async (emulator, device) => {
      device.on("properties", () => true);
      emulator.presetDesired("dev-1", { boot: 1 });
      await device.connect();
      const twin = emulator.twin("dev-1");
      await emulator.waitFor("the boot sync", () => twin.reported.boot !== undefined);
      await emulator.sendRawDesired("dev-1", "{not json");
      // Not newer than the twin read at connect ($version 2): already covered, so skipped.
      await emulator.sendRawDesired("dev-1", '{"stale":1,"$version":2}');
      await emulator.setDesired("dev-1", { fan: 1 });

      await emulator.waitFor("the ack after the bad patch", () => twin.reported.fan !== undefined);
      equal(twin.reported.stale, undefined, "the stale patch was not acknowledged");
      ok(device.isConnected());
    },
  );
});

Deno.test("commands with and without components are answered; unknown ones get 501, a throwing handler 500", async () => {
  await withDevice(
    { devices: { "dev-1": DEVICE_KEY } },
    keyed("dev-1", "deviceKey", DEVICE_KEY),
    async (emulator, device) => {
      const received: string[] = [];
      const offline = Promise.withResolvers<void>();
      device.on("command", async (command) => {
        if (command.offline) offline.resolve();
        received.push(
          `${command.component ?? ""}/${command.command}:${JSON.stringify(command.payload)}`,
        );
        if (command.command === "explode") throw new Error("boom");
        if (command.command === "unknownToApp") return;
        await command.ack({ ok: command.command }, 200);
      });
      await device.connect();
      deepEqual(await emulator.invoke("dev-1", "reboot", { delay: 1 }), {
        status: 200,
        payload: { ok: "reboot" },
      });
      deepEqual(await emulator.invoke("dev-1", "thermostat*getMaxMinReport", "2024-01-01"), {
        status: 200,
        payload: { ok: "getMaxMinReport" },
      });
      const unknown = await emulator.invoke("dev-1", "unknownToApp", null);
      equal(unknown.status, 501);
      match((unknown.payload as { message: string }).message, /unknownToApp/);
      deepEqual(await emulator.invoke("dev-1", "explode", {}), {
        status: 500,
        payload: { message: "boom" },
      });
      await emulator.sendC2d("dev-1", '{"level":2}', { "method-name": "setLevel", "$.mid": "q1" });
      await offline.promise;
      deepEqual(received, [
        '/reboot:{"delay":1}',
        'thermostat/getMaxMinReport:"2024-01-01"',
        "/unknownToApp:null",
        "/explode:{}",
        '/setLevel:{"level":2}',
      ]);
    },
  );
});

Deno.test("command.ack() answers at once: the cloud has the answer while the callback still works, and nothing after the ack changes it", async () => {
  await withDevice(
    { devices: { "dev-1": DEVICE_KEY } },
    keyed("dev-1", "deviceKey", DEVICE_KEY),
    async (emulator, device) => {
      const release = Promise.withResolvers<void>();
      const finished = Promise.withResolvers<void>();
      device.on("command", async (command) => {
        switch (command.command) {
          case "slow":
            await command.ack({ started: true });
            await release.promise;
            return finished.resolve();
          case "ackThenThrow":
            await command.ack({ done: true }, 200);
            throw new Error("failed after the ack");
          case "ackTwice":
            await command.ack({ first: true }, 200);
            return command.ack({ second: true }, 500);
          default:
            return command.ack("pong");
        }
      });
      await device.connect();
      try {
        // The callback waits for `release`, which comes only after the answer arrived.
        deepEqual(await emulator.invoke("dev-1", "slow", null, 5000), {
          status: 200,
          payload: { started: true },
        });
      } finally {
        release.resolve();
      }
      await finished.promise;
      deepEqual(await emulator.invoke("dev-1", "ackThenThrow", null, 5000), {
        status: 200,
        payload: { done: true },
      });
      deepEqual(await emulator.invoke("dev-1", "ackTwice", null, 5000), {
        status: 200,
        payload: { first: true },
      });
      // A second answer to either would have been published before this one's request came.
      deepEqual(await emulator.invoke("dev-1", "ping", null), { status: 200, payload: "pong" });
      deepEqual(emulator.methodAnswers.map((a) => a.status), [200, 200, 200, 200]);
      deepEqual(emulator.violations, []);
    },
  );
});

Deno.test("after the service restarts the device reconnects and subscribes again", async () => {
  await withDevice(
    { devices: { "dev-1": DEVICE_KEY } },
    keyed("dev-1", "deviceKey", DEVICE_KEY),
    async (emulator, device) => {
      await device.connect();
      const subscribed = () =>
        emulator.subscriptions.filter((s) => s.filter === "$iothub/methods/POST/#").length;
      await emulator.waitFor("the first subscription", () => subscribed() === 1);
      const hubLogins = () =>
        emulator.connects.filter((c) => c.service === "hub" && c.accepted).length;
      await emulator.restart(() =>
        until("the device to see the outage", () => !device.isConnected(), 10_000)
      );
      await emulator.waitFor("a second hub login", () => hubLogins() === 2);
      await emulator.waitFor("subscriptions made again", () => subscribed() === 2);
      device.on("command", (command) => command.ack("pong"));
      await emulator.waitFor("connected", () => device.isConnected());
      deepEqual(await emulator.invoke("dev-1", "ping", null), { status: 200, payload: "pong" });
    },
  );
});

Deno.test("an X.509 device registers and connects with its certificate and no password", async () => {
  const pki = await testPki();
  await withDevice(
    { x509Devices: ["dev-1"] },
    (emulator, options) =>
      new AzureDevice("dev-1", emulator.idScope, "x509", {
        cert: pki.client.cert,
        key: pki.client.key,
      }, options),
    async (emulator, device) => {
      await device.connect();
      ok(device.isConnected());
      const logins = emulator.connects.filter((c) => c.accepted);
      deepEqual(logins.map((c) => [c.service, c.password]), [["dps", undefined], [
        "hub",
        undefined,
      ]]);
    },
  );
});

Deno.test("before the SAS token expires the connection reconnects with a new token (simulated clock)", async () => {
  const clock = new SimulatedClock();
  const now = () => Date.now() + clock.now();
  await withDevice(
    { devices: { "dev-1": DEVICE_KEY } },
    keyed("dev-1", "deviceKey", DEVICE_KEY, { clock, now, tokenTtlSec: 600 }),
    async (emulator, device) => {
      await device.connect();
      const hubLogins = () => emulator.connects.filter((c) => c.service === "hub" && c.accepted);
      equal(hubLogins().length, 1);
      // A reconnect is taken once the connection machine is in `connected`.
      await until(
        "the connection actor is connected",
        () => connectionState(device) === "connected",
      );
      // 80 % of 600 s is 480 s; the real time spent connecting takes a little off it.
      clock.increment(470_000);
      equal(hubLogins().length, 1, "not before 80 % of the token's life");
      clock.increment(10_000);
      await emulator.waitFor("a renewed login", () => hubLogins().length === 2);
      const [first, second] = hubLogins().map((c) => Number(/se=(\d+)/.exec(c.password!)![1]));
      ok(second - first >= 470, `the new token expires later (${first} → ${second})`);
      await emulator.waitFor("connected again", () => device.isConnected());
    },
  );
});

Deno.test("stopping while DPS is unreachable releases the waiting connection: DPS and connection stop gracefully", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "outpost-azure-" });
  const db = openDatabase(stateDir);
  const outbox = new Outbox(db);
  const cloud = await azureCloud({
    name: "azure",
    deviceId: "dev-1",
    idScope: "0ne00TEST00",
    dpsHost: `127.0.0.1:${freePort()}`,
    deviceKey: DEVICE_KEY,
    storage: memoryCredentialStorage(),
    properties: () => undefined,
    commands: () => undefined,
    reconnect: () => {},
  });
  const system = createSystem(
    supervisor("device", {}, [
      cloudSupervisor("azure", [...cloud.children, drainChild(outbox, cloud.link, "azure")]),
    ]),
  );
  const stops: { path: string; forced: boolean }[] = [];
  system.subscribe((event) => event.type === "stopped" && stops.push(event));
  try {
    await system.start();
    const connection = () =>
      system.tree().children[0].children.find((c) => c.id === "connection")?.state;
    await until("the connection waits for DPS", () => connection() === "connecting");
  } finally {
    await system.stop();
    outbox.close();
    db.close();
    await Deno.remove(stateDir, { recursive: true });
  }
  // Callback actors (token, twin, commands) have no graceful stop; the two that do must use it.
  const stopped = (id: string) => stops.find((s) => s.path === `device/cloud:azure/${id}`);
  deepEqual(stopped("provisioning")?.forced, false);
  deepEqual(stopped("connection")?.forced, false);
});
