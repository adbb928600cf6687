/**
 * The sensor/metric module behind the LocalApiModule seam, with a
 * recording output and no sockets: which paths it takes, what it sends
 * where, and that a failing outbox surfaces as a throw (the router answers
 * it InternalError).
 */
import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { openDatabase } from "../../actors/store/database.ts";
import { SensorStore } from "../../actors/local_api/sensor_store.ts";
import { sensorApi } from "../../actors/local_api/sensor_api.ts";
import type { LocalApiOutput } from "../../actors/local_api/module.ts";

const A = "a".repeat(32);
const B = "b".repeat(32);

async function setup(
  publish = (_s: string, _v: Record<string, unknown>, _t: Date) => Promise.resolve(),
) {
  const dir = await Deno.makeTempDir({ prefix: "outpost-sensor-api-" });
  const db = openDatabase(dir);
  const sent: { clientId: string; path: string; payload: unknown }[] = [];
  const output: LocalApiOutput = {
    send: (clientId, path, payload) => void sent.push({ clientId, path, payload }),
    broadcast: () => {},
    connectedClients: () => [],
  };
  const module = sensorApi({ store: new SensorStore(db), publish, maxSensors: 2 });
  const call = async (clientId: string, path: string, body: unknown) => {
    await module.handle(
      { clientId, path, payload: new TextEncoder().encode(JSON.stringify(body)) },
      output,
    );
    return sent.at(-1)!;
  };
  return {
    module,
    sent,
    call,
    async close() {
      db.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("the sensor module takes the sensor/metric calls and leaves ping, delete and unknown paths to others", async () => {
  const t = await setup();
  try {
    for (const path of ["/inventory", "/sensor/create", `/sensor/${A}/metric/pushValues`]) {
      ok(t.module.handles(path), path);
    }
    for (
      const path of ["/ping", "/delete", "/session/list", `/sensor/${A}/livedata`, "/sensor/inbox"]
    ) {
      ok(!t.module.handles(path), path);
    }
  } finally {
    await t.close();
  }
});

Deno.test("a client sees only its own sensors, is limited in how many it has, and loses them when removed", async () => {
  const t = await setup();
  try {
    const created = await t.call(A, "/sensor/create", { name: "one" });
    const sid = (created.payload as { sensorId: string }).sensorId;
    const foreign = await t.call(B, `/sensor/${sid}/update`, { name: "mine now" });
    deepEqual([
      foreign.clientId,
      foreign.path,
      (foreign.payload as { errorcode: number }).errorcode,
    ], [
      B,
      `/sensor/${sid}/update/error/inbox`,
      15,
    ]);
    await t.call(A, "/sensor/create", { name: "two" });
    const third = await t.call(A, "/sensor/create", { name: "three" });
    equal((third.payload as { errorcode: number }).errorcode, 19);
    await t.module.clientRemoved?.(A);
    deepEqual((await t.call(A, "/inventory", {})).payload, []);
  } finally {
    await t.close();
  }
});

Deno.test("pushed values are published as stream local.<sensorId> keyed by metric id, then echoed as live data", async () => {
  const records: unknown[] = [];
  const t = await setup((stream, values, ts) => {
    records.push({ stream, values, ts: ts.getTime() });
    return Promise.resolve();
  });
  try {
    const sid = ((await t.call(A, "/sensor/create", { name: "s" })).payload as { sensorId: string })
      .sensorId;
    const [m] = (await t.call(A, `/sensor/${sid}/metric`, {
      metrics: [{ matchingId: 1, name: "x", valueType: "integer" }],
    })).payload as { metricId: string }[];
    await t.call(A, `/sensor/${sid}/metric/pushValues`, {
      metrics: [{ metricId: m.metricId, value: 3 }],
      timestamp: 42,
    });
    deepEqual(records, [{ stream: `local.${sid}`, values: { [m.metricId]: 3 }, ts: 42 }]);
    deepEqual(t.sent.slice(-2).map((s) => s.path), [
      `/sensor/${sid}/livedata`,
      `/sensor/${sid}/info/inbox`,
    ]);
  } finally {
    await t.close();
  }
});

Deno.test("a failing outbox is thrown to the router, not answered as a refusal, and nothing is echoed", async () => {
  const t = await setup(() => Promise.reject(new Error("disk full")));
  try {
    const sid = ((await t.call(A, "/sensor/create", { name: "s" })).payload as { sensorId: string })
      .sensorId;
    const [m] = (await t.call(A, `/sensor/${sid}/metric`, {
      metrics: [{ matchingId: "1", name: "x", valueUnit: "SI.Power.WATT" }],
    })).payload as { metricId: string }[];
    const before = t.sent.length;
    await rejects(
      t.call(A, `/sensor/${sid}/metric/pushValues`, {
        metrics: [{ metricId: m.metricId, value: 1 }],
      }),
      /disk full/,
    );
    equal(t.sent.length, before);
  } finally {
    await t.close();
  }
});
