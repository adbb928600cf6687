/**
 * Outpost on a real clustered broker (issue 15): three nats-server nodes
 * A, B, C with JetStream and MQTT on loopback (tests/helpers/nats_cluster.ts,
 * docs/cluster.md). The real agent (`deno run -A main.ts run -c …`) has one
 * generic cloud with `urls = [A, B, C]` and publishes its `system` telemetry
 * every 4 ms, with a persistent session (`cleanSession = false`; see below);
 * "the cloud" is two persistent QoS 1 sessions on C. A is killed with
 * SIGKILL mid-stream, later restarted, then B is killed; after each switch a
 * command and a desired state sent through C must be answered and applied.
 * At the end every committed seq must have reached the cloud (one of its two
 * sessions, see below), in order per stream, with no more resends than one
 * drain window per new session.
 */
import assert from "node:assert/strict";
import { DRAIN_WINDOW } from "../../actors/telemetry/drain.ts";
import { type NatsCluster, startNatsCluster } from "../helpers/nats_cluster.ts";
import { type ClusterAgent, committedSeqs, startClusterAgent } from "../helpers/cluster_agent.ts";
import { type DeviceCloud, observeDevice } from "../helpers/cluster_cloud.ts";
import { deliveryReport, formatDelivery, missingFromAll } from "../helpers/cluster_delivery.ts";
import { until } from "../helpers/wait.ts";
import { connectMqtt } from "../helpers/cluster_mqtt.ts";

const DEVICE = "cluster-1";
const CLIENT_ID = `outpost-${DEVICE}`;
/** A sample every 4 ms: 250 records/s, under what one NATS MQTT connection stores (docs/cluster.md). */
const INTERVAL_SEC = 0.004;
/** Records the subscriber must see between two steps, so each kill lands mid-stream. */
const STRETCH = 300;
/** From a kill to records again: a JetStream election (4–9 s) plus 4 s stalls (docs/cluster.md). */
const SWITCH_DEADLINE_MS = 45_000;
/** A command or desired state right after a switch may wait for a consumer's election too. */
const ROUND_TRIP_DEADLINE_MS = 30_000;

/**
 * Kills node `victim` with SIGKILL and resolves once a record created after
 * the kill has reached the cloud: the agent publishes again, through another
 * node. Returns how long that took and where the agent is now.
 */
async function killAndWaitForRecords(
  cluster: NatsCluster,
  clouds: readonly DeviceCloud[],
  victim: number,
): Promise<{ gapMs: number; node: string }> {
  const killedAt = Date.now();
  const started = performance.now();
  await cluster.kill(victim);
  const firsts = await Promise.all(clouds.map((cloud) =>
    cloud.waitForArrival(
      `a record created after node ${cluster.nodes[victim].name} was killed`,
      (a) => a.ts > killedAt,
      SWITCH_DEADLINE_MS,
    )
  ));
  const node = await cluster.mqttClientNode(CLIENT_ID);
  return {
    gapMs: Math.min(...firsts.map((a) => a.at)) - started,
    node: node === undefined ? "none (between connections)" : cluster.nodes[node].name,
  };
}

/**
 * Sends `ping` and desired state `version` through the cloud; both must come
 * back. Returns how long each round trip took.
 */
async function commandAndDesired(cloud: DeviceCloud, version: number): Promise<string> {
  const started = performance.now();
  const pong = await cloud.command("ping", null, ROUND_TRIP_DEADLINE_MS);
  const answered = performance.now();
  assert.equal(pong.status, 200, `ping answered ${JSON.stringify(pong)}`);
  assert.equal((pong.body as { pong?: boolean }).pong, true);
  const reported = await cloud.desire(version, { switch: version }, ROUND_TRIP_DEADLINE_MS);
  assert.equal(reported.version, version, `reported ${JSON.stringify(reported)}`);
  return `ping answered in ${(answered - started).toFixed(0)} ms, desired version ${version} ` +
    `reported in ${(performance.now() - answered).toFixed(0)} ms`;
}

/** The brokers the agent connected to, in order, by node name. */
function brokerPath(cluster: NatsCluster, agent: ClusterAgent): string {
  const name = (url: string) => cluster.nodes.find((n) => n.mqttUrl === url)?.name ?? url;
  return agent.connects().map((c) => name(c.url)).join(" → ");
}

Deno.test("an agent with urls = A, B, C loses no committed record, and answers commands and desired state, while A is SIGKILLed, restarted, and B is SIGKILLed", async () => {
  const began = performance.now();
  const elapsed = () => `${((performance.now() - began) / 1000).toFixed(1)} s`;
  // ack_wait 5 s: what NATS sent a session and got no PUBACK for comes again soon.
  const cluster = await startNatsCluster({ nodes: 3, mqtt: { ackWaitSec: 5 } });
  const dir = await Deno.makeTempDir({ prefix: "cluster-agent-" });
  const clouds: DeviceCloud[] = [];
  const agents: ClusterAgent[] = [];
  const brokers = (agent: ClusterAgent) => brokerPath(cluster, agent);
  const failed = async (error: unknown) => {
    const logs = await Promise.all(cluster.nodes.map((n) => cluster.log(n.index, 60)));
    return new Error(
      `${(error as Error).message}\n--- agent output ---\n${
        agents.map((a) => a.output()).join("\n--- next run ---\n").slice(-20_000)
      }\n${logs.join("\n")}`,
      { cause: error },
    );
  };
  try {
    await cluster.ready();
    const [A, B, C] = cluster.nodes;
    // Two sessions on C, each with its own consumers: a record missing from
    // both never reached the broker; one missing from one only is a delivery
    // NATS 2.9 skipped (docs/cluster.md).
    for (const clientId of ["cloud-1", "cloud-2"]) {
      clouds.push(await observeDevice(C.mqttUrl, { deviceId: DEVICE, clientId }));
    }
    const [cloud] = clouds;
    // A persistent session: NATS 2.9 then keeps the agent's ten QoS 1
    // subscriptions (JetStream consumers) across a switch. With a clean
    // session each connect creates them again, which with a node down fails
    // (SUBACK 0x80 after 4 s each) on every attempt: docs/cluster.md.
    const options = { urls: cluster.mqttUrls, dir, deviceId: DEVICE, cleanSession: false };
    try {
      const agent = await startClusterAgent({ ...options, intervalSec: INTERVAL_SEC });
      agents.push(agent);
      assert.equal(agent.connects()[0]?.url, A.mqttUrl, "the agent starts on the first URL");
      await cloud.waitForArrival(`${STRETCH} records`, (a) => a.seq >= STRETCH);
      console.log(`[${elapsed()}] streaming through A; ${await commandAndDesired(cloud, 1)}`);

      const first = await killAndWaitForRecords(cluster, clouds, A.index);
      console.log(
        `[${elapsed()}] A killed: records again after ${first.gapMs.toFixed(0)} ms, ` +
          `agent on ${first.node}; brokers so far ${brokers(agent)}`,
      );
      console.log(`[${elapsed()}] ${await commandAndDesired(cloud, 2)}`);

      await cluster.restart(A.index);
      await cluster.ready();
      const mark = cloud.highestSeq() + STRETCH;
      await cloud.waitForArrival(`${STRETCH} more records`, (a) => a.seq >= mark);
      console.log(`[${elapsed()}] A restarted and ready; killing B`);

      const second = await killAndWaitForRecords(cluster, clouds, B.index);
      console.log(
        `[${elapsed()}] B killed: records again after ${second.gapMs.toFixed(0)} ms, ` +
          `agent on ${second.node}; brokers so far ${brokers(agent)}`,
      );
      console.log(`[${elapsed()}] ${await commandAndDesired(cloud, 3)}`);

      // What is still queued when the agent stops is committed too: a run
      // with no telemetry source drains it, so every seq can be checked. B
      // comes back first, so that run's subscriptions are made on a whole
      // cluster (with a node down each takes seconds; docs/cluster.md).
      await cluster.restart(B.index);
      await cluster.ready();
      assert.equal(await agent.stop(), 0, "the agent stops with exit 0 on SIGTERM");
      const committed = committedSeqs(dir);
      const drainer = await startClusterAgent({ ...options, intervalSec: 0 });
      agents.push(drainer);
      const arrivals = () => clouds.map((c) => c.arrivals);
      await until(
        `every seq 1..${committed} in one of the cloud sessions`,
        () => missingFromAll(arrivals(), committed).length === 0,
        45_000,
        100,
      ).catch(() => {});
      // A delivery NATS skipped would come again after ack_wait (5 s here), if ever.
      await until(
        `every seq 1..${committed} in both cloud sessions`,
        () => clouds.every((c) => missingFromAll([c.arrivals], committed).length === 0),
        10_000,
        100,
      ).catch(() => {});
      assert.equal(await drainer.stop(), 0);

      const lost = missingFromAll(arrivals(), committed);
      const reports = clouds.map((c) => deliveryReport(c.arrivals, committed));
      const [report] = reports;
      const sessions = agents.flatMap((a) => a.connects()).length;
      console.log(
        `[${elapsed()}] lost=${lost.length} dups=${report.dups}\n` +
          reports.map((r, i) => `  cloud-${i + 1}: ${formatDelivery(r)}\n`).join("") +
          `  agent sessions ${sessions} (${agents.map(brokers).join(" | ")}), ` +
          `cloud reconnects ${clouds.map((c) => c.reconnects).join(", ")}`,
      );
      assert.deepEqual(lost.slice(0, 20), [], "every committed seq reached the cloud");
      for (const r of reports) {
        assert.equal(r.outOfOrder, 0, `in order per stream: ${formatDelivery(r)}`);
        // Each new session resends at most what was in flight on the one before: one window.
        assert.ok(
          r.resent <= DRAIN_WINDOW * (sessions - 1),
          `at most ${DRAIN_WINDOW} resends per new session (${sessions - 1}): ${formatDelivery(r)}`,
        );
      }
    } catch (error) {
      throw await failed(error);
    }
  } finally {
    await Promise.all(agents.map((a) => a.stop()));
    for (const cloud of clouds) await cloud.close();
    await cluster.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the NATS cluster keeps retained messages on every node, refuses MQTT without a JetStream quorum, and serves again once a second node is back", async () => {
  const cluster = await startNatsCluster({ nodes: 3 });
  try {
    await cluster.ready();
    const [A, B, C] = cluster.nodes;
    const publisher = await connectMqtt(A.mqttUrl, { clientId: "retainer" });
    await publisher.publishAsync("outpost/facts/state/desired", '{"version":1,"state":{}}', {
      qos: 1,
      retain: true,
    });
    await publisher.endAsync();
    const reader = await connectMqtt(C.mqttUrl, { clientId: "reader" });
    try {
      const retained = new Promise<boolean>((resolve) =>
        reader.once("message", (_topic, _payload, packet) => resolve(packet.retain))
      );
      await reader.subscribeAsync("outpost/facts/state/desired", { qos: 1 });
      assert.equal(await retained, true, "a retained message published on A is retained on C");
    } finally {
      await reader.endAsync();
    }

    await cluster.kill(B.index);
    await cluster.kill(C.index);
    // One node of three: no JetStream quorum, so no MQTT session can be stored.
    await assert.rejects(
      connectMqtt(A.mqttUrl, { clientId: "alone", connectTimeout: 15_000 }),
      /closed the connection before CONNACK|connack timeout/,
    );
    await cluster.restart(B.index);
    await cluster.ready();
    assert.deepEqual(cluster.runningNodes(), [A.index, B.index]);
  } finally {
    await cluster.stop();
  }
});
