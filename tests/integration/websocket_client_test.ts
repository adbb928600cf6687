/**
 * The hand-written WebSocket client against Deno's own WebSocket server (the
 * relay emulator), a TLS relay, an HTTP CONNECT proxy, and raw servers that
 * misbehave on purpose.
 */
import { deepEqual, equal, match, ok, rejects } from "node:assert/strict";
import {
  connectWebSocket,
  WebSocketHandshakeError,
  WebSocketProtocolError,
} from "../../protocols/websocket_client.ts";
import { encodeClosePayload, encodeFrame, OPCODE } from "../../protocols/websocket_frame.ts";
import { MessageDecoder, type WebSocketEvent } from "../../protocols/websocket_decode.ts";
import { testPki } from "../helpers/tls.ts";
import { startConnectProxy, startRemoteAccessServer } from "../helpers/remote_access_server.ts";

const AUTH = { Authorization: "Bearer secret" };
const text = (s: string) => new TextEncoder().encode(s);

Deno.test("wss with the test CA in caCerts opens; without it the TLS error says so", async () => {
  const pki = await testPki();
  const relay = await startRemoteAccessServer({
    bearer: "secret",
    tls: { cert: pki.server.cert, key: pki.server.key },
  });
  try {
    const session = await relay.open("k");
    const ws = await connectWebSocket(relay.deviceUrl("k"), {
      headers: AUTH,
      protocols: ["binary"],
      caCerts: [pki.ca.cert],
    });
    equal(ws.protocol, "binary");
    await session.device;
    await ws.close(1000, "done");
    deepEqual(await session.deviceClosed, { code: 1000, reason: "done" });
    await rejects(
      connectWebSocket(relay.deviceUrl("k"), { headers: AUTH, protocols: ["binary"] }),
      (e: Error) => e instanceof WebSocketHandshakeError && /TLS handshake failed/.test(e.message),
    );
  } finally {
    await relay.close();
  }
});

Deno.test("through an HTTP proxy the client asks CONNECT for the relay's host and port", async () => {
  const relay = await startRemoteAccessServer({ bearer: "secret" });
  const proxy = startConnectProxy();
  try {
    await relay.open("k");
    const ws = await connectWebSocket(relay.deviceUrl("k"), {
      headers: AUTH,
      protocols: ["binary"],
      proxy: proxy.url,
    });
    deepEqual(proxy.connects, [`127.0.0.1:${relay.port}`]);
    await ws.close();
  } finally {
    await relay.close();
    await proxy.close();
  }
});

Deno.test("a refused upgrade names the URL and the server's status", async () => {
  const relay = await startRemoteAccessServer({ bearer: "secret" });
  try {
    await relay.open("k");
    const url = relay.deviceUrl("k");
    await rejects(
      connectWebSocket(url, { headers: { Authorization: "Bearer nope" }, protocols: ["binary"] }),
      (e: Error) =>
        e instanceof WebSocketHandshakeError && e.status === 401 &&
        e.message === `WebSocket handshake to ${url}: the server answered 401 Unauthorized`,
    );
    await rejects(
      connectWebSocket(url, { headers: AUTH }),
      (e: Error) => e instanceof WebSocketHandshakeError && e.status === 400,
    );
  } finally {
    await relay.close();
  }
});

Deno.test("a server that ignores the subprotocol or answers a wrong accept key is refused", async () => {
  const plain = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.onopen = () => socket.close();
    return response;
  });
  try {
    await rejects(
      connectWebSocket(`ws://127.0.0.1:${plain.addr.port}/x`, { protocols: ["binary"] }),
      /did not accept subprotocol "binary"/,
    );
  } finally {
    await plain.shutdown();
  }
  const liar = rawServer((head) => upgradeResponse(head, { accept: "bm90IHRoZSBrZXk=" }));
  try {
    await rejects(
      connectWebSocket(`ws://127.0.0.1:${liar.port}/`),
      /Sec-WebSocket-Accept does not match/,
    );
  } finally {
    await liar.close();
  }
});

Deno.test("an aborted handshake rejects and leaves no socket behind", async () => {
  const silent = rawServer(() => undefined);
  try {
    const controller = new AbortController();
    const opening = connectWebSocket(`ws://127.0.0.1:${silent.port}/`, {
      signal: controller.signal,
    });
    await silent.accepted;
    controller.abort();
    await rejects(opening, /cancelled/);
  } finally {
    await silent.close();
  }
});

Deno.test("pings are answered, fragments joined, pings sent, and the server's close reported", async () => {
  const raw = rawServer(upgradeResponse, async (conn, events) => {
    await send(conn, OPCODE.ping, text("are you there"));
    deepEqual(await skipPings(events), { type: "pong", data: text("are you there") });
    await conn.write(encodeFrame({ fin: false, opcode: OPCODE.binary, payload: text("hel") }, {
      mask: false,
    }));
    await conn.write(
      encodeFrame({ fin: true, opcode: OPCODE.continuation, payload: text("lo") }, { mask: false }),
    );
    deepEqual(await events.next(), { type: "ping", data: new Uint8Array(0) }, "interval ping");
    await send(conn, OPCODE.close, encodeClosePayload(4001, "bye"));
    deepEqual(await skipPings(events), { type: "close", code: 4001, reason: "" }, "echoed close");
  });
  try {
    const ws = await connectWebSocket(`ws://127.0.0.1:${raw.port}/`, { pingIntervalMs: 20 });
    deepEqual(await ws.read(), text("hello"));
    equal(await ws.read(), null);
    deepEqual(await ws.closed, { code: 4001, reason: "bye" });
    await raw.served;
  } finally {
    await raw.close();
  }
});

Deno.test("a frame over maxFrameBytes fails the read with 1009 and closes with that status", async () => {
  const raw = rawServer(upgradeResponse, async (conn, events) => {
    await send(conn, OPCODE.binary, new Uint8Array(2048));
    deepEqual(await events.next(), {
      type: "close",
      code: 1009,
      reason: "Frame of 2048 bytes exceeds the limit of 1024",
    });
  });
  try {
    const ws = await connectWebSocket(`ws://127.0.0.1:${raw.port}/`, { maxFrameBytes: 1024 });
    await rejects(
      ws.read(),
      (e: Error) => e instanceof WebSocketProtocolError && e.closeCode === 1009,
    );
    equal((await ws.closed).code, 1009);
    await raw.served;
  } finally {
    await raw.close();
  }
});

Deno.test("close() waits for the server's answer, and a server that never answers times out", async () => {
  const mute = rawServer(upgradeResponse, async (_conn, events) => {
    // Never answers: rawServer reads on until the client gives up and hangs up.
    equal((await events.next())?.type, "close");
  });
  try {
    const ws = await connectWebSocket(`ws://127.0.0.1:${mute.port}/`, { closeTimeoutMs: 50 });
    await ws.close(1000, "device closed");
    const closed = await ws.closed;
    equal(closed.code, 1006);
    match(closed.reason, /did not finish in time/);
    await rejects(ws.write(text("late")), /closing or closed/);
    await mute.served;
  } finally {
    await mute.close();
  }
});

/** The next event that is not one of the client's interval pings. */
async function skipPings(events: Events): Promise<WebSocketEvent | undefined> {
  for (let event = await events.next();; event = await events.next()) {
    if (event?.type !== "ping") return event;
  }
}

/** What a raw server learns from the client, frame by frame. */
interface Events {
  /** The next event; undefined once the client hung up. */
  next(): Promise<WebSocketEvent | undefined>;
}

/** A one-connection server that answers the upgrade with `respond(head)` and then runs `serve`. */
function rawServer(
  respond: (head: string) => Promise<string> | string | undefined,
  serve: (conn: Deno.Conn, events: Events) => Promise<void> = async () => {},
) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let accepted!: () => void;
  const acceptedOnce = new Promise<void>((resolve) => (accepted = resolve));
  const served = (async () => {
    const conn = await listener.accept();
    accepted();
    try {
      const buffer = new Uint8Array(65_536);
      let head = "";
      while (!head.includes("\r\n\r\n")) {
        const n = await conn.read(buffer);
        if (n === null) return;
        head += new TextDecoder().decode(buffer.subarray(0, n));
      }
      const response = await respond(head);
      if (response === undefined) {
        await conn.read(buffer).catch(() => null); // until the client gives up
        return;
      }
      await conn.write(text(response));
      const decoder = new MessageDecoder({ maxFrameBytes: 1 << 20, masking: "required" });
      const events: Events = {
        async next() {
          while (true) {
            const event = decoder.next();
            if (event) return event;
            const n = await conn.read(buffer).catch(() => null);
            if (n === null) return undefined;
            decoder.push(buffer.slice(0, n));
          }
        },
      };
      await serve(conn, events);
      while (await events.next()) { /* until the client hangs up */ }
    } finally {
      conn.close();
    }
  })().finally(() => listener.close());
  return {
    port: (listener.addr as Deno.NetAddr).port,
    accepted: acceptedOnce,
    served,
    async close() {
      await served.catch(() => {});
    },
  };
}

async function upgradeResponse(head: string, options: { accept?: string } = {}): Promise<string> {
  const key = head.match(/Sec-WebSocket-Key: (\S+)/i)?.[1] ?? "";
  const digest = await crypto.subtle.digest(
    "SHA-1",
    text(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"),
  );
  const accept = options.accept ?? btoa(String.fromCharCode(...new Uint8Array(digest)));
  ok(key.length > 0, "the client sent a key");
  return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
    `Sec-WebSocket-Accept: ${accept}\r\n\r\n`;
}

async function send(conn: Deno.Conn, opcode: number, payload: Uint8Array): Promise<void> {
  const frame = encodeFrame({ fin: true, opcode, payload }, { mask: false });
  for (let offset = 0; offset < frame.length;) offset += await conn.write(frame.subarray(offset));
}
