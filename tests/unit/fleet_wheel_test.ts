import assert from "node:assert/strict";
import { SimulatedClock } from "xstate";
import { TickWheel } from "../../actors/fleet/wheel.ts";

/** A simulated clock that counts its pending timers. */
function countingClock() {
  const clock = new SimulatedClock();
  let pending = 0;
  return {
    now: () => clock.now(),
    // deno-lint-ignore no-explicit-any
    setTimeout(fn: (...args: any[]) => void, ms: number) {
      pending++;
      return clock.setTimeout(() => {
        pending--;
        fn();
      }, ms);
    },
    // deno-lint-ignore no-explicit-any
    clearTimeout(id: any) {
      pending--;
      clock.clearTimeout(id);
    },
    /** Moves time on `ms`, a slot at a time (SimulatedClock fires what is due at the end of a jump). */
    advance(ms: number, step = 100) {
      for (let done = 0; done < ms; done += step) clock.increment(Math.min(step, ms - done));
    },
    /** Jumps `ms` at once, as an event loop that stalled. */
    jump: (ms: number) => clock.increment(ms),
    get pending() {
      return pending;
    },
  };
}

Deno.test("entries tick at their interval, each first after its own delay", () => {
  const clock = countingClock();
  const wheel = new TickWheel({ clock, resolutionMs: 100 });
  const ticks: string[] = [];
  wheel.every(1000, () => ticks.push(`a@${clock.now()}`));
  wheel.every(500, () => ticks.push(`b@${clock.now()}`), 200);
  clock.advance(2100);
  assert.deepEqual(ticks, ["b@200", "b@700", "a@1000", "b@1200", "b@1700", "a@2000"]);
});

Deno.test("a thousand entries share one timer, and none is left once all are cancelled", () => {
  const clock = countingClock();
  const wheel = new TickWheel({ clock, resolutionMs: 100 });
  let ticks = 0;
  const cancels = Array.from(
    { length: 1000 },
    (_, i) => wheel.every(10_000, () => ticks++, i * 10),
  );
  assert.equal(clock.pending, 1);
  clock.advance(10_000);
  assert.equal(ticks, 1000, "each entry ticked once in its first interval");
  assert.equal(clock.pending, 1);
  cancels.slice(0, 999).forEach((cancel) => cancel());
  assert.equal(wheel.size, 1);
  clock.advance(10_000);
  assert.equal(ticks, 1001, "the cancelled entries do not tick");
  cancels[999]();
  cancels[999]();
  assert.equal(wheel.size, 0);
  assert.equal(clock.pending, 0, "no timer while the wheel is empty");
});

Deno.test("intervals round to whole slots, never below one", () => {
  const clock = countingClock();
  const wheel = new TickWheel({ clock, resolutionMs: 100 });
  let fast = 0;
  wheel.every(10, () => fast++);
  clock.advance(1000, 10);
  assert.equal(fast, 10, "a 10 ms interval ticks once per 100 ms slot");
});

Deno.test("a late timer runs each entry once, as setInterval skips, and a throwing entry keeps its place", () => {
  const clock = countingClock();
  const wheel = new TickWheel({ clock, resolutionMs: 100 });
  let ticks = 0;
  let throws = 0;
  wheel.every(100, () => ticks++);
  wheel.every(100, () => {
    throws++;
    throw new Error("boom");
  });
  // A jump of 1 s is a timer 900 ms late.
  clock.jump(1000);
  assert.equal(ticks, 1);
  clock.advance(100);
  assert.equal(ticks, 2);
  assert.equal(throws, 2);
});

Deno.test("every refuses an interval that is not a positive number", () => {
  const wheel = new TickWheel({ clock: countingClock() });
  assert.throws(() => wheel.every(0, () => {}), /> 0, got 0/);
  assert.throws(() => wheel.every(Number.NaN, () => {}), /> 0, got NaN/);
});

Deno.test("clear cancels every entry and the timer; a later entry starts it again", () => {
  const clock = countingClock();
  const wheel = new TickWheel({ clock, resolutionMs: 100 });
  let ticks = 0;
  const cancels = Array.from({ length: 10 }, () => wheel.every(100, () => ticks++));
  clock.advance(100);
  assert.equal(ticks, 10);
  wheel.clear();
  assert.equal(wheel.size, 0);
  assert.equal(clock.pending, 0);
  clock.advance(1000);
  assert.equal(ticks, 10);
  cancels[0]();
  assert.equal(wheel.size, 0, "a cancel after clear changes nothing");
  wheel.every(100, () => ticks++);
  clock.advance(100);
  assert.equal(ticks, 11);
});
