/**
 * The world around a device for bench/tunnel_bench.ts, run as child
 * processes so that what the device process measures (CPU, heap, RSS) is
 * the device's alone: the user's TCP clients and the target services (a
 * sink, a source, an idle holder) here, and the Cloud Remote Access relay
 * emulator in a process of its own (bench/tunnel_relay.ts), as the real
 * relay runs on other machines than the users' clients: in one JavaScript
 * thread with the clients and targets, the emulator's CPU (4x theirs) was
 * what capped a tunnel's throughput, not the device.
 *
 * Protocol: one JSON command per line on stdin, one JSON answer per line on
 * stdout, in order. Every answer carries this process's CPU time so far.
 */
import process from "node:process";

/** Credentials the relay accepts (Basic). */
export const WORLD_USER = "t1/device";
/** The password of {@link WORLD_USER}. */
export const WORLD_PASSWORD = "secret";

const CHUNK = 64 * 1024;

/** Commands the world understands (`open` goes to the relay's process). */
export type WorldCommand =
  | { op: "open"; key: string }
  | { op: "cpu" }
  | { op: "down"; ports: number[]; bytes: number }
  | { op: "up"; port: number; bytes: number }
  | { op: "memory" }
  | { op: "quit" };

/** Counts what connections to the sink delivered; resolves waiters once enough came. */
function startSink() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let received = 0;
  let waiter: { bytes: number; resolve: () => void } | undefined;
  (async () => {
    for await (const conn of listener) {
      (async () => {
        const buffer = new Uint8Array(CHUNK);
        while (true) {
          const n = await conn.read(buffer).catch(() => null);
          if (n === null) break;
          received += n;
          if (waiter && received >= waiter.bytes) waiter.resolve();
        }
        conn.close();
      })();
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    /** Resolves once `bytes` more than now have arrived. */
    expect(bytes: number): Promise<void> {
      const target = received + bytes;
      return new Promise((resolve) => (waiter = { bytes: target, resolve }));
    },
  };
}

/** Writes the size it was armed with to each connection, after `go()`; holds idle ones. */
function startSource() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let pending: ((conn: Deno.Conn) => void)[] = [];
  const accepted: Deno.Conn[] = [];
  (async () => {
    for await (const conn of listener) {
      const take = pending.shift();
      if (take) take(conn);
      else accepted.push(conn);
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    next(): Promise<Deno.Conn> {
      const conn = accepted.shift();
      if (conn) return Promise.resolve(conn);
      return new Promise((resolve) => pending.push(resolve));
    },
    reset() {
      pending = [];
    },
  };
}

/** Accepts and holds connections until their peer closes them. */
function startHolder() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  (async () => {
    for await (const conn of listener) {
      conn.read(new Uint8Array(1)).catch(() => null).finally(() => conn.close());
    }
  })().catch(() => {});
  return { port: (listener.addr as Deno.NetAddr).port };
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}

function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

async function main(): Promise<void> {
  const sink = startSink();
  const source = startSource();
  const holder = startHolder();
  const payload = new Uint8Array(CHUNK).fill(0x5a);
  const encoder = new TextEncoder();
  const say = (answer: object) =>
    Deno.stdout.write(encoder.encode(JSON.stringify({ ...answer, cpuMs: cpuMs() }) + "\n"));
  await say({
    sinkPort: sink.port,
    sourcePort: source.port,
    holderPort: holder.port,
  });

  let rest = "";
  const decoder = new TextDecoder();
  for await (const chunk of Deno.stdin.readable) {
    rest += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = rest.indexOf("\n")) >= 0) {
      const command = JSON.parse(rest.slice(0, newline)) as WorldCommand;
      rest = rest.slice(newline + 1);
      if (command.op === "quit") {
        Deno.exit(0);
      }
      await say(await run(command));
    }
  }

  async function run(command: WorldCommand): Promise<object> {
    switch (command.op) {
      case "cpu":
        return {};
      case "down": {
        // Each client writes `bytes` to its port; done when the sink has all of them.
        const all = sink.expect(command.bytes * command.ports.length);
        const clients = await Promise.all(
          command.ports.map((port) => Deno.connect({ hostname: "127.0.0.1", port })),
        );
        const started = performance.now();
        await Promise.all(clients.map(async (client) => {
          for (let sent = 0; sent < command.bytes; sent += CHUNK) {
            await writeAll(client, payload.subarray(0, Math.min(CHUNK, command.bytes - sent)));
          }
        }));
        await all;
        const ms = performance.now() - started;
        for (const client of clients) client.close();
        return { ms };
      }
      case "up": {
        // The source writes only once the client is connected, so no byte waits in the relay.
        source.reset();
        const client = await Deno.connect({ hostname: "127.0.0.1", port: command.port });
        const target = await source.next();
        const started = performance.now();
        const writing = (async () => {
          for (let sent = 0; sent < command.bytes; sent += CHUNK) {
            await writeAll(target, payload.subarray(0, Math.min(CHUNK, command.bytes - sent)));
          }
        })();
        const buffer = new Uint8Array(CHUNK);
        let received = 0;
        while (received < command.bytes) {
          const n = await client.read(buffer);
          if (n === null) throw new Error(`up: the client's side ended after ${received} bytes`);
          received += n;
        }
        const ms = performance.now() - started;
        await writing;
        client.close();
        target.close();
        return { ms };
      }
      case "memory": {
        const gc = (globalThis as { gc?: () => void }).gc;
        gc?.();
        gc?.();
        const { heapUsed, rss } = Deno.memoryUsage();
        return { heapUsed, rss };
      }
    }
    throw new TypeError(`unknown world command: ${JSON.stringify(command)}`);
  }
}

if (import.meta.main) await main();
