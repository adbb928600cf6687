import { equal, ok } from "node:assert/strict";
import fc from "fast-check";
import { type AnyActorLogic, createActor } from "xstate";
import { MqttLink } from "../../actors/mqtt/link.ts";
import { RecordingSession } from "../helpers/fake_session.ts";
import { azureCommands } from "../../actors/azure/commands.ts";
import { AzureTwin } from "../../actors/azure/twin.ts";
import { until } from "../helpers/wait.ts";

/** A link whose broker answers twin requests at once: GET → 200 (empty twin), PATCH → 204. */
function fakeLink() {
  const published: { topic: string; payload: string }[] = [];
  const link = new MqttLink("t");
  const answer = (topic: string, payload: string) =>
    queueMicrotask(() => link.deliver({ topic, payload: bytes(payload), retain: false }));
  const session = new RecordingSession({
    autoAck: true,
    onPublish: ({ topic, payload }) => {
      published.push({ topic, payload });
      const rid = /\?\$rid=(.+)$/.exec(topic)?.[1];
      if (topic.startsWith("$iothub/twin/GET/")) {
        answer(`$iothub/twin/res/200/?$rid=${rid}`, '{"desired":{"$version":1},"reported":{}}');
      } else if (topic.startsWith("$iothub/twin/PATCH/properties/reported/")) {
        answer(`$iothub/twin/res/204/?$rid=${rid}&$version=2`, "");
      }
    },
  });
  return { link, session, published };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
const bytes = (text: string) => new TextEncoder().encode(text);

Deno.test("every method request, whatever its name and payload, gets exactly one JSON answer with a status", async () => {
  const { link, session, published } = fakeLink();
  await link.attach(session);
  const actor = createActor(
    azureCommands(link, {
      cloud: "t",
      deviceId: "d1",
      handler: () => (command, respond) => {
        if (command.command === "boom") throw new Error("boom");
        if (command.command === "known") return { payload: command.payload };
        if (command.command === "early") {
          void respond({ payload: command.payload });
          throw new Error("after the answer");
        }
        if (command.command === "twice") {
          void respond({ status: 200 });
          void respond({ status: 500 });
          return { status: 400 };
        }
        return undefined;
      },
    }) as AnyActorLogic,
  );
  actor.start();
  await settle();
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("known", "boom", "early", "twice", "other", "comp*known", "*x", "a*"),
        fc.string({ minLength: 1, maxLength: 8 }).filter((s) => !/[/#+&=%?]/.test(s)),
        fc.oneof(
          fc.uint8Array({ maxLength: 40 }),
          fc.jsonValue().map((v) => bytes(JSON.stringify(v) ?? "")),
        ),
        async (name, rid, payload) => {
          published.length = 0;
          link.deliver({
            topic: `$iothub/methods/POST/${name}/?$rid=${rid}`,
            payload,
            retain: false,
          });
          await settle();
          equal(published.length, 1, `one answer to ${name}`);
          const match = /^\$iothub\/methods\/res\/(\d{3})\/\?\$rid=(.*)$/.exec(published[0].topic);
          ok(match, published[0].topic);
          ok(["200", "400", "500", "501"].includes(match[1]), match[1]);
          // The first answer stands, whatever the handler does after it (unless the payload was bad).
          if (["early", "twice"].includes(name) && match[1] !== "400") equal(match[1], "200");
          equal(decodeURIComponent(match[2]), rid);
          JSON.parse(published[0].payload);
        },
      ),
      { numRuns: 300 },
    );
    // Topics that only look like requests are not answered, and nothing throws.
    published.length = 0;
    for (
      const topic of [
        "$iothub/methods/POST/x/",
        "$iothub/methods/POST//?$rid=1",
        "devices/d1/messages/devicebound/%zz",
      ]
    ) {
      link.deliver({ topic, payload: bytes("{}"), retain: false });
    }
    await settle();
    equal(published.length, 0);
  } finally {
    actor.stop();
  }
});

Deno.test("arbitrary desired patches never break the twin; well-formed ones are acknowledged", async () => {
  const { link, session, published } = fakeLink();
  await link.attach(session);
  let decided = 0;
  const twin = new AzureTwin(link, {
    cloud: "t",
    timeoutMs: 50,
    handler: () => () => {
      decided += 1;
      return true;
    },
  });
  twin.start();
  try {
    let version = 1;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 60 }),
          fc.jsonValue().map((v) => bytes(JSON.stringify(v) ?? "")),
        ),
        async (payload) => {
          version += 1;
          link.deliver({
            topic: `$iothub/twin/PATCH/properties/desired/?$version=${version}`,
            payload,
            retain: false,
          });
          await settle();
        },
      ),
      { numRuns: 300 },
    );
    ok(decided > 0, "some fuzzed patches were well-formed");
    const last = version + 1;
    link.deliver({
      topic: `$iothub/twin/PATCH/properties/desired/?$version=${last}`,
      payload: bytes(`{"fan":2,"$version":${last}}`),
      retain: false,
    });
    const ack = `{"fan":{"value":2,"ac":200,"av":${last},"ad":"completed"}}`;
    await until("the ack of the last patch", () => published.some((p) => p.payload === ack));
  } finally {
    twin.stop();
  }
});
