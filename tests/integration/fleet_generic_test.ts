/**
 * A fleet of simulated devices against the embedded aedes broker, seen from
 * the cloud's side (an MQTT observer): each device logs in with its own
 * client id, publishes with dense seqs of its own, answers its own commands,
 * applies and reports its own desired state, and loses nothing to churn.
 */
import assert from "node:assert/strict";
import { createFleet, type Fleet, parseFleetConfig } from "../../actors/fleet/mod.ts";
import { startAedes, type TestBroker } from "../helpers/brokers.ts";
import { observe, type Observer, type Seen } from "../helpers/mqtt_observer.ts";
import { until } from "../helpers/wait.ts";

interface World {
  broker: TestBroker;
  observer: Observer;
  fleet: Fleet;
  close(): Promise<void>;
}

/** A broker, an observer of `outpost/#` (and aedes' client log), and a started fleet. */
async function world(devices: number, extra = ""): Promise<World> {
  const broker = await startAedes();
  const stateDir = await Deno.makeTempDir({ prefix: "fleet-it-" });
  const observer = await observe(broker.url, ["outpost/#", "$SYS/+/new/clients"]);
  const fleet = createFleet(parseFleetConfig(
    `
[fleet]
devices = ${devices}
rampPerSec = 1000
stateDir = "${stateDir}"
seed = 1
${extra}
[clouds.hub]
type = "mqtt"
url = "${broker.url}"
clientId = "fleet-{id}"

[clouds.hub.backoff]
minMs = 20
maxMs = 200
`,
    { source: "fleet test" },
  ));
  await fleet.start();
  return {
    broker,
    observer,
    fleet,
    async close() {
      await fleet.stop();
      await observer.close();
      await broker.stop();
      await Deno.remove(stateDir, { recursive: true });
    },
  };
}

const ids = (count: number) => Array.from({ length: count }, (_, i) => `sim-${i + 1}`);

/** The seqs each device's telemetry arrived with, in arrival order. */
function seqsByDevice(messages: readonly Seen[]): Map<string, number[]> {
  const seqs = new Map<string, number[]>();
  for (const m of messages) {
    const match = m.topic.match(/^outpost\/([^/]+)\/telemetry\/system$/);
    if (!match) continue;
    const list = seqs.get(match[1]) ?? [];
    list.push(JSON.parse(m.text).seq);
    seqs.set(match[1], list);
  }
  return seqs;
}

/** The numbers missing from 1..max(seqs): what a backend checking gaps would call lost. */
function gaps(seqs: readonly number[]): number[] {
  const seen = new Set(seqs);
  const max = Math.max(0, ...seqs);
  return Array.from({ length: max }, (_, i) => i + 1).filter((seq) => !seen.has(seq));
}

Deno.test("twenty devices each log in with a client id of their own and publish dense seqs of their own", async () => {
  const w = await world(20, "[fleet.telemetry]\nintervalSec = 0.1");
  try {
    await until("every device connected", () => w.fleet.stats().connected === 20, 10_000);
    // aedes announces each client id it accepts (the observer's own came before it subscribed).
    const clientIds = await w.observer.waitForCount((m) => m.topic.endsWith("/new/clients"), 20);
    const fleetIds = clientIds.map((m) => m.text).sort();
    assert.deepEqual(fleetIds, ids(20).map((id) => `fleet-${id}`).sort());
    for (const id of ids(20)) {
      const presence = await w.observer.waitFor((m) => m.topic === `outpost/${id}/status`);
      assert.equal(JSON.parse(presence.text).online, true);
    }
    await until(
      "ten records from every device",
      () =>
        [...seqsByDevice(w.observer.messages).values()].filter((s) => s.length >= 10).length === 20,
      10_000,
    );
    for (const [id, seqs] of seqsByDevice(w.observer.messages)) {
      assert.deepEqual(seqs.slice(0, 10), Array.from({ length: 10 }, (_, i) => i + 1), id);
      assert.deepEqual(gaps(seqs), [], `${id} has no gap`);
    }
    const stats = w.fleet.stats();
    assert.equal(stats.errors, 0);
    assert.ok(stats.delivered >= 200, `${stats.delivered} delivered`);
  } finally {
    await w.close();
  }
});

Deno.test("a command to one device is answered by that device only", async () => {
  const w = await world(5);
  try {
    await until("every device connected", () => w.fleet.stats().connected === 5, 10_000);
    await w.observer.publish("outpost/sim-3/commands/echo/r-1", JSON.stringify({ hello: 3 }));
    const echo = await w.observer.waitFor((m) => m.topic === "outpost/sim-3/responses/echo/r-1");
    assert.deepEqual(JSON.parse(echo.text), { status: 200, body: { hello: 3 } });
    // A second command, to another device, answered after the first: nothing else came between.
    await w.observer.publish("outpost/sim-4/commands/ping/r-2", "{}");
    const pong = await w.observer.waitFor((m) => m.topic === "outpost/sim-4/responses/ping/r-2");
    assert.equal(JSON.parse(pong.text).body.pong, true);
    assert.deepEqual(
      w.observer.messages.filter((m) => m.topic.includes("/responses/")).map((m) => m.topic),
      ["outpost/sim-3/responses/echo/r-1", "outpost/sim-4/responses/ping/r-2"],
    );
    await w.observer.publish("outpost/sim-1/commands/reboot/r-3", "{}");
    const unknown = await w.observer.waitFor((m) =>
      m.topic === "outpost/sim-1/responses/reboot/r-3"
    );
    assert.equal(JSON.parse(unknown.text).status, 404);
  } finally {
    await w.close();
  }
});

Deno.test("each device applies and reports its own desired state; intervalSec changes its rate", async () => {
  const w = await world(4, "[fleet.telemetry]\nintervalSec = 60");
  try {
    await until("every device connected", () => w.fleet.stats().connected === 4, 10_000);
    for (const [i, id] of ids(4).entries()) {
      const desired = { version: 1, state: { mode: `mode-${i}`, intervalSec: 0.05 } };
      await w.observer.publish(`outpost/${id}/state/desired`, JSON.stringify(desired), {
        retain: true,
      });
    }
    for (const [i, id] of ids(4).entries()) {
      const reported = await w.observer.waitFor((m) => m.topic === `outpost/${id}/state/reported`);
      assert.deepEqual(JSON.parse(reported.text), {
        version: 1,
        state: { mode: `mode-${i}`, intervalSec: 0.05 },
      });
      assert.equal(w.fleet.device(id)!.intervalMs, 50);
    }
    // At one record a minute none would come; at 20 a second they do.
    await until(
      "records at the new rate",
      () =>
        [...seqsByDevice(w.observer.messages).values()].every((s) => s.length >= 5) &&
        seqsByDevice(w.observer.messages).size === 4,
      10_000,
    );
    await w.observer.publish(
      "outpost/sim-2/state/desired",
      JSON.stringify({ version: 2, state: { intervalSec: "fast" } }),
      { retain: true },
    );
    const rejected = await w.observer.waitFor((m) =>
      m.topic === "outpost/sim-2/events/state.rejected"
    );
    assert.match(JSON.parse(rejected.text).text, /intervalSec must be a number of seconds/);
  } finally {
    await w.close();
  }
});

Deno.test("churn takes devices off and back, and no record is lost on the way", async () => {
  // 600 % a minute: each of the 10 devices goes down about once every 10 s, for 0.4 s.
  const w = await world(
    10,
    "[fleet.telemetry]\nintervalSec = 0.05\n[fleet.churn]\npercentPerMin = 600\ndownSec = 0.4",
  );
  try {
    await until("every device connected", () => w.fleet.stats().connected === 10, 10_000);
    const cycles = () => {
      const back = new Set<string>();
      const went = new Set<string>();
      for (const m of w.observer.messages) {
        const id = m.topic.match(/^outpost\/([^/]+)\/status$/)?.[1];
        if (!id) continue;
        if (!JSON.parse(m.text).online) went.add(id);
        else if (went.has(id)) back.add(id);
      }
      return back.size;
    };
    await until("three devices went down and came back", () => cycles() >= 3, 20_000, 20);
    const stats = w.fleet.stats();
    assert.equal(stats.errors, 0, "a device churned is not an error");
    for (const [id, seqs] of seqsByDevice(w.observer.messages)) {
      assert.deepEqual(gaps(seqs), [], `${id}: every record up to the last one seen arrived`);
    }
  } finally {
    await w.close();
  }
});

Deno.test("with intervalSec = 0 each device keeps inFlight records waiting, as fast as its outbox drains", async () => {
  const w = await world(5, "[fleet.telemetry]\nintervalSec = 0\ninFlight = 4");
  try {
    await until("every device connected", () => w.fleet.stats().connected === 5, 10_000);
    let most = 0;
    await until(
      "2,000 records delivered",
      () => {
        const stats = w.fleet.stats();
        most = Math.max(most, stats.queued);
        return stats.delivered >= 2000;
      },
      20_000,
      1,
    );
    assert.ok(most <= 5 * 4, `at most 20 records waiting, saw ${most}`);
    await until(
      "the observer saw them",
      () => seqsByDevice(w.observer.messages).size === 5,
      10_000,
    );
    for (const [id, seqs] of seqsByDevice(w.observer.messages)) {
      assert.deepEqual(gaps(seqs), [], `${id} has no gap`);
    }
  } finally {
    await w.close();
  }
});
