/** examples/create_metric.ts runs end to end against the local API, as its comment says. */
import { equal, ok } from "node:assert/strict";
import { startLocalApiWorld } from "../helpers/local_api_world.ts";

Deno.test("the create_metric example provisions, creates metrics, pushes values and cleans up", async () => {
  const world = await startLocalApiWorld();
  const certFolder = await Deno.makeTempDir({ prefix: "outpost-example-" });
  try {
    const run = (): Promise<Deno.CommandOutput> =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", new URL("../../examples/create_metric.ts", import.meta.url).pathname],
        env: {
          MqttProvisionPort: String(world.provisioningPort),
          MqttPort: String(world.apiPort),
          CaFile: `${world.stateDir}/apps/TeamViewerAuthority.crt`,
          CertFolder: certFolder,
          NO_COLOR: "1",
        },
        stdout: "piped",
        stderr: "piped",
      }).output();
    const first = await run();
    const out = new TextDecoder().decode(first.stdout);
    equal(first.code, 0, new TextDecoder().decode(first.stderr));
    ok(out.includes("Client is successfully provisioned."), out);
    ok(out.includes("Sensor was deleted."), out);
    equal(world.published.length, 3);
    const second = await run();
    equal(second.code, 0, new TextDecoder().decode(second.stderr));
    ok(new TextDecoder().decode(second.stdout).includes("Client is already provisioned."));
    equal(world.api.clients().length, 1, "the second run reused the certificate");
  } finally {
    await world.stop();
    await Deno.remove(certFolder, { recursive: true });
  }
});
