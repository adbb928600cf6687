/**
 * The embedding app's handlers on a Cumulocity cloud, against the emulator
 * (which delivers every operation as JSON on `devicecontrol/notifications`
 * too, as the platform does): `onCommand` through custom operations
 * answered by id, `onDesired` through `c8y_Configuration` (513, reported
 * back with 113).
 */
import { deepEqual, equal, match } from "node:assert/strict";
import { announced, setup } from "../helpers/c8y_agent.ts";
import type { CommandContext } from "../../actors/cloud/handlers.ts";

const NOT_SUPPORTED = "Operation not supported by this agent";
const COMMANDS = '[clouds.c8y.operations]\ncommands = { c8y_Echo = "echo", c8y_Fail = "fail" }';

Deno.test("onCommand: a configured custom operation runs its handler, answers 506 with the result or 505 with the reason, and 114 announces it", async () => {
  const seen: [unknown, CommandContext][] = [];
  const t = await setup({
    cloud: COMMANDS,
    beforeStart(agent) {
      agent.onCommand("echo", (payload, context) => {
        seen.push([payload, context]);
        return { level: (payload as { level: number }).level + 1 };
      });
      agent.onCommand("fail", () => {
        throw new Error("the pump is already running, see log");
      });
    },
  });
  try {
    await announced(t.emulator);
    deepEqual(
      t.emulator.lines.find((l) => l.fields[0] === "114")?.fields,
      ["114", "c8y_RemoteAccessConnect", "c8y_Echo", "c8y_Fail"],
    );
    const echo = await t.emulator.customOperation({ c8y_Echo: { level: 3 } });
    const fail = await t.emulator.customOperation({ c8y_Fail: {} });
    await t.emulator.waitForEnd(echo);
    await t.emulator.waitForEnd(fail);
    deepEqual([echo.history, echo.result], [
      ["PENDING", "EXECUTING", "SUCCESSFUL"],
      ['{"level":4}'],
    ]);
    deepEqual(seen, [[{ level: 3 }, { name: "echo", requestId: String(echo.id), cloud: "c8y" }]]);
    deepEqual([fail.history, fail.failureReason], [
      ["PENDING", "EXECUTING", "FAILED"],
      "the pump is already running, see log",
    ]);
    // Answered by id: 504 then 506/505, never by fragment.
    deepEqual(
      t.emulator.lines.filter((l) => /^50[1-6]$/.test(l.fields[0])).map((l) => l.fields[0]).sort(),
      ["504", "504", "505", "506"],
    );
    deepEqual(t.emulator.violations, []);
  } finally {
    await t.teardown();
  }
});

Deno.test("JSON copies of static-template operations are left to s/ds; other JSON operations nobody serves fail; one id runs once", async () => {
  let runs = 0;
  const t = await setup({
    cloud: COMMANDS + '\n[clouds.c8y.restart]\nenabled = true\ncommand = ["true"]',
    beforeStart(agent) {
      agent.onCommand("echo", () => void runs++);
    },
  });
  try {
    await announced(t.emulator);
    // c8y_Fail has no handler: not announced, and failed when it comes.
    deepEqual(
      t.emulator.lines.find((l) => l.fields[0] === "114")?.fields,
      ["114", "c8y_Restart", "c8y_RemoteAccessConnect", "c8y_Echo"],
    );
    const restart = await t.emulator.operation(["510", "dev-1"]);
    const unknown = await t.emulator.customOperation({ c8y_Unknown: { a: 1 } });
    const unhandled = await t.emulator.customOperation({ c8y_Fail: {} });
    const child = await t.emulator.customOperation({ c8y_Echo: {} }, { device: "dev-1:pump" });
    const echo = await t.emulator.customOperation({ c8y_Echo: {} });
    // The platform may deliver an operation again: it runs once.
    await t.emulator.sendJson(JSON.stringify(echo.json));
    for (const op of [restart, unknown, unhandled, child, echo]) await t.emulator.waitForEnd(op);
    deepEqual(restart.history, ["PENDING", "EXECUTING", "SUCCESSFUL"]);
    deepEqual([unknown.status, unknown.failureReason], ["FAILED", NOT_SUPPORTED]);
    deepEqual([unhandled.status, unhandled.failureReason], [
      "FAILED",
      'No onCommand handler for "fail" (operation fragment c8y_Fail)',
    ]);
    deepEqual([child.status, child.failureReason], ["FAILED", NOT_SUPPORTED]);
    deepEqual(
      t.emulator.lines.filter((l) => l.topic === "s/us/dev-1:pump").map((l) => l.fields),
      [["504", String(child.id)], ["505", String(child.id), NOT_SUPPORTED]],
    );
    equal(echo.status, "SUCCESSFUL");
    // A second 504 for the repeated delivery would be a violation; so would any
    // answer to the JSON copy of the 510.
    await t.emulator.waitForLines((f) => f[0] === "506");
    equal(runs, 1);
    deepEqual(t.emulator.violations, []);
  } finally {
    await t.teardown();
  }
});

Deno.test("onDesired: a 513 with a JSON object reaches the handlers, is reported with 113 before its 503, and versions count on across runs", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "outpost-c8y-desired-" });
  const seen: [Record<string, unknown>, number][] = [];
  const start = () =>
    setup({
      stateDir,
      beforeStart(agent) {
        agent.onDesired((desired, version) => {
          seen.push([desired, version]);
          return { interval: desired.interval };
        });
      },
    });
  let t = await start();
  try {
    await announced(t.emulator);
    deepEqual(
      t.emulator.lines.find((l) => l.fields[0] === "114")?.fields,
      ["114", "c8y_Configuration", "c8y_RemoteAccessConnect"],
    );
    const op = await t.emulator.operation([
      "513",
      "dev-1",
      '{\n  "interval": 30,\n  "mode": "eco"\n}',
    ]);
    await t.emulator.waitForEnd(op);
    deepEqual(op.history, ["PENDING", "EXECUTING", "SUCCESSFUL"]);
    deepEqual(seen, [[{ interval: 30, mode: "eco" }, 1]]);
    const reported = t.emulator.inventory.get("dev-1")?.c8y_Configuration as { config: string };
    deepEqual(JSON.parse(reported.config), { interval: 30 });
    const order = t.emulator.lines.map((l) => l.fields[0]).filter((id) => /^(113|503)$/.test(id));
    deepEqual(order, ["113", "503"]);
    deepEqual(t.emulator.violations, []);

    await t.teardown();
    t = await start();
    await announced(t.emulator);
    const next = await t.emulator.operation(["513", "dev-1", '{"interval": 60}']);
    await t.emulator.waitForEnd(next);
    equal(next.status, "SUCCESSFUL");
    deepEqual(seen[1], [{ interval: 60 }, 2]);
  } finally {
    await t.teardown();
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("onDesired: a configuration that is not a JSON object, or that a handler refuses, fails 502 with the reason and reports nothing", async () => {
  const t = await setup({
    beforeStart(agent) {
      agent.onDesired((desired) => {
        if (desired.interval === 0) throw new Error("interval must be above 0");
      });
    },
  });
  try {
    await announced(t.emulator);
    const text = await t.emulator.operation(["513", "dev-1", "val1=1\nval2=2"]);
    const list = await t.emulator.operation(["513", "dev-1", "[1, 2]"]);
    const refused = await t.emulator.operation(["513", "dev-1", '{"interval": 0}']);
    for (const op of [text, list, refused]) await t.emulator.waitForEnd(op);
    deepEqual([text.status, list.status, refused.status], ["FAILED", "FAILED", "FAILED"]);
    match(text.failureReason!, /^The configuration must be a JSON object like \{"interval":30\}: /);
    equal(
      list.failureReason,
      'The configuration must be a JSON object like {"interval":30}, got an array',
    );
    equal(refused.failureReason, "Configuration version 1 failed: interval must be above 0");
    equal(t.emulator.lines.filter((l) => l.fields[0] === "113").length, 0);
    deepEqual(t.emulator.violations, []);
  } finally {
    await t.teardown();
  }
});
