/**
 * The opening of a WebSocket client connection (RFC 6455 §4): TCP, an
 * HTTP proxy's `CONNECT` when there is one, TLS for wss, the upgrade
 * request and the checks of the server's answer. Errors name the URL and
 * what the server (or proxy) did.
 */

/** The opening handshake failed; `status` is the server's HTTP status when it answered. */
export class WebSocketHandshakeError extends Error {
  /** Builds an error naming the URL and what the server did. */
  constructor(message: string, readonly status?: number, options?: ErrorOptions) {
    super(message, options);
    this.name = "WebSocketHandshakeError";
  }
}

/** What the opening handshake needs. */
export interface UpgradeOptions {
  /** Extra request headers (`Authorization`, …). */
  headers?: Record<string, string>;
  /** Subprotocols to request; the server must choose one of them. */
  protocols?: string[];
  /** PEM root certificates trusted in addition to the system's (wss). */
  caCerts?: string[];
  /** An HTTP proxy (`http://[user:password@]host:port`) reached with `CONNECT`. */
  proxy?: string;
  /** Aborts the opening handshake (closes the socket). */
  signal?: AbortSignal;
}

/** An upgraded socket: the chosen subprotocol and the bytes that came after the answer. */
export interface Upgraded {
  conn: Deno.Conn;
  protocol: string;
  /** Frames the server sent right after its answer, read with it. */
  rest: Uint8Array;
}

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const MAX_HEAD_BYTES = 16_384;
const encoder = new TextEncoder();

/**
 * Dials `url` and performs the upgrade; the socket is closed on any error
 * and when `signal` aborts before the upgrade finished.
 */
export async function openUpgrade(url: string | URL, options: UpgradeOptions): Promise<Upgraded> {
  const target = new URL(url);
  if (target.protocol !== "ws:" && target.protocol !== "wss:") {
    throw new TypeError(`Cannot open a WebSocket to "${url}": the scheme must be ws: or wss:`);
  }
  const where = `${target.protocol}//${target.host}${target.pathname}`;
  const hostname = target.hostname.replace(/^\[|\]$/g, "");
  const port = Number(target.port || (target.protocol === "wss:" ? 443 : 80));
  const { signal } = options;
  signal?.throwIfAborted();

  let conn: Deno.Conn | undefined;
  const onAbort = () => closeQuietly(conn);
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    conn = options.proxy
      ? await viaProxy(options.proxy, hostname, port, where, signal)
      : await dial(hostname, port, where, signal);
    // An abort while the connect was resolving found no socket to close.
    signal?.throwIfAborted();
    if (target.protocol === "wss:") {
      const tls = await Deno.startTls(conn as Deno.TcpConn, { hostname, caCerts: options.caCerts });
      conn = tls;
      try {
        await tls.handshake();
      } catch (error) {
        throw new WebSocketHandshakeError(
          `WebSocket to ${where}: TLS handshake failed: ${message(error)}`,
          undefined,
          { cause: error },
        );
      }
    }
    const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
    const lines = [
      `GET ${target.pathname}${target.search} HTTP/1.1`,
      `Host: ${target.host}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      `Sec-WebSocket-Key: ${key}`,
      "Sec-WebSocket-Version: 13",
      ...(options.protocols?.length
        ? [`Sec-WebSocket-Protocol: ${options.protocols.join(", ")}`]
        : []),
      ...Object.entries(options.headers ?? {}).map(([name, value]) => `${name}: ${value}`),
    ];
    await writeAll(conn, encoder.encode(lines.join("\r\n") + "\r\n\r\n"));
    const { status, statusText, headers, rest } = await readHead(conn, `WebSocket to ${where}`);
    const protocol = await checkUpgrade(where, key, options.protocols ?? [], {
      status,
      statusText,
      headers,
    });
    signal?.throwIfAborted();
    signal?.removeEventListener("abort", onAbort);
    return { conn, protocol, rest };
  } catch (error) {
    signal?.removeEventListener("abort", onAbort);
    closeQuietly(conn);
    if (signal?.aborted) {
      throw new WebSocketHandshakeError(`WebSocket to ${where}: cancelled`, undefined, {
        cause: error,
      });
    }
    throw error;
  }
}

async function dial(
  hostname: string,
  port: number,
  where: string,
  signal: AbortSignal | undefined,
): Promise<Deno.Conn> {
  try {
    const conn = await Deno.connect({ hostname, port, signal });
    conn.setNoDelay(true);
    return conn;
  } catch (error) {
    throw new WebSocketHandshakeError(
      `WebSocket to ${where}: cannot connect to ${hostname}:${port}: ${message(error)}`,
      undefined,
      { cause: error },
    );
  }
}

async function viaProxy(
  proxy: string,
  hostname: string,
  port: number,
  where: string,
  signal: AbortSignal | undefined,
): Promise<Deno.Conn> {
  const url = new URL(proxy);
  if (url.protocol !== "http:") {
    throw new TypeError(`Cannot use proxy "${url.origin}": only http:// proxies are supported`);
  }
  const shown = `http://${url.host}`;
  const conn = await dial(
    url.hostname.replace(/^\[|\]$/g, ""),
    Number(url.port || 80),
    where,
    signal,
  )
    .catch((error) => {
      throw new WebSocketHandshakeError(
        `WebSocket to ${where}: cannot reach proxy ${shown}: ${message(error.cause ?? error)}`,
        undefined,
        { cause: error },
      );
    });
  try {
    const authority = hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
    const lines = [`CONNECT ${authority} HTTP/1.1`, `Host: ${authority}`];
    if (url.username) {
      const user = decodeURIComponent(url.username);
      const password = decodeURIComponent(url.password);
      lines.push(`Proxy-Authorization: Basic ${btoa(`${user}:${password}`)}`);
    }
    await writeAll(conn, encoder.encode(lines.join("\r\n") + "\r\n\r\n"));
    const head = await readHead(conn, `Proxy ${shown}`);
    if (head.status < 200 || head.status > 299) {
      throw new WebSocketHandshakeError(
        `WebSocket to ${where}: proxy ${shown} answered CONNECT ${authority} with ${head.status} ${head.statusText}`,
        head.status,
      );
    }
    if (head.rest.length > 0) {
      throw new WebSocketHandshakeError(
        `WebSocket to ${where}: proxy ${shown} sent data before the tunnel was used`,
      );
    }
    return conn;
  } catch (error) {
    closeQuietly(conn);
    throw error;
  }
}

interface Head {
  status: number;
  statusText: string;
  headers: Map<string, string>;
  rest: Uint8Array;
}

/** Reads an HTTP/1.1 response head; `rest` is what came after it. */
async function readHead(conn: Deno.Conn, who: string): Promise<Head> {
  let data = new Uint8Array(0);
  const scratch = new Uint8Array(4096);
  while (true) {
    const end = indexOfBlankLine(data);
    if (end >= 0) {
      const text = new TextDecoder().decode(data.subarray(0, end));
      const [statusLine, ...fields] = text.split("\r\n");
      const match = statusLine.match(/^HTTP\/1\.[01] (\d{3})(?: (.*))?$/);
      if (!match) {
        throw new WebSocketHandshakeError(
          `${who}: the server answered ${JSON.stringify(statusLine.slice(0, 80))}, not HTTP/1.1`,
        );
      }
      const headers = new Map<string, string>();
      for (const field of fields) {
        const colon = field.indexOf(":");
        if (colon <= 0) continue;
        const name = field.slice(0, colon).trim().toLowerCase();
        const value = field.slice(colon + 1).trim();
        headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
      }
      return {
        status: Number(match[1]),
        statusText: match[2] ?? "",
        headers,
        rest: data.slice(end + 4),
      };
    }
    if (data.length > MAX_HEAD_BYTES) {
      throw new WebSocketHandshakeError(`${who}: response head exceeds ${MAX_HEAD_BYTES} bytes`);
    }
    let n: number | null;
    try {
      n = await conn.read(scratch);
    } catch (error) {
      throw new WebSocketHandshakeError(`${who}: reading the response failed: ${message(error)}`);
    }
    if (n === null) {
      throw new WebSocketHandshakeError(
        `${who}: the server closed the connection without answering`,
      );
    }
    const next = new Uint8Array(data.length + n);
    next.set(data);
    next.set(scratch.subarray(0, n), data.length);
    data = next;
  }
}

function indexOfBlankLine(data: Uint8Array): number {
  for (let i = 0; i + 3 < data.length; i++) {
    if (data[i] === 13 && data[i + 1] === 10 && data[i + 2] === 13 && data[i + 3] === 10) return i;
  }
  return -1;
}

/** Checks the server's answer to the upgrade; returns the chosen subprotocol. */
async function checkUpgrade(
  where: string,
  key: string,
  protocols: string[],
  head: Omit<Head, "rest">,
): Promise<string> {
  const fail = (what: string) =>
    new WebSocketHandshakeError(`WebSocket handshake to ${where}: ${what}`, head.status);
  if (head.status !== 101) {
    throw fail(`the server answered ${head.status} ${head.statusText}`.trimEnd());
  }
  const { headers } = head;
  if (headers.get("upgrade")?.toLowerCase() !== "websocket") {
    throw fail(`the server answered Upgrade: ${JSON.stringify(headers.get("upgrade") ?? "")}`);
  }
  if (!/(^|,)\s*upgrade\s*(,|$)/i.test(headers.get("connection") ?? "")) {
    throw fail(
      `the server answered Connection: ${JSON.stringify(headers.get("connection") ?? "")}`,
    );
  }
  const digest = await crypto.subtle.digest("SHA-1", encoder.encode(key + GUID));
  const expected = btoa(String.fromCharCode(...new Uint8Array(digest)));
  if (headers.get("sec-websocket-accept") !== expected) {
    throw fail("Sec-WebSocket-Accept does not match the key sent");
  }
  if (headers.has("sec-websocket-extensions")) {
    throw fail(`the server chose extensions "${headers.get("sec-websocket-extensions")}" unasked`);
  }
  const chosen = headers.get("sec-websocket-protocol") ?? "";
  if (protocols.length === 0 && chosen !== "") {
    throw fail(`the server chose subprotocol "${chosen}" unasked`);
  }
  if (protocols.length > 0 && !protocols.includes(chosen)) {
    throw fail(
      chosen === ""
        ? `the server did not accept subprotocol "${protocols.join('", "')}"`
        : `the server chose subprotocol "${chosen}", not "${protocols.join('", "')}"`,
    );
  }
  return chosen;
}
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}

export function closeQuietly(conn: Deno.Conn | undefined): void {
  try {
    conn?.close();
  } catch {
    // Already closed.
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
