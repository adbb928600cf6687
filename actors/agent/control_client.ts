/**
 * The control endpoint as a client sees it: `askControl` sends one command
 * to the running agent over its Unix socket and returns the result, which
 * is how `outpost tree` and `outpost status` reach the agent.
 *
 * The line framing (one JSON line each way) and ControlError live here and
 * are shared with the endpoint itself (control.ts), so both ends read and
 * write lines the same way.
 */

/** A control request or reply that failed, with a message for the person at the CLI. */
export class ControlError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ControlError";
  }
}

// A tree of thousands of tunnels is well under this; it only bounds a broken peer.
const MAX_REPLY_BYTES = 16 * 1024 * 1024;

const encoder = new TextEncoder();

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
  options: { timeoutMs?: number; args?: string[] } = {},
): Promise<unknown> {
  const { timeoutMs = 5000, args } = options;
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
    await writeAll(conn, JSON.stringify(args ? { command, args } : { command }) + "\n");
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

/** One line read by {@link readLine}: its text, or why there is none. */
export type LineResult = { kind: "line"; text: string } | { kind: "too_long" } | { kind: "eof" };

/** Reads up to the first "\n" (or the end of the stream); bytes after it are ignored. */
export async function readLine(conn: Deno.Conn, maxBytes: number): Promise<LineResult> {
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

/** Writes all of `text`, however many writes the socket needs. */
export async function writeAll(conn: Deno.Conn, text: string): Promise<void> {
  const bytes = encoder.encode(text);
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

/** Closes `conn`, ignoring that it may be closed already. */
export function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

/** A ControlError saying `message: <why>`, keeping the original error as its cause. */
export function causedBy(message: string, error: unknown): ControlError {
  return new ControlError(`${message}: ${messageOf(error)}`, { cause: error });
}

/** The message of an Error, or anything else as a string. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
