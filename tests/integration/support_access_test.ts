/**
 * Access control and session management around real tunnels: the generic
 * cloud's `tunnel.open` through the relay emulator to an echo target, and
 * local apps on the mutual-TLS bridge (AgentConnection and raw MQTT).
 */
import { deepEqual, equal, match, ok, rejects } from "node:assert/strict";
import { supportSetup } from "../helpers/support_agent.ts";
import { until } from "../helpers/wait.ts";
import type { Access, Feature } from "../../protocols/support_api.ts";

/** The promise, marked handled so a failed test reports its assertion, not this rejection. */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

Deno.test("a tunnel whose feature needs confirmation waits for the local app and opens once it accepts", async () => {
  const t = await supportSetup({ support: "confirmationTimeoutSec = 5" });
  try {
    const app = await t.app("app-1");
    const requests: Feature[] = [];
    const answers: Promise<void>[] = [];
    app.accessControl.setCallbacks({
      accessRequest: (feature) => {
        requests.push(feature);
        answers.push(handled(app.accessControl.acceptAccessRequest(feature)));
      },
    });
    equal(await app.accessControl.setAccess("RemoteControl", "AfterConfirmation"), true);
    const response = await t.tunnelOpen();
    equal(response.status, 200, JSON.stringify(response));
    deepEqual(requests, ["RemoteControl"]);
    await Promise.all(answers);
  } finally {
    await t.teardown();
  }
});

Deno.test("a rejected access request refuses the tunnel with the reason, and nothing is dialed", async () => {
  const t = await supportSetup({ support: "confirmationTimeoutSec = 5" });
  try {
    const app = await t.app("app-1");
    const answers: Promise<void>[] = [];
    app.accessControl.setCallbacks({
      accessRequest: (feature) =>
        void answers.push(handled(app.accessControl.rejectAccessRequest(feature))),
    });
    await app.accessControl.setAccess("RemoteControl", "AfterConfirmation");
    const response = await t.tunnelOpen();
    deepEqual(response, {
      status: 403,
      body: { error: "access denied: RemoteControl was rejected by the device user" },
    });
    equal(t.echo.accepted, 0);
    deepEqual(await app.sessions.getRunningSessions(), [], "a refused tunnel is no session");
    await Promise.all(answers);
  } finally {
    await t.teardown();
  }
});

Deno.test("an access request nobody answers times out to denied", async () => {
  const t = await supportSetup({ support: "confirmationTimeoutSec = 0.3" });
  try {
    const app = await t.app("app-1");
    let asked = 0;
    app.accessControl.setCallbacks({ accessRequest: () => void asked++ });
    await app.accessControl.setAccess("RemoteControl", "AfterConfirmation");
    const response = await t.tunnelOpen();
    deepEqual(response, {
      status: 403,
      body: { error: "access denied: RemoteControl was not confirmed within 0.3 s" },
    });
    equal(asked, 1);
    await rejects(app.accessControl.acceptAccessRequest("RemoteControl"), /No access request/);
  } finally {
    await t.teardown();
  }
});

Deno.test("a denied feature refuses its tunnels at once, and so does AfterConfirmation with no app to ask", async () => {
  const t = await supportSetup();
  try {
    const app = await t.app("app-1");
    await app.accessControl.setAccess("RemoteControl", "Denied");
    deepEqual(await t.tunnelOpen(), {
      status: 403,
      body: { error: "access denied: RemoteControl is denied on this device" },
    });
    await app.accessControl.setAccess("RemoteControl", "AfterConfirmation");
    await app.stop();
    match(
      (await t.tunnelOpen()).body.error,
      /needs confirmation and no local app is connected to confirm/,
    );
  } finally {
    await t.teardown();
  }
});

Deno.test("accessChanged is sent only when the access really changes, and the access is stored", async () => {
  const t = await supportSetup();
  try {
    const app = await t.app("app-1");
    const changes: [Feature, Access][] = [];
    app.accessControl.setCallbacks({ accessChanged: (f, a) => void changes.push([f, a]) });
    equal(await app.accessControl.getAccess("FileTransfer"), "Allowed");
    equal(await app.accessControl.setAccess("FileTransfer", "Denied"), true);
    equal(await app.accessControl.setAccess("FileTransfer", "Denied"), false);
    equal(await app.accessControl.setAccess("FileTransfer", "AfterConfirmation"), true);
    await until("two accessChanged events", () => changes.length >= 2);
    deepEqual(changes, [["FileTransfer", "Denied"], ["FileTransfer", "AfterConfirmation"]]);
    equal(await app.accessControl.getAccess("FileTransfer"), "AfterConfirmation");
  } finally {
    await t.teardown();
  }
});

Deno.test("sessions start and stop with real tunnels, are listed with counts, and terminateAll ends them", async () => {
  const t = await supportSetup();
  try {
    const app = await t.app("app-1");
    const seen: string[] = [];
    app.sessions.setCallbacks({
      sessionStarted: (id, count) => void seen.push(`started ${id} ${count}`),
      sessionStopped: (id, count) => void seen.push(`stopped ${id} ${count}`),
    });
    equal((await t.tunnelOpen()).status, 200);
    equal((await t.tunnelOpen()).status, 200);
    await until("two sessionStarted", () => seen.length >= 2);
    deepEqual(seen, ["started 1 1", "started 2 2"]);
    const running = await app.sessions.getRunningSessions();
    deepEqual(running.map((s) => [s.sessionId, s.cloud, s.target]), [
      [1, "test", `127.0.0.1:${t.echo.port}`],
      [2, "test", `127.0.0.1:${t.echo.port}`],
    ]);
    match(running[0].tunnel, /^t-[0-9a-f]{8}$/);
    equal(await app.sessions.terminateAll(), 2);
    await until("two sessionStopped", () => seen.length >= 4);
    ok(seen.slice(2).every((s) => s.startsWith("stopped")));
    deepEqual(seen.slice(2).map((s) => Number(s.split(" ")[2])), [1, 0]);
    deepEqual(seen.slice(2).map((s) => Number(s.split(" ")[1])).sort(), [1, 2]);
    deepEqual(await app.sessions.getRunningSessions(), []);
    equal(t.bridge.failures.length, 0);
  } finally {
    await t.teardown();
  }
});

Deno.test("a tunnel to a port listed under another feature is decided by that feature's access", async () => {
  const t = await supportSetup({ support: (port) => `[support.ports]\nRemoteView = [${port}]` });
  try {
    const app = await t.app("app-1");
    await app.accessControl.setAccess("RemoteControl", "Denied");
    equal((await t.tunnelOpen()).status, 200, "RemoteView is still Allowed");
    await app.accessControl.setAccess("RemoteView", "Denied");
    deepEqual(await t.tunnelOpen(), {
      status: 403,
      body: { error: "access denied: RemoteView is denied on this device" },
    });
  } finally {
    await t.teardown();
  }
});

Deno.test("access levels survive an agent restart", async () => {
  const first = await supportSetup();
  const app = await first.app("app-1");
  await app.accessControl.setAccess("ScreenRecording", "Denied");
  await first.teardown({ keepState: true, keepBroker: true });
  const second = await supportSetup({ stateDir: first.stateDir, broker: first.broker });
  try {
    const again = await second.app("app-1");
    equal(await again.accessControl.getAccess("ScreenRecording"), "Denied");
  } finally {
    await second.teardown();
  }
});
