/**
 * A running agent with its console for browser tests and the console
 * bench: a cloud broker and a plain MQTT client playing the cloud, the
 * relay and an echo target for real tunnels, the local API in operator
 * approval mode, an app actor the test can crash, and headless Chromium
 * (Debian's package) driven by playwright-core.
 */
import { chromium } from "playwright-core";
import type { BrowserContext, Page } from "playwright-core";
import { fromCallback, setup } from "xstate";
import { startAedes, type TestBroker } from "../helpers/brokers.ts";
import { Condition } from "../helpers/condition.ts";
import { observe, type Observer } from "../helpers/mqtt_observer.ts";
import {
  type EchoServer,
  type RemoteAccessServer,
  startEchoServer,
  startRemoteAccessServer,
} from "../helpers/remote_access_server.ts";
import { type Agent, createAgent } from "../../actors/agent/agent.ts";
import { parseConfig } from "../../actors/agent/config.ts";
import { askControl } from "../../actors/agent/control_client.ts";
import { child, supervisor } from "../../actors/runtime/spec.ts";
import { configureLogging, resetLogging } from "../../actors/runtime/logging.ts";

/** Where Debian's chromium package puts the browser. */
export const CHROMIUM = Deno.env.get("OUTPOST_CHROMIUM") ?? "/usr/bin/chromium";
/** The device id on every page and screenshot. */
export const DEVICE = "gateway-7";
/** Path of the actor the test crashes. */
export const CRASHY = "agent/apps/demo/worker";
const P = `outpost/${DEVICE}`;
const TOKEN = "relay-token";

// Without the background-networking flags Chromium keeps calling home, which
// a closed network answers with a flood of failures.
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** An app actor that throws when the test says so: what "kill an actor" means here. */
function crashyActor(trigger: { crash?: () => void }) {
  return setup({
    actors: {
      // Each run replaces the trigger: a crashed run's cleanup may come late or never.
      trigger: fromCallback(({ sendBack }) => {
        trigger.crash = () => sendBack({ type: "crash" });
      }),
    },
    actions: {
      explode: () => {
        throw new Error("crashed on purpose by the test");
      },
    },
  }).createMachine({
    id: "worker",
    invoke: { src: "trigger" },
    initial: "working",
    states: {
      working: { on: { crash: { actions: "explode" }, "outpost.stop": "done" } },
      done: { type: "final" },
    },
  });
}

/** Everything a console test drives. */
export interface ConsoleWorld {
  agent: Agent;
  stateDir: string;
  cloud: Observer;
  relay: RemoteAccessServer;
  echo: EchoServer;
  /** Crashes the app actor at {@link CRASHY} once. */
  crash(): void;
  /** A fresh one-time login link from the control socket, as `outpost console url` gets it. */
  loginLink(): Promise<string>;
  /** The console's base URL. */
  url: string;
  /** The local API's provisioning port and the CA an app trusts. */
  provisioning(): Promise<{ port: number; caPem: string }>;
  /** Sends `tunnel.open` for a fresh relay session; the response and the session. */
  openTunnel(): Promise<{
    response: { status: number; body: { tunnel?: string; error?: string } };
    session: Awaited<ReturnType<RemoteAccessServer["open"]>>;
  }>;
  close(): Promise<void>;
}

/** Starts the agent (console on port 0) and its world. */
export async function startConsoleWorld(
  options: { systemIntervalSec?: number; logs?: boolean } = {},
): Promise<ConsoleWorld> {
  const broker: TestBroker = await startAedes();
  const relay = await startRemoteAccessServer({ bearer: TOKEN });
  const echo = startEchoServer();
  const cloud = await observe(broker.url, [`${P}/#`]);
  const stateDir = await Deno.makeTempDir({ prefix: "outpost-console-" });
  if (options.logs !== false) await configureLogging({ level: "info", write: () => {} });
  const config = parseConfig(
    `
[agent]
deviceId = "${DEVICE}"
stateDir = "${stateDir}"

[telemetry.system]
enabled = ${options.systemIntervalSec !== undefined}
intervalSec = ${options.systemIntervalSec ?? 5}

[remoteAccess]
allow = ["127.0.0.1:${echo.port}"]
dialTimeoutSec = 5

[localApi]
enabled = true
provisioningPort = 0
apiPort = 0
approval = "operator"

[console]
enabled = true
port = 0

[clouds.main]
type = "mqtt"
url = "${broker.url}"

[clouds.main.backoff]
minMs = 20
maxMs = 200
`,
    { source: "console test agent", env: {} },
  );
  const trigger: { crash?: () => void } = {};
  const demo = supervisor("demo", { intensity: 1_000_000, periodMs: 1000 }, [
    child("worker", crashyActor(trigger), { backoff: { minMs: 0, jitter: 0 } }),
  ]);
  const agent = createAgent(config, { actors: [demo] });
  await agent.start();
  await cloud.waitFor((m) => m.topic === `${P}/status` && JSON.parse(m.text).online === true);
  const link = () =>
    askControl(config.control.socket, "consoleLink") as Promise<{ url: string; link: string }>;
  // The console listens once its `http` child is running.
  await new Condition().until(
    "the console's http actor to run",
    () => agent.tree().children.find((c) => c.id === "console")?.children[1]?.state === "running",
    { timeoutMs: 10_000, pollMs: 20 },
  );
  const { url } = await link();
  let requests = 0;
  return {
    agent,
    stateDir,
    cloud,
    relay,
    echo,
    url,
    crash() {
      const crash = trigger.crash;
      if (!crash) throw new Error(`${CRASHY} is not running`);
      trigger.crash = undefined;
      crash();
    },
    loginLink: async () => (await link()).link,
    async provisioning() {
      const localApi = agent.localApi();
      await localApi.ready();
      return { port: localApi.ports().provisioning!, caPem: localApi.caCertPem()! };
    },
    async openTunnel() {
      const id = `r${++requests}`;
      const key = `key-${id}`;
      const session = await relay.open(key);
      await cloud.publish(
        `${P}/commands/tunnel.open/${id}`,
        JSON.stringify({
          url: relay.deviceUrl(key),
          token: TOKEN,
          host: "127.0.0.1",
          port: echo.port,
        }),
      );
      const seen = await cloud.waitFor(
        (m) => m.topic === `${P}/responses/tunnel.open/${id}`,
        20_000,
      );
      return { response: JSON.parse(seen.text), session };
    },
    async close() {
      await agent.stop();
      await cloud.close();
      await relay.close();
      await echo.close();
      await broker.stop();
      if (options.logs !== false) await resetLogging();
      await Deno.remove(stateDir, { recursive: true });
    },
  };
}

/** Headless Chromium with a fresh profile; `close()` removes the profile. */
export async function startBrowser(
  viewport = { width: 1280, height: 860 },
): Promise<{ context: BrowserContext; page: Page; close(): Promise<void> }> {
  const profile = await Deno.makeTempDir({ prefix: "outpost-chromium-" });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    viewport,
    reducedMotion: "reduce",
  });
  const page = context.pages()[0] ?? await context.newPage();
  page.setDefaultTimeout(10_000);
  return {
    context,
    page,
    async close() {
      await context.close();
      await Deno.remove(profile, { recursive: true });
    },
  };
}
