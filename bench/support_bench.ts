/**
 * What the support API costs over plain MQTT on the same mutual-TLS local
 * endpoint, side by side in one run: sequential request/reply round trips
 * of `AgentConnection.accessControl.getAccess` (decode, check, SQLite read,
 * reply) against a bare mqtt.js client echoing its own publish through the
 * same broker; and the time a tunnel waits for an `AfterConfirmation`
 * answer given at once by an app, against a tunnel that is simply Allowed.
 * Informational; always exits 0.
 *
 * Run: deno run --allow-all bench/support_bench.ts [rounds]
 */
import mqtt from "mqtt";
import { supportSetup } from "../tests/helpers/support_agent.ts";

async function time(label: string, n: number, op: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.min(50, n); i++) await op();
  const start = performance.now();
  for (let i = 0; i < n; i++) await op();
  const perOp = (performance.now() - start) / n;
  console.log(
    `${label.padEnd(44)} ${(1000 / perOp).toFixed(0).padStart(7)} /s  ${perOp.toFixed(3)} ms`,
  );
  return perOp;
}

const rounds = Number(Deno.args[0] ?? 500);
const t = await supportSetup({ support: "confirmationTimeoutSec = 10" });
try {
  const app = await t.app("bench-app");
  const bare = await mqtt.connectAsync(t.bridge.url, {
    clientId: "bench-bare",
    ...t.bridge.tls,
    rejectUnauthorized: true,
  });
  (bare.stream as unknown as { setNoDelay(on: boolean): void }).setNoDelay(true);
  const echoTopic = "/v1.0/bench-bare/echo";
  await bare.subscribeAsync(echoTopic, { qos: 1 });
  let wake: () => void = () => {};
  bare.on("message", () => wake());

  const api = await time(
    "support API getAccess round trip",
    rounds,
    () => app.accessControl.getAccess("RemoteControl"),
  );
  const raw = await time("bare MQTT publish → own subscription", rounds, () => {
    const got = new Promise<void>((resolve) => (wake = resolve));
    bare.publish(echoTopic, "{}", { qos: 1 });
    return got;
  });
  console.log(`ratio support API / bare MQTT: ${(api / raw).toFixed(2)}x`);

  const tunnels = Math.max(10, Math.floor(rounds / 25));
  const allowed = await time("tunnel.open, RemoteControl Allowed", tunnels, () => t.tunnelOpen());
  await app.accessControl.setAccess("RemoteControl", "AfterConfirmation");
  app.accessControl.setCallbacks({
    accessRequest: (feature) => void app.accessControl.acceptAccessRequest(feature).catch(() => {}),
  });
  const confirmed = await time(
    "tunnel.open, AfterConfirmation accepted",
    tunnels,
    () => t.tunnelOpen(),
  );
  console.log(`ratio confirmed / allowed: ${(confirmed / allowed).toFixed(2)}x`);
  await app.sessions.terminateAll();
  await bare.endAsync();
} finally {
  await t.teardown();
}
