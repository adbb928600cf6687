/**
 * Files that hold key material or credentials: readable by the agent's
 * user only (mode 0600) and never torn. A write goes to a temp file in the
 * same directory, is fsynced, and is renamed over the target, so a crash at
 * any moment leaves either the old file or the new one, never a mix.
 */

// Temp files sit beside the target (a rename is atomic only within one file
// system) and are hidden and recognisable, so a leftover from a crashed write
// is never taken for the secret and is removed by the next write.
function tempPrefix(base: string): string {
  return `.${base}.tmp-`;
}

function split(path: string): { dir: string; base: string } {
  const slash = path.lastIndexOf("/");
  if (slash < 0) return { dir: ".", base: path };
  return { dir: slash === 0 ? "/" : path.slice(0, slash), base: path.slice(slash + 1) };
}

// Writes to the same path in this process are queued: each removes the
// leftovers of crashed writes, which must not include a live sibling's file.
const queues = new Map<string, Promise<void>>();

/**
 * Replaces the file at `path` with `data` atomically, with mode 0600.
 *
 * @example
 * ```ts
 * await writeSecretFile("/var/lib/outpost/device.key", pemPrivateKey);
 * ```
 */
export function writeSecretFile(path: string, data: string | Uint8Array): Promise<void> {
  if (typeof path !== "string" || path.length === 0 || path.endsWith("/")) {
    return Promise.reject(
      new TypeError(`Cannot write a secret file: ${JSON.stringify(path)} is not a file path`),
    );
  }
  if (typeof data !== "string" && !(data instanceof Uint8Array)) {
    return Promise.reject(
      new TypeError(`Cannot write secret file "${path}": data must be a string or Uint8Array`),
    );
  }
  const previous = queues.get(path) ?? Promise.resolve();
  const write = previous.then(() => replace(path, data));
  const tail = write.catch(() => {});
  queues.set(path, tail);
  tail.then(() => {
    if (queues.get(path) === tail) queues.delete(path);
  });
  return write;
}

/**
 * The content of the file at `path` as text, or `undefined` when there is
 * no such file.
 *
 * @example
 * ```ts
 * const token = await readSecretFile("/var/lib/outpost/c8y.token") ?? await bootstrap();
 * ```
 */
export async function readSecretFile(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

async function replace(path: string, data: string | Uint8Array): Promise<void> {
  const { dir, base } = split(path);
  await removeLeftovers(dir, base);
  const temp = `${dir}/${tempPrefix(base)}${crypto.randomUUID()}`;
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  try {
    const file = await Deno.open(temp, { write: true, createNew: true, mode: 0o600 });
    try {
      // The umask can only take bits away from 0600, but a umask like 0277
      // would leave the agent unable to rewrite its own file: set it exactly.
      await Deno.chmod(temp, 0o600);
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
      // Without this the rename may reach the disk before the data does,
      // and a power loss would leave an empty file under the target's name.
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(temp, path);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw new Error(`Cannot write secret file "${path}": ${messageOf(error)}`, { cause: error });
  }
  await syncDirectory(dir);
}

async function removeLeftovers(dir: string, base: string): Promise<void> {
  const prefix = tempPrefix(base);
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && entry.name.startsWith(prefix)) {
        await Deno.remove(`${dir}/${entry.name}`).catch(() => {});
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

// The rename itself lives in the directory; fsync it so the new name
// survives a power loss. Not every platform can open a directory (Windows).
async function syncDirectory(dir: string): Promise<void> {
  let handle: Deno.FsFile | undefined;
  try {
    handle = await Deno.open(dir, { read: true });
    await handle.sync();
  } catch {
    // Best effort: the data itself is already on disk.
  } finally {
    handle?.close();
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
