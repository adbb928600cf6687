/**
 * The agent on a generic MQTT cloud (PROTOCOLS.md §0), against an
 * in-process broker, observed by a plain MQTT client playing the cloud.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { startAedes } from "../helpers/brokers.ts";
import { observe } from "../helpers/mqtt_observer.ts";
import { testAgent } from "../helpers/agent.ts";

const P = "outpost/dev-1";

async function setup() {
  const broker = await startAedes();
  const cloud = await observe(broker.url, [`${P}/#`]);
  const { agent, stateDir } = await testAgent({ url: broker.url });
  await agent.start();
  await cloud.waitFor((m) => m.topic === `${P}/status` && JSON.parse(m.text).online === true);
  return {
    broker,
    cloud,
    agent,
    async teardown() {
      await agent.stop();
      await cloud.close();
      await broker.stop();
      await Deno.remove(stateDir, { recursive: true });
    },
  };
}

Deno.test("the agent announces itself, publishes telemetry with seq, and says offline when stopped", async () => {
  const t = await setup();
  try {
    const seq = await t.agent.publish("climate", { celsius: 21.5 });
    const seen = await t.cloud.waitFor((m) => m.topic === `${P}/telemetry/climate`);
    const body = JSON.parse(seen.text);
    deepEqual({ seq: body.seq, values: body.values }, { seq, values: { celsius: 21.5 } });
    ok(!Number.isNaN(Date.parse(body.ts)));
    await t.agent.event("door", "door opened", { door: "front" });
    const event = JSON.parse((await t.cloud.waitFor((m) => m.topic === `${P}/events/door`)).text);
    deepEqual({ text: event.text, data: event.data, next: event.seq > seq }, {
      text: "door opened",
      data: { door: "front" },
      next: true,
    });
  } finally {
    await t.agent.stop();
    await t.cloud.waitFor((m) => m.topic === `${P}/status` && JSON.parse(m.text).online === false);
    await t.teardown();
  }
});

Deno.test("desired state is applied by the app's handler and reported back with its version", async () => {
  const t = await setup();
  try {
    const seen: unknown[] = [];
    t.agent.onDesired((desired, version) => {
      seen.push([desired, version]);
      return { fan: desired.fan };
    });
    await t.cloud.publish(
      `${P}/state/desired`,
      JSON.stringify({ version: 3, state: { fan: "high", ignored: 1 } }),
      {
        retain: true,
      },
    );
    const reported = await t.cloud.waitFor((m) => m.topic === `${P}/state/reported`);
    deepEqual(JSON.parse(reported.text), { version: 3, state: { fan: "high" } });
    // An older version is ignored.
    await t.cloud.publish(
      `${P}/state/desired`,
      JSON.stringify({ version: 2, state: { fan: "low" } }),
    );
    await t.cloud.publish(
      `${P}/state/desired`,
      JSON.stringify({ version: 4, state: { fan: null } }),
    );
    const next = await t.cloud.waitFor((m) =>
      m.topic === `${P}/state/reported` && JSON.parse(m.text).version === 4
    );
    deepEqual(JSON.parse(next.text), { version: 4, state: {} });
    deepEqual(seen.map((s) => (s as [unknown, number])[1]), [3, 4]);
  } finally {
    await t.teardown();
  }
});

Deno.test("commands answer 200, 404 for unknown, 400 for malformed JSON, 500 when the handler throws", async () => {
  const t = await setup();
  try {
    t.agent.onCommand("add", (payload) => {
      const { a, b } = payload as { a: number; b: number };
      if (typeof a !== "number") throw new Error("a must be a number");
      return { sum: a + b };
    });
    const cases: [string, string, number, unknown][] = [
      ["add/r1", '{"a":2,"b":3}', 200, { sum: 5 }],
      ["nope/r2", "{}", 404, { error: 'Unknown command "nope"' }],
      ["add/r3", "{not json", 400, undefined],
      ["add/r4", '{"a":"x"}', 500, { error: "a must be a number" }],
    ];
    for (const [address, payload] of cases) {
      await t.cloud.publish(`${P}/commands/${address}`, payload);
    }
    for (const [address, , status, body] of cases) {
      const response = JSON.parse(
        (await t.cloud.waitFor((m) => m.topic === `${P}/responses/${address}`)).text,
      );
      equal(response.status, status, address);
      if (body !== undefined) deepEqual(response.body, body);
      else ok(typeof response.body.error === "string" && response.body.error.length > 0);
    }
    const ping = JSON.parse(
      (await t.cloud.publish(`${P}/commands/ping/p1`, ""),
        await t.cloud.waitFor((m) => m.topic === `${P}/responses/ping/p1`)).text,
    );
    equal(ping.status, 200);
    equal(ping.body.pong, true);
    await t.cloud.publish(`${P}/commands/tree/t1`, "");
    const tree = JSON.parse(
      (await t.cloud.waitFor((m) => m.topic === `${P}/responses/tree/t1`)).text,
    );
    equal(tree.body.path, "agent");
    ok(tree.body.children.some((c: { id: string }) => c.id === "cloud:test"));
  } finally {
    await t.teardown();
  }
});

Deno.test("a malformed desired document is rejected with a 400 event and the agent keeps running", async () => {
  const t = await setup();
  try {
    await t.cloud.publish(`${P}/state/desired`, '{"version":"seven","state":{}}');
    const event = JSON.parse(
      (await t.cloud.waitFor((m) => m.topic === `${P}/events/state.rejected`)).text,
    );
    equal(event.data.status, 400);
    ok(event.text.includes("version"), event.text);
    await t.agent.publish("after", { ok: true });
    await t.cloud.waitFor((m) => m.topic === `${P}/telemetry/after`);
    equal(t.agent.tree().status, "running");
  } finally {
    await t.teardown();
  }
});

Deno.test("10,000 records published while the broker is down all arrive after it returns, in order", async () => {
  const broker = await startAedes();
  const port = broker.port;
  const { agent, stateDir } = await testAgent({ url: broker.url });
  await agent.start();
  await broker.stop();
  try {
    const seqs: number[] = [];
    for (let i = 0; i < 10_000; i++) seqs.push(await agent.publish("bulk", { i }));
    equal(agent.status().clouds[0].queued, 10_000);
    const back = await startAedes({ port });
    const cloud = await observe(back.url, [`${P}/telemetry/bulk`]);
    try {
      const all = await cloud.waitForCount(() => true, 10_000, 60_000);
      const got = all.map((m) => JSON.parse(m.text));
      // At least once: a duplicate may appear around the reconnect, a gap never.
      const unique = [...new Map(got.map((r) => [r.seq, r])).values()];
      deepEqual(unique.map((r) => r.seq), seqs);
      deepEqual(unique.map((r) => r.values.i), seqs.map((_, i) => i));
      for (let i = 1; i < got.length; i++) {
        ok(got[i].seq > got[i - 1].seq || got.slice(0, i).some((r) => r.seq === got[i].seq));
      }
    } finally {
      await agent.stop();
      await cloud.close();
      await back.stop();
    }
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("a full outbox drops the oldest records and reports the drop", async () => {
  const broker = await startAedes();
  const port = broker.port;
  const { agent, stateDir } = await testAgent({ url: broker.url, maxRecords: 100 });
  await agent.start();
  await broker.stop();
  try {
    for (let i = 0; i < 150; i++) await agent.publish("bounded", { i });
    const status = agent.status().clouds[0];
    ok(status.dropped >= 50, `dropped ${status.dropped}`);
    ok(status.queued <= 100);
    const back = await startAedes({ port });
    const cloud = await observe(back.url, [`${P}/#`]);
    try {
      const dropEvent = JSON.parse(
        (await cloud.waitFor((m) => m.topic === `${P}/events/outbox.dropped`, 10_000)).text,
      );
      ok(dropEvent.data.dropped >= 50, JSON.stringify(dropEvent));
      const last = await cloud.waitFor((m) =>
        m.topic === `${P}/telemetry/bounded` && JSON.parse(m.text).values.i === 149
      );
      ok(last);
      const first = JSON.parse(
        cloud.messages.find((m) => m.topic === `${P}/telemetry/bounded`)!.text,
      );
      ok(first.values.i >= 50, `the oldest were dropped, first kept is ${first.values.i}`);
    } finally {
      await agent.stop();
      await cloud.close();
      await back.stop();
    }
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});
