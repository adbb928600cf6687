/**
 * The one backoff curve (machines/backoff.ts) that restarts, reconnects,
 * DPS and AWS provisioning all wait by.
 */
import { deepEqual, equal } from "node:assert/strict";
import fc from "fast-check";
import { backoffDelay, type RetryBackoff, withBackoffDefaults } from "../../machines/backoff.ts";

/** Curves as configuration allows them: whole milliseconds, `minMs <= maxMs`, jitter in [0, 1]. */
const curve = fc.record({
  minMs: fc.integer({ min: 0, max: 100_000 }),
  extra: fc.integer({ min: 0, max: 10_000_000 }),
  jitter: fc.double({ min: 0, max: 1, noNaN: true }),
}).map(({ minMs, extra, jitter }): RetryBackoff => ({ minMs, maxMs: minMs + extra, jitter }));
const attempt = fc.integer({ min: 0, max: 2000 });
const random = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

Deno.test("a delay is a whole number of milliseconds between 0 and maxMs", () => {
  fc.assert(fc.property(curve, attempt, random, (b, n, r) => {
    const delay = backoffDelay(b, n, r);
    return Number.isInteger(delay) && delay >= 0 && delay <= b.maxMs;
  }));
});

Deno.test("before jitter the delay starts at minMs, doubles, and stays at maxMs once there", () => {
  fc.assert(fc.property(curve, attempt, (b, n) => {
    const now = backoffDelay(b, n, 0);
    const next = backoffDelay(b, n + 1, 0);
    return backoffDelay(b, 0, 0) === b.minMs && now <= next &&
      next === Math.min(b.maxMs, 2 * now);
  }));
});

Deno.test("a curve with a positive minMs reaches maxMs", () => {
  fc.assert(fc.property(curve, (b) => b.minMs === 0 || backoffDelay(b, 60, 0) === b.maxMs));
});

Deno.test("jitter takes off at most its fraction of the delay, and random 0 takes off nothing", () => {
  fc.assert(fc.property(curve, attempt, random, (b, n, r) => {
    const base = backoffDelay(b, n, 0);
    const delay = backoffDelay(b, n, r);
    return delay <= base && delay >= Math.floor(base * (1 - b.jitter));
  }));
});

Deno.test("the delay follows the random input linearly across the jitter range", () => {
  const b = { minMs: 1000, maxMs: 1000, jitter: 0.5 };
  deepEqual([0, 0.25, 0.5, 0.75].map((r) => backoffDelay(b, 0, r)), [1000, 875, 750, 625]);
});

Deno.test("negative attempts wait minMs and huge ones neither overflow nor give NaN", () => {
  const b = { minMs: 250, maxMs: 8000, jitter: 0.5 };
  deepEqual(
    [-3, 0, 1, 2, 3, 4, 5, 6].map((n) => backoffDelay(b, n, 0)),
    [250, 250, 500, 1000, 2000, 4000, 8000, 8000],
  );
  equal(backoffDelay(b, 0, 1), 125);
  equal(backoffDelay(b, 5000, 0), 8000);
  equal(backoffDelay({ minMs: 0, maxMs: 0, jitter: 0 }, 5000, 0), 0);
  equal(backoffDelay({ minMs: 0, maxMs: 10, jitter: 0 }, Number.MAX_SAFE_INTEGER, 0), 0);
});

Deno.test("a minMs given without a maxMs raises the default ceiling to it", () => {
  const defaults = { minMs: 1000, maxMs: 60_000, jitter: 0.2 };
  deepEqual(withBackoffDefaults(defaults, undefined), defaults);
  deepEqual(withBackoffDefaults(defaults, { minMs: 120_000 }), {
    minMs: 120_000,
    maxMs: 120_000,
    jitter: 0.2,
  });
  deepEqual(withBackoffDefaults(defaults, { minMs: 500 }), { ...defaults, minMs: 500 });
  deepEqual(
    withBackoffDefaults(defaults, { minMs: 120_000, maxMs: 5 }),
    { minMs: 120_000, maxMs: 5, jitter: 0.2 },
    "an explicit maxMs is kept, for the caller to refuse",
  );
  const restarts = { ...defaults, resetMs: 9 };
  deepEqual(withBackoffDefaults(restarts, { jitter: 0 }), { ...restarts, jitter: 0 });
});
