import { until } from "../helpers/wait.ts";
import { deepEqual, equal, match, ok, rejects, throws } from "node:assert/strict";
import mqtt from "mqtt";
import { createServer as createTlsServer } from "node:tls";
import { ShadowError } from "../../protocols/aws_shadow.ts";
import { connectSession } from "../../protocols/mqtt_session.ts";
import { AWS_MQTT_ALPN, awsAlpn } from "../../actors/aws/mod.ts";
import { testPki } from "../helpers/tls.ts";
import { LocalApiClient } from "../../actors/local_api/client.ts";
import { type AwsEmulator, startAwsEmulator } from "../helpers/aws_emulator.ts";
import { startAwsAgent, THING } from "../helpers/aws_agent.ts";
import type { Agent } from "../../actors/agent/agent.ts";
import type { AwsParts } from "../../actors/aws/mod.ts";

async function withEmulator(fn: (emulator: AwsEmulator, stateDir: string) => Promise<void>) {
  const emulator = await startAwsEmulator();
  const stateDir = await Deno.makeTempDir({ prefix: "outpost-aws-" });
  try {
    await fn(emulator, stateDir);
  } finally {
    await emulator.stop();
    await Deno.remove(stateDir, { recursive: true });
  }
}

/** An emulator and an agent whose classic shadow is in sync; both stopped after `fn`. */
async function withSyncedAgent(
  fn: (world: { emulator: AwsEmulator; agent: Agent; aws: AwsParts }) => Promise<void>,
) {
  await withEmulator(async (emulator, stateDir) => {
    const { agent, aws } = await startAwsAgent(emulator, stateDir);
    try {
      await agent.connected();
      await emulator.until(
        "the shadow",
        () => reported(emulator).event_publishing_enabled === true,
      );
      await fn({ emulator, agent, aws });
    } finally {
      await agent.stop();
    }
  });
}

const reported = (emulator: AwsEmulator) => emulator.shadow(THING)?.reported ?? {};

Deno.test("the first run provisions by CSR and persists the identity; the second reuses it", async () => {
  await withEmulator(async (emulator, stateDir) => {
    const first = await startAwsAgent(emulator, stateDir);
    try {
      await first.agent.connected();
      equal(first.aws.identity.thingName, THING);
      deepEqual(emulator.registered, [THING]);
      const store = `${stateDir}/aws-aws`;
      equal((await Deno.readTextFile(`${store}/clientID.txt`)).trim(), THING);
      match(await Deno.readTextFile(`${store}/deviceCert.cert`), /BEGIN CERTIFICATE/);
      equal((await Deno.stat(`${store}/devicePrivateKey.pem`)).mode! & 0o777, 0o600);
      // The shadow was created with what the device reports (the telemetry settings).
      await emulator.until(
        "the shadow",
        () => reported(emulator).event_publishing_enabled === true,
      );
    } finally {
      await first.agent.stop();
    }
    const second = await startAwsAgent(emulator, stateDir);
    try {
      await second.agent.connected();
      equal(second.aws.identity.thingName, THING);
      deepEqual(emulator.registered, [THING], "no second registration");
    } finally {
      await second.agent.stop();
    }
  });
});

Deno.test("a record stored before provisioning completes leaves with the provisioned thing as sender, stamped when sent", async () => {
  await withEmulator(async (emulator, stateDir) => {
    const release = emulator.holdProvisioning();
    const { agent, aws } = await startAwsAgent(emulator, stateDir);
    try {
      const before = Date.now();
      await agent.publish("production", { n: 1 });
      const stored = Date.now();
      equal(aws.identity.thingName, undefined, "stored while the device has no thing name yet");
      release();
      await emulator.until("the record", () => emulator.ingest.length === 1);
      const { body } = emulator.ingest[0];
      equal(body.connectionDeviceId, THING);
      equal(body.senderId, THING);
      equal(body.assetId, THING, "assetId defaults to the thing name");
      const provisioned = emulator.registeredAt.get(THING)!;
      const sent = Date.parse(body.senderTimestamp as string);
      ok(sent >= provisioned, `senderTimestamp ${body.senderTimestamp} is the send time`);
      const observed = Date.parse(body.assetTimestamp as string);
      ok(observed >= before && observed <= stored, "assetTimestamp is the record's own time");
    } finally {
      await agent.stop();
    }
  });
});

Deno.test("a rejected provisioning ends in a clear error with AWS's code and message", async () => {
  await withEmulator(async (emulator, stateDir) => {
    emulator.rejectProvisioning("register", {
      statusCode: 400,
      errorCode: "InvalidParameters",
      errorMessage: "SerialNumber is not allowed",
    });
    const { agent, aws } = await startAwsAgent(emulator, stateDir);
    try {
      await rejects(
        aws.identity.ready(),
        /AWS rejected RegisterThing \(template fleet\): 400 InvalidParameters: SerialNumber is not allowed/,
      );
      const provisioning = agent.tree().children.find((c) => c.id === "cloud:aws")!.children
        .find((c) => c.id === "provisioning")!;
      ok(provisioning, "the provisioning actor is in the tree");
      await until(
        "the tree shows provisioning failed",
        () =>
          agent.tree().children.find((c) => c.id === "cloud:aws")!.children
            .find((c) => c.id === "provisioning")?.state === "failed",
      );
      equal(emulator.registered.length, 0);
      const store = `${stateDir}/aws-aws`;
      await rejects(Deno.stat(`${store}/clientID.txt`), Deno.errors.NotFound);
    } finally {
      await agent.stop();
    }
  });
});

Deno.test("a desired change while connected is applied and reported", async () => {
  await withSyncedAgent(async ({ emulator, aws }) => {
    await emulator.setDesired(THING, { event_type_blacklist: ["debug"] });
    await emulator.until(
      "the reported blacklist",
      () => JSON.stringify(reported(emulator).event_type_blacklist) === '["debug"]',
    );
    deepEqual(aws.gate.settings.event_type_blacklist, ["debug"]);
    equal(Object.keys(emulator.shadow(THING)!.desired).length, 1);
  });
});

Deno.test("a desired change made while the device was offline is applied after reconnecting, via get", async () => {
  await withEmulator(async (emulator, stateDir) => {
    const first = await startAwsAgent(emulator, stateDir);
    await first.agent.connected();
    await emulator.until("the shadow", () => reported(emulator).event_publishing_enabled === true);
    await first.agent.stop();
    await emulator.setDesired(THING, { event_publishing_enabled: false });
    const gets = () => emulator.requests.filter((r) => r.topic.endsWith("/shadow/get")).length;
    const before = gets();
    const second = await startAwsAgent(emulator, stateDir);
    try {
      await emulator.until(
        "the reported change",
        () => reported(emulator).event_publishing_enabled === false,
      );
      ok(gets() > before, "the device asked with get");
      equal(second.aws.gate.settings.event_publishing_enabled, false);
    } finally {
      await second.agent.stop();
    }
  });
});

Deno.test("a version conflict makes the device get the shadow again and re-sync", async () => {
  await withSyncedAgent(async ({ emulator }) => {
    const gets = () => emulator.requests.filter((r) => r.topic.endsWith("/shadow/get")).length;
    const before = gets();
    emulator.conflictNextUpdate();
    await emulator.setDesired(THING, { event_type_blacklist: ["noise"] });
    await emulator.until(
      "the reported blacklist after the conflict",
      () => JSON.stringify(reported(emulator).event_type_blacklist) === '["noise"]',
    );
    ok(gets() > before, "a get followed the 409");
    const versioned = emulator.requests.filter((r) =>
      r.topic.endsWith("/shadow/update") &&
      typeof (r.body as { version?: number }).version === "number"
    );
    ok(versioned.length >= 2, "the answer to a delta carries the version it answers");
  });
});

Deno.test("a report that would make the document larger than 8 KB is refused locally", async () => {
  await withSyncedAgent(async ({ emulator, aws }) => {
    const shadow = aws.shadows.get("classic")!;
    throws(
      () => shadow.report({ blob: "x".repeat(9000) }),
      (error: unknown) =>
        error instanceof ShadowError && error.code === "too_large" && /8192/.test(error.message),
    );
    equal(shadow.reported.blob, undefined);
    shadow.report({ firmware: "1.2.3" });
    await emulator.until("the small report", () => reported(emulator).firmware === "1.2.3");
    ok(!emulator.requests.some((r) => JSON.stringify(r.body).includes("xxxxxxxx")));
  });
});

Deno.test("a malformed delta is logged and answered with the current state; the actor survives", async () => {
  await withEmulator(async (emulator, stateDir) => {
    const { agent, aws } = await startAwsAgent(emulator, stateDir);
    const { pki } = emulator;
    const cloud = await mqtt.connectAsync(emulator.url, {
      clientId: "test-cloud",
      ca: pki.ca.cert,
      cert: pki.client.cert,
      key: pki.client.key,
      reconnectPeriod: 0,
    });
    try {
      await agent.connected();
      await emulator.until(
        "the shadow",
        () => reported(emulator).event_publishing_enabled === true,
      );
      const updates = () =>
        emulator.requests.filter((r) => r.topic.endsWith("/shadow/update")).length;
      const before = updates();
      await cloud.publishAsync(`$aws/things/${THING}/shadow/update/delta`, "{not json", { qos: 1 });
      await emulator.until("the current state reported", () => updates() > before);
      // Wrong types: refused, and the value in effect is reported again.
      await emulator.setDesired(THING, { event_publishing_enabled: "yes" });
      await emulator.until("another report", () => updates() > before + 1);
      equal(reported(emulator).event_publishing_enabled, true);
      equal(aws.gate.settings.event_publishing_enabled, true);
      // Still in business.
      await emulator.setDesired(THING, { event_publishing_enabled: false });
      await emulator.until(
        "the valid change",
        () => reported(emulator).event_publishing_enabled === false,
      );
      const shadowActor = agent.tree().children.find((c) => c.id === "cloud:aws")!.children
        .find((c) => c.id === "shadow:classic")!;
      equal(shadowActor.restarts, 0);
    } finally {
      await cloud.endAsync(true);
      await agent.stop();
    }
  });
});

Deno.test("an oversized delta is refused whole and the next delta still syncs", async () => {
  await withSyncedAgent(async ({ emulator, agent, aws }) => {
    const { pki } = emulator;
    const cloud = await mqtt.connectAsync(emulator.url, {
      clientId: "test-cloud",
      ca: pki.ca.cert,
      cert: pki.client.cert,
      key: pki.client.key,
      reconnectPeriod: 0,
    });
    try {
      const shadow = aws.shadows.get("classic")!;
      const desiredBefore = shadow.desired;
      // AWS itself would not store 20 KB; a peer on the delta topic can still send it.
      await cloud.publishAsync(
        `$aws/things/${THING}/shadow/update/delta`,
        JSON.stringify({
          state: { event_type_blacklist: ["x".repeat(20_000)] },
          version: emulator.shadow(THING)!.version,
          timestamp: 1,
        }),
        { qos: 1 },
      );
      // Deltas apply in order: once this one is reported, the big one was handled.
      await emulator.setDesired(THING, { event_publishing_enabled: false });
      await emulator.until(
        "the next delta reported",
        () => reported(emulator).event_publishing_enabled === false,
      );
      deepEqual(aws.gate.settings.event_type_blacklist, [], "the handler never saw the big value");
      deepEqual(reported(emulator).event_type_blacklist, []);
      deepEqual(shadow.desired, { ...desiredBefore, event_publishing_enabled: false });
      ok(!emulator.requests.some((r) => JSON.stringify(r.body).includes("xxxxxxxx")));
      const shadowActor = agent.tree().children.find((c) => c.id === "cloud:aws")!.children
        .find((c) => c.id === "shadow:classic")!;
      equal(shadowActor.restarts, 0);
    } finally {
      await cloud.endAsync(true);
    }
  });
});

Deno.test("while the shadow disables publishing nothing reaches the ingest topic; blacklisted types are dropped and counted", async () => {
  await withSyncedAgent(async ({ emulator, agent, aws }) => {
    await emulator.setDesired(THING, {
      event_publishing_enabled: false,
      event_type_blacklist: ["debug"],
    });
    await emulator.until(
      "publishing off",
      () => reported(emulator).event_publishing_enabled === false,
    );
    for (let i = 0; i < 5; i++) await agent.publish("production", { n: i });
    equal(aws.gate.drops.disabled, 5);
    await emulator.setDesired(THING, { event_publishing_enabled: true });
    await emulator.until(
      "publishing on",
      () => reported(emulator).event_publishing_enabled === true,
    );
    await agent.publish("debug", { noisy: true });
    await agent.publish("production", { n: 99 });
    await emulator.until(
      "the record after publishing came back",
      () => emulator.ingest.length >= 1,
    );
    equal(aws.gate.drops.blacklisted, 1);
    const bodies = emulator.ingest.map((m) => m.body);
    deepEqual(bodies.map((b) => [b.eventType, b.payload]), [["production", { n: 99 }]]);
    const envelope = bodies[0];
    deepEqual(Object.keys(envelope), [
      "payloadVersion",
      "assetType",
      "senderEventUuid",
      "senderType",
      "eventType",
      "eventSubtype",
      "assetTimestamp",
      "assetId",
      "senderId",
      "senderTimestamp",
      "connectionDeviceId",
      "payload",
    ]);
    equal(envelope.connectionDeviceId, THING);
    equal(emulator.ingest[0].topic, "$aws/rules/telemetry");
  });
});

Deno.test("after a broker restart the subtree recovers and no telemetry is lost", async () => {
  await withSyncedAgent(async ({ emulator, agent }) => {
    await agent.publish("production", { n: 0 });
    await emulator.until("the first record", () => emulator.ingest.length === 1);
    const link = agent.cloud("aws")!.link;
    const down = new Promise<void>((resolve) => {
      const stop = link.onStatus((up) => !up && (stop(), resolve()));
    });
    const restarting = emulator.restartBroker();
    await down;
    for (let n = 1; n <= 50; n++) await agent.publish("production", { n });
    await restarting;
    await emulator.until("every record", () => emulator.ingest.length >= 51, 20_000);
    const seen = new Set(emulator.ingest.map((m) => (m.body.payload as { n: number }).n));
    equal(seen.size, 51);
    // The shadow is fetched again on the new connection.
    await emulator.setDesired(THING, { event_type_blacklist: ["after-restart"] });
    await emulator.until(
      "the change after the restart",
      () => JSON.stringify(reported(emulator).event_type_blacklist) === '["after-restart"]',
    );
  });
});

Deno.test("a named shadow syncs beside the classic one, through the app's own handler", async () => {
  await withEmulator(async (emulator, stateDir) => {
    const { agent, aws } = await startAwsAgent(
      emulator,
      stateDir,
      'shadows = ["classic", "config"]',
    );
    try {
      aws.shadows.get("config")!.handle("interval", (value) => {
        if (typeof value !== "number" || value < 1) throw new RangeError("interval must be >= 1");
        return value;
      });
      await agent.connected();
      await emulator.until(
        "the named shadow",
        () => emulator.shadow(THING, "config") !== undefined,
      );
      await emulator.setDesired(THING, { interval: 30 }, "config");
      await emulator.until(
        "the interval",
        () => emulator.shadow(THING, "config")?.reported.interval === 30,
      );
      await emulator.setDesired(THING, { interval: 0 }, "config");
      await emulator.until(
        "the refusal reported",
        () => emulator.requests.filter((r) => r.topic.endsWith("/name/config/update")).length >= 3,
      );
      equal(emulator.shadow(THING, "config")?.reported.interval, 30);
      equal(reported(emulator).interval, undefined, "the classic shadow is untouched");
    } finally {
      await agent.stop();
    }
  });
});

Deno.test("values pushed by a local app reach AWS Basic Ingest as stream local.<sensorId>", async () => {
  await withEmulator(async (emulator, stateDir) => {
    const localApi = "\n[localApi]\nenabled = true\nprovisioningPort = 0\napiPort = 0\n";
    const { agent } = await startAwsAgent(emulator, stateDir, localApi);
    const certFolder = await Deno.makeTempDir({ prefix: "outpost-aws-app-" });
    const ports = () => agent.localApi().ports();
    let client: LocalApiClient | undefined;
    try {
      await agent.connected();
      await emulator.until("the local API", () => ports().api !== undefined);
      client = new LocalApiClient({
        caFile: agent.config.localApi.caCertPath,
        certFolder,
        provisionPort: ports().provisioning,
        port: ports().api,
      });
      await client.provision("thermometer");
      await client.connect();
      const sensorId = await client.createSensor("kitchen");
      const [metric] = await client.createMetrics(sensorId, [
        { matchingId: "t", name: "temperature", valueUnit: "SI.Temperature.CELSIUS" },
      ]);
      await client.pushValues(sensorId, [{ metricId: metric.metricId, value: 21.5 }], 1000);
      await emulator.until("the pushed value", () => emulator.ingest.length === 1);
      const { body } = emulator.ingest[0];
      equal(body.eventType, `local.${sensorId}`);
      deepEqual(body.payload, { [metric.metricId]: 21.5 });
      equal(body.assetTimestamp, "1970-01-01T00:00:01.000+00:00");
    } finally {
      await client?.close();
      await agent.stop();
      await Deno.remove(certFolder, { recursive: true });
    }
  });
});

Deno.test("the MQTT session offers the ALPN protocols it is given (x-amzn-mqtt-ca for AWS on 443)", async () => {
  const pki = await testPki();
  const offered = Promise.withResolvers<string | false>();
  const server = createTlsServer({
    cert: pki.server.cert,
    key: pki.server.key,
    ALPNProtocols: [AWS_MQTT_ALPN],
  }, (socket) => {
    offered.resolve(socket.alpnProtocol ?? false);
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  try {
    await rejects(connectSession({
      url: `mqtts://127.0.0.1:${port}`,
      clientId: "thing-1",
      ca: pki.ca.cert,
      alpnProtocols: awsAlpn("mqtts://example-ats.iot.eu-west-1.amazonaws.com:443"),
      connectTimeoutMs: 2000,
    }, { onMessage: () => {}, onClose: () => {} }));
    equal(await offered.promise, "x-amzn-mqtt-ca");
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});
