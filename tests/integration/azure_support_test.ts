/**
 * Instant support and chat with Azure IoT Hub as the remote side, end to
 * end: apps on the local-API bridge, the agent's Azure cloud, and the
 * supporter's back end on the emulator (`outpost.support` direct methods
 * in, D2C messages with an `outpostSupport` property out).
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { AzureDevice } from "../../actors/facades/azure_device.ts";
import type { ChatMessage, SessionData } from "../../actors/support/agent_modules.ts";
import { startAzureEmulator } from "../helpers/azure_emulator.ts";
import { azureSupportSetup, DEVICE } from "../helpers/azure_support.ts";
import { until } from "../helpers/wait.ts";
import { testPki } from "../helpers/tls.ts";

const CHAT = "25666256-4fcf-41c0-9971-7343680d96dc";
const REQUEST = {
  accessToken: "12345678-LgxKf0bybuAESdNIelrY",
  name: "Help Me Please!",
  group: "Contacts",
  description: "I need your support!",
  email: "supporter@example.com",
  sessionCode: "",
};
const OPEN = {
  sessionCode: "s01-234-567",
  name: REQUEST.name,
  description: REQUEST.description,
  state: "Open",
};
const DELIVERED = { status: 200, payload: {} };

Deno.test("on Azure, an app's instant-support request reaches the hub as an outpostSupport message, and the supporter's session data and connection request come back as outpost.support methods", async () => {
  const t = await azureSupportSetup();
  try {
    const app = await t.app("app-1");
    const data: SessionData[] = [];
    const accepted: Promise<void>[] = [];
    app.instantSupport.setCallbacks({
      sessionDataChanged: (d) => void data.push(d),
      connectionRequest: () => {
        const answer = app.instantSupport.acceptConnectionRequest();
        answer.catch(() => {});
        accepted.push(answer);
      },
    });
    await app.instantSupport.requestInstantSupport(REQUEST);
    const request = await t.emulator.waitForMessage(
      "the request",
      (m) => m.properties.outpostSupport === "instant/app-1/request",
    );
    ok(request.topic.startsWith(`devices/${DEVICE}/messages/events/`), request.topic);
    equal(request.properties["$.ct"], "application/json");
    equal(request.properties.stream, undefined, "not telemetry");
    const { sessionCode: _, ...sent } = REQUEST;
    deepEqual(JSON.parse(request.payload), sent);

    deepEqual(await t.send("instant/app-1/session", OPEN), DELIVERED);
    await until("sessionDataChanged Open", () => data.length === 1);
    deepEqual(data[0], OPEN);

    deepEqual(await t.send("instant/app-1/connection"), DELIVERED);
    deepEqual(await t.sent("instant/app-1/connection/answer"), { answer: "accepted" });
    await Promise.all(accepted);

    await app.instantSupport.closeInstantSupportCase();
    deepEqual(await t.sent("instant/app-1/close"), { sessionCode: OPEN.sessionCode });
    deepEqual(t.emulator.violations, []);
  } finally {
    await t.teardown();
  }
});

Deno.test("on Azure, a chat opened and fed by outpost.support methods reaches the app, whose answer goes to the hub and is acknowledged by another method", async () => {
  const t = await azureSupportSetup();
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
    deepEqual(
      await t.send(`chat/${CHAT}/created`, {
        title: "Chatty McChatterson",
        endpointType: "Machine",
        endpointId: "2032226623",
      }),
      DELIVERED,
    );
    await until("chatCreated", () => created.length === 1);
    deepEqual(created, [`${CHAT} Chatty McChatterson Machine 2032226623`]);
    const hello = {
      messageId: crypto.randomUUID(),
      content: "Hello from the supporter",
      timeStamp: "2026-01-01T00:00:01.000Z",
      sender: "Chatty McChatterson",
    };
    deepEqual(await t.send(`chat/${CHAT}/messages`, { messages: [hello] }), DELIVERED);
    await until("receivedMessages", () => received.length === 1);
    deepEqual(received[0], { chatId: CHAT, ...hello });

    const requestId = app.chat.sendMessage(CHAT, "Hello back!");
    const outgoing = await t.sent(`chat/${CHAT}/send`);
    equal(outgoing.content, "Hello back!");
    const messageId = crypto.randomUUID();
    deepEqual(
      await t.send(`chat/${CHAT}/sent`, {
        ref: outgoing.ref,
        messageId,
        timeStamp: new Date().toISOString(),
      }),
      DELIVERED,
    );
    await until("sendMessageFinished", () => finished.length === 1);
    deepEqual(finished[0], [requestId, "Succeeded", messageId]);
    deepEqual((await app.chat.obtainChats()).map((c) => [c.chatId, c.closed]), [[CHAT, false]]);
    deepEqual(t.emulator.violations, []);
  } finally {
    await t.teardown();
  }
});

Deno.test("outpost.support answers 400 to what it cannot deliver, the service reports unusable content as an error message, and other methods still reach agent.onCommand", async () => {
  let shadowed = 0;
  const t = await azureSupportSetup({
    onAgent: (agent) => {
      agent.onCommand("blink", (payload) => ({ blinked: payload }));
      agent.onCommand("outpost.support", () => void shadowed++);
    },
  });
  try {
    const invoke = (payload: unknown) => t.emulator.invoke(DEVICE, "outpost.support", payload);
    for (
      const [payload, reason] of [
        ["chat", /must be an object/],
        [{ payload: {} }, /needs "topic"/],
        [{ topic: "chat/+/created" }, /cannot be/],
        [{ topic: `chat/${CHAT}/created`, payload: [1] }, /"payload" .* must be a JSON object/],
        [{ topic: "instant/app-1/request", payload: {} }, /not a support topic the device/],
      ] as const
    ) {
      const answer = await invoke(payload);
      equal(answer.status, 400, JSON.stringify(payload));
      match((answer.payload as { message: string }).message, reason);
    }
    equal(t.emulator.messages.length, 0, "nothing undeliverable reached the service");

    deepEqual(await t.send(`chat/${CHAT}/messages`, { messages: [] }), DELIVERED);
    const error = await t.sent("error");
    equal(error.topic, `chat/${CHAT}/messages`);
    match(String(error.error), /"messages" must be an array of 1 to 100 messages/);

    deepEqual(await t.emulator.invoke(DEVICE, "blink", 3), {
      status: 200,
      payload: { blinked: 3 },
    });
    equal(shadowed, 0, "outpost.support is reserved");
    deepEqual(t.emulator.violations, []);
  } finally {
    await t.teardown();
  }
});

Deno.test("the support channel follows the hub connection: InternalError while it is down, requests reach the hub again once it is back", async () => {
  const t = await azureSupportSetup();
  try {
    const app = await t.app("app-1");
    await t.emulator.restart(async () => {
      await until("the hub link is down", () => !t.agent.status().clouds[0].connected);
      const error = await app.instantSupport.requestInstantSupport(REQUEST).catch((e) => e);
      equal(error.code, "InternalError");
    });
    await t.agent.connected();
    await app.instantSupport.requestInstantSupport(REQUEST);
    equal((await t.sent("instant/app-1/request")).name, REQUEST.name);
    equal(
      t.emulator.messages.filter((m) => m.properties.outpostSupport).length,
      1,
      "the refused request sent nothing",
    );
  } finally {
    await t.teardown();
  }
});

Deno.test("an AzureDevice has no support channel: outpost.support answers 404 and never reaches its command callback", async () => {
  const pki = await testPki();
  const key = btoa("device-key-of-dev-1-0123456789ab");
  const emulator = await startAzureEmulator({ pki, devices: { "dev-1": key } });
  const stateDir = await Deno.makeTempDir({ prefix: "outpost-azure-support-" });
  const device = new AzureDevice("dev-1", emulator.idScope, "deviceKey", key, {
    stateDir,
    dpsHost: emulator.hub,
    ca: pki.ca.cert,
    logger: { info: () => {}, debug: () => {} },
  });
  const commands: string[] = [];
  device.on("command", (command) => {
    commands.push(command.name);
    void command.ack({ ok: true });
  });
  try {
    await device.connect();
    const answer = await emulator.invoke("dev-1", "outpost.support", { topic: "chat/x/created" });
    equal(answer.status, 404);
    match((answer.payload as { message: string }).message, /no support channel/);
    deepEqual(await emulator.invoke("dev-1", "reboot", null), {
      status: 200,
      payload: { ok: true },
    });
    deepEqual(commands, ["reboot"]);
  } finally {
    await device.disconnect();
    await emulator.stop();
    await Deno.remove(stateDir, { recursive: true });
  }
});
