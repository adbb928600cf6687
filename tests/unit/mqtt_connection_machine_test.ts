/**
 * The MQTT connection statechart alone: a simulated clock and test boxes in
 * place of sockets, so every delay is checked to the millisecond.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { createActor, fromCallback, fromPromise, SimulatedClock } from "xstate";
import {
  type ConnectAttempt,
  type MqttConnectionInput,
  mqttConnectionMachine,
  type RetryReport,
} from "../../machines/mqtt_connection.ts";

interface Deferred {
  resolve(): void;
  reject(error: unknown): void;
}

/** Stands in for the real connect/watch/disconnect actors and records what they were asked. */
function testBox() {
  const box = {
    dials: [] as number[],
    pendingDial: undefined as Deferred | undefined,
    dialAborted: 0,
    watching: 0,
    watchesEnded: 0,
    lose: undefined as ((error?: unknown) => void) | undefined,
    disconnects: 0,
    pendingDisconnect: undefined as Deferred | undefined,
    retries: [] as RetryReport[],
    closeFailures: [] as string[],
  };
  const logic = mqttConnectionMachine.provide({
    actors: {
      connect: fromPromise<void, ConnectAttempt>(({ input, signal }) => {
        box.dials.push(input.attempt);
        signal.addEventListener("abort", () => box.dialAborted++);
        return new Promise((resolve, reject) => (box.pendingDial = { resolve, reject }));
      }),
      watch: fromCallback(({ sendBack }) => {
        box.watching++;
        box.lose = (error) => sendBack({ type: "lost", error });
        return () => {
          box.watchesEnded++;
          box.lose = undefined;
        };
      }),
      disconnect: fromPromise<void, void>(() => {
        box.disconnects++;
        return new Promise((resolve, reject) => (box.pendingDisconnect = { resolve, reject }));
      }),
    },
    actions: {
      reportRetry: (_, report) => void box.retries.push(report),
      reportCloseFailure: (_, { error }) => void box.closeFailures.push(error),
    },
  });
  return { box, logic };
}

function start(input: MqttConnectionInput) {
  const clock = new SimulatedClock();
  const { box, logic } = testBox();
  const actor = createActor(logic, { clock, input });
  actor.start();
  return { actor, clock, box };
}

type Started = ReturnType<typeof start>;

/** Lets promise continuations (a fake actor settling) reach the machine. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

async function failDial({ box }: Started, message: string): Promise<void> {
  box.pendingDial!.reject(new Error(message));
  await settle();
}

async function succeedDial({ box }: Started): Promise<void> {
  box.pendingDial!.resolve();
  await settle();
}

/** Asserts the machine stays in backoff for `ms` − 1 and dials again at exactly `ms`. */
function assertWaits(started: Started, ms: number): void {
  const { actor, clock } = started;
  equal(actor.getSnapshot().value, "backoff");
  clock.increment(ms - 1);
  equal(actor.getSnapshot().value, "backoff", `still waiting after ${ms - 1} ms`);
  clock.increment(1);
  equal(actor.getSnapshot().value, "connecting", `dialing again after ${ms} ms`);
}

Deno.test("failed connects back off with doubling delays capped at maxMs", async () => {
  const started = start({ backoff: { minMs: 100, maxMs: 500, jitter: 0 } });
  for (const [i, delay] of [100, 200, 400, 500, 500].entries()) {
    await failDial(started, `refused ${i}`);
    assertWaits(started, delay);
  }
  deepEqual(started.box.dials, [0, 1, 2, 3, 4, 5]);
  equal(started.actor.getSnapshot().status, "active", "a dead broker is never an error exit");
  started.actor.stop();
});

Deno.test("jitter takes the random input's fraction of the delay off", async () => {
  const randoms = [0.5, 0, 0.999];
  const started = start({
    backoff: { minMs: 1000, maxMs: 60_000, jitter: 0.2 },
    random: () => randoms.shift() ?? 0,
  });
  await failDial(started, "down");
  assertWaits(started, 900); // 1000 less 0.2 · 0.5 of it
  await failDial(started, "down");
  assertWaits(started, 2000); // random 0: no jitter
  await failDial(started, "down");
  assertWaits(started, Math.round(4000 * (1 - 0.2 * 0.999)));
  started.actor.stop();
});

Deno.test("each backoff is reported with its attempt, error and longest wait", async () => {
  const started = start({ backoff: { minMs: 10, maxMs: 15, jitter: 0.5 } });
  await failDial(started, "ECONNREFUSED");
  started.clock.increment(10);
  await failDial(started, "not authorized");
  deepEqual(started.box.retries, [
    { attempt: 1, error: "ECONNREFUSED", withinMs: 10, failed: 0, broker: 0 },
    { attempt: 2, error: "not authorized", withinMs: 15, failed: 0, broker: 0 },
  ]);
  started.actor.stop();
});

Deno.test("a successful connect resets the attempt count and the last error", async () => {
  const started = start({ backoff: { minMs: 100, maxMs: 10_000, jitter: 0 } });
  await failDial(started, "down");
  started.clock.increment(100);
  await failDial(started, "still down");
  deepEqual(started.actor.getSnapshot().context.attempt, 2);
  started.clock.increment(200);
  await succeedDial(started);
  const snapshot = started.actor.getSnapshot();
  equal(snapshot.value, "connected");
  equal(snapshot.context.attempt, 0);
  equal(snapshot.context.lastError, undefined);
  equal(started.box.watching, 1, "the connection is watched once connected");
  // The next drop starts again from the shortest delay.
  started.box.lose!(new Error("socket hang up"));
  assertWaits(started, 100);
  started.actor.stop();
});

Deno.test("a lost connection ends the watch, backs off, then dials again", async () => {
  const started = start({ backoff: { minMs: 50, maxMs: 1000, jitter: 0 } });
  await succeedDial(started);
  started.box.lose!(new Error("keepalive timeout"));
  const snapshot = started.actor.getSnapshot();
  equal(snapshot.value, "backoff");
  equal(snapshot.context.lastError, "keepalive timeout");
  equal(started.box.watchesEnded, 1);
  assertWaits(started, 50);
  deepEqual(started.box.dials, [0, 1]);
  await succeedDial(started);
  equal(started.actor.getSnapshot().value, "connected");
  equal(started.box.watching, 2);
  started.actor.stop();
});

Deno.test("a loss without an error is described as a closed connection", async () => {
  const started = start({ backoff: { minMs: 50 } });
  await succeedDial(started);
  started.box.lose!();
  equal(started.actor.getSnapshot().context.lastError, "the connection closed");
  started.actor.stop();
});

Deno.test("reconnect while connected ends the watch and dials at once", async () => {
  const started = start({ backoff: { minMs: 50 } });
  await succeedDial(started);
  started.actor.send({ type: "reconnect" });
  equal(started.actor.getSnapshot().value, "connecting");
  equal(started.box.watchesEnded, 1);
  deepEqual(started.box.dials, [0, 0], "a renewal is not a failure: the attempt stays 0");
  started.actor.stop();
});

Deno.test("reconnect during backoff dials without waiting out the delay", async () => {
  const started = start({ backoff: { minMs: 10_000 } });
  await failDial(started, "expired token");
  equal(started.actor.getSnapshot().value, "backoff");
  started.actor.send({ type: "reconnect" });
  equal(started.actor.getSnapshot().value, "connecting");
  deepEqual(started.box.dials, [0, 1]);
  started.actor.stop();
});

Deno.test("reconnect while connecting is ignored: the dial in progress goes on", () => {
  const started = start({});
  started.actor.send({ type: "reconnect" });
  equal(started.actor.getSnapshot().value, "connecting");
  deepEqual(started.box.dials, [0]);
  equal(started.box.dialAborted, 0);
  started.actor.stop();
});

Deno.test("outpost.stop while connecting aborts the dial and closes", async () => {
  const started = start({});
  started.actor.send({ type: "outpost.stop" });
  equal(started.box.dialAborted, 1);
  equal(started.actor.getSnapshot().value, "closing");
  started.box.pendingDisconnect!.resolve();
  await settle();
  equal(started.actor.getSnapshot().value, "closed");
  equal(started.actor.getSnapshot().status, "done");
});

Deno.test("outpost.stop while connected ends the watch and disconnects gracefully", async () => {
  const started = start({});
  await succeedDial(started);
  ok(
    started.actor.getSnapshot().can({ type: "outpost.stop" }),
    "the supervisor sees it accepts stop",
  );
  started.actor.send({ type: "outpost.stop" });
  equal(started.box.watchesEnded, 1);
  equal(started.box.disconnects, 1);
  started.box.pendingDisconnect!.resolve();
  await settle();
  equal(started.actor.getSnapshot().status, "done");
});

Deno.test("outpost.stop during backoff cancels the retry timer and closes", async () => {
  const started = start({ backoff: { minMs: 100, jitter: 0 } });
  await failDial(started, "down");
  started.actor.send({ type: "outpost.stop" });
  started.clock.increment(1000);
  deepEqual(started.box.dials, [0], "no dial after the stop");
  started.box.pendingDisconnect!.resolve();
  await settle();
  equal(started.actor.getSnapshot().value, "closed");
  equal(started.actor.getSnapshot().status, "done");
});

Deno.test("a failed graceful disconnect is reported and still reaches closed", async () => {
  const started = start({});
  await succeedDial(started);
  started.actor.send({ type: "outpost.stop" });
  started.actor.send({ type: "outpost.stop" });
  equal(started.box.disconnects, 1, "a second stop does not start a second disconnect");
  started.box.pendingDisconnect!.reject(new Error("write after end"));
  await settle();
  equal(started.actor.getSnapshot().status, "done");
  deepEqual(started.box.closeFailures, ["write after end"]);
});

Deno.test("an invalid backoff in the input is refused with the values", () => {
  const { logic } = testBox();
  const actor = createActor(logic, { input: { backoff: { minMs: 100, maxMs: 10 } } });
  let error: unknown;
  actor.subscribe({ error: (e) => (error = e) });
  actor.start();
  ok(error instanceof TypeError);
  ok(error.message.includes('"maxMs":10'), error.message);
});
