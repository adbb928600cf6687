/**
 * Broker fail-over in the MQTT connection statechart (docs/failover.md):
 * which broker each attempt dials, when the next one is dialed at once and
 * when the backoff applies. A simulated clock and test boxes, no sockets.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import fc from "fast-check";
import { createActor, fromCallback, fromPromise, SimulatedClock } from "xstate";
import {
  type ConnectAttempt,
  type FailoverReport,
  type MqttConnectionInput,
  mqttConnectionMachine,
  type RetryReport,
} from "../../machines/mqtt_connection.ts";

/** Test boxes for connect and watch that record every attempt and every report. */
function start(input: MqttConnectionInput) {
  const box = {
    dials: [] as ConnectAttempt[],
    settle: undefined as ((error?: Error) => void) | undefined,
    lose: undefined as ((error?: Error) => void) | undefined,
    failovers: [] as FailoverReport[],
    retries: [] as RetryReport[],
  };
  const logic = mqttConnectionMachine.provide({
    actors: {
      connect: fromPromise<void, ConnectAttempt>(({ input }) => {
        box.dials.push(input);
        return new Promise((resolve, reject) => {
          box.settle = (error) => error ? reject(error) : resolve();
        });
      }),
      watch: fromCallback(({ sendBack }) => {
        box.lose = (error) => sendBack({ type: "lost", error });
        return () => void (box.lose = undefined);
      }),
    },
    actions: {
      reportFailover: (_, report) => void box.failovers.push(report),
      reportRetry: (_, report) => void box.retries.push(report),
    },
  });
  const clock = new SimulatedClock();
  const actor = createActor(logic, { clock, input });
  actor.start();
  return { actor, clock, box };
}

type Started = ReturnType<typeof start>;

/** Lets promise continuations (a fake actor settling) reach the machine. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

async function fail({ box }: Started, message = "refused"): Promise<void> {
  box.settle!(new Error(message));
  await settle();
}

async function succeed({ box }: Started): Promise<void> {
  box.settle!();
  await settle();
}

/** The brokers dialed so far, in order. */
const dialed = ({ box }: Started) => box.dials.map((d) => d.broker);

/** Asserts the machine waits exactly `ms` in backoff, then dials. */
function waits(started: Started, ms: number): void {
  const { actor, clock } = started;
  equal(actor.getSnapshot().value, "backoff");
  if (ms > 0) {
    clock.increment(ms - 1);
    equal(actor.getSnapshot().value, "backoff", `still waiting after ${ms - 1} ms`);
  }
  clock.increment(1);
  equal(actor.getSnapshot().value, "connecting", `dialing again after ${ms} ms`);
}

const QUICK = { minMs: 100, maxMs: 1000, jitter: 0 };

Deno.test("the first attempt dials the first broker, and a failed one moves to the next at once", async () => {
  const started = start({ backoff: QUICK, brokers: 3 });
  deepEqual(dialed(started), [0]);
  await fail(started, "A refused");
  equal(started.actor.getSnapshot().value, "connecting", "no wait before an untried broker");
  await fail(started, "B refused");
  equal(started.actor.getSnapshot().value, "connecting");
  deepEqual(dialed(started), [0, 1, 2]);
  deepEqual(started.box.failovers, [
    { attempt: 1, error: "A refused", failed: 0, broker: 1 },
    { attempt: 2, error: "B refused", failed: 1, broker: 2 },
  ]);
  started.actor.stop();
});

Deno.test("the backoff applies only after a whole round of the list failed, and grows by round", async () => {
  const started = start({ backoff: QUICK, brokers: 2 });
  await fail(started);
  await fail(started, "B down");
  deepEqual(started.box.retries, [
    { attempt: 2, error: "B down", failed: 1, broker: 0, withinMs: 100 },
  ]);
  waits(started, 100);
  await fail(started);
  equal(started.actor.getSnapshot().value, "connecting", "the second round starts at once too");
  await fail(started);
  waits(started, 200);
  await fail(started);
  await fail(started);
  waits(started, 400);
  deepEqual(dialed(started), [0, 1, 0, 1, 0, 1, 0]);
  started.actor.stop();
});

Deno.test("while connected the connection stays on its broker, and a reconnect dials it again", async () => {
  const started = start({ backoff: QUICK, brokers: 3 });
  await fail(started);
  await succeed(started);
  equal(started.actor.getSnapshot().value, "connected");
  equal(started.actor.getSnapshot().context.broker, 1);
  started.actor.send({ type: "reconnect" });
  deepEqual(dialed(started), [0, 1, 1], "no fail-back to the first broker");
  started.actor.stop();
});

Deno.test("a lost connection moves to the next broker at once, wrapping at the end of the list", async () => {
  const started = start({ backoff: QUICK, brokers: 2 });
  await succeed(started);
  started.box.lose!(new Error("A died"));
  equal(started.actor.getSnapshot().value, "connecting");
  await succeed(started);
  started.box.lose!(new Error("B died"));
  equal(started.actor.getSnapshot().value, "connecting");
  deepEqual(dialed(started), [0, 1, 0]);
  deepEqual(started.box.failovers.map((f) => [f.failed, f.broker, f.error]), [
    [0, 1, "A died"],
    [1, 0, "B died"],
  ]);
  equal(started.box.retries.length, 0);
  started.actor.stop();
});

Deno.test("the broker that was lost counts in its round: when the others fail too, the backoff follows", async () => {
  const started = start({ backoff: QUICK, brokers: 3 });
  await succeed(started);
  started.box.lose!();
  await fail(started);
  equal(started.actor.getSnapshot().value, "connecting");
  await fail(started);
  waits(started, 100);
  deepEqual(dialed(started), [0, 1, 2, 0]);
  started.actor.stop();
});

Deno.test("a successful connect resets the backoff to its first delay", async () => {
  const started = start({ backoff: QUICK, brokers: 2 });
  for (const delay of [100, 200, 400]) {
    await fail(started);
    await fail(started);
    waits(started, delay);
  }
  await succeed(started);
  equal(started.actor.getSnapshot().context.attempt, 0);
  started.box.lose!();
  await fail(started);
  waits(started, 100);
  started.actor.stop();
});

Deno.test("reconnect during backoff dials the broker next in turn without waiting", async () => {
  const started = start({ backoff: { minMs: 10_000 }, brokers: 2 });
  await fail(started);
  await fail(started);
  equal(started.actor.getSnapshot().value, "backoff");
  started.actor.send({ type: "reconnect" });
  deepEqual(dialed(started), [0, 1, 0]);
  started.actor.stop();
});

Deno.test("a broker count that is not a positive integer is refused", () => {
  for (const brokers of [0, 1.5, -1]) {
    const actor = createActor(mqttConnectionMachine, { input: { brokers } });
    let error: unknown;
    actor.subscribe({ error: (e) => (error = e) });
    actor.start();
    ok(error instanceof TypeError, `brokers ${brokers}`);
    ok(error.message.includes(`count ${brokers}`), error.message);
  }
});

type Step = "fail" | "connectThenLose";

/**
 * The documented rule, written out plainly: broker i fails or is lost, so
 * broker i + 1 (mod n) is next; the wait before it is 0 unless the failures
 * since the last connect are a whole number k of rounds, then
 * min(maxMs, minMs · 2^(k−1)).
 */
function expectedSchedule(brokers: number, steps: Step[]): { broker: number; waitMs: number }[] {
  const schedule = [{ broker: 0, waitMs: 0 }];
  let broker = 0;
  let failures = 0;
  for (const step of steps) {
    failures = step === "fail" ? failures + 1 : 1;
    broker = (broker + 1) % brokers;
    const rounds = failures % brokers === 0 ? failures / brokers : 0;
    const waitMs = rounds === 0 ? 0 : Math.min(QUICK.maxMs, QUICK.minMs * 2 ** (rounds - 1));
    schedule.push({ broker, waitMs });
  }
  return schedule;
}

Deno.test("for any list and any run of failures and losses, dials and waits follow the documented rule", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 4 }),
      fc.array(fc.constantFrom<Step>("fail", "connectThenLose"), { maxLength: 24 }),
      async (brokers, steps) => {
        const started = start({ backoff: QUICK, brokers });
        try {
          const expected = expectedSchedule(brokers, steps);
          for (const [i, step] of steps.entries()) {
            if (step === "fail") await fail(started);
            else {
              await succeed(started);
              started.box.lose!();
            }
            const { broker, waitMs } = expected[i + 1];
            if (waitMs === 0) equal(started.actor.getSnapshot().value, "connecting");
            else waits(started, waitMs);
            equal(started.box.dials.at(-1)!.broker, broker);
          }
          deepEqual(dialed(started), expected.map((e) => e.broker));
        } finally {
          started.actor.stop();
        }
      },
    ),
    { numRuns: 200 },
  );
});
