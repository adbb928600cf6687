import { equal } from "node:assert/strict";
import { startLocalApiWorld } from "../helpers/local_api_world.ts";
import { connectApi, provisionApp } from "../helpers/local_api_app.ts";

Deno.test("smoke", async () => {
  const w = await startLocalApiWorld();
  try {
    const id = await provisionApp(w.provisioningPort, w.caPem);
    const app = await connectApi(w.apiPort, w.caPem, id);
    const r = await app.call("/ping", { request: "Ping" }, [
      "/ping/info/inbox",
      "/ping/error/inbox",
    ]);
    equal(r.text, '{"request":"Ping"}');
    await app.close();
  } finally {
    await w.stop();
  }
});
