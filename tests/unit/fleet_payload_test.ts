import assert from "node:assert/strict";
import { fillerText, PayloadPlan, seededRandom } from "../../actors/fleet/payload.ts";

Deno.test("a walk moves at most one step a tick and stays within its bounds", () => {
  const plan = new PayloadPlan(
    { t: { kind: "walk", start: 10, step: 0.5, min: 9, max: 11 } },
    seededRandom(1),
  );
  const device = plan.device(1);
  let last = 10;
  for (let i = 0; i < 500; i++) {
    const { t } = device.next(0) as { t: number };
    assert.ok(t >= 9 && t <= 11, `${t} within 9..11`);
    assert.ok(Math.abs(t - last) <= 0.5 + 0.01, `${last} → ${t} is at most one step`);
    last = t;
  }
});

Deno.test("each device walks on its own: one device's ticks do not move another's", () => {
  const plan = new PayloadPlan({ c: { kind: "counter", start: 5, step: 2 } });
  const a = plan.device(1);
  const b = plan.device(2);
  assert.deepEqual([a.next(0), a.next(0), a.next(0)], [{ c: 5 }, { c: 7 }, { c: 9 }]);
  assert.deepEqual(b.next(0), { c: 5 });
});

Deno.test("a sine spans min..max over its period, each device at its own phase", () => {
  const plan = new PayloadPlan({ s: { kind: "sine", min: 10, max: 30, periodSec: 60 } });
  const a = plan.device(1);
  const b = plan.device(2);
  const values = Array.from({ length: 600 }, (_, i) => a.next(i * 100).s as number);
  assert.ok(Math.min(...values) >= 10 && Math.min(...values) < 10.1);
  assert.ok(Math.max(...values) <= 30 && Math.max(...values) > 29.9);
  assert.equal(a.next(0).s, a.next(60_000).s, "the same value one period later");
  assert.notEqual(a.next(0).s, b.next(0).s, "two devices at different phases");
});

Deno.test("random stays in min..max; constant is as written; bytes has its size", () => {
  const plan = new PayloadPlan({
    r: { kind: "random", min: -1, max: 1 },
    k: { kind: "constant", value: "ok" },
    b: { kind: "bytes", size: 300 },
  }, seededRandom(7));
  const device = plan.device(3);
  for (let i = 0; i < 100; i++) {
    const values = device.next(i);
    assert.ok((values.r as number) >= -1 && (values.r as number) <= 1);
    assert.equal(values.k, "ok");
    assert.equal((values.b as string).length, 300);
  }
  assert.equal(JSON.stringify(device.next(0).b).length, 302, "JSON keeps the filler as it is");
});

Deno.test("a seeded plan repeats itself; fillerText uses URL-safe characters", () => {
  const fields = { w: { kind: "walk" as const, start: 0, step: 1, min: -5, max: 5 } };
  const run = () => {
    const device = new PayloadPlan(fields, seededRandom(42)).device(1);
    return Array.from({ length: 20 }, () => device.next(0).w);
  };
  assert.deepEqual(run(), run());
  assert.match(fillerText(1000, seededRandom(3)), /^[A-Za-z0-9_-]{1000}$/);
});
