import { deepEqual, equal, ok } from "node:assert/strict";
import fc from "fast-check";
import { SimulatedClock } from "xstate";
import {
  child,
  createSystem,
  DEFAULT_BACKOFF,
  supervisor,
  type SystemEvent,
} from "../../actors/runtime/mod.ts";
import {
  backoffDelay,
  restartScope,
  RestartWindow,
  shouldRestart,
} from "../../actors/runtime/policy.ts";
import { nextEvent, obedient, restarted } from "../helpers/runtime.ts";

type Restarting = Extract<SystemEvent, { type: "restarting" }>;

Deno.test("backoff delays double from minMs and stop at maxMs", () => {
  const b = { minMs: 100, maxMs: 1000, jitter: 0, resetMs: 5000 };
  deepEqual([0, 1, 2, 3, 4, 5, 40].map((n) => backoffDelay(b, n, 0.5)), [
    100,
    200,
    400,
    800,
    1000,
    1000,
    1000,
  ]);
});

Deno.test("jitter takes off at most its fraction of the delay and never exceeds maxMs", () => {
  fc.assert(fc.property(
    fc.integer({ min: 0, max: 10_000 }),
    fc.integer({ min: 0, max: 100_000 }),
    fc.double({ min: 0, max: 1, noNaN: true }),
    fc.integer({ min: 0, max: 60 }),
    fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
    (minMs, extra, jitter, attempt, random) => {
      const b = { minMs, maxMs: minMs + extra, jitter, resetMs: 0 };
      const base = Math.min(b.maxMs, minMs * 2 ** attempt);
      const delay = backoffDelay(b, attempt, random);
      return delay <= b.maxMs && delay >= Math.floor(base * (1 - jitter)) &&
        delay <= Math.ceil(base);
    },
  ));
});

Deno.test("the restart policy table follows OTP", () => {
  deepEqual(
    (["permanent", "transient", "temporary"] as const).map((
      r,
    ) => [shouldRestart(r, "normal"), shouldRestart(r, "error")]),
    [[true, true], [false, true], [false, false]],
  );
  deepEqual(restartScope("one_for_one", 1, 4), [1]);
  deepEqual(restartScope("one_for_all", 1, 4), [0, 1, 2, 3]);
  deepEqual(restartScope("rest_for_one", 1, 4), [1, 2, 3]);
  const window = new RestartWindow(2, 1000);
  deepEqual([window.record(0), window.record(10), window.record(20), window.record(1015)], [
    true,
    true,
    false,
    true,
  ]);
});

Deno.test("restarts wait their backoff on the clock, growing exponentially", async () => {
  const clock = new SimulatedClock();
  const system = createSystem(
    supervisor("root", { intensity: 100, periodMs: 60_000 }, [
      child("w", obedient, { backoff: { minMs: 100, maxMs: 350, jitter: 0, resetMs: 10_000 } }),
    ]),
    { clock },
  );
  await system.start();
  const delays: number[] = [];
  for (const n of [1, 2, 3, 4]) {
    const scheduled = nextEvent(system, (e) => e.type === "restarting");
    system.get("root/w")!.send({ type: "crash" });
    const { delayMs } = await scheduled as Restarting;
    delays.push(delayMs);
    equal(system.tree().children[0].status, "restarting");
    equal(system.get("root/w"), undefined);
    clock.increment(delayMs - 1);
    equal(system.tree().children[0].status, "restarting", "not before the delay has passed");
    const back = restarted(system, "root/w", n);
    clock.increment(1);
    await back;
  }
  deepEqual(delays, [100, 200, 350, 350]);
  await system.stop();
});

Deno.test("the backoff starts again at minMs after a quiet period", async () => {
  const clock = new SimulatedClock();
  const system = createSystem(
    supervisor("root", { intensity: 100, periodMs: 60_000 }, [
      child("w", obedient, { backoff: { minMs: 100, maxMs: 10_000, jitter: 0, resetMs: 5000 } }),
    ]),
    { clock },
  );
  await system.start();
  async function crash(n: number): Promise<number> {
    const scheduled = nextEvent(system, (e) => e.type === "restarting");
    system.get("root/w")!.send({ type: "crash" });
    const { delayMs } = await scheduled as Restarting;
    const back = restarted(system, "root/w", n);
    clock.increment(delayMs);
    await back;
    return delayMs;
  }
  deepEqual([await crash(1), await crash(2), await crash(3)], [100, 200, 400]);
  clock.increment(5000);
  equal(await crash(4), 100);
  await system.stop();
});

Deno.test("jitter is drawn from the system's random source", async () => {
  const clock = new SimulatedClock();
  const system = createSystem(
    supervisor("root", {}, [
      child("w", obedient, { backoff: { minMs: 1000, maxMs: 1000, jitter: 0.5 } }),
    ]),
    { clock, random: () => 0.5 },
  );
  await system.start();
  const scheduled = nextEvent(system, (e) => e.type === "restarting");
  system.get("root/w")!.send({ type: "crash" });
  equal((await scheduled as Restarting).delayMs, 750);
  await system.stop();
  equal(system.tree().children[0].status, "stopped", "a pending restart is cancelled by stop");
});

Deno.test("default backoff values are documented constants", () => {
  deepEqual(DEFAULT_BACKOFF, { minMs: 100, maxMs: 30_000, jitter: 0.2, resetMs: 30_000 });
  ok(child("x", obedient).backoff.minMs === 100);
  deepEqual(child("x", obedient, { backoff: { minMs: 60_000 } }).backoff.maxMs, 60_000);
});
