/**
 * The generic cloud's `tunnel.open` command (PROTOCOLS.md §0): the agent on
 * an in-process broker, a plain MQTT client playing the cloud, the relay
 * emulator and an echo target.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { startAedes } from "../helpers/brokers.ts";
import { observe } from "../helpers/mqtt_observer.ts";
import { testAgent } from "../helpers/agent.ts";
import { startEchoServer, startRemoteAccessServer } from "../helpers/remote_access_server.ts";
import type { ActorTreeNode } from "../../actors/runtime/node.ts";

const P = "outpost/dev-1";
const TOKEN = "relay-token";

async function setup(remoteAccess: { maxTunnels?: number } = {}) {
  const broker = await startAedes();
  const relay = await startRemoteAccessServer({ bearer: TOKEN });
  const echo = startEchoServer();
  const cloud = await observe(broker.url, [`${P}/#`]);
  const { agent, stateDir } = await testAgent({
    url: broker.url,
    extra: `
[remoteAccess]
allow = ["127.0.0.1:${echo.port}"]
maxTunnels = ${remoteAccess.maxTunnels ?? 10}
dialTimeoutSec = 5
`,
  });
  await agent.start();
  await cloud.waitFor((m) => m.topic === `${P}/status` && JSON.parse(m.text).online === true);
  let requests = 0;
  /** Sends `tunnel.open` and resolves with its response. */
  async function tunnelOpen(
    payload: unknown,
  ): Promise<{ status: number; body: { tunnel: string; error: string } }> {
    const id = `r${++requests}`;
    await cloud.publish(`${P}/commands/tunnel.open/${id}`, JSON.stringify(payload));
    const seen = await cloud.waitFor((m) => m.topic === `${P}/responses/tunnel.open/${id}`);
    return JSON.parse(seen.text);
  }
  return {
    relay,
    echo,
    agent,
    tunnelOpen,
    payload: (key: string, extra: Record<string, unknown> = {}) => ({
      url: relay.deviceUrl(key),
      token: TOKEN,
      host: "127.0.0.1",
      port: echo.port,
      ...extra,
    }),
    async teardown() {
      await agent.stop();
      await cloud.close();
      await relay.close();
      await echo.close();
      await broker.stop();
      await Deno.remove(stateDir, { recursive: true });
    },
  };
}

function tunnelsOf(tree: ActorTreeNode): ActorTreeNode {
  const cloud = tree.children.find((c) => c.id === "cloud:test")!;
  return cloud.children.find((c) => c.id === "tunnels")!;
}

Deno.test("tunnel.open dials the relay with the token and the target, and answers 200 once open", async () => {
  const t = await setup();
  try {
    const session = await t.relay.open("gen-1");
    const response = await t.tunnelOpen(t.payload("gen-1"));
    equal(response.status, 200);
    match(response.body.tunnel, /^t-[0-9a-f]{8}$/);
    const tunnels = tunnelsOf(t.agent.tree());
    deepEqual(tunnels.children.map((c) => [c.id, c.state]), [[response.body.tunnel, "open"]]);

    const conn = await Deno.connect({ hostname: "127.0.0.1", port: session.port });
    const hello = new TextEncoder().encode("hello through the generic cloud");
    await conn.write(hello);
    const back = new Uint8Array(hello.length);
    for (let got = 0; got < back.length;) got += (await conn.read(back.subarray(got))) ?? NaN;
    deepEqual(back, hello);
    conn.close();
    await session.deviceClosed;
  } finally {
    await t.teardown();
  }
});

Deno.test("tunnel.open answers 400 for a malformed payload and dials nothing", async () => {
  const t = await setup();
  try {
    const cases: [unknown, RegExp][] = [
      [{ token: TOKEN, host: "127.0.0.1", port: 22 }, /"url" must be a ws:\/\/ or wss:\/\/ URL/],
      [{ url: "https://relay/x", token: TOKEN, host: "127.0.0.1", port: 22 }, /"url"/],
      [{ url: "wss://relay/x", token: "", host: "127.0.0.1", port: 22 }, /"token"/],
      [{ url: "wss://relay/x", token: TOKEN, port: 22 }, /"host" must be a non-empty string/],
      [{ url: "wss://relay/x", token: TOKEN, host: "h", port: "22" }, /"port" must be an integer/],
      [{ url: "wss://relay/x", token: TOKEN, host: "h", port: 70000 }, /got 70000/],
      [[1, 2], /expected an object/],
    ];
    for (const [payload, error] of cases) {
      const response = await t.tunnelOpen(payload);
      equal(response.status, 400, JSON.stringify(payload));
      match(response.body.error, error);
    }
    equal(t.echo.accepted + t.relay.upgrades, 0);
  } finally {
    await t.teardown();
  }
});

Deno.test("tunnel.open answers 403 for a target off the allowlist, without dialing", async () => {
  const t = await setup();
  try {
    await t.relay.open("gen-2");
    const response = await t.tunnelOpen(t.payload("gen-2", { port: 1 }));
    deepEqual(response, { status: 403, body: { error: "target 127.0.0.1:1 is not allowed" } });
    equal(t.echo.accepted + t.relay.upgrades, 0);
  } finally {
    await t.teardown();
  }
});

Deno.test("tunnel.open answers 502 with the reason when the relay rejects the token", async () => {
  const t = await setup();
  try {
    await t.relay.open("gen-3");
    const response = await t.tunnelOpen(t.payload("gen-3", { token: "expired" }));
    deepEqual(response, {
      status: 502,
      body: { error: "WebSocket authentication rejected (401)" },
    });
    equal(tunnelsOf(t.agent.tree()).children.length, 0, "the failed tunnel is gone");
  } finally {
    await t.teardown();
  }
});

Deno.test("tunnel.open answers 503 once maxTunnels tunnels are open", async () => {
  const t = await setup({ maxTunnels: 1 });
  try {
    await t.relay.open("gen-4");
    await t.relay.open("gen-5");
    equal((await t.tunnelOpen(t.payload("gen-4"))).status, 200);
    const response = await t.tunnelOpen(t.payload("gen-5"));
    equal(response.status, 503);
    match(response.body.error, /too many tunnels/);
    ok(t.relay.upgrades === 1);
  } finally {
    await t.teardown();
  }
});
