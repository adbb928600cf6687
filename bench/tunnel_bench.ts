/**
 * What a remote-access tunnel costs over a direct loopback TCP relay,
 * measured side by side in one run: throughput of one tunnel each way, 100
 * tunnels at once, memory per idle tunnel, and set-up time (the `530` to
 * the `503`). This process is the device: it runs the tunnels
 * (`DeviceProxy`, the proxy actor) and, as the baseline, a plain TCP relay
 * copying with `readable.pipeTo`. The relay emulator, the users' clients
 * and the target services run in a child process (bench/tunnel_world.ts),
 * so CPU, heap and RSS figures here are the device's alone. With
 * `C8YDP_SRC` pointing at a checkout of the Python seed, its
 * `c8ydp.DeviceProxy` is measured in the same run as a third peer, through
 * the same relay emulator, clients and targets (bench/tunnel_seed.ts).
 * The tables and verdicts are bench/tunnel_report.ts's. Verdicts are
 * informational: the script always exits 0.
 *
 * Run: deno task bench:tunnel
 * (deno run --allow-all --v8-flags=--expose-gc bench/tunnel_bench.ts)
 * C8YDP_SRC=/path/to/cumulocity-remote-access-agent deno task bench:tunnel
 * TUNNEL_BENCH_MB=50 shortens the rounds (default 200 MB each).
 * TUNNEL_RELAY=lean: the lean stand-in relay (bench/tunnel_lean_relay.ts).
 */
import process from "node:process";
import { DeviceProxy } from "../actors/facades/device_proxy.ts";
import { connectWebSocket, type WebSocketConnection } from "../protocols/websocket_client.ts";
import { formatNumber, heapUsedAfterGc } from "./measure.ts";
import { WORLD_PASSWORD, WORLD_USER, type WorldCommand } from "./tunnel_world.ts";
import { startWorld, type World } from "./tunnel_world_client.ts";
import { type Seed, startSeed } from "./tunnel_seed.ts";
import { type IdleMemory, printTunnelReport, type Round, type Transfer } from "./tunnel_report.ts";

const MB = 1024 * 1024;
const BYTES = Number(Deno.env.get("TUNNEL_BENCH_MB") ?? 200) * MB;
const ROUNDS = 3;
const MANY = 100;
const MANY_BYTES = 5 * MB;
const IDLE = 200;
const SETUPS = 50;
/** Bytes read from the target at a time: DeviceProxy's default (the seed's), or TUNNEL_BUFFER. */
const BUFFER_SIZE = Number(Deno.env.get("TUNNEL_BUFFER") ?? 16384);
const AUTHORIZATION = `Basic ${btoa(`${WORLD_USER}:${WORLD_PASSWORD}`)}`;

/** The baseline: client → this relay → target, copying with `pipeTo` both ways. */
function startTcpRelay(targetPort: () => number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  (async () => {
    for await (const client of listener) {
      Deno.connect({ hostname: "127.0.0.1", port: targetPort() }).then((target) =>
        Promise.all([
          client.readable.pipeTo(target.writable).catch(() => {}),
          target.readable.pipeTo(client.writable).catch(() => {}),
        ])
      ).catch(() => client.close());
    }
  })().catch(() => {});
  return { port: (listener.addr as Deno.NetAddr).port, close: () => listener.close() };
}

let keys = 0;

/** A relay session and a tunnel for it to `targetPort`, open (both sides up). */
async function openTunnel(world: World, targetPort: number) {
  const key = `k${++keys}`;
  const { port } = await world.ask({ op: "open", key });
  const proxy = new DeviceProxy({
    tcpHost: "127.0.0.1",
    tcpPort: targetPort,
    connectionKey: key,
    baseUrl: world.httpBase,
    tenantUser: WORLD_USER,
    password: WORLD_PASSWORD,
    bufferSize: BUFFER_SIZE,
  });
  const started = performance.now();
  await proxy.connect();
  return { proxy, port, key, setupMs: performance.now() - started };
}

function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

async function transfer(
  world: World,
  command: WorldCommand,
  bytes: number,
  deviceCpuMs: () => number | Promise<number> = cpuMs,
): Promise<Transfer> {
  const [cpu0, world0] = [await deviceCpuMs(), (await world.ask({ op: "memory" })).cpuMs];
  const answer = await world.ask(command);
  const cpu1 = await deviceCpuMs();
  const per100 = 100 * MB / bytes;
  return {
    mbps: bytes / MB / (answer.ms / 1000),
    deviceCpu: (cpu1 - cpu0) * per100,
    worldCpu: (answer.cpuMs - world0) * per100,
  };
}

/** One transfer each way through the seed's DeviceProxy (its process's CPU as the device's). */
async function seedRound(world: World, seed: Seed, bytes: number) {
  const cpu = () => seed.cpuMs();
  const downKey = `k${++keys}`;
  const { port: downPort } = await world.ask({ op: "open", key: downKey });
  const down = await seed.open(downKey, world.sinkPort);
  const seedDown = await transfer(world, { op: "down", ports: [downPort], bytes }, bytes, cpu);
  await down.closed;
  const upKey = `k${++keys}`;
  const { port: upPort } = await world.ask({ op: "open", key: upKey });
  const up = await seed.open(upKey, world.sourcePort);
  const seedUp = await transfer(world, { op: "up", port: upPort, bytes }, bytes, cpu);
  await up.close();
  return { seedDown, seedUp };
}

async function throughputRound(
  world: World,
  relay: { port: number },
  setTarget: (p: number) => void,
  bytes: number,
  seed: Seed | undefined,
): Promise<Round> {
  const tunnelDown = await openTunnel(world, world.sinkPort);
  const down = await transfer(world, { op: "down", ports: [tunnelDown.port], bytes }, bytes);
  await tunnelDown.proxy.closed;
  setTarget(world.sinkPort);
  const relayDown = await transfer(world, { op: "down", ports: [relay.port], bytes }, bytes);
  const tunnelUp = await openTunnel(world, world.sourcePort);
  const up = await transfer(world, { op: "up", port: tunnelUp.port, bytes }, bytes);
  await tunnelUp.proxy.close();
  setTarget(world.sourcePort);
  const relayUp = await transfer(world, { op: "up", port: relay.port, bytes }, bytes);
  const seeded = seed ? await seedRound(world, seed, bytes) : undefined;
  return { down, relayDown, up, relayUp, ...seeded };
}

async function idleMemory(world: World): Promise<IdleMemory> {
  const before = { heap: heapUsedAfterGc(), ...Deno.memoryUsage() };
  const worldBefore = await world.ask({ op: "memory" });
  const tunnels = await Promise.all(
    Array.from({ length: IDLE }, () => openTunnel(world, world.holderPort)),
  );
  const tunnelHeap = heapUsedAfterGc() - before.heap;
  const tunnelRss = Deno.memoryUsage().rss - before.rss;

  const worldAfter = await world.ask({ op: "memory" });
  await Promise.all(tunnels.map((t) => t.proxy.close()));

  // Baseline: the same two sockets per tunnel, opened bare (our WebSocket client and Deno.connect).
  const bareBefore = { heap: heapUsedAfterGc(), ...Deno.memoryUsage() };
  const bare: { ws: WebSocketConnection; tcp: Deno.Conn }[] = await Promise.all(
    Array.from({ length: IDLE }, () => openBare(world)),
  );
  const bareHeap = heapUsedAfterGc() - bareBefore.heap;
  const bareRss = Deno.memoryUsage().rss - bareBefore.rss;

  await Promise.all(bare.map(async ({ ws, tcp }) => {
    tcp.close();
    await ws.close(1000, "done");
  }));
  return {
    heap: tunnelHeap / IDLE,
    rss: tunnelRss / IDLE,
    bareHeap: bareHeap / IDLE,
    bareRss: bareRss / IDLE,

    relayHeap: (worldAfter.heapUsed - worldBefore.heapUsed) / IDLE,
    relayRss: (worldAfter.rss - worldBefore.rss) / IDLE,
  };
}

/** A relay session for a new key, without dialing it. */
async function relaySession(world: World): Promise<string> {
  const key = `k${++keys}`;
  await world.ask({ op: "open", key });
  return key;
}

/** The baseline's two sockets, dialed in parallel as a tunnel dials them. */
async function dialBare(world: World, key: string) {
  const [ws, tcp] = await Promise.all([
    connectWebSocket(
      `${world.httpBase.replace(/^http/, "ws")}/service/remoteaccess/device/${key}`,
      { headers: { Authorization: AUTHORIZATION }, protocols: ["binary"] },
    ),
    Deno.connect({ hostname: "127.0.0.1", port: world.holderPort }),
  ]);
  return { ws, tcp };
}

async function openBare(world: World) {
  return await dialBare(world, await relaySession(world));
}

async function setupLatency(world: World) {
  const tunnel: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < SETUPS + 5; i++) {
    const opened = await openTunnel(world, world.holderPort);
    await opened.proxy.close();
    const key = await relaySession(world);
    const started = performance.now();
    const { ws, tcp } = await dialBare(world, key);
    const bareMs = performance.now() - started;
    tcp.close();
    await ws.close(1000, "done");
    if (i < 5) continue; // warm-up
    tunnel.push(opened.setupMs);
    bare.push(bareMs);
  }
  return { tunnel, bare };
}

async function main(): Promise<void> {
  const started = performance.now();
  console.log(
    `Outpost tunnel benchmark: deno ${Deno.version.deno}, V8 ${Deno.version.v8}, ` +
      `${Deno.build.os}/${Deno.build.arch}, ${navigator.hardwareConcurrency} cores, ` +
      `tunnel bufferSize ${BUFFER_SIZE}`,
  );
  const world = await startWorld();
  let relayTarget = world.sinkPort;
  const relay = startTcpRelay(() => relayTarget);
  const setTarget = (port: number) => (relayTarget = port);
  const seedOrWhy = await startSeed({
    httpBase: world.httpBase,
    user: WORLD_USER,
    password: WORLD_PASSWORD,
    bufferSize: BUFFER_SIZE,
  });
  const seed = typeof seedOrWhy === "string" ? undefined : seedOrWhy;
  console.log(`relay: ${world.relay}`);
  console.log(`seed c8ydp: ${seed ? seed.description : `skipped: ${seedOrWhy}`}`);

  await throughputRound(world, relay, setTarget, 20 * MB, seed); // warm-up
  const rounds: Round[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    rounds.push(await throughputRound(world, relay, setTarget, BYTES, seed));
  }
  await seed?.quit();

  // 100 tunnels at once, each carrying MANY_BYTES cloud → device.
  const many = await Promise.all(
    Array.from({ length: MANY }, () => openTunnel(world, world.sinkPort)),
  );
  const manyT = await transfer(
    world,
    { op: "down", ports: many.map((t) => t.port), bytes: MANY_BYTES },
    MANY * MANY_BYTES,
  );
  await Promise.all(many.map((t) => t.proxy.closed));
  setTarget(world.sinkPort);
  const manyR = await transfer(
    world,
    { op: "down", ports: Array(MANY).fill(relay.port), bytes: MANY_BYTES },
    MANY * MANY_BYTES,
  );

  const memory = await idleMemory(world);
  const setup = await setupLatency(world);
  relay.close();
  await world.quit();

  printTunnelReport({
    plan: { rounds: ROUNDS, bytes: BYTES, many: MANY, idle: IDLE, setups: SETUPS },
    rounds,
    many: { tunnel: manyT, relay: manyR },
    memory,
    setup,
    seedSkipped: typeof seedOrWhy === "string" ? seedOrWhy : undefined,
  });
  console.log(`\ntotal ${formatNumber((performance.now() - started) / 1000, 1)} s`);
}

if (import.meta.main) await main();
