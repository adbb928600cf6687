/**
 * Outpost's Azure path against the official Azure IoT Node SDK, side by
 * side in one run against the same emulator (tests/helpers/azure_emulator.ts,
 * TLS on loopback):
 *
 * - telemetry rate: Outpost's AzureDevice (durable SQLite outbox → drain,
 *   up to 64 QoS 1 publishes in flight) versus the SDK's `Client.sendEvent`
 *   in a subprocess. Row 1: each call awaited before the next (Outpost:
 *   `sendTelemetry` resolves once on disk; SDK: on PUBACK, as its samples
 *   do). Row 2: Outpost's app queues all without awaiting each (the outbox
 *   commits in groups), the SDK keeps 64 sendEvents in flight. Each side is
 *   timed from its first message to the last PUBACK (`flush()` for Outpost);
 * - npm packages each pulls in (closure from `deno info --json`) and the
 *   size of one `deno bundle` file: examples/azure_device_key.ts versus the
 *   SDK flow (tests/helpers/azure_sdk_device.ts: DPS + hub client).
 *
 * Run: deno task bench:azure (deno run --allow-all bench/azure_bench.ts)
 * AZURE_BENCH_COUNT sets the messages per run (default 2000).
 */
import { AzureDevice } from "../actors/facades/azure_device.ts";
import { memoryCredentialStorage } from "../actors/azure/credentials.ts";
import { startAzureEmulator } from "../tests/helpers/azure_emulator.ts";
import { testPki } from "../tests/helpers/tls.ts";
import { formatNumber, formatTable, type ResultRow } from "./measure.ts";

const COUNT = Number(Deno.env.get("AZURE_BENCH_COUNT") ?? 2000);
const KEY = btoa("the-device-key-for-the-benchmark");
const MODEL = "dtmi:outpost:bench;1";
const here = (path: string) => new URL(path, import.meta.url).pathname;
const OUTPOST_ENTRY = here("../examples/azure_device_key.ts");
const SDK_ENTRY = here("../tests/helpers/azure_sdk_device.ts");

const pki = await testPki();
const emulator = await startAzureEmulator({
  pki,
  devices: { "bench-outpost": KEY, "bench-sdk": KEY },
});
const stateDir = await Deno.makeTempDir({ prefix: "outpost-azure-bench-" });
const delivered = (id: string) => emulator.messages.filter((m) => m.deviceId === id).length;

/** `awaitEach`: the app waits for every message to be on disk before the next one. */
async function outpostRate(awaitEach: boolean): Promise<number> {
  const device = new AzureDevice("bench-outpost", emulator.idScope, "deviceKey", KEY, {
    stateDir,
    dpsHost: emulator.hub,
    ca: pki.ca.cert,
    storage: memoryCredentialStorage(),
    logLevel: "disabled",
  });
  device.setModelId(MODEL);
  await device.connect();
  const before = delivered("bench-outpost");
  const started = performance.now();
  if (awaitEach) {
    for (let i = 0; i < COUNT; i++) await device.sendTelemetry({ i, temperature: 21.5 });
  } else {
    const stored = [];
    for (let i = 0; i < COUNT; i++) stored.push(device.sendTelemetry({ i, temperature: 21.5 }));
    await Promise.all(stored);
  }
  if (!await device.flush(120_000)) throw new Error("Outpost did not deliver in 120 s");
  const ms = performance.now() - started;
  await device.disconnect();
  if (delivered("bench-outpost") - before < COUNT) throw new Error("Outpost lost messages");
  return COUNT / (ms / 1000);
}

async function sdkRate(window: number): Promise<number> {
  const before = delivered("bench-sdk");
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--cert",
      pki.ca.certFile,
      SDK_ENTRY,
      "bench",
      emulator.hub,
      emulator.idScope,
      "bench-sdk",
      KEY,
      MODEL,
      String(COUNT),
      String(window),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  if (output.code !== 0) {
    throw new Error(`SDK run failed: ${new TextDecoder().decode(output.stderr)}`);
  }
  const sent = text.split("\n").filter(Boolean).map((l) => JSON.parse(l)).find((l) =>
    l.step === "sent"
  );
  if (delivered("bench-sdk") - before < COUNT) throw new Error("the SDK lost messages");
  return COUNT / (sent.ms / 1000);
}

/** npm packages reachable from `entry`'s imports, by `deno info --json`. */
async function npmClosure(entry: string): Promise<number> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const info = JSON.parse(new TextDecoder().decode(output.stdout));
  const packages: Record<string, { dependencies?: string[] }> = info.npmPackages ?? {};
  const roots = new Set<string>();
  for (const module of info.modules ?? []) {
    if (module.kind === "npm" && module.npmPackage) roots.add(module.npmPackage);
    for (const dep of module.dependencies ?? []) {
      const npm = dep.npmPackage ?? dep.code?.npmPackage;
      if (npm) roots.add(npm);
    }
  }
  const seen = new Set<string>();
  const stack = [...roots];
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    stack.push(...(packages[id]?.dependencies ?? []));
  }
  return seen.size;
}

async function bundleBytes(entry: string): Promise<number> {
  const output = `${stateDir}/bundle-${crypto.randomUUID()}.js`;
  const built = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", "--output", output, entry],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (built.code !== 0) {
    throw new Error(`deno bundle ${entry} failed: ${new TextDecoder().decode(built.stderr)}`);
  }
  return (await Deno.stat(output)).size;
}

try {
  const outpostEach = await outpostRate(true);
  const outpostBatched = await outpostRate(false);
  const sdkSequential = await sdkRate(1);
  const sdkWindowed = await sdkRate(64);
  const rows: ResultRow[] = [
    {
      metric: "rate, each awaited (on disk / PUBACK)",
      supervised: outpostEach,
      bare: sdkSequential,
      unit: "msg/s",
    },
    {
      metric: "rate, not awaited each / 64 in flight",
      supervised: outpostBatched,
      bare: sdkWindowed,
      unit: "msg/s",
    },
    {
      metric: "npm packages pulled in",
      supervised: await npmClosure(OUTPOST_ENTRY),
      bare: await npmClosure(SDK_ENTRY),
      unit: "packages",
    },
    {
      metric: "deno bundle size",
      supervised: (await bundleBytes(OUTPOST_ENTRY)) / 1024,
      bare: (await bundleBytes(SDK_ENTRY)) / 1024,
      unit: "KiB",
    },
  ];
  console.log(`Azure: Outpost vs the official Node SDK, ${formatNumber(COUNT, 0)} messages each`);
  console.log(formatTable(rows, { labels: ["Outpost", "SDK"] }));
  console.log(
    "Outpost's rate includes a durable SQLite append per message; the SDK keeps nothing on disk.",
  );
} finally {
  await emulator.stop();
  await Deno.remove(stateDir, { recursive: true });
}
