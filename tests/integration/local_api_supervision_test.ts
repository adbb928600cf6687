/**
 * The `local-api` subtree under supervision: a port in use is an error
 * exit that names host:port, retried with backoff until the port is free,
 * while the other children keep serving.
 */
import { equal, ok } from "node:assert/strict";
import { createServer } from "node:net";
import { LocalApi } from "../../actors/local_api/mod.ts";
import { createSystem } from "../../actors/runtime/system.ts";
import type { SystemEvent } from "../../actors/runtime/node.ts";
import { openDatabase } from "../../actors/store/database.ts";

Deno.test("an API port in use fails its child naming host:port, and it starts once the port is free", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "outpost-local-api-" });
  const db = openDatabase(stateDir);
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
  const busy = (blocker.address() as { port: number }).port;
  const api = new LocalApi({
    settings: {
      host: "127.0.0.1",
      provisioningPort: 0,
      apiPort: busy,
      caCertPath: "",
      approval: "auto",
    },
    stateDir,
    db,
    publish: () => Promise.resolve(),
  });
  const system = createSystem(api.spec());
  const failed = Promise.withResolvers<SystemEvent>();
  system.subscribe((event) => {
    if (event.type === "exited" && event.path.endsWith("/api")) failed.resolve(event);
  });
  try {
    await system.start();
    const exit = await failed.promise;
    const reason = exit.type === "exited" ? String((exit.error as Error)?.message) : "";
    ok(reason.includes(`127.0.0.1:${busy}`) && reason.includes("in use"), reason);
    ok(api.ports().provisioning! > 0, "the provisioning port serves meanwhile");
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
    await api.ready();
    equal(api.ports().api, busy);
  } finally {
    blocker.close();
    await system.stop();
    db.close();
    await Deno.remove(stateDir, { recursive: true });
  }
});
