import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { child, createSystem, supervisor } from "../../actors/runtime/mod.ts";
import { configureLogging, resetLogging } from "../../actors/runtime/logging.ts";
import { sampleSystem, systemSource } from "../../actors/telemetry/system_source.ts";

/** Records emits and lets a test wait, with a deadline, until a condition holds. */
function emits() {
  const records: { stream: string; values: Record<string, number>; at: number }[] = [];
  const waiters = new Set<() => void>();
  return {
    records,
    emit(stream: string, values: Record<string, number>) {
      records.push({ stream, values, at: performance.now() });
      for (const wake of waiters) wake();
    },
    /** Re-checks the conditions waited on (for conditions on something other than emits). */
    wake() {
      queueMicrotask(() => {
        for (const wake of waiters) wake();
      });
    },
    until(condition: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
      if (condition()) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`));
        }, timeoutMs);
        function check() {
          if (!condition()) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        }
        waiters.add(check);
      });
    },
  };
}

// The start of the line logged when a sample cannot be taken or published.
const WARNING = "Cannot take or publish a system telemetry sample";

const KEYS = [
  "agentRssBytes",
  "load1",
  "load15",
  "load5",
  "memAvailableBytes",
  "memTotalBytes",
  "memUsedPercent",
  "uptimeSec",
];

Deno.test("a system sample holds load, memory, uptime and the agent's RSS, all sane numbers", () => {
  const values = sampleSystem();
  deepEqual(Object.keys(values).sort(), KEYS);
  for (const [key, value] of Object.entries(values)) {
    equal(typeof value, "number", key);
    ok(Number.isFinite(value) && value >= 0, `${key} = ${value}`);
  }
  ok(values.memUsedPercent <= 100, `memUsedPercent = ${values.memUsedPercent}`);
  ok(values.memTotalBytes > 0, "a machine has some memory");
  ok(values.memAvailableBytes <= values.memTotalBytes);
  ok(
    values.agentRssBytes > 1024 * 1024,
    `a Deno process uses more than 1 MiB (${values.agentRssBytes})`,
  );
  ok(values.uptimeSec > 0);
});

Deno.test("the system source emits on stream 'system' at start and again every interval", async () => {
  const out = emits();
  const system = createSystem(
    supervisor("agent", {}, [child("system", systemSource({ intervalMs: 20, emit: out.emit }))]),
  );
  const started = performance.now();
  await system.start();
  try {
    equal(out.records.length, 1, "the first sample is taken at start");
    await out.until(() => out.records.length >= 3, "two more samples");
    ok(out.records.every((r) => r.stream === "system"));
    deepEqual(Object.keys(out.records[2].values).sort(), KEYS);
    ok(
      out.records[2].at - started >= 2 * 20 - 5,
      `the third sample waited for two intervals (${(out.records[2].at - started).toFixed(1)} ms)`,
    );
  } finally {
    await system.stop();
  }
  equal(system.tree().children[0].status, "stopped");
});

Deno.test("a failing sample is logged once, skipped, and the actor keeps running until it recovers", async () => {
  const lines: string[] = [];
  await configureLogging({ level: "info", write: (line) => lines.push(line) });
  const out = emits();
  let calls = 0;
  const system = createSystem(
    supervisor("agent", {}, [
      child(
        "system",
        systemSource({
          intervalMs: 20,
          emit: out.emit,
          sample() {
            calls++;
            out.wake();
            // Fails on calls 1-3, works on 4, fails again on 5 and later.
            if (calls <= 3 || calls >= 5) {
              throw new Deno.errors.NotCapable('Requires sys access to "loadavg"');
            }
            return { load1: calls };
          },
        }),
      ),
    ]),
    { logger: { debug() {}, info() {}, warn() {}, error() {} } },
  );
  try {
    await system.start();
    await out.until(() => out.records.length === 1, "the sample that works");
    deepEqual(out.records[0].values, { load1: 4 });
    await out.until(() => calls >= 7, "more samples after the second outage began");
    equal(out.records.length, 1, "failed samples emit nothing");
    const node = system.tree().children[0];
    equal(node.status, "running");
    equal(node.restarts, 0, "a sampling failure is not a crash");
  } finally {
    await system.stop();
    await resetLogging();
  }
  const warnings = lines.filter((l) => l.includes(WARNING));
  equal(warnings.length, 2, "once per outage: calls 1-3, then calls 5 onwards");
  ok(warnings[0].includes("loadavg"), `the warning says why: ${warnings[0]}`);
  ok(warnings[0].includes(" WARNING "), warnings[0]);
  equal(lines.filter((l) => l.includes("sampled again")).length, 1);
});

Deno.test("an emit that throws does not crash the actor or escape from the timer", async () => {
  const lines: string[] = [];
  await configureLogging({ level: "info", write: (line) => lines.push(line) });
  let calls = 0;
  const out = emits();
  const system = createSystem(
    supervisor("agent", {}, [
      child(
        "system",
        systemSource({
          intervalMs: 20,
          emit(stream, values) {
            calls++;
            if (calls <= 2) throw new Error("outbox full");
            out.emit(stream, values);
          },
        }),
      ),
    ]),
  );
  try {
    await system.start();
    await out.until(() => out.records.length >= 1, "an emit after two failed ones");
    equal(system.tree().children[0].restarts, 0);
  } finally {
    await system.stop();
    await resetLogging();
  }
  const warnings = lines.filter((l) => l.includes(WARNING));
  equal(warnings.length, 1);
  ok(warnings[0].includes("outbox full"), warnings[0]);
});

Deno.test("an interval that is not a positive number is refused", () => {
  for (const intervalMs of [0, -5, Number.NaN, Number.POSITIVE_INFINITY]) {
    throws(() => systemSource({ intervalMs, emit() {} }), {
      name: "RangeError",
      message: `The system source's intervalMs must be a positive number, got ${intervalMs}`,
    });
  }
});
