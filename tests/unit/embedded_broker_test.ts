/**
 * The embedded broker: loopback only unless told otherwise, a working MQTT
 * broker on the port it reports, nothing left open after close, and clear
 * errors when it cannot bind, also as a supervised actor.
 */
import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import mqtt from "mqtt";
import { child, createSystem, supervisor } from "../../actors/runtime/mod.ts";
import {
  embeddedBroker,
  isLoopbackHost,
  startEmbeddedBroker,
} from "../../actors/broker/embedded_broker.ts";
import { nextEvent } from "../helpers/runtime.ts";

/** Holds a port on 127.0.0.1 so that binding it again fails. */
function occupy(): { port: number; release(): void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return { port: (listener.addr as Deno.NetAddr).port, release: () => listener.close() };
}

async function refusesConnections(port: number): Promise<boolean> {
  try {
    const connection = await Deno.connect({ hostname: "127.0.0.1", port });
    connection.close();
    return false;
  } catch (error) {
    return error instanceof Deno.errors.ConnectionRefused;
  }
}

Deno.test("the broker refuses a host that is not loopback, before binding anything", async () => {
  // Were a bind attempted, 0.0.0.0 on a port held on 127.0.0.1 would fail as "in use".
  const held = occupy();
  try {
    for (const host of ["0.0.0.0", "192.168.1.20", "::", "example.com"]) {
      await rejects(startEmbeddedBroker({ host, port: held.port }), (error: Error) => {
        ok(error instanceof TypeError, `${host}: ${error}`);
        ok(error.message.includes(`"${host}"`), error.message);
        ok(error.message.includes("not a loopback address"), error.message);
        ok(error.message.includes("allowRemote"), error.message);
        return true;
      });
    }
  } finally {
    held.release();
  }
});

Deno.test("loopback means 127.0.0.0/8, ::1 and localhost", () => {
  const table: [string, boolean][] = [
    ["127.0.0.1", true],
    ["127.1.2.3", true],
    ["localhost", true],
    ["LOCALHOST", true],
    ["::1", true],
    ["[::1]", true],
    ["0:0:0:0:0:0:0:1", true],
    ["::ffff:127.0.0.1", true],
    ["0.0.0.0", false],
    ["128.0.0.1", false],
    ["10.0.0.1", false],
    ["::", false],
    ["::2", false],
    ["127.example.com", false],
    ["localhost.example.com", false],
  ];
  deepEqual(table.map(([host]) => [host, isLoopbackHost(host)]), table);
});

Deno.test("the broker binds 127.0.0.1 port 0 and carries publish/subscribe between clients", async () => {
  const broker = await startEmbeddedBroker({ port: 0 });
  try {
    ok(broker.port > 0, "the real port is reported");
    equal(broker.host, "127.0.0.1");
    const url = `mqtt://127.0.0.1:${broker.port}`;
    const sub = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: "sub" });
    const pub = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: "pub" });
    try {
      await sub.subscribeAsync("sensors/+/temp", { qos: 1 });
      const received = new Promise<[string, string]>((resolve) =>
        sub.once("message", (topic, payload) => resolve([topic, payload.toString()]))
      );
      await pub.publishAsync("sensors/kitchen/temp", "21.5", { qos: 1 });
      deepEqual(await received, ["sensors/kitchen/temp", "21.5"]);
    } finally {
      await pub.endAsync();
      await sub.endAsync();
    }
  } finally {
    await broker.close();
  }
});

Deno.test("close() ends connected clients and half-open sockets and frees the port", async () => {
  const broker = await startEmbeddedBroker({ port: 0 });
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, {
    reconnectPeriod: 0,
    clientId: "stays",
  });
  const clientClosed = new Promise<void>((resolve) => client.once("close", () => resolve()));
  // A TCP connection that never sends CONNECT: aedes alone would keep it for 30 s.
  const silent = await Deno.connect({ hostname: "127.0.0.1", port: broker.port });
  await broker.close();
  await clientClosed;
  equal(await silent.read(new Uint8Array(16)), null, "the silent socket was closed by the broker");
  silent.close();
  await client.endAsync(true);
  ok(await refusesConnections(broker.port), "nothing listens on the port any more");
  await broker.close(); // a second close is a no-op
});

Deno.test("a port in use is an error naming host:port", async () => {
  const held = occupy();
  try {
    await rejects(startEmbeddedBroker({ port: held.port }), (error: Error) => {
      equal(
        error.message,
        `Cannot start the embedded MQTT broker on 127.0.0.1:${held.port}: ` +
          "the address is already in use",
      );
      return true;
    });
  } finally {
    held.release();
  }
});

Deno.test("as an actor, the broker serves while running and is closed by a graceful stop", async () => {
  const system = createSystem(
    supervisor("local-api", {}, [child("broker", embeddedBroker({ port: 0 }))]),
  );
  await system.start();
  const actor = system.get("local-api/broker")!;
  const port = await new Promise<number>((resolve) => {
    const check = (snapshot: { value: unknown; context: { port?: number } }) => {
      if (snapshot.value === "running") resolve(snapshot.context.port!);
    };
    check(actor.getSnapshot());
    const subscription = actor.subscribe((s) => {
      check(s);
      if (s.value === "running") subscription.unsubscribe();
    });
  });
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
  const stopped = nextEvent(system, (e) => e.type === "stopped" && e.path === "local-api/broker");
  await system.stop();
  const event = await stopped;
  equal(event.type === "stopped" && event.forced, false, "it finished within its budget");
  ok(await refusesConnections(port));
  await client.endAsync(true);
});

Deno.test("as an actor, a port in use is an error exit the supervisor sees, naming host:port", async () => {
  const held = occupy();
  try {
    const system = createSystem(
      supervisor("local-api", { intensity: 0 }, [
        child("broker", embeddedBroker({ port: held.port })),
      ]),
    );
    await system.start();
    const exit = await system.exited;
    equal(exit.reason, "gave_up");
    const cause = exit.reason === "gave_up" ? (exit.error.cause as Error) : undefined;
    ok(cause?.message.includes(`127.0.0.1:${held.port}`), String(cause?.message));
  } finally {
    held.release();
  }
});

Deno.test("as an actor stopped by force, the broker still closes", async () => {
  const system = createSystem(
    supervisor("local-api", {}, [child("broker", embeddedBroker({ port: 0 }), { shutdownMs: 0 })]),
  );
  await system.start();
  const actor = system.get("local-api/broker")!;
  const port = await new Promise<number>((resolve) => {
    const subscription = actor.subscribe((s: { value: unknown; context: { port: number } }) => {
      if (s.value !== "running") return;
      subscription.unsubscribe();
      resolve(s.context.port);
    });
  });
  await system.stop();
  // The forced stop runs the close in the background; wait for it with a deadline.
  const deadline = Date.now() + 2000;
  while (!(await refusesConnections(port))) {
    if (Date.now() > deadline) throw new Error(`port ${port} still accepts after 2 s`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
});
