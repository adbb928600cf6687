/**
 * Bad input on every support topic, local and remote: each gets a clear
 * error reply, nothing crashes, and the agent keeps answering afterwards.
 */
import { equal, ok } from "node:assert/strict";
import { until } from "../helpers/wait.ts";
import { P, supportSetup } from "../helpers/support_agent.ts";
import { SUPPORT_CALLS, type SupportModuleName } from "../../protocols/support_api.ts";
import { CHAT_DOWN, INSTANT_DOWN } from "../../protocols/support_remote.ts";

const BAD_BODIES: [string | Uint8Array, string][] = [
  ["{not json", "InvalidJson"],
  [new Uint8Array([0xff, 0xfe, 0x7b]), "InvalidJson"],
  ["[1,2]", "InvalidJson"],
  ["42", "InvalidJson"],
];

Deno.test("every local support call answers malformed payloads with an error event and a code", async () => {
  const t = await supportSetup();
  try {
    const raw = await t.raw("app-1");
    let expected = 0;
    const errors = () => raw.events.filter((e) => e.topic.endsWith("/error"));
    for (const [module, calls] of Object.entries(SUPPORT_CALLS)) {
      for (const call of calls) {
        for (const [body, code] of BAD_BODIES) {
          await raw.request(module, call, body);
          expected++;
          await until(`error ${expected}`, () => errors().length === expected);
          const error = errors().at(-1)!;
          equal(error.topic, `${module}/error`);
          equal(error.payload.call, call);
          equal(error.payload.code, code);
          ok(String(error.payload.message).length > 0);
        }
      }
    }
    // Fields of the wrong type or missing: the codes name what is wrong.
    const fieldCases: [SupportModuleName, string, unknown, string][] = [
      [
        "accessControl",
        "setAccess",
        { feature: "Teleport", access: "Allowed" },
        "InvalidParameter",
      ],
      ["accessControl", "setAccess", { feature: "RemoteView" }, "MissingParameter"],
      ["accessControl", "getAccess", { feature: 7 }, "InvalidParameter"],
      ["chat", "loadMessages", { chatId: "not-a-uuid", count: 5 }, "InvalidParameter"],
      ["chat", "loadMessages", { chatId: crypto.randomUUID(), count: 0 }, "InvalidParameter"],
      ["chat", "sendMessage", { chatId: crypto.randomUUID(), content: "x" }, "MissingParameter"],
      ["chat", "deleteChat", {}, "MissingParameter"],
    ];
    for (const [module, call, body, code] of fieldCases) {
      await raw.request(module, call, { ...(body as object), id: `${call}-${code}` });
      await raw.waitFor(`${module}/error`, (p) => p.id === `${call}-${code}` && p.code === code);
    }
    await raw.request("teleport", "now", "{}");
    await raw.waitFor("connection/error", (p) => p.code === "UnknownCall");
    await raw.request("chat", "openChat", "{}");
    await raw.waitFor("chat/error", (p) => p.code === "UnknownCall");
    await raw.request("connection", "hello", { id: "still-alive" });
    await raw.waitFor("connection/hello", (p) => p.id === "still-alive");
    equal(t.bridge.failures.length, 0);
  } finally {
    await t.teardown();
  }
});

Deno.test("malformed messages on every remote support topic are reported on …/support/error", async () => {
  const t = await supportSetup();
  try {
    const chat = crypto.randomUUID();
    const topics = [
      ...INSTANT_DOWN.map((leaf) => `${P}/support/instant/app-1/${leaf}`),
      ...CHAT_DOWN.map((leaf) => `${P}/support/chat/${chat}/${leaf}`),
    ];
    for (const topic of topics) {
      await t.cloud.publish(topic, "{broken");
      const error = await t.cloud.waitFor((m) =>
        m.topic === `${P}/support/error` && JSON.parse(m.text).topic === topic
      );
      ok(JSON.parse(error.text).error.length > 0);
    }
    const wrongFields: [string, unknown][] = [
      [`${P}/support/instant/app-1/session`, { sessionCode: "s", name: "n", description: "d" }],
      [`${P}/support/instant/app-1/error`, { code: "Nope" }],
      [`${P}/support/chat/${chat}/created`, {
        title: "t",
        endpointType: "Toaster",
        endpointId: "1",
      }],
      [`${P}/support/chat/${chat}/messages`, { messages: [] }],
      [`${P}/support/chat/${chat}/messages`, { messages: [{ messageId: "x" }] }],
      [`${P}/support/chat/${chat}/sent`, { ref: "not-a-uuid" }],
    ];
    for (const [topic, payload] of wrongFields) {
      const before = t.cloud.messages.filter((m) => m.topic === `${P}/support/error`).length;
      await t.cloud.publish(topic, JSON.stringify(payload));
      await t.cloud.waitForCount((m) => m.topic === `${P}/support/error`, before + 1);
    }
    // Still serving: a valid chat is created and delivered to an app.
    const app = await t.app("app-1");
    await t.cloud.publish(
      `${P}/support/chat/${chat}/created`,
      JSON.stringify({ title: "t", endpointType: "Machine", endpointId: "1" }),
    );
    const deadline = Date.now() + 5000;
    while ((await app.chat.obtainChats()).length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    equal((await app.chat.obtainChats()).length, 1);
    equal(t.agent.tree().status, "running");
  } finally {
    await t.teardown();
  }
});

Deno.test("a client cannot publish into another app's support topics", async () => {
  const t = await supportSetup();
  try {
    const intruder = await t.raw("app-2");
    const victim = await t.raw("app-1");
    await intruder.client.publishAsync("/v1.0/app-1/support/request/connection/hello", "{}", {
      qos: 0,
    }).catch(() => {});
    await victim.request("connection", "hello", { id: "mine" });
    await victim.waitFor("connection/hello", (p) => p.id === "mine");
    await victim.request("connection", "hello", { id: "mine again" });
    await victim.waitFor("connection/hello", (p) => p.id === "mine again");
    equal(victim.events.filter((e) => e.topic === "connection/hello").length, 2);
  } finally {
    await t.teardown();
  }
});
