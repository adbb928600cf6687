/**
 * Remote-access tunnels end to end on loopback: the proxy actor under a
 * dynamic `tunnels` supervisor, the relay emulator playing Cumulocity's
 * Cloud Remote Access, and real TCP targets.
 */
import { until } from "../helpers/wait.ts";
import { deepEqual, equal, ok } from "node:assert/strict";
import { createHash } from "node:crypto";
import { createSystem } from "../../actors/runtime/system.ts";
import { supervisor } from "../../actors/runtime/spec.ts";
import { parseAllowlist } from "../../actors/tunnels/allowlist.ts";
import { openTunnel, tunnelsSupervisor } from "../../actors/tunnels/proxy_actor.ts";
import type { TunnelOptions } from "../../actors/tunnels/types.ts";
import { pipeMeter } from "../../protocols/tunnel_pipe.ts";
import { freePort } from "../helpers/brokers.ts";
import { startEchoServer, startRemoteAccessServer } from "../helpers/remote_access_server.ts";

const TOKEN = "jwt-for-tests";
const BUFFER = 16_384;

interface Closed {
  code: number;
  reason: string;
}

async function setup() {
  const relay = await startRemoteAccessServer({ bearer: TOKEN });
  const echo = startEchoServer();
  const system = createSystem(supervisor("agent", {}, [tunnelsSupervisor(100)]));
  await system.start();
  const open = (key: string, extra: Partial<TunnelOptions> = {}) => {
    let onClosed!: (closed: Closed) => void;
    const closed = new Promise<Closed>((resolve) => (onClosed = resolve));
    const target = extra.target ?? { host: "127.0.0.1", port: echo.port };
    const started = openTunnel((spec) => system.startChild("agent/tunnels", spec), {
      id: `t-${key}`,
      cloud: "test",
      url: relay.deviceUrl(key),
      headers: { Authorization: `Bearer ${TOKEN}` },
      target,
      allowlist: parseAllowlist([`127.0.0.1:${target.port}`]),
      bufferSize: BUFFER,
      dialTimeoutMs: 5000,
      onClose: (code, reason) => onClosed({ code, reason }),
      ...extra,
    });
    return { started, closed };
  };
  return {
    relay,
    echo,
    system,
    open,
    async teardown() {
      await system.stop();
      await relay.close();
      await echo.close();
    },
  };
}

/** The client side of a session: a TCP connection to the relay's client port. */
function client(port: number): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname: "127.0.0.1", port });
}

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let offset = 0; offset < length; offset += 65_536) {
    crypto.getRandomValues(out.subarray(offset, Math.min(length, offset + 65_536)));
  }
  return out;
}

async function writeAll(conn: Deno.Conn, data: Uint8Array, chunk = 65_536): Promise<void> {
  for (let offset = 0; offset < data.length;) {
    offset += await conn.write(data.subarray(offset, Math.min(data.length, offset + chunk)));
  }
}

/** Reads exactly `length` bytes, or fewer when the connection ends first. */
async function readBytes(conn: Deno.Conn, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    const n = await conn.read(out.subarray(got));
    if (n === null) return out.subarray(0, got);
    got += n;
  }
  return out;
}

async function readToEnd(conn: Deno.Conn): Promise<number> {
  const buffer = new Uint8Array(65_536);
  let total = 0;
  for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) total += n;
  return total;
}

/** A target that runs `serve` on its one connection. */
function target(serve: (conn: Deno.TcpConn) => Promise<void>) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = listener.accept().then(async (conn) => {
    try {
      await serve(conn);
    } finally {
      try {
        conn.close();
      } catch {
        // The serve function closed it.
      }
    }
  }).finally(() => listener.close());
  return { port: (listener.addr as Deno.NetAddr).port, served };
}

Deno.test("a tunnel to an echo server carries 10 MB of random bytes both ways with matching SHA-256", async () => {
  const t = await setup();
  try {
    const session = await t.relay.open("big");
    const tunnel = t.open("big");
    deepEqual(await tunnel.started, { status: "open", id: "t-big" });
    const conn = await client(session.port);
    const sent = randomBytes(10 * 1024 * 1024);
    const [, received] = await Promise.all([
      writeAll(conn, sent),
      readBytes(conn, sent.length),
    ]);
    equal(received.length, sent.length);
    equal(sha256(received), sha256(sent));
    conn.close();
    deepEqual(await tunnel.closed, { code: 1000, reason: "client disconnected" });
  } finally {
    await t.teardown();
  }
});

Deno.test("50 tunnels at once each carry their own bytes", async () => {
  const t = await setup();
  try {
    const results = await Promise.all(Array.from({ length: 50 }, async (_, i) => {
      const session = await t.relay.open(`k${i}`);
      const tunnel = t.open(`k${i}`);
      equal((await tunnel.started).status, "open", `tunnel ${i}`);
      const conn = await client(session.port);
      const sent = randomBytes(65_536 + i);
      const [, received] = await Promise.all([writeAll(conn, sent), readBytes(conn, sent.length)]);
      conn.close();
      await tunnel.closed;
      return sha256(received) === sha256(sent);
    }));
    deepEqual(results, Array(50).fill(true));
    equal(t.echo.accepted, 50);
  } finally {
    await t.teardown();
  }
});

Deno.test("a target that refuses the connection fails the tunnel with connection refused", async () => {
  const t = await setup();
  try {
    const session = await t.relay.open("refused");
    const port = freePort();
    const started = await t.open("refused", { target: { host: "127.0.0.1", port } }).started;
    deepEqual(started, {
      status: "failed",
      kind: "refused",
      reason: `connection refused: 127.0.0.1:${port}`,
    });
    // A WebSocket that got as far as the relay is closed, not left open.
    if (t.relay.upgrades > 0) await session.deviceClosed;
  } finally {
    await t.teardown();
  }
});

Deno.test("a WebSocket the relay rejects (401) fails the tunnel with the auth reason", async () => {
  const t = await setup();
  try {
    await t.relay.open("auth");
    const started = await t.open("auth", { headers: { Authorization: "Bearer wrong" } }).started;
    deepEqual(started, {
      status: "failed",
      kind: "unauthorized",
      reason: "WebSocket authentication rejected (401)",
    });
    deepEqual(t.relay.refused, [{ status: 401, why: "Unauthorized" }]);
  } finally {
    await t.teardown();
  }
});

Deno.test("a target not on the allowlist fails the tunnel and nothing is dialed", async () => {
  const t = await setup();
  try {
    await t.relay.open("denied");
    const started = await t.open("denied", {
      allowlist: parseAllowlist(["127.0.0.1:1"]),
    }).started;
    deepEqual(started, {
      status: "failed",
      kind: "not_allowed",
      reason: `target 127.0.0.1:${t.echo.port} is not allowed`,
    });
    equal(t.echo.accepted, 0, "the target was never dialed");
    equal(t.relay.upgrades, 0, "the relay was never dialed");
  } finally {
    await t.teardown();
  }
});

Deno.test("an access check that says no refuses the tunnel before dialing", async () => {
  const t = await setup();
  try {
    await t.relay.open("asked");
    const asked: unknown[] = [];
    const started = await t.open("asked", {
      accessCheck: (request) => {
        asked.push(request);
        return { allowed: false, reason: "no operator on duty" };
      },
    }).started;
    deepEqual(started, {
      status: "failed",
      kind: "denied",
      reason: "access denied: no operator on duty",
    });
    deepEqual(asked, [{
      id: "t-asked",
      cloud: "test",
      target: { host: "127.0.0.1", port: t.echo.port },
    }]);
    equal(t.echo.accepted + t.relay.upgrades, 0);
  } finally {
    await t.teardown();
  }
});

Deno.test("a banner the target sends before the WebSocket is up reaches the client", async () => {
  const t = await setup();
  const banner = new TextEncoder().encode("SSH-2.0-OpenSSH_9.6\r\n");
  const ssh = target(async (conn) => {
    await writeAll(conn, banner);
    await readToEnd(conn);
  });
  try {
    const session = await t.relay.open("banner");
    const tunnel = t.open("banner", { target: { host: "127.0.0.1", port: ssh.port } });
    equal((await tunnel.started).status, "open");
    const conn = await client(session.port);
    deepEqual(await readBytes(conn, banner.length), banner);
    conn.close();
    await tunnel.closed;
    await ssh.served;
  } finally {
    await t.teardown();
  }
});

Deno.test("the target closing mid-transfer closes the WebSocket with 1000 device closed", async () => {
  const t = await setup();
  const payload = randomBytes(1024 * 1024);
  const server = target((conn) => writeAll(conn, payload));
  try {
    const session = await t.relay.open("device-ends");
    const tunnel = t.open("device-ends", { target: { host: "127.0.0.1", port: server.port } });
    equal((await tunnel.started).status, "open");
    const conn = await client(session.port);
    const received = await readBytes(conn, payload.length + 1);
    equal(sha256(received), sha256(payload), "everything sent before the close arrives");
    deepEqual(await tunnel.closed, { code: 1000, reason: "device closed" });
    deepEqual(await session.deviceClosed, { code: 1000, reason: "device closed" });
    conn.close();
  } finally {
    await t.teardown();
  }
});

Deno.test("the cloud closing mid-transfer closes the target connection and reports its status", async () => {
  const t = await setup();
  let arrived = 0;
  const server = target(async (conn) => {
    const buffer = new Uint8Array(65_536);
    for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) arrived += n;
  });
  try {
    const session = await t.relay.open("cloud-ends");
    const tunnel = t.open("cloud-ends", { target: { host: "127.0.0.1", port: server.port } });
    equal((await tunnel.started).status, "open");
    const conn = await client(session.port);
    const chunk = randomBytes(65_536);
    const sending = (async () => {
      try {
        while (true) await writeAll(conn, chunk);
      } catch {
        // The relay hung up on the client once the device's WebSocket was gone.
      }
    })();
    await until("a megabyte to reach the target", () => arrived >= 1024 * 1024);
    session.closeDevice(4000, "session ended by user");
    deepEqual(await tunnel.closed, { code: 4000, reason: "session ended by user" });
    await server.served; // the target saw its connection end
    conn.close();
    await sending;
  } finally {
    await t.teardown();
  }
});

Deno.test("a slow target with a fast cloud sender keeps the bytes inside the pipe bounded", async () => {
  const t = await setup();
  const meter = pipeMeter();
  const total = 16 * 1024 * 1024;
  const sent = randomBytes(total);
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let receivedHash = "";
  const slow = target(async (conn) => {
    await released;
    receivedHash = sha256(await readBytes(conn, total));
  });
  try {
    const session = await t.relay.open("slow");
    const tunnel = t.open("slow", { target: { host: "127.0.0.1", port: slow.port }, meter });
    equal((await tunnel.started).status, "open");
    const conn = await client(session.port);
    await writeAll(conn, sent);
    await until("the pipe to wait on the stalled target", () => meter.tcpWritePending);
    ok(meter.bytesDown < total, `the device did not take all ${total} bytes while stalled`);
    ok(meter.maxInFlight <= 3 * BUFFER, `in flight at most ${meter.maxInFlight} bytes`);
    release();
    await slow.served;
    equal(receivedHash, sha256(sent));
    ok(meter.maxInFlight <= 3 * BUFFER, `in flight at most ${meter.maxInFlight} bytes`);
    conn.close();
    await tunnel.closed;
  } finally {
    release();
    await t.teardown();
  }
});

Deno.test("a bulk transfer to the cloud keeps what is in flight within the documented bound", async () => {
  const t = await setup();
  const meter = pipeMeter();
  const total = 8 * 1024 * 1024;
  const sent = randomBytes(total);
  const source = target((conn) => writeAll(conn, sent));
  try {
    const session = await t.relay.open("bulk-up");
    const tunnel = t.open("bulk-up", { target: { host: "127.0.0.1", port: source.port }, meter });
    equal((await tunnel.started).status, "open");
    const conn = await client(session.port);
    equal(sha256(await readBytes(conn, total)), sha256(sent));
    await source.served;
    // protocols/tunnel_pipe.ts: one chunk up (at most 64 KiB for B = 16 KiB) + 3 B down.
    ok(meter.maxInFlight <= 3 * BUFFER + 65_536, `in flight at most ${meter.maxInFlight} bytes`);
    equal(meter.bytesUp, total);
    conn.close();
    await tunnel.closed;
  } finally {
    await t.teardown();
  }
});

Deno.test("stopping the agent's tree closes open tunnels with 1001 stopped", async () => {
  const t = await setup();
  try {
    const session = await t.relay.open("stop");
    const tunnel = t.open("stop");
    equal((await tunnel.started).status, "open");
    const conn = await client(session.port);
    await t.system.stop();
    deepEqual(await tunnel.closed, STOPPED);
    deepEqual(await session.deviceClosed, STOPPED);
    equal(await readToEnd(conn), 0);
    conn.close();
  } finally {
    await t.teardown();
  }
});

const STOPPED = { code: 1001, reason: "stopped" };

Deno.test("a connection key the relay does not know fails the tunnel, and the key stays out of the reason", async () => {
  const t = await setup();
  try {
    const started = await t.open("never-opened-key").started;
    deepEqual(started, {
      status: "failed",
      kind: "dial",
      reason:
        `WebSocket handshake to ws://127.0.0.1:${t.relay.port}/service/remoteaccess/device/…: ` +
        "the server answered 404 Not Found",
    });
  } finally {
    await t.teardown();
  }
});
