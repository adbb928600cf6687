import assert from "node:assert/strict";
import { ChurnPlan } from "../../actors/fleet/churn.ts";
import { seededRandom } from "../../actors/fleet/payload.ts";

const fleetOf = (count: number) => Array.from({ length: count }, (_, i) => `sim-${i + 1}`);

/** Steps `plan` every `stepMs` until `untilMs`, keeping the up list as the fleet would. */
function run(plan: ChurnPlan, ids: string[], untilMs: number, stepMs = 1000) {
  const down = new Set<string>();
  const log: { at: number; down: string[]; back: string[] }[] = [];
  for (let at = 0; at <= untilMs; at += stepMs) {
    const step = plan.step(at, ids.filter((id) => !down.has(id)));
    for (const id of step.back) down.delete(id);
    for (const id of step.down) {
      assert.ok(!down.has(id), `${id} is taken down while already down`);
      down.add(id);
    }
    log.push({ at, ...step });
  }
  return log;
}

Deno.test("percentPerMin of the fleet goes down each minute, spread over the minute", () => {
  const plan = new ChurnPlan({ percentPerMin: 10, downSec: 5 }, seededRandom(1));
  const log = run(plan, fleetOf(600), 60_000);
  const downs = log.flatMap((s) => s.down);
  assert.equal(downs.length, 60, "10 % of 600 in a minute");
  assert.ok(log.every((s) => s.down.length <= 1), "one a second, not sixty at once");
});

Deno.test("a device comes back after downSec, and the first step only starts the clock", () => {
  const plan = new ChurnPlan({ percentPerMin: 100, downSec: 3 }, seededRandom(2));
  const log = run(plan, fleetOf(60), 20_000);
  assert.deepEqual(log[0], { at: 0, down: [], back: [] });
  const wentDown = new Map<string, number>();
  for (const { at, down, back } of log) {
    for (const id of down) wentDown.set(id, at);
    for (const id of back) assert.equal(at - wentDown.get(id)!, 3000, `${id} down 3 s`);
  }
  assert.ok(log.some((s) => s.back.length > 0));
});

Deno.test("a fraction carries over: 1 % of 100 devices a minute is one device a minute", () => {
  const plan = new ChurnPlan({ percentPerMin: 1, downSec: 1 }, seededRandom(3));
  const log = run(plan, fleetOf(100), 190_000);
  assert.equal(log.flatMap((s) => s.down).length, 3);
  assert.equal(plan.downCount, 0);
});

Deno.test("never more devices down than there are up, and none with percentPerMin 0", () => {
  const all = new ChurnPlan({ percentPerMin: 100, downSec: 600 }, seededRandom(4));
  const log = run(all, fleetOf(5), 300_000, 10_000);
  assert.equal(log.flatMap((s) => s.down).length, 5);
  assert.equal(all.downCount, 5);
  assert.ok(all.isDown("sim-3"));
  all.clear();
  assert.equal(all.downCount, 0);
  const none = new ChurnPlan({ percentPerMin: 0, downSec: 1 });
  assert.deepEqual(run(none, fleetOf(50), 60_000).flatMap((s) => s.down), []);
});
