/**
 * Remote support on AWS IoT Core, end to end: an application in the AWS
 * account (the emulator's) speaks the support topics of docs/support.md
 * under `outpost/<thing>/support/…`; an app on the local-API bridge is the
 * device's side of chat and instant support.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { type AwsEmulator, startAwsEmulator } from "../helpers/aws_emulator.ts";
import { startAwsAgent, THING } from "../helpers/aws_agent.ts";
import { startSupportBridge } from "../helpers/support_local_bridge.ts";
import { AgentConnection } from "../../actors/support/agent_connection.ts";
import type { Agent } from "../../actors/agent/agent.ts";
import type { ChatMessage, SessionData } from "../../actors/support/agent_modules.ts";

const SUPPORT = `outpost/${THING}/support`;
const CHAT = "25666256-4fcf-41c0-9971-7343680d96dc";

/** An agent with `support = true` on the emulator, and app "app-1" connected to it. */
async function withSupport(
  fn: (world: { emulator: AwsEmulator; agent: Agent; app: AgentConnection }) => Promise<void>,
) {
  const emulator = await startAwsEmulator();
  const stateDir = await Deno.makeTempDir({ prefix: "outpost-aws-support-" });
  try {
    const { agent } = await startAwsAgent(emulator, stateDir, "support = true");
    const bridge = await startSupportBridge(() => agent.localApiModules());
    const app = new AgentConnection({ url: bridge.url, clientId: "app-1", ...bridge.tls });
    try {
      // What an application subscribes to: the device → cloud leaves (docs/support.md).
      for (const leaf of DEVICE_TO_CLOUD) await emulator.listen(`${SUPPORT}/${leaf}`);
      await agent.connected();
      await supportReady(emulator);
      app.start();
      await app.whenConnected();
      await fn({ emulator, agent, app });
      deepEqual(bridge.failures, []);
    } finally {
      await app.stop();
      await bridge.stop();
      await agent.stop();
    }
  } finally {
    await emulator.stop();
    await Deno.remove(stateDir, { recursive: true });
  }
}

const DEVICE_TO_CLOUD = [
  "instant/+/request",
  "instant/+/close",
  "instant/+/connection/answer",
  "chat/+/send",
  "error",
];

/**
 * Resolves once the device hears its support topics: a connection request
 * for an app without a case is answered "rejected" at once, so the cloud
 * asks until it is answered (each ask waits for the answer, with a deadline).
 */
async function supportReady(emulator: AwsEmulator): Promise<void> {
  for (let attempt = 1;; attempt++) {
    await emulator.publish(`${SUPPORT}/instant/probe/connection`, "{}");
    try {
      await emulator.until(
        "the answer to a connection request",
        () => heard(emulator, "instant/probe/connection/answer").length > 0,
        250,
      );
      deepEqual(heard(emulator, "instant/probe/connection/answer")[0], { answer: "rejected" });
      return;
    } catch (error) {
      if (attempt === 20) throw error;
    }
  }
}

/** The application's messages on `<SUPPORT>/<leaf>`, parsed. */
function heard(emulator: AwsEmulator, leaf: string): Record<string, unknown>[] {
  return emulator.messages.filter((m) => m.topic === `${SUPPORT}/${leaf}`).map((m) =>
    JSON.parse(m.text)
  );
}

Deno.test("a chat crosses AWS both ways: opened and written by the cloud, answered by the app and acknowledged", async () => {
  await withSupport(async ({ emulator, app }) => {
    const created: string[] = [];
    const received: ChatMessage[] = [];
    const finished: [number, string, string | undefined][] = [];
    app.chat.setCallbacks({
      chatCreated: (id, title) => void created.push(`${id} ${title}`),
      receivedMessages: (messages) => void received.push(...messages),
      sendMessageFinished: (requestId, result, messageId) =>
        void finished.push([requestId, result, messageId]),
    });
    const chat = `${SUPPORT}/chat/${CHAT}`;
    const opened = { title: "Support desk", endpointType: "Machine", endpointId: THING };
    await emulator.publish(`${chat}/created`, JSON.stringify(opened));
    await emulator.until("chatCreated", () => created.length === 1);
    deepEqual(created, [`${CHAT} Support desk`]);
    const hello = {
      messageId: crypto.randomUUID(),
      content: "Hello from the cloud",
      timeStamp: "2026-01-01T00:00:01.000Z",
      sender: "Supporter",
    };
    await emulator.publish(`${chat}/messages`, JSON.stringify({ messages: [hello] }));
    await emulator.until("receivedMessages", () => received.length === 1);
    deepEqual(received[0], { chatId: CHAT, ...hello });

    const requestId = app.chat.sendMessage(CHAT, "Hello back");
    await emulator.until(
      "the message on …/send",
      () => heard(emulator, `chat/${CHAT}/send`).length > 0,
    );
    const [sent] = heard(emulator, `chat/${CHAT}/send`);
    equal(sent.content, "Hello back");
    const messageId = crypto.randomUUID();
    await emulator.publish(
      `${chat}/sent`,
      JSON.stringify({ ref: sent.ref, messageId, timeStamp: "2026-01-01T00:00:02.000Z" }),
    );
    await emulator.until("sendMessageFinished", () => finished.length === 1);
    deepEqual(finished[0], [requestId, "Succeeded", messageId]);
  });
});

Deno.test("an instant support request reaches the AWS application, and its session data comes back", async () => {
  await withSupport(async ({ emulator, app }) => {
    const data: SessionData[] = [];
    app.instantSupport.setCallbacks({ sessionDataChanged: (d) => void data.push(d) });
    const request = {
      accessToken: "12345678-LgxKf0bybuAESdNIelrY",
      name: "Help Me Please!",
      group: "Contacts",
      description: "The pump is loud",
    };
    await app.instantSupport.requestInstantSupport(request);
    await emulator.until(
      "the request on …/request",
      () => heard(emulator, "instant/app-1/request").length > 0,
    );
    deepEqual(heard(emulator, "instant/app-1/request")[0], request);
    const open = {
      sessionCode: "s01-234-567",
      name: request.name,
      description: request.description,
      state: "Open",
    };
    await emulator.publish(`${SUPPORT}/instant/app-1/session`, JSON.stringify(open));
    await emulator.until("sessionDataChanged", () => data.length === 1);
    deepEqual(data[0], open);
    ok(heard(emulator, "error").length === 0, "the device refused nothing");
  });
});
