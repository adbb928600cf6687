/**
 * An Outpost agent with one Cumulocity cloud "c8y" (device "dev-1") wired
 * to the emulator of c8y_emulator.ts, and, for remote access, to the relay
 * and echo target of remote_access_server.ts. Everything lives on
 * 127.0.0.1 and in a temporary state directory; `teardown()` leaves nothing.
 */
import { type Agent, type AgentOptions, createAgent } from "../../actors/agent/agent.ts";
import { parseConfig } from "../../actors/agent/config.ts";
import { type C8yEmulator, type C8yEmulatorOptions, startC8yEmulator } from "./c8y_emulator.ts";
import { startEchoServer, startRemoteAccessServer } from "./remote_access_server.ts";

export interface Setup {
  emulator: C8yEmulator;
  agent: Agent;
  stateDir: string;
  teardown(): Promise<void>;
}

/**
 * TOML of a c8y cloud "c8y" on the emulator (or at `url`, a proxy in front
 * of it); `cloud` and `extra` add keys and tables.
 */
export function configText(
  emulator: C8yEmulator,
  stateDir: string,
  options: { login?: string; cloud?: string; extra?: string; url?: string } = {},
): string {
  return `
[agent]
deviceId = "dev-1"
stateDir = "${stateDir}"

[telemetry.system]
enabled = false

${options.extra ?? ""}

[clouds.c8y]
type = "c8y"
url = "${options.url ?? emulator.url}"
${options.login ?? `tenant = "${emulator.tenant}"\nuser = "device_dev-1"\npassword = "pw-1"`}
${options.cloud ?? ""}

[clouds.c8y.backoff]
minMs = 20
maxMs = 200
`;
}

/** Starts an emulator and an agent connected to it (user device_dev-1, password pw-1). */
export async function setup(
  options: {
    emulator?: C8yEmulatorOptions;
    login?: string;
    cloud?: string;
    extra?: string;
    agent?: AgentOptions;
    stateDir?: string;
    /** Where the agent connects instead of the emulator: a proxy the test puts in front of it. */
    via?: (emulator: C8yEmulator) => string;
    /** Called before the agent starts (to register `onCommand`/`onDesired` handlers). */
    beforeStart?: (agent: Agent) => void;
  } = {},
): Promise<Setup> {
  const emulator = await startC8yEmulator({
    users: { "device_dev-1": "pw-1" },
    ...options.emulator,
  });
  const stateDir = options.stateDir ?? await Deno.makeTempDir({ prefix: "outpost-c8y-" });
  const url = options.via?.(emulator);
  const config = parseConfig(configText(emulator, stateDir, { ...options, url }), {
    source: "c8y test",
    env: {},
  });
  const agent = createAgent(config, { control: false, ...options.agent });
  options.beforeStart?.(agent);
  await agent.start();
  return {
    emulator,
    agent,
    stateDir,
    async teardown() {
      await agent.stop();
      await emulator.stop();
      if (!options.stateDir) await Deno.remove(stateDir, { recursive: true });
    },
  };
}

/** Waits for the `500` that ends the announcement, so operations sent now are not resent. */
export function announced(emulator: C8yEmulator, count = 1) {
  return emulator.waitForLines((f) => f[0] === "500", count);
}

/** A relay and an echo target, and an agent whose c8y cloud tunnels through them. */
export async function tunnelSetup(
  options: {
    relay?: Parameters<typeof startRemoteAccessServer>[0];
    /** The allowlist, given the echo target's port. Default: the echo target alone. */
    allow?: (echoPort: number) => string[];
    cloud?: string;
    extra?: string;
    login?: string;
    emulator?: C8yEmulatorOptions;
    agent?: AgentOptions;
    via?: (emulator: C8yEmulator) => string;
  } = {},
) {
  const relay = await startRemoteAccessServer(
    options.relay ?? { basic: { user: "t100/device_dev-1", password: "pw-1" } },
  );
  const echo = startEchoServer();
  const allow = options.allow?.(echo.port) ?? [`127.0.0.1:${echo.port}`];
  const t = await setup({
    emulator: options.emulator,
    login: options.login,
    agent: options.agent,
    via: options.via,
    cloud: `remoteAccessUrl = "${relay.wsBase}"\n${options.cloud ?? ""}`,
    extra: `[remoteAccess]\nallow = ${JSON.stringify(allow)}\ndialTimeoutSec = 5\n${
      options.extra ?? ""
    }`,
  });
  await announced(t.emulator);
  return {
    ...t,
    relay,
    echo,
    async teardown() {
      await t.teardown();
      await relay.close();
      await echo.close();
    },
  };
}

/** Sends `text` through the relay's client-side port of `session` and reads it back. */
export async function roundTrip(port: number, text: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const bytes = new TextEncoder().encode(text);
    await conn.write(bytes);
    const got = new Uint8Array(bytes.length);
    let read = 0;
    while (read < got.length) {
      const n = await conn.read(got.subarray(read));
      if (n === null) throw new Error(`the tunnel closed after ${read} bytes`);
      read += n;
    }
    return new TextDecoder().decode(got);
  } finally {
    conn.close();
  }
}

/** The tunnel actors under the cloud's `tunnels` supervisor. */
export function tunnels(agent: Agent) {
  const cloud = agent.tree().children?.find((c) => c.id === "cloud:c8y");
  return cloud?.children?.find((c) => c.id === "tunnels")?.children ?? [];
}

/** How many tunnels run. */
export function tunnelCount(agent: Agent): number {
  return tunnels(agent).length;
}

/** The statechart state of each tunnel (`"open"`, `{ authorizing: "access" }`, …) as JSON. */
export function tunnelStates(agent: Agent): string[] {
  return tunnels(agent).map((t) => typeof t.state === "string" ? t.state : JSON.stringify(t.state));
}
