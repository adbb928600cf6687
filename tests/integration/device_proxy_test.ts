/** `DeviceProxy`, the seed's API on Outpost's proxy machine, against the relay emulator. */
import { deepEqual, equal, rejects, throws } from "node:assert/strict";
import { DeviceProxy } from "../../actors/facades/device_proxy.ts";
import { testPki } from "../helpers/tls.ts";
import {
  startConnectProxy,
  startEchoServer,
  startRemoteAccessServer,
} from "../helpers/remote_access_server.ts";

const BASIC = { user: "t100/device_dev-1", password: "s3cret" };

async function echoThrough(port: number, message: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const bytes = new TextEncoder().encode(message);
    await conn.write(bytes);
    const buffer = new Uint8Array(bytes.length);
    for (let got = 0; got < bytes.length;) got += (await conn.read(buffer.subarray(got))) ?? NaN;
    return new TextDecoder().decode(buffer);
  } finally {
    conn.close();
  }
}

Deno.test("DeviceProxy with tenant/user and password connects, carries bytes, and closes", async () => {
  const relay = await startRemoteAccessServer({ basic: BASIC });
  const echo = startEchoServer();
  const closes: [number, string][] = [];
  try {
    const session = await relay.open("key-1");
    const proxy = new DeviceProxy({
      tcpHost: "127.0.0.1",
      tcpPort: echo.port,
      connectionKey: "key-1",
      baseUrl: relay.httpBase,
      tenantUser: BASIC.user,
      password: BASIC.password,
      onClose: (status, reason) => closes.push([status, reason]),
    });
    await proxy.connect();
    equal(await echoThrough(session.port, "uname -a\n"), "uname -a\n");
    await proxy.close();
    deepEqual(closes, [[1001, "stopped"]]);
    deepEqual(await session.deviceClosed, { code: 1001, reason: "stopped" });
    deepEqual(await proxy.closed, { status: "closed", code: 1001, reason: "stopped" });
  } finally {
    await relay.close();
    await echo.close();
  }
});

Deno.test("DeviceProxy with a token over wss and the seed's proxy host and port", async () => {
  const pki = await testPki();
  const relay = await startRemoteAccessServer({
    bearer: "device-jwt",
    tls: { cert: pki.server.cert, key: pki.server.key },
  });
  const http = startConnectProxy();
  const echo = startEchoServer();
  try {
    const session = await relay.open("key-2");
    const url = new URL(http.url);
    const closes: [number, string][] = [];
    const proxy = new DeviceProxy({
      tcpHost: "127.0.0.1",
      tcpPort: echo.port,
      connectionKey: "key-2",
      baseUrl: relay.httpBase,
      token: "device-jwt",
      proxy: { host: url.hostname, port: Number(url.port) },
      caCerts: [pki.ca.cert],
      onClose: (status, reason) => closes.push([status, reason]),
    });
    await proxy.connect();
    deepEqual(http.connects, [`127.0.0.1:${relay.port}`]);
    equal(await echoThrough(session.port, "over TLS"), "over TLS");
    // The cloud ends the session: the proxy reports the WebSocket's close.
    session.closeDevice(1000, "user left");
    deepEqual(await proxy.closed, { status: "closed", code: 1000, reason: "user left" });
    deepEqual(closes, [[1000, "user left"]]);
    await proxy.close();
  } finally {
    await relay.close();
    await http.close();
    await echo.close();
  }
});

Deno.test("DeviceProxy.connect rejects with the reason when the platform refuses the credentials", async () => {
  const relay = await startRemoteAccessServer({ basic: BASIC });
  const echo = startEchoServer();
  try {
    await relay.open("key-3");
    const proxy = new DeviceProxy({
      tcpHost: "127.0.0.1",
      tcpPort: echo.port,
      connectionKey: "key-3",
      baseUrl: relay.httpBase,
      tenantUser: BASIC.user,
      password: "wrong",
    });
    await rejects(proxy.connect(), /^Error: WebSocket authentication rejected \(401\)$/);
    equal((await proxy.closed)?.status, "failed");
    await proxy.close();
  } finally {
    await relay.close();
    await echo.close();
  }
});

Deno.test("DeviceProxy refuses options it cannot work with", () => {
  const base = {
    tcpHost: "127.0.0.1",
    tcpPort: 22,
    connectionKey: "k",
    baseUrl: "https://example.cumulocity.com",
  };
  throws(() => new DeviceProxy(base), /needs credentials: tenantUser and password, or a token/);
  throws(
    () => new DeviceProxy({ ...base, tenantUser: "t/u" }),
    /tenantUser "t\/u" needs a password/,
  );
  throws(() => new DeviceProxy({ ...base, token: "x", tcpPort: 0 }), /tcpPort must be 1-65535/);
  throws(
    () => new DeviceProxy({ ...base, token: "x", connectionKey: "" }),
    /needs a connectionKey/,
  );
  throws(
    () => new DeviceProxy({ ...base, token: "x", baseUrl: "ftp://example.com" }),
    /baseUrl "ftp:\/\/example.com" must be/,
  );
  // A bare host name means https, as in the seed's configuration.
  new DeviceProxy({ ...base, token: "x", baseUrl: "example.cumulocity.com" });
});
