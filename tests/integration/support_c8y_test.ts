/**
 * The support modules on a Cumulocity cloud: its `530` tunnels are sessions
 * too, and the device's access control refuses them with `502` and the
 * reason. With `operations.support`, instant support and chat travel as
 * `outpost_Support` events (device → cloud) and operations (cloud → device),
 * docs/support.md "On Cumulocity".
 */
import { deepEqual, equal, match } from "node:assert/strict";
import { announced, setup, tunnelSetup } from "../helpers/c8y_agent.ts";
import { until } from "../helpers/wait.ts";
import type { JsonEvent } from "../helpers/c8y_emulator.ts";
import { startSupportBridge } from "../helpers/support_local_bridge.ts";
import { AgentConnection } from "../../actors/support/agent_connection.ts";
import type { ChatMessage, SessionData } from "../../actors/support/agent_modules.ts";

const SUPPORT = "[clouds.c8y.operations]\nsupport = true";
const CHAT = "25666256-4fcf-41c0-9971-7343680d96dc";
const REQUEST = {
  accessToken: "12345678-LgxKf0bybuAESdNIelrY",
  name: "Help Me Please!",
  group: "Contacts",
  description: "I need your support!",
  sessionCode: "",
};

/** An agent on the emulator with support on, and app-1 connected through the local bridge. */
async function supportOnC8y() {
  const t = await setup({ cloud: SUPPORT });
  const bridge = await startSupportBridge(() => t.agent.localApiModules());
  const app = new AgentConnection({ url: bridge.url, clientId: "app-1", ...bridge.tls });
  app.start();
  await app.whenConnected();
  await announced(t.emulator);
  return {
    ...t,
    app,
    async teardown() {
      await app.stop();
      await bridge.stop();
      await t.teardown();
    },
  };
}

function supportMessage(event: JsonEvent): { topic: string; payload: Record<string, unknown> } {
  return event.body.outpost_Support as { topic: string; payload: Record<string, unknown> };
}

const isSupport = (topic: string) => (event: JsonEvent) =>
  event.body.type === "outpost_Support" && supportMessage(event).topic === topic;

Deno.test("on Cumulocity an app's instant-support request is a transient outpost_Support event, and the case's session data comes back as an operation", async () => {
  const t = await supportOnC8y();
  try {
    deepEqual(
      t.emulator.lines.find((l) => l.fields[0] === "114")?.fields,
      ["114", "c8y_RemoteAccessConnect", "outpost_Support"],
    );
    const data: SessionData[] = [];
    t.app.instantSupport.setCallbacks({ sessionDataChanged: (d) => void data.push(d) });
    await t.app.instantSupport.requestInstantSupport(REQUEST);
    const [request] = await t.emulator.waitForEvents(isSupport("instant/app-1/request"));
    // The access token must reach the supporter and never be stored by the platform.
    equal(request.transient, true);
    equal(request.body.text, "instant/app-1/request");
    deepEqual(supportMessage(request).payload, {
      accessToken: REQUEST.accessToken,
      name: REQUEST.name,
      group: REQUEST.group,
      description: REQUEST.description,
    });
    const open = {
      sessionCode: "s01-234-567",
      name: REQUEST.name,
      description: REQUEST.description,
      state: "Open",
    };
    const op = await t.emulator.customOperation({
      outpost_Support: { topic: "instant/app-1/session", payload: open },
    });
    await t.emulator.waitForEnd(op);
    deepEqual(op.history, ["PENDING", "EXECUTING", "SUCCESSFUL"]);
    await until("sessionDataChanged", () => data.length === 1);
    deepEqual(data[0], open);

    await t.app.instantSupport.closeInstantSupportCase();
    const [close] = await t.emulator.waitForEvents(isSupport("instant/app-1/close"));
    deepEqual([close.transient, supportMessage(close).payload], [false, {
      sessionCode: "s01-234-567",
    }]);
    deepEqual(t.emulator.violations, []);
  } finally {
    await t.teardown();
  }
});

Deno.test("on Cumulocity a chat opened by outpost_Support operations reaches the app, and the app's answer is an event the supporter acknowledges", async () => {
  const t = await supportOnC8y();
  try {
    const created: string[] = [];
    const received: ChatMessage[] = [];
    const finished: [number, string][] = [];
    t.app.chat.setCallbacks({
      chatCreated: (id, title) => void created.push(`${id} ${title}`),
      receivedMessages: (messages) => void received.push(...messages),
      sendMessageFinished: (requestId, result) => void finished.push([requestId, result]),
    });
    const hello = {
      messageId: crypto.randomUUID(),
      content: "Hello, how can I help?",
      timeStamp: "2026-01-01T00:00:01.000Z",
      sender: "Supporter",
    };
    const ops = [
      await t.emulator.customOperation({
        outpost_Support: {
          topic: `chat/${CHAT}/created`,
          payload: { title: "Supporter", endpointType: "Machine", endpointId: "4711" },
        },
      }),
      await t.emulator.customOperation({
        outpost_Support: { topic: `chat/${CHAT}/messages`, payload: { messages: [hello] } },
      }),
    ];
    for (const op of ops) await t.emulator.waitForEnd(op);
    await until("receivedMessages", () => received.length === 1);
    deepEqual(created, [`${CHAT} Supporter`]);
    deepEqual(received[0], { chatId: CHAT, ...hello });

    const requestId = t.app.chat.sendMessage(CHAT, "The pump is noisy.");
    const [sent] = await t.emulator.waitForEvents(isSupport(`chat/${CHAT}/send`));
    equal(sent.transient, false);
    const { ref, content } = supportMessage(sent).payload;
    equal(content, "The pump is noisy.");
    const ack = await t.emulator.customOperation({
      outpost_Support: {
        topic: `chat/${CHAT}/sent`,
        payload: { ref, messageId: crypto.randomUUID(), timeStamp: "2026-01-01T00:00:02.000Z" },
      },
    });
    await t.emulator.waitForEnd(ack);
    await until("sendMessageFinished", () => finished.length === 1);
    deepEqual(finished, [[requestId, "Succeeded"]]);
    deepEqual(
      (await t.app.chat.loadMessages(CHAT, 10)).messages.map((m) => [m.content, m.sender]),
      [["Hello, how can I help?", "Supporter"], ["The pump is noisy.", "dev-1"]],
    );
    deepEqual(t.emulator.violations, []);
  } finally {
    await t.teardown();
  }
});

Deno.test("an outpost_Support operation the device does not take fails 505; one the support modules cannot use comes back as an error event", async () => {
  const t = await supportOnC8y();
  try {
    const wrongWay = await t.emulator.customOperation({
      outpost_Support: { topic: `chat/${CHAT}/send`, payload: { ref: CHAT, content: "x" } },
    });
    const malformed = await t.emulator.customOperation({ outpost_Support: { payload: {} } });
    const unknownChat = await t.emulator.customOperation({
      outpost_Support: {
        topic: `chat/${CHAT}/messages`,
        payload: {
          messages: [{
            messageId: crypto.randomUUID(),
            content: "anyone there?",
            timeStamp: "2026-01-01T00:00:01.000Z",
            sender: "Supporter",
          }],
        },
      },
    });
    for (const op of [wrongWay, malformed, unknownChat]) await t.emulator.waitForEnd(op);
    deepEqual([wrongWay.status, wrongWay.failureReason], [
      "FAILED",
      `outpost_Support topic "chat/${CHAT}/send" is not a message the device takes (docs/support.md lists them)`,
    ]);
    equal(malformed.status, "FAILED");
    match(
      malformed.failureReason!,
      /^The outpost_Support fragment: "topic" must be a support topic/,
    );
    // Handed over, then refused by the support modules: they report it on their error topic.
    equal(unknownChat.status, "SUCCESSFUL");
    const [error] = await t.emulator.waitForEvents(isSupport("error"));
    deepEqual(supportMessage(error).payload, {
      topic: `chat/${CHAT}/messages`,
      error: `unknown chat ${CHAT}: announce it on …/created first`,
    });
    deepEqual(t.emulator.violations, []);
  } finally {
    await t.teardown();
  }
});

Deno.test("a 530 for a denied feature fails with 502 and the access-control reason, dialing nothing", async () => {
  const t = await tunnelSetup({ extra: '[support.access]\nRemoteControl = "Denied"' });
  try {
    const op = await t.emulator.operation([
      "530",
      "dev-1",
      "127.0.0.1",
      String(t.echo.port),
      "k-denied",
    ]);
    await t.emulator.waitForEnd(op);
    deepEqual([op.status, op.failureReason], [
      "FAILED",
      "access denied: RemoteControl is denied on this device",
    ]);
    equal(t.echo.accepted + t.relay.upgrades, 0);
  } finally {
    await t.teardown();
  }
});

Deno.test("a Cumulocity tunnel is a session: started, listed with its cloud, and terminated", async () => {
  const t = await tunnelSetup();
  const bridge = await startSupportBridge(() => t.agent.localApiModules());
  const app = new AgentConnection({ url: bridge.url, clientId: "app-1", ...bridge.tls });
  try {
    app.start();
    await app.whenConnected();
    const seen: string[] = [];
    app.sessions.setCallbacks({
      sessionStarted: (id, count) => void seen.push(`started ${id} ${count}`),
      sessionStopped: (id, count) => void seen.push(`stopped ${id} ${count}`),
    });
    const session = await t.relay.open("k-1");
    const op = await t.emulator.operation([
      "530",
      "dev-1",
      "127.0.0.1",
      String(t.echo.port),
      "k-1",
    ]);
    await t.emulator.waitForEnd(op);
    equal(op.status, "SUCCESSFUL");
    await until("sessionStarted", () => seen.length === 1);
    deepEqual((await app.sessions.getRunningSessions()).map((s) => s.cloud), ["c8y"]);
    equal(await app.sessions.terminateAll(), 1);
    await session.deviceClosed;
    await until("sessionStopped", () => seen.length === 2);
    deepEqual(seen, ["started 1 1", "stopped 1 0"]);
  } finally {
    await app.stop();
    await bridge.stop();
    await t.teardown();
  }
});
