/**
 * The shadow sync statechart alone: a simulated clock, recorded actions,
 * events in place of MQTT.
 */
import { deepEqual, equal } from "node:assert/strict";
import { createActor, SimulatedClock } from "xstate";
import { type FetchedShadow, shadowSyncMachine } from "../../machines/shadow_sync.ts";

function start() {
  const done: string[] = [];
  const logic = shadowSyncMachine.provide({
    actions: {
      requestGet: () => void done.push("get"),
      createShadow: () => void done.push("create"),
      reconcile: (_, { shadow }) => void done.push(`reconcile v${shadow.version}`),
      applyDelta: (_, { version }) => void done.push(`delta v${version}`),
      confirmUpdate: (_, { version }) => void done.push(`confirm v${version}`),
      reportRejection: (_, { request, code }) => void done.push(`rejected ${request} ${code}`),
      synced: () => void done.push("synced"),
      unsynced: () => void done.push("unsynced"),
    },
  });
  const clock = new SimulatedClock();
  const actor = createActor(logic, { clock, input: { requestTimeoutMs: 1000, retryMs: 500 } });
  actor.start();
  const state = () => String(actor.getSnapshot().value);
  return { actor, clock, done, state };
}

const shadow = (version: number): FetchedShadow => ({ desired: {}, reported: {}, version });

Deno.test("shadow sync gets the shadow on every connect and reconciles the answer", () => {
  const { actor, done, state } = start();
  equal(state(), "offline");
  actor.send({ type: "link.up" });
  equal(state(), "fetching");
  actor.send({ type: "get.accepted", shadow: shadow(4) });
  equal(state(), "synced");
  actor.send({ type: "link.down" });
  actor.send({ type: "link.up" });
  deepEqual(done, ["get", "reconcile v4", "synced", "unsynced", "get"]);
  actor.stop();
});

Deno.test("shadow sync creates a missing shadow (404) and is in sync once the update is accepted", () => {
  const { actor, done, state } = start();
  actor.send({ type: "link.up" });
  actor.send({ type: "get.rejected", code: 404, message: "No shadow exists" });
  equal(state(), "creating");
  actor.send({ type: "update.accepted", version: 1 });
  equal(state(), "synced");
  deepEqual(done, ["get", "create", "confirm v1", "synced"]);
  actor.stop();
});

Deno.test("shadow sync drops deltas at or below the version already applied", () => {
  const { actor, done } = start();
  actor.send({ type: "link.up" });
  actor.send({ type: "get.accepted", shadow: shadow(5) });
  actor.send({ type: "delta", state: { a: 1 }, version: 5 });
  actor.send({ type: "delta", state: { a: 2 }, version: 6 });
  actor.send({ type: "delta", state: { a: 1 }, version: 6 });
  // Someone else's update/accepted moves no applied version: its delta still applies.
  actor.send({ type: "update.accepted", version: 7 });
  actor.send({ type: "delta", state: { a: 3 }, version: 7 });
  deepEqual(done.slice(3), ["delta v6", "confirm v7", "delta v7"]);
  actor.stop();
});

Deno.test("shadow sync gets again at once on 409, after a pause on 429, and not on 400", () => {
  const { actor, clock, done, state } = start();
  actor.send({ type: "link.up" });
  actor.send({ type: "get.accepted", shadow: shadow(1) });
  actor.send({ type: "update.rejected", code: 400, message: "bad" });
  equal(state(), "synced");
  actor.send({ type: "update.rejected", code: 409, message: "Version conflict" });
  equal(state(), "fetching");
  actor.send({ type: "get.accepted", shadow: shadow(2) });
  actor.send({ type: "update.rejected", code: 429, message: "Too many requests" });
  equal(state(), "waiting");
  clock.increment(499);
  equal(state(), "waiting");
  clock.increment(1);
  equal(state(), "fetching");
  deepEqual(done, [
    "get",
    "reconcile v1",
    "synced",
    "rejected update 400",
    "unsynced",
    "rejected update 409",
    "get",
    "reconcile v2",
    "synced",
    "unsynced",
    "rejected update 429",
    "get",
  ]);
  actor.stop();
});

Deno.test("an unanswered get times out, waits, and asks again", () => {
  const { actor, clock, done, state } = start();
  actor.send({ type: "link.up" });
  clock.increment(999);
  equal(state(), "fetching");
  clock.increment(1);
  equal(state(), "waiting");
  clock.increment(500);
  equal(state(), "fetching");
  actor.send({ type: "get.rejected", code: 500, message: "Internal" });
  equal(state(), "waiting");
  deepEqual(done, ["get", "get", "rejected get 500"]);
  actor.stop();
});

Deno.test("outpost.stop ends the machine from any state", () => {
  const { actor, state } = start();
  actor.send({ type: "link.up" });
  actor.send({ type: "outpost.stop" });
  equal(state(), "stopped");
  equal(actor.getSnapshot().status, "done");
});
