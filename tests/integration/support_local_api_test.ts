/**
 * The support modules through the real local API (not the test bridge): an
 * app provisions itself with LocalApiClient, connects AgentConnection with
 * that certificate to the mutual-TLS port, and answers an access request
 * for a real tunnel of the generic cloud; session events follow.
 */
import { deepEqual, equal } from "node:assert/strict";
import { startAedes } from "../helpers/brokers.ts";
import { observe } from "../helpers/mqtt_observer.ts";
import { testAgent } from "../helpers/agent.ts";
import { until } from "../helpers/wait.ts";
import { startEchoServer, startRemoteAccessServer } from "../helpers/remote_access_server.ts";
import { LocalApiClient } from "../../actors/local_api/client.ts";
import { AgentConnection } from "../../actors/support/agent_connection.ts";

const P = "outpost/dev-1";

Deno.test("an app provisioned on the local API confirms a tunnel through AgentConnection and sees its session", async () => {
  const broker = await startAedes();
  const relay = await startRemoteAccessServer({ bearer: "t" });
  const echo = startEchoServer();
  const cloud = await observe(broker.url, [`${P}/#`]);
  const { agent, stateDir } = await testAgent({
    url: broker.url,
    extra: `
[remoteAccess]
allow = ["127.0.0.1:${echo.port}"]

[localApi]
enabled = true
provisioningPort = 0
apiPort = 0
`,
  });
  const certFolder = await Deno.makeTempDir({ prefix: "outpost-app-" });
  let app: AgentConnection | undefined;
  let client: LocalApiClient | undefined;
  try {
    await agent.start();
    await until("the local API ports", () => agent.localApi().ports().api !== undefined);
    const ports = agent.localApi().ports();
    const caFile = agent.config.localApi.caCertPath;
    client = new LocalApiClient({
      caFile,
      certFolder,
      provisionPort: ports.provisioning,
      port: ports.api,
    });
    const { clientId } = await client.provision("support-app");
    app = new AgentConnection({
      url: `mqtts://127.0.0.1:${ports.api}`,
      ca: await Deno.readTextFile(caFile),
      cert: await Deno.readTextFile(`${certFolder}/client.crt`),
      key: await Deno.readTextFile(`${certFolder}/client.key`),
      clientId,
    });
    const started: number[] = [];
    app.sessions.setCallbacks({ sessionStarted: (_, count) => void started.push(count) });
    app.accessControl.setCallbacks({
      accessRequest: (feature) => void app!.accessControl.acceptAccessRequest(feature),
    });
    app.start();
    await app.whenConnected();
    equal(await app.accessControl.setAccess("RemoteControl", "AfterConfirmation"), true);

    await cloud.waitFor((m) => m.topic === `${P}/status` && JSON.parse(m.text).online === true);
    await relay.open("k1");
    await cloud.publish(
      `${P}/commands/tunnel.open/r1`,
      JSON.stringify({
        url: relay.deviceUrl("k1"),
        token: "t",
        host: "127.0.0.1",
        port: echo.port,
      }),
    );
    const response = await cloud.waitFor((m) => m.topic === `${P}/responses/tunnel.open/r1`);
    equal(JSON.parse(response.text).status, 200);
    await until("sessionStarted", () => started.length === 1);
    deepEqual(started, [1]);
    equal((await app.sessions.getRunningSessions()).length, 1);
  } finally {
    await app?.stop();
    await client?.close();
    await agent.stop();
    await cloud.close();
    await relay.close();
    await echo.close();
    await broker.stop();
    await Deno.remove(stateDir, { recursive: true });
    await Deno.remove(certFolder, { recursive: true });
  }
});
