/**
 * The control endpoint: how `outpost tree` and `outpost status` ask the
 * running agent, over a Unix domain socket only the agent's user can open.
 *
 * Owns: the socket file and its connections. Receives: one line of JSON per
 * connection, `{"command":"tree"}`. Sends: one line of JSON back,
 * `{"ok":true,"result":…}` or `{"ok":false,"error":"…"}`, then closes.
 * Supervised by: nobody; the agent's main wiring opens it after the tree
 * starts and closes it before the tree stops. A bad request is answered and
 * forgotten: the endpoint keeps serving.
 */
import { getLogger } from "../runtime/logging.ts";
import type { ActorTreeNode } from "../runtime/node.ts";

/** Answers one command; what it returns becomes `result`, what it throws `error`. */
export type ControlHandler = (command: string) => unknown | Promise<unknown>;

/** A control request or reply that failed, with a message for the person at the CLI. */
export class ControlError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ControlError";
  }
}

/** A running control endpoint. */
export interface ControlServer {
  /** Stops listening, closes open connections and removes the socket file. */
  close(): Promise<void>;
}

/** Longest request line accepted, in bytes, without its newline. */
export const MAX_REQUEST_BYTES = 64 * 1024;
// A tree of thousands of tunnels is well under this; it only bounds a broken peer.
const MAX_REPLY_BYTES = 16 * 1024 * 1024;
// A client that connects and never finishes its line must not hold a connection forever.
const REQUEST_TIMEOUT_MS = 10_000;
// sockaddr_un.sun_path is 108 bytes on Linux, including the terminating NUL.
const MAX_SOCKET_PATH_BYTES = 107;

const log = getLogger("control");
const encoder = new TextEncoder();

/**
 * Serves `handler` on a Unix socket at `path` (mode 0600). A socket file
 * nobody answers on (left by an agent that was killed) is replaced; one a
 * live agent answers on is not.
 *
 * @throws {ControlError} when another agent answers on `path`, when `path` is a
 * file that is not a socket, or when the socket cannot be created.
 */
export async function serveControl(path: string, handler: ControlHandler): Promise<ControlServer> {
  if (encoder.encode(path).length > MAX_SOCKET_PATH_BYTES) {
    throw new ControlError(
      `The control socket path ${path} is too long: Unix sockets allow at most ${MAX_SOCKET_PATH_BYTES} bytes`,
    );
  }
  await removeStaleSocket(path);
  let listener: Deno.UnixListener;
  try {
    listener = Deno.listen({ transport: "unix", path });
  } catch (error) {
    throw causedBy(`Cannot open the control socket ${path}`, error);
  }
  try {
    // Anyone who can connect can read the whole tree; the directory's mode
    // guards the moment between bind and chmod.
    await Deno.chmod(path, 0o600);
  } catch (error) {
    listener.close();
    throw causedBy(`Cannot restrict the control socket ${path} to its owner`, error);
  }
  log.info("Control endpoint listening on {path}", { path });

  const sessions = new Set<Session>();
  let closing = false;
  const accepting = (async () => {
    while (true) {
      let conn: Deno.UnixConn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (!closing) {
          log.error("Control endpoint {path} stopped accepting: {error}", { path, error });
        }
        return;
      }
      const session = new Session(conn, handler);
      sessions.add(session);
      session.done.then(() => sessions.delete(session));
    }
  })();

  return {
    async close() {
      if (closing) return;
      closing = true;
      listener.close();
      await accepting;
      for (const session of sessions) session.abort();
      await Promise.all([...sessions].map((session) => session.done));
      // Deno unlinks the file when the listener closes; this covers runtimes that do not.
      await Deno.remove(path).catch(() => {});
      log.info("Control endpoint on {path} closed", { path });
    },
  };
}

/**
 * Sends `command` to the agent answering on `path` and returns its result.
 *
 * @throws {ControlError} when no agent answers, when it does not answer within
 * `timeoutMs` (default 5000), or when it refuses the command.
 *
 * @example
 * ```ts
 * const tree = await askControl("/run/outpost/control.sock", "tree");
 * console.log(formatTree(tree as ActorTreeNode));
 * ```
 */
export async function askControl(
  path: string,
  command: string,
  options: { timeoutMs?: number } = {},
): Promise<unknown> {
  const { timeoutMs = 5000 } = options;
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.ConnectionRefused) {
      throw new ControlError(`No Outpost agent is answering on ${path}: is it running?`, {
        cause: error,
      });
    }
    if (error instanceof Deno.errors.PermissionDenied) {
      throw new ControlError(
        `Cannot connect to the Outpost agent on ${path}: permission denied (run as the agent's user)`,
        { cause: error },
      );
    }
    throw causedBy(`Cannot connect to the Outpost agent on ${path}`, error);
  }
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    closeQuietly(conn);
  }, timeoutMs);
  let reply: LineResult;
  try {
    await writeAll(conn, JSON.stringify({ command }) + "\n");
    reply = await readLine(conn, MAX_REPLY_BYTES);
  } catch (error) {
    if (timedOut) {
      throw new ControlError(
        `The Outpost agent on ${path} did not answer "${command}" within ${timeoutMs} ms`,
      );
    }
    throw causedBy(`Lost the connection to the Outpost agent on ${path}`, error);
  } finally {
    clearTimeout(timer);
    closeQuietly(conn);
  }
  return resultOf(path, command, reply);
}

/**
 * A handler that answers the commands in `commands` and refuses others with
 * a message listing the known ones.
 *
 * @example
 * ```ts
 * await serveControl(path, controlCommands({ tree: () => system.tree() }));
 * ```
 */
export function controlCommands(commands: Record<string, () => unknown>): ControlHandler {
  const known = Object.keys(commands).sort();
  return (command) => {
    if (!Object.hasOwn(commands, command)) {
      throw new ControlError(
        `Unknown command ${JSON.stringify(command)}; known commands: ${known.join(", ")}`,
      );
    }
    return commands[command]();
  };
}

/**
 * The tree as a table for `outpost tree`: one node per line, indented by
 * depth, in aligned columns. The state (JSON, workers only) comes last
 * because it is the one column of unbounded width.
 *
 * @example
 * ```ts
 * console.log(formatTree(system.tree()));
 * // PATH           KIND        STATUS   RESTARTS  UPTIME  STATE
 * // agent          supervisor  running  0         2m 5s
 * //   agent/store  worker      running  0         2m 5s   "ready"
 * ```
 */
export function formatTree(tree: ActorTreeNode): string {
  const rows: string[][] = [["PATH", "KIND", "STATUS", "RESTARTS", "UPTIME", "STATE"]];
  (function walk(node: ActorTreeNode, depth: number) {
    rows.push([
      "  ".repeat(depth) + node.path,
      node.kind,
      node.status,
      String(node.restarts),
      formatUptime(node.uptimeMs),
      node.kind === "worker" ? formatState(node.state) : "",
    ]);
    for (const child of node.children) walk(child, depth + 1);
  })(tree, 0);
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows
    .map((row) => row.map((cell, column) => cell.padEnd(widths[column])).join("  ").trimEnd())
    .join("\n");
}

/** "3s", "2m 5s", "1h 2m", "3d 4h"; "-" when not running. */
export function formatUptime(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms) || ms < 0) return "-";
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

function formatState(state: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(state) ?? "-";
  } catch {
    text = String(state);
  }
  return text.length > 60 ? `${text.slice(0, 59)}…` : text;
}

/** One connection: read a line, answer it, close; within the request timeout. */
class Session {
  readonly done: Promise<void>;
  #finished = false;
  #abort = Promise.withResolvers<void>();

  constructor(private readonly conn: Deno.UnixConn, private readonly handler: ControlHandler) {
    this.done = this.#run();
  }

  /** Ends the session now, without waiting for a slow handler. */
  abort(): void {
    this.#finished = true;
    closeQuietly(this.conn);
    this.#abort.resolve();
  }

  async #run(): Promise<void> {
    const timer = setTimeout(() => {
      void this.#reply({
        ok: false,
        error: `no complete request was answered within ${REQUEST_TIMEOUT_MS} ms`,
      });
    }, REQUEST_TIMEOUT_MS);
    try {
      const reply = await Promise.race([this.#answer(), this.#abort.promise]);
      if (reply) await this.#reply(reply);
    } finally {
      clearTimeout(timer);
      this.#finished = true;
      closeQuietly(this.conn);
    }
  }

  async #answer(): Promise<Reply | undefined> {
    let request: LineResult;
    try {
      request = await readLine(this.conn, MAX_REQUEST_BYTES);
    } catch {
      return undefined; // the client went away or the session was aborted
    }
    if (request.kind === "eof") return undefined;
    if (request.kind === "too_long") {
      return { ok: false, error: `the request line is longer than ${MAX_REQUEST_BYTES} bytes` };
    }
    const command = commandOf(request.text);
    if (typeof command !== "string") return { ok: false, error: command.error };
    try {
      const result = await this.handler(command);
      return { ok: true, result: result ?? null };
    } catch (error) {
      log.debug("Control command {command} failed: {error}", { command, error });
      return { ok: false, error: messageOf(error) };
    }
  }

  async #reply(reply: Reply): Promise<void> {
    if (this.#finished) return;
    this.#finished = true;
    let line: string;
    try {
      line = JSON.stringify(reply);
    } catch (error) {
      line = JSON.stringify({
        ok: false,
        error: `the result cannot be sent as JSON: ${messageOf(error)}`,
      });
    }
    await writeAll(this.conn, line + "\n").catch(() => {}); // the client may be gone
    closeQuietly(this.conn);
  }
}

type Reply = { ok: true; result: unknown } | { ok: false; error: string };

type LineResult = { kind: "line"; text: string } | { kind: "too_long" } | { kind: "eof" };

const EXAMPLE = `send one line such as {"command":"status"}`;

function commandOf(text: string): string | { error: string } {
  let request: unknown;
  try {
    request = JSON.parse(text);
  } catch (error) {
    return { error: `the request is not valid JSON (${messageOf(error)}); ${EXAMPLE}` };
  }
  const command = (request as { command?: unknown } | null)?.command;
  if (typeof request !== "object" || Array.isArray(request) || typeof command !== "string") {
    return { error: `the request needs a string "command"; ${EXAMPLE}` };
  }
  return command;
}

function resultOf(path: string, command: string, reply: LineResult): unknown {
  if (reply.kind === "eof") {
    throw new ControlError(
      `The Outpost agent on ${path} closed the connection without answering "${command}"`,
    );
  }
  if (reply.kind === "too_long") {
    throw new ControlError(
      `The Outpost agent on ${path} sent a reply over ${MAX_REPLY_BYTES} bytes`,
    );
  }
  let parsed: { ok?: unknown; result?: unknown; error?: unknown };
  try {
    parsed = JSON.parse(reply.text);
  } catch (error) {
    throw new ControlError(
      `The Outpost agent on ${path} sent a reply that is not JSON: ${messageOf(error)}`,
    );
  }
  if (parsed?.ok === true) return parsed.result;
  if (parsed?.ok === false) {
    throw new ControlError(
      `The Outpost agent on ${path} refused "${command}": ${String(parsed.error)}`,
    );
  }
  throw new ControlError(
    `The Outpost agent on ${path} sent a reply without "ok": ${reply.text.slice(0, 200)}`,
  );
}

/** Reads up to the first "\n" (or the end of the stream); bytes after it are ignored. */
async function readLine(conn: Deno.Conn, maxBytes: number): Promise<LineResult> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  const buffer = new Uint8Array(16 * 1024);
  while (true) {
    const n = await conn.read(buffer);
    if (n === null) {
      if (length === 0) return { kind: "eof" };
      break;
    }
    const chunk = buffer.subarray(0, n);
    const newline = chunk.indexOf(0x0a);
    const take = newline === -1 ? chunk : chunk.subarray(0, newline);
    if (length + take.length > maxBytes) return { kind: "too_long" };
    chunks.push(take.slice());
    length += take.length;
    if (newline !== -1) break;
  }
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  // Invalid UTF-8 becomes U+FFFD, which no command name contains.
  return { kind: "line", text: new TextDecoder().decode(bytes).replace(/\r$/, "") };
}

async function writeAll(conn: Deno.Conn, text: string): Promise<void> {
  const bytes = encoder.encode(text);
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

async function removeStaleSocket(path: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw causedBy(`Cannot inspect the control socket path ${path}`, error);
  }
  if (!info.isSocket) {
    throw new ControlError(
      `Cannot use ${path} as the control socket: a file that is not a socket is in the way`,
    );
  }
  try {
    const conn = await Deno.connect({ transport: "unix", path });
    closeQuietly(conn);
  } catch (error) {
    if (!(error instanceof Deno.errors.ConnectionRefused)) {
      throw causedBy(`Cannot check whether an agent answers on ${path}`, error);
    }
    log.info("Removing the stale control socket {path} (no agent answers on it)", { path });
    await Deno.remove(path).catch((removeError) => {
      if (!(removeError instanceof Deno.errors.NotFound)) throw removeError;
    });
    return;
  }
  throw new ControlError(
    `Another Outpost agent is already answering on ${path}; stop it first or configure another control socket`,
  );
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

/** A ControlError saying `message: <why>`, keeping the original error as its cause. */
function causedBy(message: string, error: unknown): ControlError {
  return new ControlError(`${message}: ${messageOf(error)}`, { cause: error });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
