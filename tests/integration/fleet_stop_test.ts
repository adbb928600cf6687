/**
 * Stopping a fleet whose broker stopped answering: every device disconnects
 * at once, each within its own budget, instead of one budget after another
 * (thousands of devices would take an hour).
 */
import assert from "node:assert/strict";
import { createFleet, parseFleetConfig } from "../../actors/fleet/mod.ts";
import { startAedes } from "../helpers/brokers.ts";
import { until } from "../helpers/wait.ts";

/** A TCP proxy to `port` that can stop passing bytes while keeping every socket open. */
function freezableProxy(port: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();
  let frozen = false;
  let thaw!: () => void;
  const thawed = new Promise<void>((resolve) => (thaw = resolve));

  async function pipe(from: Deno.Conn, to: Deno.Conn): Promise<void> {
    const buffer = new Uint8Array(16 * 1024);
    try {
      while (true) {
        const n = await from.read(buffer);
        if (frozen) await thawed;
        if (n === null || frozen) break;
        let written = 0;
        while (written < n) written += await to.write(buffer.subarray(written, n));
      }
    } catch {
      // The other side or close() ended it.
    }
  }

  const accepting = (async () => {
    for await (const device of listener) {
      const broker = await Deno.connect({ hostname: "127.0.0.1", port });
      conns.add(device).add(broker);
      for (const task of [pipe(device, broker), pipe(broker, device)]) {
        tasks.add(task);
        task.finally(() => tasks.delete(task));
      }
    }
  })();

  return {
    url: `mqtt://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    freeze: () => void (frozen = true),
    async close() {
      listener.close();
      await accepting.catch(() => {});
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      }
      thaw();
      await Promise.all(tasks);
    },
  };
}

Deno.test("a fleet whose broker no longer answers stops in about one disconnect budget, not one per device", async () => {
  const broker = await startAedes();
  const proxy = freezableProxy(broker.port);
  const stateDir = await Deno.makeTempDir({ prefix: "fleet-stop-" });
  const fleet = createFleet(parseFleetConfig(
    `
[fleet]
devices = 20
rampPerSec = 1000
stateDir = "${stateDir}"
[clouds.hub]
type = "mqtt"
url = "${proxy.url}"
keepaliveSec = 600
`,
    { source: "fleet stop test" },
  ));
  try {
    await fleet.start();
    await until("every device connected", () => fleet.stats().connected === 20, 10_000);
    proxy.freeze();
    const begin = performance.now();
    const last = await fleet.stop();
    const seconds = (performance.now() - begin) / 1000;
    // Each disconnect waits up to 2 s for a broker that never closes its side:
    // 40 s one after another; all at once, a few seconds.
    assert.ok(seconds < 15, `stopped in ${seconds.toFixed(1)} s`);
    assert.equal(last.started, 20);
  } finally {
    await proxy.close();
    await broker.stop();
    await Deno.remove(stateDir, { recursive: true });
  }
});
