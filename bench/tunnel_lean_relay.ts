/**
 * A lean stand-in for Cloud Remote Access, for bench/tunnel_bench.ts with
 * `TUNNEL_RELAY=lean`: the same sessions, credentials, subprotocol check and
 * frames on the wire as the relay emulator of
 * tests/helpers/remote_access_server.ts (16 KiB binary frames to the device,
 * one per read of the client), but over plain TCP with this project's frame
 * codec instead of `Deno.upgradeWebSocket`, whose per-message cost made the
 * emulator the slowest stage of every tunnel (BENCHMARKS.md, tunnels). It
 * shows what the device does when the cloud side keeps up. Benchmarks only:
 * the tests keep the independent emulator.
 */
import {
  encodeClosePayload,
  encodeFrame,
  FRAME_HEADROOM,
  frameInPlace,
  OPCODE,
} from "../protocols/websocket_frame.ts";
import { ReceiveBuffer } from "../protocols/websocket_receive.ts";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const CHUNK = 16_384;

interface Session {
  attach(conn: Deno.Conn, rest: Uint8Array): void;
  attached: boolean;
}

/** A running lean relay. */
export interface LeanRelay {
  httpBase: string;
  /** Opens the session of `key`; `port` is its client side. */
  open(key: string): Promise<{ port: number }>;
  close(): Promise<void>;
}

/** Starts the lean relay on 127.0.0.1, accepting Basic `user`:`password`. */
export function startLeanRelay(basic: { user: string; password: string }): LeanRelay {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const expected = `Basic ${btoa(`${basic.user}:${basic.password}`)}`;
  const sessions = new Map<string, Session>();
  const resources = new Set<{ close(): void }>();
  const encoder = new TextEncoder();

  async function upgrade(conn: Deno.Conn): Promise<void> {
    resources.add(conn);
    (conn as Deno.TcpConn).setNoDelay(true);
    const { head, rest } = await readHead(conn);
    const [requestLine, ...lines] = head.split("\r\n");
    const headers = new Map(lines.map((line) => {
      const colon = line.indexOf(":");
      return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()];
    }));
    const key = requestLine.match(/^GET \/service\/remoteaccess\/device\/(\S+) HTTP\/1\.1$/)?.[1];
    const refuse = async (status: string) => {
      await writeAll(conn, encoder.encode(`HTTP/1.1 ${status}\r\nContent-Length: 0\r\n\r\n`));
      close(conn);
    };
    if (!key) return await refuse("404 Not Found");
    if (headers.get("authorization") !== expected) return await refuse("401 Unauthorized");
    const protocols = (headers.get("sec-websocket-protocol") ?? "").split(",").map((p) => p.trim());
    if (!protocols.includes("binary")) return await refuse("400 Bad Request");
    const session = sessions.get(decodeURIComponent(key));
    if (!session || session.attached) return await refuse("404 Not Found");
    const digest = await crypto.subtle.digest(
      "SHA-1",
      encoder.encode(`${headers.get("sec-websocket-key")}${GUID}`),
    );
    const accept = btoa(String.fromCharCode(...new Uint8Array(digest)));
    await writeAll(
      conn,
      encoder.encode(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          `Sec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: binary\r\n\r\n`,
      ),
    );
    session.attach(conn, rest);
  }

  (async () => {
    for await (const conn of listener) upgrade(conn).catch(() => close(conn));
  })().catch(() => {});

  function close(resource: { close(): void }): void {
    resources.delete(resource);
    try {
      resource.close();
    } catch {
      // Already closed.
    }
  }

  /** Serves a device from the moment it attached; its client may come later (or never). */
  async function pair(
    clientReady: Promise<Deno.Conn | undefined>,
    device: Deno.Conn,
    early: Uint8Array,
  ): Promise<void> {
    let writes: Promise<unknown> = Promise.resolve();
    const toDevice = (frame: Uint8Array) => {
      const written = writes.then(() => writeAll(device, frame));
      writes = written.catch(() => {});
      return written;
    };
    let closeSent = false;
    const sendClose = (code: number, reason: string) => {
      if (closeSent) return;
      closeSent = true;
      const payload = encodeClosePayload(code, reason);
      toDevice(encodeFrame({ fin: true, opcode: OPCODE.close, payload }, { mask: false }))
        .catch(() => {});
    };
    // Client → device: one 16 KiB binary frame per read, as the emulator sends.
    const up = (async () => {
      const client = await clientReady;
      if (!client) return;
      const buffer = new Uint8Array(FRAME_HEADROOM + CHUNK);
      while (!closeSent) {
        const n = await client.read(buffer.subarray(FRAME_HEADROOM)).catch(() => null);
        if (n === null || closeSent) break;
        await toDevice(frameInPlace(buffer, n, OPCODE.binary, false)).catch(() => {});
      }
      sendClose(1000, "client disconnected");
    })();
    // Device → client: payloads joined, straight from the receive buffer.
    const rx = new ReceiveBuffer({
      maxFrameBytes: 1 << 20,
      masking: "required",
      initialBytes: 65_536,
      capacity: 262_144,
    });
    rx.push(early);
    try {
      reading: while (true) {
        const event = rx.next(true);
        if (!event) {
          const n = await device.read(rx.space());
          if (n === null) break;
          rx.commit(n);
          continue;
        }
        switch (event.type) {
          case "data": {
            const client = await clientReady;
            if (client) await writeAll(client, event.data);
            break;
          }
          case "ping":
            toDevice(encodeFrame({ fin: true, opcode: OPCODE.pong, payload: event.data }, {
              mask: false,
            })).catch(() => {});
            break;
          case "close":
            sendClose(event.code === 1005 ? 1000 : event.code, "");
            break reading;
        }
      }
    } catch {
      // The device or the client went away.
    }
    sendClose(1000, "");
    await writes;
    close(device);
    const client = await Promise.race([clientReady, Promise.resolve(undefined)]);
    if (client) close(client);
    else clientReady.then((late) => late && close(late));
    await up;
  }

  return {
    httpBase: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    open(key) {
      const clients = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      resources.add(clients);
      const clientReady = clients.accept().then((client) => {
        resources.add(client);
        client.setNoDelay(true);
        return client;
      }, () => undefined).finally(() => close(clients));
      const session: Session = {
        attached: false,
        attach(conn, rest) {
          session.attached = true;
          sessions.delete(key);
          pair(clientReady, conn, rest).catch(() => close(conn));
        },
      };
      sessions.set(key, session);
      return Promise.resolve({ port: (clients.addr as Deno.NetAddr).port });
    },
    close() {
      close(listener);
      for (const resource of [...resources]) close(resource);
      return Promise.resolve();
    },
  };
}

async function readHead(conn: Deno.Conn): Promise<{ head: string; rest: Uint8Array }> {
  let bytes = new Uint8Array(0);
  const buffer = new Uint8Array(4096);
  while (true) {
    const n = await conn.read(buffer);
    if (n === null) throw new Error("closed during the handshake");
    const next = new Uint8Array(bytes.length + n);
    next.set(bytes);
    next.set(buffer.subarray(0, n), bytes.length);
    bytes = next;
    for (let i = 3; i < bytes.length; i++) {
      if (bytes[i - 3] === 13 && bytes[i - 2] === 10 && bytes[i - 1] === 13 && bytes[i] === 10) {
        return {
          head: new TextDecoder().decode(bytes.subarray(0, i - 3)),
          rest: bytes.slice(i + 1),
        };
      }
    }
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}
