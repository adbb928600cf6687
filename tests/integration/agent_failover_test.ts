/**
 * An agent on a generic cloud with `urls = [A, B]`, two mosquitto
 * processes, publishing a steady stream while A is killed (SIGKILL) mid-
 * stream (docs/failover.md): it carries on at B, every committed record
 * reaches the cloud at least once, each broker sees a stream in seq order,
 * the duplicates stay within one drain window, and commands and desired
 * state work on B. Then A returns, B is killed, and the agent is back on A.
 *
 * A PUBACK gate sits in front of A. It holds A's PUBACKs for a while, so
 * that a full window of records is in flight (delivered by A, not yet
 * acknowledged to the agent) when A dies, and so that the kill cannot land
 * between a PUBACK and A's forwarding of the same message to its
 * subscriber, a race of the broker's that the agent cannot see.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { DRAIN_WINDOW } from "../../actors/telemetry/drain.ts";
import { startMosquitto } from "../helpers/brokers.ts";
import { startPubackGate } from "../helpers/c8y_puback_gate.ts";
import { testAgent } from "../helpers/agent.ts";
import { observe, type Observer, type Seen } from "../helpers/mqtt_observer.ts";
import { until } from "../helpers/wait.ts";

const P = "outpost/dev-1";
const STREAMS = ["flow", "level"];

/** The telemetry seqs an observer saw, in arrival order, with their stream. */
function telemetry(cloud: Observer): { stream: string; seq: number }[] {
  return cloud.messages
    .filter((m: Seen) => m.topic.startsWith(`${P}/telemetry/`))
    .map((m) => ({ stream: m.topic.split("/").at(-1)!, seq: JSON.parse(m.text).seq as number }));
}

/** Asserts that, on one broker, each stream's seqs arrived strictly increasing. */
function inOrder(name: string, seen: { stream: string; seq: number }[]): void {
  for (const stream of STREAMS) {
    const seqs = seen.filter((r) => r.stream === stream).map((r) => r.seq);
    for (let i = 1; i < seqs.length; i++) {
      ok(seqs[i] > seqs[i - 1], `${name}, ${stream}: seq ${seqs[i]} after ${seqs[i - 1]}`);
    }
  }
}

Deno.test("an agent with urls = [A, B] loses nothing when A is killed mid-stream, carries on at B, and moves back to A when B dies", async () => {
  const a = await startMosquitto();
  const b = await startMosquitto();
  const gate = startPubackGate(a.port);
  const stateDir = await Deno.makeTempDir({ prefix: "failover-" });
  const { agent } = await testAgent({ urls: [gate.url, b.url], stateDir });
  const observers: Observer[] = [];
  const watch = async (url: string) => {
    const cloud = await observe(url, [`${P}/#`]);
    observers.push(cloud);
    return cloud;
  };
  const link = () => agent.cloud("test")!.link;
  const committed: number[] = [];
  const publish = async (count: number) => {
    for (let i = 0; i < count; i++) {
      committed.push(await agent.publish(STREAMS[committed.length % 2], { n: committed.length }));
    }
  };
  try {
    const onA = await watch(a.url);
    const onB = await watch(b.url);
    agent.onCommand("add", (body) => {
      const { x, y } = body as { x: number; y: number };
      return { sum: x + y };
    });
    const applied: number[] = [];
    agent.onDesired((desired, version) => {
      applied.push(version);
      return desired;
    });
    await agent.start();
    await onA.waitFor((m) => m.topic === `${P}/status` && JSON.parse(m.text).online, 10_000);
    equal(link().broker, gate.url, "the first attempt goes to the first URL");

    // Acknowledged records first, then a full window in flight at A.
    await publish(300);
    await until("A's subscriber has the first 300", () => telemetry(onA).length >= 300, 30_000);
    gate.hold((payload) => payload.includes('"values"'));
    await publish(400);
    await until("a full window in flight", () => gate.held().length === DRAIN_WINDOW, 30_000);
    const inFlight = gate.held().map((payload) => JSON.parse(payload).seq as number);
    const seenAtA = () => new Set(telemetry(onA).map((r) => r.seq));
    await until("A delivered what it accepted", () => {
      const seen = seenAtA();
      return committed.filter((s) => s <= Math.max(...inFlight)).every((s) => seen.has(s));
    }, 30_000);

    // Mid-stream: the producer keeps going while A is killed.
    const tail = publish(1000);
    await until("the stream runs on", () => committed.length >= 750, 30_000);
    await a.crash();
    await tail;
    await until(`the agent on B (now ${link().broker})`, () => link().broker === b.url, 30_000);
    equal(agent.status().clouds[0].broker, b.url, "outpost status names the broker in use");

    const seen = () => [...telemetry(onA), ...telemetry(onB)].map((r) => r.seq);
    await until("every committed record at A or B", () => {
      const all = new Set(seen());
      return committed.every((s) => all.has(s));
    }, 60_000);
    const atA = telemetry(onA);
    const atB = telemetry(onB);
    inOrder("A", atA);
    inOrder("B", atB);
    const bSeqs = new Set(atB.map((r) => r.seq));
    const twice = atA.filter((r) => bSeqs.has(r.seq)).map((r) => r.seq);
    ok(twice.length <= DRAIN_WINDOW, `${twice.length} duplicates, more than one window`);
    ok(inFlight.every((s) => bSeqs.has(s)), "the records in flight at A were sent again to B");
    equal(new Set(seen()).size, committed.length, "nothing but committed records");

    // The cloud's side works on B: a command is answered, desired state applied.
    await onB.publish(`${P}/commands/add/r1`, JSON.stringify({ x: 2, y: 3 }));
    const answer = await onB.waitFor((m) => m.topic === `${P}/responses/add/r1`, 10_000);
    deepEqual(JSON.parse(answer.text), { status: 200, body: { sum: 5 } });
    await onB.publish(
      `${P}/state/desired`,
      JSON.stringify({ version: 7, state: { fan: "high" } }),
      { retain: true },
    );
    const reported = await onB.waitFor((m) => m.topic === `${P}/state/reported`, 10_000);
    deepEqual(JSON.parse(reported.text), { version: 7, state: { fan: "high" } });
    deepEqual(applied, [7]);

    // A returns (the agent stays on B), then B dies: back to A.
    gate.release();
    await a.restart();
    const backOnA = await watch(a.url);
    await publish(1);
    await onB.waitFor((m) => JSON.parse(m.text).seq === committed.at(-1), 10_000);
    equal(link().broker, b.url, "no fail-back while B is up");
    await b.crash();
    await until(
      `the agent back on A (now ${link().broker})`,
      () => link().broker === gate.url,
      30_000,
    );
    await publish(1);
    const last = await backOnA.waitFor(
      (m) => m.topic.startsWith(`${P}/telemetry/`) && JSON.parse(m.text).seq === committed.at(-1),
      10_000,
    );
    ok(last);
  } finally {
    await agent.stop();
    for (const cloud of observers) await cloud.close();
    await gate.close();
    await a.stop();
    await b.stop();
    await Deno.remove(stateDir, { recursive: true });
  }
});
