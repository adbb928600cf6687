/**
 * How a command on Outpost's topics is answered (protocols/outpost_commands.ts),
 * the rules the AWS cloud's `commands` child shares with PROTOCOLS.md §0.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import fc from "fast-check";
import { answerCommand, encodeAnswer } from "../../protocols/outpost_commands.ts";
import { parseConfig } from "../../actors/agent/config.ts";
import { awsCloud } from "../../actors/aws/mod.ts";
import type { AwsCloudConfig } from "../../actors/aws/config.ts";
import { HandlerRegistry } from "../../actors/cloud/handlers.ts";
import { configureLogging, resetLogging } from "../../actors/runtime/logging.ts";

Deno.test("a command is answered 200 with the result, 404 without a handler, 500 on a throw, 400 when malformed", async () => {
  deepEqual(
    await answerCommand("add", '{"a":1,"b":2}', (input) => {
      const { a, b } = input as { a: number; b: number };
      return { sum: a + b };
    }),
    { status: 200, body: { sum: 3 } },
  );
  deepEqual(await answerCommand("noop", "", () => undefined), { status: 200, body: null });
  deepEqual(await answerCommand("nope", "{}", undefined), {
    status: 404,
    body: { error: 'Unknown command "nope"' },
  });
  deepEqual(
    await answerCommand("fail", "", () => Promise.reject(new Error("the valve is stuck"))),
    { status: 500, body: { error: "the valve is stuck" } },
  );
  const malformed = await answerCommand("add", new Uint8Array([0xff]), () => 1);
  deepEqual(malformed, {
    status: 400,
    body: { error: "command payload: the payload is not valid UTF-8" },
  });
});

Deno.test("any payload gets an answer with one of the four statuses, and its encoding is JSON", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ maxLength: 64 }),
      fc.constantFrom("returns", "throws", "none"),
      async (payload, kind) => {
        const handler = kind === "none" ? undefined : (input: unknown) => {
          if (kind === "throws") throw new Error("no");
          return input;
        };
        const answer = await answerCommand("c", payload, handler);
        ok([200, 400, 404, 500].includes(answer.status));
        equal(JSON.parse(encodeAnswer(answer)).status, answer.status);
      },
    ),
  );
});

Deno.test("a result JSON cannot carry is answered 500, saying so", () => {
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  for (const body of [10n, cyclic]) {
    const answer = JSON.parse(encodeAnswer({ status: 200, body }));
    equal(answer.status, 500);
    ok(/cannot be sent as JSON/.test(answer.body.error), answer.body.error);
  }
});

Deno.test("with commands = false an AWS cloud has no commands child, and an onCommand handler is a warning naming the cloud and the key", async () => {
  const lines: string[] = [];
  await configureLogging({ write: (line) => lines.push(line) });
  const certStore = await Deno.makeTempDir({ prefix: "outpost-aws-commands-" });
  try {
    const build = async (keys: string) => {
      const config = parseConfig(
        `[clouds.a]\ntype = "aws"\nurl = "mqtts://x.iot.example:8883"\n${keys}`,
        { env: {} },
      ).clouds.a as AwsCloudConfig;
      const handlers = new HandlerRegistry();
      handlers.onCommand("reboot", () => true);
      const cloud = await awsCloud({
        name: "a",
        config,
        deviceId: "d",
        certStore,
        pems: {},
        handlers,
      });
      return cloud.children.map((c) => c.id);
    };
    deepEqual(await build(""), ["connection", "shadow:classic"]);
    ok(
      lines.some((l) => l.includes("Cloud a (aws): onCommand handlers (reboot) are not reached")),
      lines.join("\n"),
    );
    deepEqual(await build("commands = true\nsupport = true"), [
      "connection",
      "shadow:classic",
      "commands",
    ], "support needs the agent's support channel");
  } finally {
    await resetLogging();
    await Deno.remove(certStore, { recursive: true });
  }
});
