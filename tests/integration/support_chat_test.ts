/**
 * Chat end to end: the remote side (a plain MQTT client on the generic
 * cloud's `…/support/chat/<chatId>/…` topics) opens chats and sends
 * messages; apps on the local-API bridge read, answer, page and delete;
 * rooms and history survive an agent restart.
 */
import mqtt from "mqtt";
import { deepEqual, equal, match, ok, rejects } from "node:assert/strict";
import { P, type SupportSetup, supportSetup } from "../helpers/support_agent.ts";
import { until } from "../helpers/wait.ts";
import type { ChatMessage } from "../../actors/support/agent_modules.ts";

const CHAT = "25666256-4fcf-41c0-9971-7343680d96dc";

function remoteMessage(i: number) {
  return {
    messageId: crypto.randomUUID(),
    content: `message ${i}`,
    timeStamp: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
    sender: "Chatty McChatterson",
  };
}

async function openChat(t: SupportSetup, chatId = CHAT) {
  await t.cloud.publish(
    `${P}/support/chat/${chatId}/created`,
    JSON.stringify({
      title: "Chatty McChatterson",
      endpointType: "Machine",
      endpointId: "2032226623",
    }),
  );
}

/** Acknowledges every message the device sends, as the remote side would; resolves with a stop. */
async function acknowledge(t: SupportSetup): Promise<() => Promise<void>> {
  const client = await mqtt.connectAsync(t.broker.url, { reconnectPeriod: 0 });
  client.on("message", (topic, payload) => {
    const { ref } = JSON.parse(new TextDecoder().decode(payload));
    client.publish(
      topic.replace(/\/send$/, "/sent"),
      JSON.stringify({ ref, messageId: crypto.randomUUID(), timeStamp: new Date().toISOString() }),
      { qos: 1 },
    );
  });
  await client.subscribeAsync(`${P}/support/chat/+/send`, { qos: 1 });
  return () => client.endAsync();
}

Deno.test("a chat created by the remote side reaches the app with its messages, and the app answers", async () => {
  const t = await supportSetup();
  try {
    const app = await t.app("app-1");
    const created: string[] = [];
    const received: ChatMessage[] = [];
    const finished: [number, string, string | undefined][] = [];
    app.chat.setCallbacks({
      chatCreated: (id, title, type, endpoint) =>
        void created.push(`${id} ${title} ${type} ${endpoint}`),
      receivedMessages: (messages) => void received.push(...messages),
      sendMessageFinished: (requestId, result, messageId) =>
        void finished.push([requestId, result, messageId]),
    });
    await openChat(t);
    await until("chatCreated", () => created.length === 1);
    deepEqual(created, [`${CHAT} Chatty McChatterson Machine 2032226623`]);
    const hello = remoteMessage(1);
    await t.cloud.publish(
      `${P}/support/chat/${CHAT}/messages`,
      JSON.stringify({ messages: [hello] }),
    );
    await until("receivedMessages", () => received.length === 1);
    deepEqual(received[0], { chatId: CHAT, ...hello });

    const stop = await acknowledge(t);
    const requestId = app.chat.sendMessage(CHAT, "Hello back!");
    equal(typeof requestId, "number");
    await until("sendMessageFinished", () => finished.length === 1);
    await stop();
    equal(finished[0][0], requestId);
    equal(finished[0][1], "Succeeded");
    ok(finished[0][2] && /^[0-9a-f-]{36}$/.test(finished[0][2]));
    const page = await app.chat.loadMessages(CHAT, 10);
    deepEqual(page.messages.map((m) => [m.content, m.sender]), [
      ["message 1", "Chatty McChatterson"],
      ["Hello back!", "dev-1"],
    ]);
    equal(page.hasMore, false);
    deepEqual((await app.chat.obtainChats()).map((c) => [c.chatId, c.closed]), [[CHAT, false]]);
  } finally {
    await t.teardown();
  }
});

Deno.test("a message the remote side refuses or never acknowledges finishes Failed", async () => {
  const t = await supportSetup({ support: "sendTimeoutSec = 0.3" });
  try {
    const app = await t.app("app-1");
    const finished: [number, string][] = [];
    app.chat.setCallbacks({
      sendMessageFinished: (id, result) => void finished.push([id, result]),
    });
    await openChat(t);
    await until("the chat exists", () => t.cloud.messages.length > 0);
    const first = app.chat.sendMessage(CHAT, "nobody answers");
    await until("timeout", () => finished.length === 1);
    deepEqual(finished[0], [first, "Failed"]);
    const second = app.chat.sendMessage(CHAT, "refused");
    const sent = await t.cloud.waitFor((m) =>
      m.topic === `${P}/support/chat/${CHAT}/send` && m.text.includes("refused")
    );
    await t.cloud.publish(
      `${P}/support/chat/${CHAT}/sent`,
      JSON.stringify({ ref: JSON.parse(sent.text).ref, error: "recipient offline" }),
    );
    await until("refusal", () => finished.length === 2);
    deepEqual(finished[1], [second, "Failed"]);
    equal(
      (await app.chat.loadMessages(CHAT, 10)).messages.length,
      0,
      "failed messages are not history",
    );
  } finally {
    await t.teardown();
  }
});

Deno.test("history pages go backwards with hasMore, and a repeated message id is stored once", async () => {
  const t = await supportSetup();
  try {
    const app = await t.app("app-1");
    const received: ChatMessage[] = [];
    app.chat.setCallbacks({ receivedMessages: (m) => void received.push(...m) });
    await openChat(t);
    const messages = Array.from({ length: 7 }, (_, i) => remoteMessage(i));
    await t.cloud.publish(`${P}/support/chat/${CHAT}/messages`, JSON.stringify({ messages }));
    await t.cloud.publish(
      `${P}/support/chat/${CHAT}/messages`,
      JSON.stringify({ messages: [messages[6]] }),
    );
    await until("seven received", () => received.length === 7);
    const last = await app.chat.loadMessages(CHAT, 3);
    deepEqual(last.messages.map((m) => m.content), ["message 4", "message 5", "message 6"]);
    equal(last.hasMore, true);
    const before = await app.chat.loadMessages(CHAT, 3, last.messages[0].messageId);
    deepEqual(before.messages.map((m) => m.content), ["message 1", "message 2", "message 3"]);
    const first = await app.chat.loadMessages(CHAT, 3, before.messages[0].messageId);
    deepEqual(first.messages.map((m) => m.content), ["message 0"]);
    equal(first.hasMore, false);
    await rejects(app.chat.loadMessages(CHAT, 3, crypto.randomUUID()), { code: "NotFound" });
    equal(received.length, 7, "the repeated message was not delivered twice");
  } finally {
    await t.teardown();
  }
});

Deno.test("deleteHistory empties a chat, deleteChat removes it, and a closed chat takes no messages", async () => {
  const t = await supportSetup();
  try {
    const app = await t.app("app-1");
    const removed: string[][] = [];
    const closed: string[] = [];
    const deleted: string[] = [];
    let created = 0;
    let received = 0;
    app.chat.setCallbacks({
      chatCreated: () => void created++,
      receivedMessages: (m) => void (received += m.length),
      chatsRemoved: (ids) => void removed.push(ids),
      chatClosed: (id) => void closed.push(id),
      historyDeleted: (id) => void deleted.push(id),
    });
    const other = crypto.randomUUID();
    await openChat(t);
    await openChat(t, other);
    await t.cloud.publish(
      `${P}/support/chat/${CHAT}/messages`,
      JSON.stringify({ messages: [remoteMessage(1)] }),
    );
    await until("two chats and a message", () => created === 2 && received === 1);
    await app.chat.deleteHistory(CHAT);
    deepEqual((await app.chat.loadMessages(CHAT, 5)).messages, []);
    await until("historyDeleted", () => deleted.length === 1);
    await app.chat.deleteChat(other);
    await until("chatsRemoved", () => removed.length === 1);
    deepEqual(removed, [[other]]);
    deepEqual((await app.chat.obtainChats()).map((c) => c.chatId), [CHAT]);
    await rejects(app.chat.deleteChat(other), { code: "NotFound" });

    await t.cloud.publish(`${P}/support/chat/${CHAT}/closed`, "{}");
    await until("chatClosed", () => closed.length === 1);
    const finished: string[] = [];
    app.chat.setCallbacks({ sendMessageFinished: (_, result) => void finished.push(result) });
    app.chat.sendMessage(CHAT, "too late");
    await until("refused at once", () => finished.length === 1);
    deepEqual(finished, ["Failed"]);
    await t.cloud.publish(
      `${P}/support/chat/${CHAT}/messages`,
      JSON.stringify({ messages: [remoteMessage(2)] }),
    );
    const error = await t.cloud.waitFor((m) => m.topic === `${P}/support/error`);
    match(JSON.parse(error.text).error, /is closed/);
  } finally {
    await t.teardown();
  }
});

Deno.test("the device cannot open a chat: sending to an unknown chat is NotFound", async () => {
  const t = await supportSetup();
  try {
    const raw = await t.raw("app-1");
    await raw.request("chat", "sendMessage", {
      id: 5,
      chatId: crypto.randomUUID(),
      requestId: 1,
      content: "hi",
    });
    const error = await raw.waitFor("chat/error");
    equal(error.code, "NotFound");
    equal(error.id, 5);
  } finally {
    await t.teardown();
  }
});

Deno.test("chat rooms and their history survive an agent restart, one room actor per chat", async () => {
  const first = await supportSetup();
  await openChat(first);
  const other = crypto.randomUUID();
  await openChat(first, other);
  await first.cloud.publish(
    `${P}/support/chat/${CHAT}/messages`,
    JSON.stringify({ messages: [remoteMessage(1), remoteMessage(2)] }),
  );
  const rooms = () =>
    first.agent.tree().children.find((c) => c.id === "support")!.children.find((c) =>
      c.id === "chats"
    )!.children.map((c) => c.id);
  await until("two rooms", () => rooms().length === 2);
  const app = await first.app("app-1");
  equal((await app.chat.loadMessages(CHAT, 10)).messages.length, 2);
  await first.teardown({ keepState: true, keepBroker: true });

  const second = await supportSetup({ stateDir: first.stateDir, broker: first.broker });
  try {
    const support = () =>
      second.agent.tree().children.find((c) => c.id === "support")!.children.find((c) =>
        c.id === "chats"
      )!.children.map((c) => c.id).sort();
    await until("rooms restored", () => support().length === 2);
    deepEqual(support(), [`chat-${CHAT}`, `chat-${other}`].sort());
    const again = await second.app("app-1");
    deepEqual((await again.chat.obtainChats()).map((c) => c.chatId).sort(), [CHAT, other].sort());
    deepEqual(
      (await again.chat.loadMessages(CHAT, 10)).messages.map((m) => m.content),
      ["message 1", "message 2"],
    );
    const stop = await acknowledge(second);
    const finished: string[] = [];
    again.chat.setCallbacks({ sendMessageFinished: (_, result) => void finished.push(result) });
    again.chat.sendMessage(CHAT, "still here");
    await until("sent after restart", () => finished.length === 1);
    await stop();
    deepEqual(finished, ["Succeeded"]);
  } finally {
    await second.teardown();
  }
});
