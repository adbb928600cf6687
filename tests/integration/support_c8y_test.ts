/**
 * The support modules on a Cumulocity cloud: its `530` tunnels are sessions
 * too, and the device's access control refuses them with `502` and the
 * reason.
 */
import { deepEqual, equal } from "node:assert/strict";
import { tunnelSetup, until } from "../helpers/c8y_agent.ts";
import { startSupportBridge } from "../helpers/support_local_bridge.ts";
import { AgentConnection } from "../../actors/support/agent_connection.ts";

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
