/**
 * An emulator of Cumulocity's Cloud Remote Access relay, as PROTOCOLS.md §1
 * describes it, plus the TCP services a tunnel test needs (an echo target,
 * an HTTP CONNECT proxy). Everything listens on 127.0.0.1, port 0.
 *
 * The relay accepts `GET /service/remoteaccess/device/<key>` upgrades only
 * with the right `Authorization` (Basic or Bearer, else 401) and the
 * `binary` subprotocol (else 400). Each connection key is a session with a
 * client-side TCP port: bytes written there travel over the device's
 * WebSocket to the device's target and back, as the platform relays a
 * user's SSH session. The relay itself does not apply backpressure to the
 * device (it reads every frame), so a test sees the device's own bounds.
 */

/** Who may open a device WebSocket. */
export interface RemoteAccessServerOptions {
  /** Basic auth: `<tenant>/<user>` and password. */
  basic?: { user: string; password: string };
  /** Bearer auth: the token (a JWT on the real platform). */
  bearer?: string;
  /** Serve wss with this certificate and key (PEM). */
  tls?: { cert: string; key: string };
  /** Bytes read from the client side at a time, sent as one frame. Default 16384. */
  chunkSize?: number;
}

/** One connection key's session. */
export interface RelaySession {
  key: string;
  /** The client-side port: connect here to reach the device's target. */
  port: number;
  /** Resolves once the device's WebSocket for this key is open. */
  device: Promise<void>;
  /** Resolves with the status and reason of the device WebSocket's close. */
  deviceClosed: Promise<{ code: number; reason: string }>;
  /** Closes the device's WebSocket from the cloud's side. */
  closeDevice(code: number, reason: string): void;
}

/** A running relay. */
export interface RemoteAccessServer {
  port: number;
  /** `ws://127.0.0.1:<port>` or `wss://…`. */
  wsBase: string;
  /** `http://127.0.0.1:<port>` or `https://…`, as a `DeviceProxy` baseUrl. */
  httpBase: string;
  /** The device's WebSocket URL for `key`. */
  deviceUrl(key: string): string;
  /** Opens the session of `key`, with its client-side port. */
  open(key: string): Promise<RelaySession>;
  /** Device WebSockets accepted so far. */
  readonly upgrades: number;
  /** Upgrades refused: status and why. */
  readonly refused: { status: number; why: string }[];
  close(): Promise<void>;
}

interface Entry {
  session: RelaySession;
  socket?: WebSocket;
  attach(socket: WebSocket): void;
  /** Settles `deviceClosed` of a session whose device never connected. */
  abandon(): void;
}

/** Starts the relay on 127.0.0.1 (port 0). */
export function startRemoteAccessServer(
  options: RemoteAccessServerOptions = {},
): Promise<RemoteAccessServer> {
  const chunkSize = options.chunkSize ?? 16_384;
  const sessions = new Map<string, Entry>();
  const resources = new Set<{ close(): void }>();
  const sockets = new Set<WebSocket>();
  const tasks = new Set<Promise<unknown>>();
  const refused: { status: number; why: string }[] = [];
  let upgrades = 0;
  const accepted = new Set<string>();
  let shutDown!: () => void;
  const shuttingDown = new Promise<undefined>((resolve) => (shutDown = () => resolve(undefined)));
  if (options.basic) {
    accepted.add(`Basic ${btoa(`${options.basic.user}:${options.basic.password}`)}`);
  }
  if (options.bearer) accepted.add(`Bearer ${options.bearer}`);

  function refuse(status: number, why: string): Response {
    refused.push({ status, why });
    return new Response(why, { status });
  }

  function handler(request: Request): Response {
    const match = new URL(request.url).pathname.match(/^\/service\/remoteaccess\/device\/(.+)$/);
    if (!match) return refuse(404, "not a remote access path");
    if (!accepted.has(request.headers.get("authorization") ?? "")) {
      return refuse(401, "Unauthorized");
    }
    const protocols = (request.headers.get("sec-websocket-protocol") ?? "").split(",")
      .map((p) => p.trim());
    if (!protocols.includes("binary")) return refuse(400, 'subprotocol "binary" not requested');
    const entry = sessions.get(decodeURIComponent(match[1]));
    if (!entry || entry.socket) return refuse(404, "no such connection key");
    const { socket, response } = Deno.upgradeWebSocket(request, { protocol: "binary" });
    upgrades++;
    sockets.add(socket);
    socket.addEventListener("close", () => sockets.delete(socket));
    entry.attach(socket);
    return response;
  }

  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: () => {},
    ...(options.tls ?? {}),
  }, handler);
  const port = server.addr.port;
  const secure = options.tls !== undefined;
  const wsBase = `${secure ? "wss" : "ws"}://127.0.0.1:${port}`;

  async function open(key: string): Promise<RelaySession> {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    resources.add(listener);
    let markOpen!: (socket: WebSocket) => void;
    const opened = new Promise<WebSocket>((resolve) => (markOpen = resolve));
    let onClosed!: (info: { code: number; reason: string }) => void;
    const deviceClosed = new Promise<{ code: number; reason: string }>((r) => (onClosed = r));
    let setClient!: (client: Deno.Conn | undefined) => void;
    const clientReady = new Promise<Deno.Conn | undefined>((resolve) => (setClient = resolve));
    void shuttingDown.then(() => setClient(undefined));
    // Device → client: every frame, in order, kept until the client connects.
    let writes = Promise.resolve();
    const session: RelaySession = {
      key,
      port: (listener.addr as Deno.NetAddr).port,
      device: opened.then(() => {}),
      deviceClosed,
      closeDevice: (code, reason) => entry.socket?.close(code, reason),
    };
    const entry: Entry = {
      session,
      attach(socket) {
        entry.socket = socket;
        socket.binaryType = "arraybuffer";
        socket.addEventListener("message", (event) => {
          const data = new Uint8Array(event.data as ArrayBuffer);
          writes = writes.then(async () => {
            const client = await clientReady;
            if (client) await writeAll(client, data);
          }).catch(() => {});
        });
        socket.addEventListener("close", (e) => onClosed({ code: e.code, reason: e.reason }));
        // Upgraded is not yet open: a send() now would be lost, so the client waits for "open".
        socket.addEventListener("open", () => markOpen(socket));
      },
      abandon() {
        if (!entry.socket) {
          onClosed({ code: 1006, reason: "relay closed before the device connected" });
        }
      },
    };
    sessions.set(key, entry);
    const gone = deviceClosed.then(() => undefined);
    track(relay(listener, Promise.race([opened, gone, shuttingDown]), setClient));
    // Once the device has gone and its last bytes are written, the client is hung up on.
    track(
      Promise.race([deviceClosed, shuttingDown]).then(() => writes).then(async () => {
        const client = await clientReady;
        if (client) closeQuietly(client, resources);
      }),
    );
    return await Promise.resolve(session);
  }

  /**
   * Pairs the first client of `listener` with the device's WebSocket once it
   * is open (`undefined`: it closed first or the relay shut down). What the
   * client sends before then waits in the client's socket, unread.
   */
  async function relay(
    listener: Deno.Listener,
    opened: Promise<WebSocket | undefined>,
    setClient: (client: Deno.Conn | undefined) => void,
  ): Promise<void> {
    let client: Deno.Conn;
    try {
      client = await listener.accept();
    } catch {
      return; // closed before anyone connected
    } finally {
      closeQuietly(listener, resources);
    }
    resources.add(client);
    setClient(client);
    const socket = await opened;
    if (!socket) return closeQuietly(client, resources);
    // Client → device, until the client hangs up: then the cloud closes the WebSocket.
    const buffer = new Uint8Array(chunkSize);
    while (true) {
      let n: number | null;
      try {
        n = await client.read(buffer);
      } catch {
        n = null;
      }
      if (n === null) break;
      if (socket.readyState !== WebSocket.OPEN) break;
      // send() copies the bytes before it returns, so the read buffer is reused:
      // a fresh 16 KiB array per read was a third of the emulator's CPU (BENCHMARKS.md).
      socket.send(buffer.subarray(0, n));
    }
    if (socket.readyState === WebSocket.OPEN) socket.close(1000, "client disconnected");
  }

  function track(task: Promise<unknown>): void {
    const settled = task.catch(() => {});
    tasks.add(settled);
    settled.then(() => tasks.delete(settled));
  }

  return Promise.resolve({
    port,
    wsBase,
    httpBase: `${secure ? "https" : "http"}://127.0.0.1:${port}`,
    deviceUrl: (key) => `${wsBase}/service/remoteaccess/device/${key}`,
    open,
    get upgrades() {
      return upgrades;
    },
    refused,
    async close() {
      shutDown();
      for (const entry of sessions.values()) entry.abandon();
      const closing = [...sockets].map((s) =>
        new Promise<void>((resolve) => {
          if (s.readyState === WebSocket.CLOSED) return resolve();
          s.addEventListener("close", () => resolve());
          if (s.readyState === WebSocket.OPEN) s.close(1001, "relay shutting down");
          // Upgraded but not yet open: close it as soon as it opens.
          else if (s.readyState === WebSocket.CONNECTING) {
            s.addEventListener("open", () => s.close(1001, "relay shutting down"));
          }
        })
      );
      await Promise.all(closing);
      for (const resource of [...resources]) closeQuietly(resource, resources);
      await Promise.all(tasks);
      await server.shutdown();
    },
  });
}

/** A TCP echo service; `accepted` counts connections. */
export interface EchoServer {
  port: number;
  readonly accepted: number;
  close(): Promise<void>;
}

/** An echo target on 127.0.0.1 (port 0), with backpressure (streams). */
export function startEchoServer(): EchoServer {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const tasks = new Set<Promise<unknown>>();
  let accepted = 0;
  const loop = (async () => {
    for await (const conn of listener) {
      accepted++;
      conns.add(conn);
      const task = conn.readable.pipeTo(conn.writable).catch(() => {})
        .finally(() => closeQuietly(conn, conns));
      tasks.add(task);
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    get accepted() {
      return accepted;
    },
    async close() {
      listener.close();
      await loop;
      for (const conn of [...conns]) closeQuietly(conn, conns);
      await Promise.all(tasks);
    },
  };
}

/** An HTTP proxy that only speaks `CONNECT`; `connects` lists the authorities asked for. */
export interface ConnectProxy {
  url: string;
  connects: string[];
  close(): Promise<void>;
}

/** Starts the proxy on 127.0.0.1 (port 0). */
export function startConnectProxy(): ConnectProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const tasks = new Set<Promise<unknown>>();
  const connects: string[] = [];
  async function serve(client: Deno.Conn): Promise<void> {
    let head = "";
    const buffer = new Uint8Array(1024);
    while (!head.includes("\r\n\r\n")) {
      const n = await client.read(buffer);
      if (n === null) return;
      head += new TextDecoder().decode(buffer.subarray(0, n));
    }
    const match = head.match(/^CONNECT (\S+):(\d+) HTTP\/1\.1\r\n/);
    if (!match) {
      await writeAll(client, new TextEncoder().encode("HTTP/1.1 405 Method Not Allowed\r\n\r\n"));
      return;
    }
    connects.push(`${match[1]}:${match[2]}`);
    const upstream = await Deno.connect({
      hostname: match[1].replace(/^\[|\]$/g, ""),
      port: Number(match[2]),
    });
    conns.add(upstream);
    await writeAll(client, new TextEncoder().encode("HTTP/1.1 200 Connection established\r\n\r\n"));
    await Promise.all([
      client.readable.pipeTo(upstream.writable).catch(() => {}),
      upstream.readable.pipeTo(client.writable).catch(() => {}),
    ]);
  }
  const loop = (async () => {
    for await (const client of listener) {
      conns.add(client);
      tasks.add(serve(client).catch(() => {}).finally(() => closeQuietly(client, conns)));
    }
  })().catch(() => {});
  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    connects,
    async close() {
      listener.close();
      await loop;
      for (const conn of [...conns]) closeQuietly(conn, conns);
      await Promise.all(tasks);
    },
  };
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}

function closeQuietly<T extends { close(): void }>(resource: T, from: Set<T>): void {
  from.delete(resource);
  try {
    resource.close();
  } catch {
    // Already closed.
  }
}
