/**
 * AgentConnection's status and reconnection against the local-API bridge:
 * the statuses of the seed in the order an app sees them, automatic
 * reconnect after the endpoint comes back, and calls while disconnected.
 */
import { deepEqual, equal, rejects } from "node:assert/strict";
import { until } from "../helpers/wait.ts";
import { startSupportBridge } from "../helpers/support_local_bridge.ts";
import { supportSetup } from "../helpers/support_agent.ts";
import { AgentConnection, type ConnectionStatus } from "../../actors/support/agent_connection.ts";

Deno.test("AgentConnection goes Connecting → Connected, ConnectionLost when the endpoint dies, and reconnects", async () => {
  const t = await supportSetup();
  const port = Number(new URL(t.bridge.url).port);
  let bridge = t.bridge;
  const app = new AgentConnection({
    url: t.bridge.url,
    clientId: "app-1",
    ...t.bridge.tls,
    reconnectMs: 50,
    requestTimeoutMs: 2000,
  });
  const statuses: ConnectionStatus[] = [];
  app.setCallbacks({ statusChanged: (s) => void statuses.push(s) });
  try {
    app.start();
    await app.whenConnected();
    deepEqual(statuses, ["Connecting", "Connected"]);
    await bridge.stop();
    await until("ConnectionLost", () => statuses.includes("ConnectionLost"));
    await rejects(app.sessions.getRunningSessions(), { code: "NotConnected" });
    const finished: string[] = [];
    app.chat.setCallbacks({ sendMessageFinished: (_, result) => void finished.push(result) });
    app.chat.sendMessage(crypto.randomUUID(), "offline");
    await until("the offline message failed", () => finished.length === 1);
    deepEqual(finished, ["Failed"]);

    bridge = await startSupportBridge(() => t.agent.localApiModules(), { port });
    await app.whenConnected();
    deepEqual(statuses.slice(0, 4), ["Connecting", "Connected", "ConnectionLost", "Connecting"]);
    equal(statuses.at(-1), "Connected");
    deepEqual(await app.sessions.getRunningSessions(), []);
    await app.stop();
    deepEqual(statuses.slice(-2), ["Disconnecting", "Disconnected"]);
    equal(app.status, "Disconnected");
  } finally {
    await app.stop();
    if (bridge !== t.bridge) await bridge.stop();
    await t.teardown();
  }
});

Deno.test("AgentConnection refuses a client id that cannot be a topic level", () => {
  for (const clientId of ["", "a/b", "+", "#", "x".repeat(65)]) {
    try {
      new AgentConnection({ url: "mqtts://127.0.0.1:1", ca: "", cert: "", key: "", clientId });
      throw new Error(`accepted ${JSON.stringify(clientId)}`);
    } catch (error) {
      equal((error as Error).message.startsWith("Invalid client id"), true, clientId);
    }
  }
});
