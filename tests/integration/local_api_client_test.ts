/**
 * LocalApiClient, the TypeScript app side of the local API, against the
 * real `local-api` subtree: provisioning with files kept in the cert
 * folder, every call as a promise, refusals as LocalApiRequestError with
 * the SDK's code, live data, and deprovisioning.
 */
import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { LocalApiClient, LocalApiRequestError } from "../../actors/local_api/client.ts";
import { startLocalApiWorld } from "../helpers/local_api_world.ts";

Deno.test("LocalApiClient provisions, manages sensors and metrics, pushes values and deprovisions", async () => {
  const world = await startLocalApiWorld();
  const certFolder = await Deno.makeTempDir({ prefix: "outpost-app-" });
  const options = {
    caFile: `${world.stateDir}/apps/TeamViewerAuthority.crt`,
    certFolder,
    provisionPort: world.provisioningPort,
    port: world.apiPort,
  };
  const client = new LocalApiClient(options);
  try {
    const first = await client.provision("thermometer");
    equal(first.alreadyProvisioned, false);
    equal((await Deno.stat(`${certFolder}/client.key`)).mode! & 0o777, 0o600);
    const again = await new LocalApiClient(options).provision("thermometer");
    deepEqual(again, { clientId: first.clientId, alreadyProvisioned: true });

    await client.connect();
    ok(client.connected);
    await client.ping();
    const sensorId = await client.createSensor("kitchen");
    await client.updateSensor(sensorId, "living room");
    const [t, mode] = await client.createMetrics(sensorId, [
      { matchingId: "t", name: "temperature", valueUnit: "SI.Temperature.CELSIUS" },
      { matchingId: "m", name: "mode", valueType: "string" },
    ]);
    deepEqual([t.matchingId, mode.matchingId], ["t", "m"]);
    const described = await client.describeMetric(sensorId, t.metricId);
    equal(described.valueUnit, "SI.Temperature.CELSIUS");
    await client.updateMetrics(sensorId, [{ metricId: mode.metricId, valueAnnotation: "label" }]);

    const live = new Promise((resolve) => client.onLiveData(sensorId, resolve));
    // Two calls on the same reply topics at once are answered in order.
    await Promise.all([
      client.pushValues(sensorId, [{ metricId: t.metricId, value: 20 }], 1000),
      client.pushValues(sensorId, [{ metricId: mode.metricId, value: "eco" }], 2000),
    ]);
    deepEqual(await live, { metrics: [{ metricId: t.metricId, value: 20 }], timestamp: 1000 });
    deepEqual(world.published.map((p) => p.values), [{ [t.metricId]: 20 }, {
      [mode.metricId]: "eco",
    }]);

    await rejects(
      client.pushValues(sensorId, [{ metricId: t.metricId, value: "hot" }]),
      (e: unknown) => e instanceof LocalApiRequestError && e.code === 8,
    );
    await rejects(
      client.deleteSensor("0".repeat(32)),
      (e: unknown) =>
        e instanceof LocalApiRequestError && e.code === 15 && /UnknownSensorId/.test(e.message),
    );
    await client.deleteMetrics(sensorId, [mode.metricId]);
    const [sensor] = await client.listSensors();
    deepEqual([sensor.name, sensor.metrics.map((m) => m.metricId)], ["living room", [t.metricId]]);
    await client.deleteSensor(sensorId);
    deepEqual(await client.listSensors(), []);

    await client.deprovision();
    equal(client.connected, false);
    equal(world.api.clients("revoked").length, 1);
    await rejects(Deno.stat(`${certFolder}/client.key`), Deno.errors.NotFound);
  } finally {
    await client.close();
    await world.stop();
    await Deno.remove(certFolder, { recursive: true });
  }
});

Deno.test("LocalApiClient gets live data only for sensors it listens to, also when it listened before connecting", async () => {
  const world = await startLocalApiWorld();
  const certFolder = await Deno.makeTempDir({ prefix: "outpost-app-" });
  const options = {
    caFile: `${world.stateDir}/apps/TeamViewerAuthority.crt`,
    certFolder,
    provisionPort: world.provisioningPort,
    port: world.apiPort,
  };
  const setup = new LocalApiClient(options);
  const client = new LocalApiClient(options);
  try {
    await setup.provision("thermometer");
    await setup.connect();
    const [heard, quiet] = [await setup.createSensor("heard"), await setup.createSensor("quiet")];
    const metric = async (sensorId: string) =>
      (await setup.createMetrics(sensorId, [{ matchingId: "t", name: "t", valueType: "double" }]))[
        0
      ]
        .metricId;
    const [heardMetric, quietMetric] = [await metric(heard), await metric(quiet)];
    await setup.close();

    const received: unknown[] = [];
    client.onLiveData(heard, (values) => received.push(values));
    await client.connect();
    await client.pushValues(quiet, [{ metricId: quietMetric, value: 1 }], 1000);
    await client.pushValues(heard, [{ metricId: heardMetric, value: 2 }], 2000);
    // The live data of a push is sent before its reply, on the same connection.
    deepEqual(received, [{ metrics: [{ metricId: heardMetric, value: 2 }], timestamp: 2000 }]);
  } finally {
    await client.close();
    await world.stop();
    await Deno.remove(certFolder, { recursive: true });
  }
});

Deno.test("a LocalApiClient call with no reply within timeoutMs rejects, and the next calls are answered", async () => {
  const world = await startLocalApiWorld();
  const certFolder = await Deno.makeTempDir({ prefix: "outpost-app-" });
  const client = new LocalApiClient({
    caFile: `${world.stateDir}/apps/TeamViewerAuthority.crt`,
    certFolder,
    provisionPort: world.provisioningPort,
    port: world.apiPort,
    timeoutMs: 300,
  });
  try {
    await client.provision("thermometer");
    await client.connect();
    const sensorId = await client.createSensor("kitchen");
    const [{ metricId }] = await client.createMetrics(sensorId, [
      { matchingId: "t", name: "t", valueType: "double" },
    ]);
    world.holdPublish = true;
    const started = performance.now();
    await rejects(
      client.pushValues(sensorId, [{ metricId, value: 1 }]),
      new RegExp(`No reply to /sensor/${sensorId}/metric/pushValues within 300 ms`),
    );
    ok(performance.now() - started >= 299, "not before its deadline");
    world.holdPublish = false;
    await client.ping();
    await client.pushValues(sensorId, [{ metricId, value: 2 }]);
  } finally {
    await client.close();
    await world.stop();
    await Deno.remove(certFolder, { recursive: true });
  }
});
