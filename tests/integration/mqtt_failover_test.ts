/**
 * The MQTT connection actor failing over between real brokers
 * (docs/failover.md): the first broker first, the next one at once when it
 * dies, the link's subscriptions restored there, no fail-back while
 * connected, and the backoff only once every broker failed. The backoff is
 * a minute where a test proves that a move does not wait for it.
 */
import { equal, ok } from "node:assert/strict";
import { child, createSystem, supervisor } from "../../actors/runtime/mod.ts";
import { MqttLink } from "../../actors/mqtt/link.ts";
import { mqttConnection, type MqttConnectionOptions } from "../../actors/mqtt/connection.ts";
import { configureLogging, resetLogging } from "../../actors/runtime/logging.ts";
import {
  freePort,
  type MosquittoBroker,
  startAedes,
  startMosquitto,
  type TestBroker,
} from "../helpers/brokers.ts";
import { observe } from "../helpers/mqtt_observer.ts";
import { until, untilChanged } from "../helpers/wait.ts";

const PATH = "cloud/connection";
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const MINUTE = { minMs: 60_000, maxMs: 60_000, jitter: 0 };

/** A link and its connection actor over `urls`, under a supervisor as a cloud has them. */
async function startConnection(urls: string[], options: Partial<MqttConnectionOptions> = {}) {
  const link = new MqttLink("test");
  const logic = mqttConnection(link, {
    url: urls[0],
    brokers: urls.map((url) => ({ url })),
    clientId: `outpost-${crypto.randomUUID().slice(0, 8)}`,
    backoff: MINUTE,
    connectTimeoutMs: 2000,
    ...options,
  });
  const system = createSystem(supervisor("cloud", {}, [child("connection", logic)]));
  await system.start();
  let changes = 0;
  link.onStatus(() => changes++);
  return {
    link,
    changes: () => changes,
    // deno-lint-ignore no-explicit-any
    context: () => system.get(PATH)!.getSnapshot().context as any,
    stop: () => system.stop(),
  };
}

/** Resolves once the link is connected to `url`. */
function onBroker(link: MqttLink, url: string, timeoutMs = 10_000): Promise<void> {
  return untilChanged(
    `the link on ${url} (now ${link.broker})`,
    () => link.broker === url,
    (wake) => link.onStatus(wake),
    timeoutMs,
  );
}

const KINDS = {
  aedes: (port?: number) => startAedes({ port }),
  mosquitto: (port?: number) => startMosquitto({ port }),
} satisfies Record<string, (port?: number) => Promise<TestBroker>>;

for (const [kind, startBroker] of Object.entries(KINDS)) {
  Deno.test(`${kind}: the first broker first; when it dies, the next at once, with the link's subscriptions`, async () => {
    const a = await startBroker();
    const b = await startBroker();
    const h = await startConnection([a.url, b.url]);
    let aStopped = false;
    try {
      await onBroker(h.link, a.url);
      const received: string[] = [];
      await h.link.subscribe("commands/#", (m) => received.push(decode(m.payload)));
      await a.stop();
      aStopped = true;
      // A minute of backoff would fail this deadline: the move to b does not wait.
      await onBroker(h.link, b.url);
      const cloud = await observe(b.url, ["telemetry/#"]);
      try {
        await cloud.publish("commands/reboot", "on b");
        await until("the command on b", () => received.includes("on b"), 10_000);
        await h.link.publish("telemetry/t", "from the link", { qos: 1 });
        equal((await cloud.waitFor((m) => m.topic === "telemetry/t")).text, "from the link");
      } finally {
        await cloud.close();
      }
    } finally {
      await h.stop();
      if (!aStopped) await a.stop();
      await b.stop();
    }
  });
}

Deno.test("a broker that is down at start is passed over at once for the next", async () => {
  const b = await startAedes();
  const h = await startConnection([`mqtt://127.0.0.1:${freePort()}`, b.url]);
  try {
    await onBroker(h.link, b.url);
  } finally {
    await h.stop();
    await b.stop();
  }
});

Deno.test("mosquitto killed: the connection stays on the next broker after the first returns, and moves back when that one dies", async () => {
  const a = await startMosquitto();
  const b = await startMosquitto();
  const lines: string[] = [];
  await configureLogging({ write: (line) => lines.push(line) });
  const h = await startConnection([a.url, b.url]);
  try {
    await onBroker(h.link, a.url);
    await a.crash();
    await onBroker(h.link, b.url);
    await a.restart();
    // Back, but the connection stays where it is: a publish still goes to b.
    const onB = await observe(b.url, ["t/#"]);
    try {
      await h.link.publish("t/sticky", "still b", { qos: 1 });
      await onB.waitFor((m) => m.text === "still b");
    } finally {
      await onB.close();
    }
    equal(h.link.broker, b.url);
    const changes = h.changes();
    await b.crash();
    await onBroker(h.link, a.url);
    equal(h.changes(), changes + 2, "down once, up once: straight back to a");
    ok(lines.some((l) => l.includes(`Lost the MQTT connection to ${a.url}`)), lines.join("\n"));
    ok(lines.some((l) => l.includes(`trying the next broker, ${b.url}`)), lines.join("\n"));
    ok(lines.some((l) => l.includes(`Connected to MQTT broker ${b.url}`)), lines.join("\n"));
  } finally {
    await h.stop();
    await resetLogging();
    await a.stop();
    await b.stop();
  }
});

Deno.test("with every broker down the backoff starts after the whole round, and the first broker back is reached", async () => {
  const ports = [freePort(), freePort()];
  const lines: string[] = [];
  await configureLogging({ write: (line) => lines.push(line) });
  const h = await startConnection(ports.map((p) => `mqtt://127.0.0.1:${p}`), {
    backoff: { minMs: 50, maxMs: 200, jitter: 0 },
  });
  let b: MosquittoBroker | undefined;
  try {
    await until("a second round", () => h.context().attempt >= 4, 10_000);
    const retries = lines.filter((l) => l.includes("every broker failed, retry"));
    ok(retries.length >= 2, lines.join("\n"));
    ok(
      retries.every((l) => /retry (\d+) /.exec(l)![1] !== "1"),
      `no backoff after the first broker alone:\n${retries.join("\n")}`,
    );
    ok(
      lines.some((l) => l.includes("trying the next broker, mqtt://127.0.0.1:" + ports[1])),
      lines.join("\n"),
    );
    b = await startMosquitto({ port: ports[1] });
    await onBroker(h.link, b.url);
    await until("the backoff reset by the successful connect", () => h.context().attempt === 0);
  } finally {
    await h.stop();
    await resetLogging();
    await b?.stop();
  }
});
