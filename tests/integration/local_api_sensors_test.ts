/**
 * Every sensor/metric call of the local API (PROTOCOLS.md §4) over raw
 * MQTT with the exact topics, every error code the agent produces, and
 * malformed payloads on every call topic, from an app provisioned with a
 * plain npm:mqtt client and a node-forge CSR.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { type LocalApiWorld, startLocalApiWorld } from "../helpers/local_api_world.ts";
import { type ApiApp, connectApi, provisionApp } from "../helpers/local_api_app.ts";

async function setup(): Promise<{ world: LocalApiWorld; app: ApiApp; stop(): Promise<void> }> {
  const world = await startLocalApiWorld();
  let app: ApiApp;
  try {
    app = await connectApi(
      world.apiPort,
      world.caPem,
      await provisionApp(world.provisioningPort, world.caPem),
    );
  } catch (error) {
    await world.stop();
    throw error;
  }
  return {
    world,
    app,
    async stop() {
      await app.close();
      await world.stop();
    },
  };
}

const SENSOR = ["/sensor/inbox", "/sensor/error/inbox"];

function errorOf(body: unknown): number {
  return (body as { errorcode: number }).errorcode;
}

async function createSensor(app: ApiApp, name = "climate"): Promise<string> {
  const reply = await app.call("/sensor/create", { name }, SENSOR);
  equal(reply.topic, `/v1.0/${app.clientId}/sensor/inbox`);
  return (reply.body as { sensorId: string }).sensorId;
}

async function createMetrics(app: ApiApp, sid: string, metrics: unknown[]) {
  const s = `/sensor/${sid}`;
  return await app.call(`${s}/metric`, { metrics }, [
    `${s}/metric/inbox`,
    `${s}/metric/error/inbox`,
  ]);
}

Deno.test("an app pings, creates, lists, renames and deletes sensors on the SDK's exact topics", async () => {
  const t = await setup();
  const { app } = t;
  const p = `/v1.0/${app.clientId}`;
  try {
    const ping = await app.call("/ping", { request: "Ping" }, [
      "/ping/info/inbox",
      "/ping/error/inbox",
    ]);
    deepEqual([ping.topic, ping.body], [`${p}/ping/info/inbox`, { request: "Ping" }]);

    const created = await app.call("/sensor/create", { name: "climate" }, SENSOR);
    const sid = (created.body as { sensorId: string }).sensorId;
    ok(/^[0-9a-f]{32}$/.test(sid));
    deepEqual(created.body, { name: "climate", sensorId: sid });

    const metrics = await createMetrics(app, sid, [
      { matchingId: "t", name: "temperature", valueUnit: "SI.Temperature.CELSIUS" },
      // The SDK's own example sends each definition as a JSON string, with a numeric matchingId.
      JSON.stringify({
        matchingId: 2,
        name: "state",
        valueType: "string",
        valueAnnotation: "mode",
      }),
    ]);
    equal(metrics.topic, `${p}/sensor/${sid}/metric/inbox`);
    const [m1, m2] = metrics.body as { matchingId: unknown; metricId: string }[];
    deepEqual([m1.matchingId, m2.matchingId], ["t", 2]);

    const inventory = await app.call("/inventory", {}, [
      "/inventory/inbox",
      "/inventory/error/inbox",
    ]);
    equal(inventory.topic, `${p}/inventory/inbox`);
    deepEqual(inventory.body, [{
      sensorId: sid,
      name: "climate",
      store: true,
      metrics: [m1, m2].map((m) => ({
        metricId: m.metricId,
        link: `${p}/sensor/${sid}/metric/${m.metricId}/inventory`,
      })),
    }]);

    const s = `/sensor/${sid}`;
    const renamed = await app.call(`${s}/update`, { name: "greenhouse" }, [
      `${s}/update/info/inbox`,
      `${s}/update/error/inbox`,
    ]);
    equal(renamed.topic, `${p}${s}/update/info/inbox`);
    const list = await app.call("/inventory", {}, ["/inventory/inbox"]);
    equal((list.body as { name: string }[])[0].name, "greenhouse");

    const deleted = await app.call(`${s}/delete`, {}, [
      `${s}/delete/info/inbox`,
      `${s}/delete/error/inbox`,
    ]);
    equal(deleted.topic, `${p}${s}/delete/info/inbox`);
    deepEqual((await app.call("/inventory", {}, ["/inventory/inbox"])).body, []);
  } finally {
    await t.stop();
  }
});

Deno.test("an app describes, updates and deletes metrics, and pushes values that reach the telemetry router and live data", async () => {
  const t = await setup();
  const { app, world } = t;
  const p = `/v1.0/${app.clientId}`;
  try {
    const sid = await createSensor(app);
    const s = `/sensor/${sid}`;
    const [temp, on, count, label] = (await createMetrics(app, sid, [
      { matchingId: "1", name: "temperature", valueUnit: "SI.Temperature.CELSIUS" },
      { matchingId: "2", name: "on", valueType: "bool" },
      { matchingId: "3", name: "count", valueType: "integer", valueAnnotation: "pieces" },
      { matchingId: "4", name: "label", valueType: "string" },
    ])).body as { metricId: string }[];

    const described = await app.call(`${s}/metric/${count.metricId}/inventory`, {}, [
      `${s}/metric/${count.metricId}/inventory/inbox`,
      `${s}/inventory/error/inbox`,
    ]);
    equal(described.topic, `${p}${s}/metric/${count.metricId}/inventory/inbox`);
    deepEqual(described.body, {
      metricId: count.metricId,
      matchingId: "3",
      name: "count",
      valueType: "integer",
      valueAnnotation: "pieces",
      sensorId: sid,
      link: `${p}${s}/metric/${count.metricId}/inventory`,
    });

    const updated = await app.call(
      `${s}/metric/update`,
      { metrics: [{ metricId: count.metricId, name: "pieces made", valueAnnotation: "pcs" }] },
      [`${s}/metric/update/info/inbox`, `${s}/metric/update/error/inbox`],
    );
    equal(updated.topic, `${p}${s}/metric/update/info/inbox`);

    const live = app.waitFor((m) => m.topic === `${p}${s}/livedata`);
    const pushed = await app.call(
      `${s}/metric/pushValues`,
      {
        metrics: [
          { metricId: temp.metricId, value: 21.5 },
          { metricId: on.metricId, value: true },
          { metricId: count.metricId, value: 7 },
          { metricId: label.metricId, value: "ok" },
        ],
        timestamp: 1531736501248,
      },
      [`${s}/info/inbox`, `${s}/error/inbox`],
    );
    equal(pushed.topic, `${p}${s}/info/inbox`);
    deepEqual(world.published, [{
      stream: `local.${sid}`,
      values: {
        [temp.metricId]: 21.5,
        [on.metricId]: true,
        [count.metricId]: 7,
        [label.metricId]: "ok",
      },
      ts: new Date(1531736501248),
    }]);
    deepEqual(JSON.parse((await live).text), {
      metrics: [
        { metricId: temp.metricId, value: 21.5 },
        { metricId: on.metricId, value: true },
        { metricId: count.metricId, value: 7 },
        { metricId: label.metricId, value: "ok" },
      ],
      timestamp: 1531736501248,
    });

    const removed = await app.call(
      `${s}/metric/delete`,
      { metrics: [{ metricId: label.metricId }] },
      [`${s}/delete/info/inbox`, `${s}/delete/error/inbox`],
    );
    equal(removed.topic, `${p}${s}/delete/info/inbox`);
    const inventory = await app.call("/inventory", {}, ["/inventory/inbox"]);
    deepEqual(
      (inventory.body as { metrics: { metricId: string }[] }[])[0].metrics.map((m) => m.metricId),
      [temp.metricId, on.metricId, count.metricId],
    );
  } finally {
    await t.stop();
  }
});

Deno.test("every error code the sensor/metric API produces arrives on the call's error topic", async () => {
  const t = await setup();
  const { app, world } = t;
  try {
    const sid = await createSensor(app);
    const s = `/sensor/${sid}`;
    const [num, flag, int] = (await createMetrics(app, sid, [
      { matchingId: "n", name: "n", valueUnit: "SI.Power.WATT" },
      { matchingId: "b", name: "b", valueType: "bool" },
      { matchingId: "i", name: "i", valueType: "integer" },
    ])).body as { metricId: string }[];
    const unknownSid = "0".repeat(32);
    const metric = [`${s}/metric/inbox`, `${s}/metric/error/inbox`];
    const push = [`${s}/info/inbox`, `${s}/error/inbox`];
    const update = [`${s}/metric/update/info/inbox`, `${s}/metric/update/error/inbox`];
    const cases: [string, string, string | object, string[], number][] = [
      ["InvalidJson", "/sensor/create", "{not json", SENSOR, 4],
      ["JsonIsNotAObject", "/sensor/create", "[1,2]", SENSOR, 5],
      ["MissingParameter", "/sensor/create", {}, SENSOR, 6],
      ["ParameterIsNotAString", "/sensor/create", { name: 5 }, SENSOR, 7],
      [
        "ParameterIsNotANumber",
        `${s}/metric/pushValues`,
        { metrics: [{ metricId: num.metricId, value: "hot" }] },
        push,
        8,
      ],
      [
        "ParameterisNotABool",
        `${s}/metric/pushValues`,
        { metrics: [{ metricId: flag.metricId, value: 1 }] },
        push,
        9,
      ],
      ["ParameterIsNotAnArray", `${s}/metric`, { metrics: {} }, metric, 10],
      [
        "ParameterIsNotAnInteger",
        `${s}/metric/pushValues`,
        { metrics: [{ metricId: int.metricId, value: 1.5 }] },
        push,
        11,
      ],
      [
        "UnknownValueUnit",
        `${s}/metric`,
        { metrics: [{ matchingId: "x", name: "x", valueUnit: "furlongs" }] },
        metric,
        12,
      ],
      [
        "UnknownMetricType",
        `${s}/metric`,
        { metrics: [{ matchingId: "x", name: "x", valueType: "float" }] },
        metric,
        13,
      ],
      [
        "ValueUnitOrValueTypeHasToBeProvided",
        `${s}/metric`,
        { metrics: [{ matchingId: "x", name: "x" }] },
        metric,
        14,
      ],
      ["UnknownSensorId", `/sensor/${unknownSid}/update`, { name: "x" }, [
        `/sensor/${unknownSid}/update/error/inbox`,
      ], 15],
      [
        "UnknownMetricId",
        `${s}/metric/pushValues`,
        { metrics: [{ metricId: unknownSid, value: 1 }] },
        push,
        16,
      ],
      [
        "NoMetricsUpdated",
        `${s}/metric/update`,
        { metrics: [{ metricId: num.metricId, name: "n" }] },
        update,
        17,
      ],
      ["OutOfRange", "/sensor/create", { name: "x".repeat(300) }, SENSOR, 19],
      [
        "OutOfRange (timestamp)",
        `${s}/metric/pushValues`,
        { metrics: [{ metricId: num.metricId, value: 1 }], timestamp: -5 },
        push,
        19,
      ],
    ];
    for (const [name, path, payload, replies, code] of cases) {
      const reply = await app.call(path, payload, replies);
      ok(reply.topic.endsWith("/error/inbox"), `${name}: answered on ${reply.topic}`);
      equal(errorOf(reply.body), code, `${name}: ${reply.text}`);
      equal(typeof (reply.body as { errorMessage: unknown }).errorMessage, "string");
    }
    const describe = await app.call(`${s}/metric/${unknownSid}/inventory`, {}, [
      `${s}/inventory/error/inbox`,
    ]);
    equal(errorOf(describe.body), 16);
    const unknownCall = await app.call("/sensor/teleport", {}, ["/sensor/teleport/error/inbox"]);
    equal(errorOf(unknownCall.body), 0, "UnknownError for a call the agent does not know");
    world.failPublish = true;
    const internal = await app.call(`${s}/metric/pushValues`, {
      metrics: [{ metricId: num.metricId, value: 1 }],
    }, push);
    equal(errorOf(internal.body), 3, "InternalError when the outbox cannot store");
    world.failPublish = false;
    const fine = await app.call(`${s}/metric/pushValues`, {
      metrics: [{ metricId: num.metricId, value: 2 }],
    }, push);
    equal(fine.topic, `/v1.0/${app.clientId}${s}/info/inbox`);
  } finally {
    await t.stop();
  }
});

Deno.test("malformed payloads on every call topic get error replies and the broker keeps serving", async () => {
  const t = await setup();
  const { app } = t;
  try {
    const sid = await createSensor(app);
    const [m] =
      (await createMetrics(app, sid, [{ matchingId: "1", name: "x", valueUnit: "SI.Mass.GRAM" }]))
        .body as { metricId: string }[];
    const s = `/sensor/${sid}`;
    const calls: [string, string][] = [
      ["/ping", "/ping/error/inbox"],
      ["/inventory", "/inventory/error/inbox"],
      ["/sensor/create", "/sensor/error/inbox"],
      [`${s}/update`, `${s}/update/error/inbox`],
      [`${s}/delete`, `${s}/delete/error/inbox`],
      [`${s}/metric`, `${s}/metric/error/inbox`],
      [`${s}/metric/${m.metricId}/inventory`, `${s}/inventory/error/inbox`],
      [`${s}/metric/update`, `${s}/metric/update/error/inbox`],
      [`${s}/metric/delete`, `${s}/delete/error/inbox`],
      [`${s}/metric/pushValues`, `${s}/error/inbox`],
      ["/delete", "/delete/error/inbox"],
    ];
    const garbage = ["", "{", "null", '"text"', "42", "\u0000\u00ff", "[]"];
    for (const [path, error] of calls) {
      for (const payload of garbage) {
        const reply = await app.call(path, payload, [error]);
        ok(
          [4, 5].includes(errorOf(reply.body)),
          `${path} with ${JSON.stringify(payload)}: ${reply.text}`,
        );
      }
    }
    const bytes = new Uint8Array([0xc3, 0x28, 0xa0, 0xa1]);
    await app.client.publishAsync(`/v1.0/${app.clientId}/sensor/create`, Buffer.from(bytes), {
      qos: 1,
    });
    const reply = await app.waitFor((msg) => msg.topic.endsWith("/sensor/error/inbox"));
    equal(errorOf(JSON.parse(reply.text)), 4);
    // Still alive: the sensor and its metric are intact and answer.
    const inventory = await app.call("/inventory", {}, ["/inventory/inbox"]);
    equal((inventory.body as unknown[]).length, 1);
    equal(t.world.restarts(), 0, "nothing in the local-api subtree crashed");
  } finally {
    await t.stop();
  }
});

import { Buffer } from "node:buffer";
