import { deepEqual, equal, match, throws } from "node:assert/strict";
import { type AnyActorLogic, createActor } from "xstate";
import { MqttLink, type MqttSession } from "../../actors/mqtt/link.ts";
import type { SupportChannel, SupportPort } from "../../actors/cloud/support.ts";
import { AzureSupport, supportAttachment } from "../../actors/azure/support.ts";
import type { AzureCommand } from "../../actors/azure/commands.ts";
import {
  decodeSupportMethod,
  encodeSupportMessage,
  SupportMethodError,
} from "../../protocols/azure_support.ts";
import { parsePropertyBag } from "../../protocols/azure_topics.ts";

const CHAT = "25666256-4fcf-41c0-9971-7343680d96dc";

/** A link and the session behind it, recording every publish. */
function recordingLink() {
  const published: { topic: string; payload: string; qos?: number }[] = [];
  const link = new MqttLink("hub");
  const session: MqttSession = {
    publish: (topic, payload, options) => {
      published.push({ topic, payload: String(payload), qos: options?.qos });
      return Promise.resolve();
    },
    subscribe: () => Promise.resolve(),
    unsubscribe: () => Promise.resolve(),
  };
  return { link, session, published };
}

/** A channel that hears cloud → device `chat/+/created` only, recording what it is told. */
function recordingChannel() {
  const events: string[] = [];
  const received: { topic: string; payload: string }[] = [];
  let port: SupportPort | undefined;
  const channel: SupportChannel = {
    attach(given) {
      port = given;
      events.push("attach");
      return {
        filters: [`${given.base}/support/chat/+/created`],
        receive: (topic, payload) =>
          void received.push({ topic, payload: new TextDecoder().decode(payload) }),
        detach: () => void events.push("detach"),
      };
    },
  };
  return { channel, events, received, port: () => port! };
}

const command = (name: string, payload: unknown, offline = false): AzureCommand => ({
  name,
  command: name,
  payload,
  requestId: "1",
  offline,
});

Deno.test("decodeSupportMethod reads {topic, payload} and names what is wrong", () => {
  deepEqual(decodeSupportMethod({ topic: `chat/${CHAT}/closed` }), {
    suffix: `chat/${CHAT}/closed`,
    payload: "{}",
  });
  deepEqual(decodeSupportMethod({ topic: "instant/a/session", payload: { state: "Open" }, x: 1 }), {
    suffix: "instant/a/session",
    payload: '{"state":"Open"}',
  });
  for (
    const [body, reason] of [
      [null, /must be an object like \{"topic","payload"\}, got null/],
      [[], /got an array/],
      [{ topic: 3 }, /needs "topic".*got 3/],
      [{ topic: "" }, /cannot be "": it is empty/],
      [{ topic: "chat//created" }, /an empty level/],
      [{ topic: "chat/#" }, /cannot contain "\+", "#"/],
      [{ topic: "chat/x/created", payload: "text" }, /"payload" .* JSON object, got "text"/],
    ] as const
  ) {
    throws(() => decodeSupportMethod(body), (error: Error) => {
      equal(error.constructor, SupportMethodError);
      match(error.message, reason);
      return true;
    });
  }
});

Deno.test("encodeSupportMessage keeps the suffix, refuses topics outside base, and names the cloud's own suffix in an error report", () => {
  deepEqual(encodeSupportMessage("azure/support/instant/a/request", "{}", "azure"), {
    suffix: "instant/a/request",
    payload: "{}",
  });
  throws(() => encodeSupportMessage("other/support/x", "{}", "azure"), /not a topic below/);
  throws(() => encodeSupportMessage("azure/support/", "{}", "azure"), /not a topic below/);
  const report = JSON.stringify({ topic: `azure/support/chat/${CHAT}/messages`, error: "bad" });
  deepEqual(encodeSupportMessage("azure/support/error", report, "azure"), {
    suffix: "error",
    payload: JSON.stringify({ topic: `chat/${CHAT}/messages`, error: "bad" }),
  });
  deepEqual(encodeSupportMessage("azure/support/error", "not json", "azure").payload, "not json");
});

Deno.test("the support child attaches the channel while the link is up; its messages go out as outpostSupport D2C messages at QoS 1", async () => {
  const { link, session, published } = recordingLink();
  const { channel, events, port } = recordingChannel();
  const support = new AzureSupport(link, { cloud: "hub", deviceId: () => "dev-1", channel });
  const actor = createActor(supportAttachment(support, link) as AnyActorLogic);
  actor.start();
  try {
    deepEqual(events, [], "not attached before the link is up");
    await link.attach(session);
    deepEqual(events, ["attach"]);
    equal(port().cloud, "hub");
    equal(port().connected(), true);
    await port().publish(`${port().base}/support/chat/${CHAT}/send`, '{"ref":"r","content":"hi"}');
    equal(published.length, 1);
    const [sent] = published;
    equal(sent.qos, 1);
    const prefix = "devices/dev-1/messages/events/";
    equal(sent.topic.slice(0, prefix.length), prefix);
    const bag = parsePropertyBag(sent.topic.slice(prefix.length));
    equal(bag.outpostSupport, `chat/${CHAT}/send`);
    equal(bag["$.ct"], "application/json");
    equal(sent.payload, '{"ref":"r","content":"hi"}');

    link.detach();
    deepEqual(events, ["attach", "detach"]);
    equal(support.attached, false);
    await link.attach(session);
    deepEqual(events, ["attach", "detach", "attach"]);
  } finally {
    actor.stop();
  }
  deepEqual(events, ["attach", "detach", "attach", "detach"], "stopping detaches");
});

Deno.test("route answers outpost.support itself and hands every other command to the handler", async () => {
  const { link, session } = recordingLink();
  const { channel, received } = recordingChannel();
  const handled: string[] = [];
  const handler = (c: AzureCommand) => {
    handled.push(c.name);
    return { status: 200, payload: "app" };
  };
  const respond = () => Promise.resolve();
  const support = new AzureSupport(link, { cloud: "hub", deviceId: () => "dev-1", channel });
  const route = support.route(handler);
  const created = { topic: `chat/${CHAT}/created`, payload: { title: "t" } };

  deepEqual(await route(command("outpost.support", created), respond), {
    status: 404,
    payload: { message: "The support channel is not attached" },
  });
  await link.attach(session);
  support.attach();
  deepEqual(await route(command("outpost.support", created), respond), {
    status: 200,
    payload: {},
  });
  deepEqual(received, [{ topic: `azure/support/chat/${CHAT}/created`, payload: '{"title":"t"}' }]);
  equal((await route(command("outpost.support", created, true), respond))?.status, 400);
  equal(received.length, 1, "an offline command delivers nothing");
  deepEqual(await route(command("reboot", null), respond), { status: 200, payload: "app" });
  deepEqual(handled, ["reboot"]);
  equal(await support.route(undefined)(command("reboot", null), respond), undefined, "→ 501");

  const without = new AzureSupport(link, { cloud: "hub", deviceId: () => "dev-1" });
  without.attach();
  deepEqual(await without.route(handler)(command("outpost.support", created), respond), {
    status: 404,
    payload: { message: "This device has no support channel" },
  });
});
