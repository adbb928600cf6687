/**
 * The MQTT connection actor under a real supervisor, against the embedded
 * broker and a real mosquitto: publish and subscribe through the link,
 * brokers that die and come back, the last will, TLS and mutual TLS,
 * refused logins and refused subscriptions. Backoff is short (minMs 20).
 */
import { untilChanged } from "../helpers/wait.ts";
import { equal, match, ok, rejects } from "node:assert/strict";
import { Aedes } from "aedes";
import { createServer, type Server, type Socket } from "node:net";
import { child, createSystem, supervisor, type SystemEvent } from "../../actors/runtime/mod.ts";
import { MqttLink, NotConnectedError } from "../../actors/mqtt/link.ts";
import { mqttConnection, type MqttConnectionOptions } from "../../actors/mqtt/connection.ts";
import { configureLogging, resetLogging } from "../../actors/runtime/logging.ts";
import { startAedes, startMosquitto, type TestBroker } from "../helpers/brokers.ts";
import { observe } from "../helpers/mqtt_observer.ts";
import { testPki } from "../helpers/tls.ts";

const PATH = "cloud/connection";
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** A link and its connection actor under a supervisor, as a cloud would have them. */
async function startConnection(
  options: Partial<MqttConnectionOptions> & { url: string },
  { shutdownMs = 2000 } = {},
) {
  const link = new MqttLink("test");
  const logic = mqttConnection(link, {
    clientId: `outpost-${crypto.randomUUID().slice(0, 8)}`,
    backoff: { minMs: 20, maxMs: 200 },
    connectTimeoutMs: 2000,
    ...options,
  });
  const system = createSystem(
    supervisor("cloud", {}, [child("connection", logic, { shutdownMs })]),
  );
  const events: SystemEvent[] = [];
  system.subscribe((event) => events.push(event));
  await system.start();
  return {
    link,
    system,
    events,
    snapshot: () => system.get(PATH)!.getSnapshot(),
    stop: () => system.stop(),
  };
}

function linkIs(link: MqttLink, connected: boolean): Promise<void> {
  return untilChanged(
    connected ? "connected" : "disconnected",
    () => link.connected === connected,
    (wake) => link.onStatus(wake),
  );
}

type Harness = Awaited<ReturnType<typeof startConnection>>;

// deno-lint-ignore no-explicit-any
function actorIs(h: Harness, state: string, extra: (context: any) => boolean = () => true) {
  const actor = h.system.get(PATH)!;
  return untilChanged(
    `in ${state}`,
    () => actor.getSnapshot().value === state && extra(actor.getSnapshot().context),
    (wake) => {
      const subscription = actor.subscribe(wake);
      return () => subscription.unsubscribe();
    },
  );
}

function noExits(h: Harness): void {
  const exits = h.events.filter((e) => e.type === "exited" || e.type === "restarting");
  equal(exits.length, 0, `the connection actor never exited: ${JSON.stringify(exits)}`);
}

const KINDS = {
  aedes: (port?: number) => startAedes({ port }),
  mosquitto: (port?: number) => startMosquitto({ port }),
} satisfies Record<string, (port?: number) => Promise<TestBroker>>;

for (const [kind, startBroker] of Object.entries(KINDS)) {
  Deno.test(`${kind}: a QoS 1 publish through the link resolves once acknowledged and reaches another client`, async () => {
    const broker = await startBroker();
    const cloud = await observe(broker.url, ["telemetry/#"]);
    const h = await startConnection({ url: broker.url });
    try {
      await linkIs(h.link, true);
      await h.link.publish("telemetry/temp", "21.5", { qos: 1 });
      const seen = await cloud.waitFor((m) => m.topic === "telemetry/temp");
      equal(seen.text, "21.5");
    } finally {
      await h.stop();
      await cloud.close();
      await broker.stop();
    }
  });

  Deno.test(`${kind}: a subscription made through the link receives the cloud's messages`, async () => {
    const broker = await startBroker();
    const h = await startConnection({ url: broker.url });
    const cloud = await observe(broker.url, ["echo/#"]);
    try {
      await linkIs(h.link, true);
      const received: string[] = [];
      await h.link.subscribe("commands/+", (m) => received.push(`${m.topic}=${decode(m.payload)}`));
      await cloud.publish("commands/reboot", "now");
      await untilChanged("received", () => received.length === 1, (wake) => {
        const timer = setInterval(wake, 5);
        return () => clearInterval(timer);
      });
      equal(received[0], "commands/reboot=now");
    } finally {
      await h.stop();
      await cloud.close();
      await broker.stop();
    }
  });

  Deno.test(`${kind}: a broker that goes away means backoff, not an exit; on its return the subscriptions are restored`, async () => {
    const broker = await startBroker();
    const h = await startConnection({ url: broker.url });
    let back: TestBroker | undefined;
    try {
      await linkIs(h.link, true);
      const received: string[] = [];
      await h.link.subscribe("commands/#", (m) => received.push(decode(m.payload)));
      await broker.stop();
      await linkIs(h.link, false);
      await actorIs(h, "backoff", (c) => c.attempt >= 2);
      match(h.snapshot().context.lastError, /Cannot connect to MQTT broker mqtt:\/\/127\.0\.0\.1/);
      await rejects(h.link.publish("telemetry/x", "lost"), NotConnectedError);
      noExits(h);

      back = await startBroker(broker.port);
      await actorIs(h, "connected", (c) => c.attempt === 0);
      ok(h.link.connected);
      const cloud = await observe(back.url, ["echo/#"]);
      await cloud.publish("commands/after-restart", "hello again");
      await untilChanged("delivered", () => received.includes("hello again"), (wake) => {
        const timer = setInterval(wake, 5);
        return () => clearInterval(timer);
      });
      await cloud.close();
      noExits(h);
    } finally {
      await h.stop();
      await back?.stop();
      await broker.stop();
    }
  });

  Deno.test(`${kind}: a graceful stop sends DISCONNECT and no will; a forced stop lets the broker publish it`, async () => {
    const broker = await startBroker();
    const cloud = await observe(broker.url, ["status/#"]);
    const will = { topic: "status/dev-1", payload: "offline", qos: 1 as const, retain: false };
    try {
      const graceful = await startConnection({ url: broker.url, will });
      await linkIs(graceful.link, true);
      await graceful.stop();
      const stopped = graceful.events.find((e) => e.type === "stopped" && e.path === PATH);
      equal(stopped?.type === "stopped" && stopped.forced, false);
      equal(graceful.link.connected, false);
      // Anything the broker did on that disconnect happened before this round trip.
      await cloud.publish("status/barrier", "1");
      await cloud.waitFor((m) => m.topic === "status/barrier");
      equal(
        cloud.messages.filter((m) => m.topic === "status/dev-1").length,
        0,
        "no will after DISCONNECT",
      );

      // Stopped by force once connected, and in the moment between the link
      // reporting connected and the machine seeing the attempt succeed.
      for (const when of ["connected", "attached"]) {
        const forced = await startConnection(
          { url: broker.url, will: { ...will, payload: `offline-${when}` } },
          { shutdownMs: 0 },
        );
        if (when === "connected") await actorIs(forced, "connected");
        else await linkIs(forced.link, true);
        await forced.stop();
        await cloud.waitFor((m) => m.topic === "status/dev-1" && m.text === `offline-${when}`);
        equal(forced.link.connected, false);
      }
    } finally {
      await cloud.close();
      await broker.stop();
    }
  });
}

Deno.test("aedes: reconnect closes the session and dials again at once with fresh credentials", async () => {
  const broker = await startAedes();
  let issued = 0;
  const h = await startConnection({
    url: broker.url,
    credentials: () => Promise.resolve({ username: "dev", password: `token-${++issued}` }),
  });
  try {
    await actorIs(h, "connected");
    const statuses: boolean[] = [];
    h.link.onStatus((connected) => statuses.push(connected));
    h.system.get(PATH)!.send({ type: "reconnect" });
    await untilChanged(
      "reconnected",
      () => statuses.join() === "false,true",
      (wake) => h.link.onStatus(wake),
    );
    equal(issued, 2, "credentials are asked for before every attempt");
    noExits(h);
  } finally {
    await h.stop();
    await broker.stop();
  }
});

Deno.test("mosquitto: TLS with a custom CA, and verification turned off is logged once", async () => {
  const pki = await testPki();
  const broker = await startMosquitto({ tls: { caFile: pki.ca.certFile, ...files(pki.server) } });
  const lines: string[] = [];
  await configureLogging({ level: "info", write: (line) => lines.push(line) });
  try {
    const verified = await startConnection({ url: broker.url, ca: pki.ca.cert });
    await linkIs(verified.link, true);
    await verified.link.publish("t/tls", "secret-free", { qos: 1 });
    await verified.stop();

    const insecure = await startConnection({
      url: broker.url,
      rejectUnauthorized: false,
      password: "hunter2",
      username: "dev",
    });
    await actorIs(insecure, "connected");
    insecure.system.get(PATH)!.send({ type: "reconnect" });
    await linkIs(insecure.link, false);
    await linkIs(insecure.link, true);
    await insecure.stop();
    equal(lines.filter((l) => l.includes("TLS verification is OFF")).length, 1, lines.join("\n"));
    ok(lines.some((l) => l.includes(`Connected to MQTT broker ${broker.url}`)), lines.join("\n"));
    ok(!lines.some((l) => l.includes("hunter2")), "no password in the logs");
  } finally {
    await resetLogging();
    await broker.stop();
  }
});

function files(identity: { certFile: string; keyFile: string }) {
  return { certFile: identity.certFile, keyFile: identity.keyFile };
}

Deno.test("mosquitto: mutual TLS connects with the client certificate and backs off without it", async () => {
  const pki = await testPki();
  const broker = await startMosquitto({
    tls: { caFile: pki.ca.certFile, ...files(pki.server), requireCertificate: true },
  });
  try {
    const withCert = await startConnection({
      url: broker.url,
      ca: pki.ca.cert,
      cert: pki.client.cert,
      key: pki.client.key,
    });
    await linkIs(withCert.link, true);
    await withCert.link.publish("t/mtls", "hello", { qos: 1 });
    await withCert.stop();

    const without = await startConnection({ url: broker.url, ca: pki.ca.cert });
    await actorIs(without, "backoff", (c) => c.attempt >= 2);
    match(without.snapshot().context.lastError, /TLS: the broker requires a client certificate/);
    equal(without.link.connected, false);
    noExits(without);
    await without.stop();
  } finally {
    await broker.stop();
  }
});

Deno.test("mosquitto: a broker certificate from an unknown CA fails clearly and backs off", async () => {
  const pki = await testPki();
  const broker = await startMosquitto({ tls: { caFile: pki.ca.certFile, ...files(pki.server) } });
  const h = await startConnection({ url: broker.url, ca: pki.otherCa.cert });
  try {
    await actorIs(h, "backoff", (c) => c.attempt >= 2);
    const error = h.snapshot().context.lastError as string;
    match(error, new RegExp(`^Cannot connect to MQTT broker ${broker.url}: `));
    match(
      error,
      /: TLS: the broker's certificate is not signed by a trusted CA \(.+\); check `ca`$/,
    );
    noExits(h);
  } finally {
    await h.stop();
    await broker.stop();
  }
});

Deno.test("mosquitto: a refused login names the CONNACK code; renewed credentials then connect", async () => {
  const broker = await startMosquitto({ users: { dev: "right" } });
  const passwords = ["wrong", "wrong"];
  const h = await startConnection({
    url: broker.url,
    credentials: () => Promise.resolve({ username: "dev", password: passwords.shift() ?? "right" }),
  });
  try {
    await actorIs(h, "backoff", (c) => /return code/.test(c.lastError ?? ""));
    match(
      h.snapshot().context.lastError,
      /^Cannot connect to MQTT broker mqtt:\/\/127\.0\.0\.1:\d+: the broker refused the connection with return code 5 \(not authorized\)$/,
    );
    await linkIs(h.link, true);
    noExits(h);
  } finally {
    await h.stop();
    await broker.stop();
  }
});

Deno.test("aedes: a filter refused on reconnect does not fail the session; the link asks again until granted", async () => {
  // Like a cluster that cannot place a subscription while a node is down: refused twice, then granted.
  let refusals = 2;
  const broker = await Aedes.createBroker({
    authorizeSubscribe: (_client, subscription, done) =>
      done(null, subscription.topic === "flaky/#" && refusals-- > 0 ? null : subscription),
  });
  const server = createServer(broker.handle);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const h = await startConnection({
    url: `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`,
  });
  try {
    await linkIs(h.link, true);
    const received: string[] = [];
    await rejects(h.link.subscribe("flaky/#", (m) => received.push(m.topic)), /refused/);
    // The next session restores the filter: refused again, yet the link reports connected.
    h.system.get(PATH)!.send({ type: "reconnect" });
    await linkIs(h.link, false);
    await linkIs(h.link, true);
    equal(refusals, 0, "the restore asked for the filter and was refused");
    // The link asks again on the same session; once granted, messages arrive.
    let granted = false;
    await untilChanged("the filter granted", () => granted, (wake) => {
      const listener = (subscriptions: { topic: string }[]) => {
        granted ||= subscriptions.some((s) => s.topic === "flaky/#");
        wake();
      };
      broker.on("subscribe", listener);
      return () => broker.off("subscribe", listener);
    }, 10_000);
    broker.publish(
      { cmd: "publish", topic: "flaky/x", payload: "1", qos: 0, retain: false, dup: false },
      () => {},
    );
    await untilChanged("delivered", () => received.length > 0, (wake) => {
      const timer = setInterval(wake, 10);
      return () => clearInterval(timer);
    });
    equal(received[0], "flaky/x");
    ok(h.link.connected);
  } finally {
    await h.stop();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    await closed;
  }
});

Deno.test("aedes: a subscription the broker refuses (SUBACK 128) is an error naming the filter", async () => {
  // mosquitto 2.0 grants what its ACL denies and filters at delivery; aedes can refuse.
  const broker = await Aedes.createBroker({
    // aedes' way to refuse one filter: no error, no subscription.
    authorizeSubscribe: (_client, subscription, done) =>
      done(null, subscription.topic.startsWith("secret/") ? null : subscription),
  });
  const server = createServer(broker.handle);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const h = await startConnection({
    url: `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`,
  });
  try {
    await linkIs(h.link, true);
    await h.link.subscribe("allowed/x", () => {});
    await rejects(h.link.subscribe("secret/+", () => {}), (error: Error) => {
      match(error.message, /refused the subscription to "secret\/\+" \(code 128\)$/);
      return true;
    });
    ok(h.link.connected, "a refused subscription does not end the connection");
  } finally {
    await h.stop();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    await closed;
  }
});

Deno.test("mosquitto: MQTT 5 connects and carries messages both ways", async () => {
  const broker = await startMosquitto();
  const h = await startConnection({ url: broker.url, protocolVersion: 5 });
  const cloud = await observe(broker.url, ["up/#"]);
  try {
    await linkIs(h.link, true);
    const received: string[] = [];
    await h.link.subscribe("down/#", (m) => received.push(decode(m.payload)));
    await h.link.publish("up/v5", "from device");
    await cloud.waitFor((m) => m.topic === "up/v5" && m.text === "from device");
    await cloud.publish("down/v5", "to device");
    await untilChanged("delivered", () => received.includes("to device"), (wake) => {
      const timer = setInterval(wake, 5);
      return () => clearInterval(timer);
    });
  } finally {
    await cloud.close();
    await h.stop();
    await broker.stop();
  }
});

/**
 * A broker that accepts TCP and then does only what the test says: answer
 * CONNECT with CONNACK (or not), never acknowledge a publish, hang up on demand.
 */
async function mute(answerConnect: boolean) {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    // CONNACK, session not present, accepted.
    if (answerConnect) socket.once("data", () => socket.write(new Uint8Array([0x20, 2, 0, 0])));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    hangUp: () => sockets.forEach((s) => s.destroy()),
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      sockets.forEach((s) => s.destroy());
      await closed;
    },
  };
}

Deno.test("a broker that never sends CONNACK is a timeout after connectTimeoutMs, then backoff", async () => {
  const broker = await mute(false);
  const h = await startConnection({ url: broker.url, connectTimeoutMs: 100 });
  try {
    await actorIs(h, "backoff");
    equal(
      h.snapshot().context.lastError,
      `Cannot connect to MQTT broker ${broker.url}: no CONNACK within 100 ms`,
    );
  } finally {
    await h.stop();
    await broker.stop();
  }
});

Deno.test("a QoS 1 publish waiting for its PUBACK rejects when the connection drops; QoS 0 resolves once written", async () => {
  const broker = await mute(true);
  const h = await startConnection({ url: broker.url, backoff: { minMs: 10_000 } });
  try {
    await linkIs(h.link, true);
    await h.link.publish("t/fire-and-forget", "x", { qos: 0 });
    const waiting = h.link.publish("t/needs-ack", "x", { qos: 1 });
    broker.hangUp();
    await rejects(
      waiting,
      /Cannot publish to "t\/needs-ack": the connection to mqtt:\/\/127\.0\.0\.1:\d+ closed/,
    );
    await actorIs(h, "backoff");
  } finally {
    await h.stop();
    await broker.stop();
  }
});
