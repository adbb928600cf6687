/**
 * The control endpoint: how `outpost tree` and `outpost status` ask the
 * running agent, over a Unix domain socket only the agent's user can open.
 *
 * Owns: the socket file and its connections. Receives: one line of JSON per
 * connection, `{"command":"tree"}` or, with arguments,
 * `{"command":"approve","args":["<clientId>"]}`. Sends: one line of JSON back,
 * `{"ok":true,"result":…}` or `{"ok":false,"error":"…"}`, then closes.
 * Supervised by: nobody; the agent's main wiring opens it after the tree
 * starts and closes it before the tree stops. A bad request is answered and
 * forgotten: the endpoint keeps serving.
 *
 * The other end, `askControl`, and the line framing both ends share are in
 * control_client.ts; how `outpost tree` prints the result is control_format.ts.
 */
import { getLogger } from "../runtime/logging.ts";
import {
  causedBy,
  closeQuietly,
  ControlError,
  type LineResult,
  messageOf,
  readLine,
  writeAll,
} from "./control_client.ts";

/** Answers one command; what it returns becomes `result`, what it throws `error`. */
export type ControlHandler = (command: string, args: string[]) => unknown | Promise<unknown>;

/** A running control endpoint. */
export interface ControlServer {
  /** Stops listening, closes open connections and removes the socket file. */
  close(): Promise<void>;
}

/** Longest request line accepted, in bytes, without its newline. */
export const MAX_REQUEST_BYTES = 64 * 1024;
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
 * A handler that answers the commands in `commands` and refuses others with
 * a message listing the known ones.
 *
 * @example
 * ```ts
 * await serveControl(path, controlCommands({ tree: () => system.tree() }));
 * ```
 */
export function controlCommands(
  commands: Record<string, (args: string[]) => unknown>,
): ControlHandler {
  const known = Object.keys(commands).sort();
  return (command, args) => {
    if (!Object.hasOwn(commands, command)) {
      throw new ControlError(
        `Unknown command ${JSON.stringify(command)}; known commands: ${known.join(", ")}`,
      );
    }
    return commands[command](args);
  };
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
    const parsed = commandOf(request.text);
    if ("error" in parsed) return { ok: false, error: parsed.error };
    const { command, args } = parsed;
    try {
      const result = await this.handler(command, args);
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

const EXAMPLE = `send one line such as {"command":"status"}`;

function commandOf(text: string): { command: string; args: string[] } | { error: string } {
  let request: unknown;
  try {
    request = JSON.parse(text);
  } catch (error) {
    return { error: `the request is not valid JSON (${messageOf(error)}); ${EXAMPLE}` };
  }
  const { command, args = [] } = (request ?? {}) as { command?: unknown; args?: unknown };
  if (typeof request !== "object" || Array.isArray(request) || typeof command !== "string") {
    return { error: `the request needs a string "command"; ${EXAMPLE}` };
  }
  if (!Array.isArray(args) || !args.every((arg) => typeof arg === "string")) {
    return { error: `"args" must be a list of strings; ${EXAMPLE}` };
  }
  return { command, args };
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
