/**
 * The embedding app's handlers on AWS, end to end with the emulator:
 * `agent.onCommand` on `outpost/<thing>/commands/<name>/<requestId>` answered
 * on `…/responses/…` (PROTOCOLS.md §0), and `agent.onDesired` fed by the
 * classic shadow's keys that have no handler of their own.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { type AwsEmulator, startAwsEmulator } from "../helpers/aws_emulator.ts";
import { startAwsAgent, THING } from "../helpers/aws_agent.ts";
import type { Agent } from "../../actors/agent/agent.ts";
import type { AwsParts } from "../../actors/aws/mod.ts";

/** An emulator and an agent (`cloud` adds keys to `[clouds.aws]`) whose classic shadow is in sync. */
async function withAgent(
  cloud: string,
  fn: (world: { emulator: AwsEmulator; agent: Agent; aws: AwsParts }) => Promise<void>,
) {
  const emulator = await startAwsEmulator();
  const stateDir = await Deno.makeTempDir({ prefix: "outpost-aws-handlers-" });
  try {
    const { agent, aws } = await startAwsAgent(emulator, stateDir, cloud);
    try {
      await agent.connected();
      await emulator.until(
        "the shadow",
        () => reported(emulator).event_publishing_enabled === true,
      );
      await fn({ emulator, agent, aws });
    } finally {
      await agent.stop();
    }
  } finally {
    await emulator.stop();
    await Deno.remove(stateDir, { recursive: true });
  }
}

const reported = (emulator: AwsEmulator) => emulator.shadow(THING)?.reported ?? {};

Deno.test("onCommand handlers answer on outpost/<thing>/responses: 200 with the body, 404 unknown, 500 on a throw, 400 malformed", async () => {
  await withAgent("commands = true", async ({ emulator, agent }) => {
    const contexts: unknown[] = [];
    agent.onCommand("add", (input, context) => {
      contexts.push(context);
      const { a, b } = input as { a: number; b: number };
      return { sum: a + b };
    });
    agent.onCommand("fail", () => {
      throw new Error("the valve is stuck");
    });
    // The thing name comes from provisioning, not from the configuration.
    equal(agent.config.clouds.aws.type === "aws" && agent.config.clouds.aws.thingName, undefined);

    const added = await emulator.command(THING, "add", '{"a":2,"b":3}', { requestId: "r-1" });
    deepEqual(added, { status: 200, body: { sum: 5 } });
    deepEqual(contexts, [{ name: "add", requestId: "r-1", cloud: "aws" }]);
    deepEqual(await emulator.command(THING, "nope", "{}"), {
      status: 404,
      body: { error: 'Unknown command "nope"' },
    });
    deepEqual(await emulator.command(THING, "fail", ""), {
      status: 500,
      body: { error: "the valve is stuck" },
    });
    const malformed = await emulator.command(THING, "add", '{"a":');
    equal(malformed.status, 400);
    ok(/invalid JSON/.test((malformed.body as { error: string }).error));
    equal(contexts.length, 1, "a malformed payload never reaches the handler");
  });
});

Deno.test("topicPrefix moves the command topics", async () => {
  await withAgent('commands = true\ntopicPrefix = "acme/outpost"', async ({ emulator, agent }) => {
    agent.onCommand("ping", () => "pong");
    deepEqual(await emulator.command(THING, "ping", "", { prefix: "acme/outpost" }), {
      status: 200,
      body: "pong",
    });
  });
});

Deno.test("onDesired gets the classic shadow's keys without a handler of their own; what it applies is reported", async () => {
  await withAgent("", async ({ emulator, agent, aws }) => {
    const seen: { desired: Record<string, unknown>; version: number }[] = [];
    agent.onDesired((desired, version) => {
      seen.push({ desired, version });
      if ("broken" in desired) throw new Error("cannot apply broken");
      // The fan stops at 5; everything else applies as given.
      if (typeof desired.fan === "number") return { ...desired, fan: Math.min(desired.fan, 5) };
    });
    await emulator.setDesired(THING, { fan: 9, mode: "eco", event_type_blacklist: ["debug"] });
    await emulator.until("the applied values", () => reported(emulator).mode === "eco");
    equal(reported(emulator).fan, 5, "the value the handler returned is reported");
    deepEqual(reported(emulator).event_type_blacklist, ["debug"], "the built-in key still works");
    deepEqual(aws.gate.settings.event_type_blacklist, ["debug"]);
    deepEqual(seen.map((s) => s.desired), [{ fan: 9, mode: "eco" }], "only keys without a handler");
    const answer = emulator.requests.find((r) => JSON.stringify(r.body).includes('"mode":"eco"'));
    equal(seen[0].version, (answer?.body as { version: number }).version, "the delta's version");

    // A throw refuses the whole document: nothing of it is reported.
    await emulator.setDesired(THING, { broken: true });
    // Deltas apply in order: once the next one is reported, the refused one was handled.
    await emulator.setDesired(THING, { broken: null, fan: 4 });
    await emulator.until("the next delta", () => reported(emulator).fan === 4);
    equal(reported(emulator).broken, undefined);
    deepEqual(seen.map((s) => Object.keys(s.desired).sort()), [
      ["fan", "mode"],
      ["broken", "fan"],
      ["fan"],
    ]);
  });
});
