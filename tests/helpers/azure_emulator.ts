/**
 * An Azure IoT emulator for tests, written from PROTOCOLS.md §3 (not from
 * the agent's code): an aedes MQTT broker behind node:tls on 127.0.0.1
 * that plays both the Device Provisioning Service and the IoT Hub the
 * devices are assigned to (`assignedHub` is `127.0.0.1:<port>`).
 *
 * - DPS: logs in `<idScope>/registrations/<id>/api-version=…` with a SAS
 *   token (`skn=registration`) signed by the device's individual key or a
 *   key derived from an enrollment group key, or (with `x509`) a client
 *   certificate whose CN is the registration id; answers `iotdps-register`
 *   with 202 + `operationId` + `retry-after`, then the status poll with 200
 *   `assigned`. `failDps(status, times)` makes it answer errors first.
 * - Hub: logs in `<hub>/<id>/…api-version=…` with a SAS token over
 *   `urlencode(<hub>/devices/<id>)` signed by the key the device registered
 *   with; refuses anything else with CONNACK 5 (not authorized).
 *   `forget(id)` refuses a registered device until it registers again.
 * - Twin GET / reported PATCH with `$rid` and `$version`, desired patches,
 *   direct methods (`invoke`), cloud-to-device messages (`sendC2d`), and
 *   device-to-cloud messages with their property bags decoded (`messages`,
 *   `waitForMessage`).
 *
 * Its SAS check (tests/helpers/azure_enrollments.ts, node:crypto) and topic
 * parsing are its own.
 */
import { Aedes, type Client } from "aedes";
import { createServer as createTlsServer } from "node:tls";
import type { Socket } from "node:net";
import { Buffer } from "node:buffer";
import type { TestPki } from "./tls.ts";
import { AzureEnrollments, bagOf, merge } from "./azure_enrollments.ts";
import { Condition } from "./condition.ts";

/** Options of {@link startAzureEmulator}. */
export interface AzureEmulatorOptions {
  pki: TestPki;
  /** Default "0ne00TEST00". */
  idScope?: string;
  /** Individual enrollments: registration id → base64 key. */
  devices?: Record<string, string>;
  /** Enrollment group keys (base64). */
  groupKeys?: string[];
  /** Registration ids enrolled with X.509 (CN = id); turns on client certificates (required). */
  x509Devices?: string[];
  /** `retry-after` of the 202 answer. Default 0. */
  retryAfterSec?: number;
  /** Devices known to the hub without DPS: id → key. */
  hubDevices?: Record<string, string>;
}

/** One CONNECT the emulator saw. */
export interface AzureConnect {
  service: "dps" | "hub" | "unknown";
  clientId: string;
  username?: string;
  password?: string;
  accepted: boolean;
  reason?: string;
}

/** One publish from a device. */
export interface DevicePublish {
  clientId: string;
  topic: string;
  payload: string;
}

/** One device-to-cloud message. */
export interface D2cMessage {
  deviceId: string;
  topic: string;
  properties: Record<string, string>;
  payload: string;
}

/** One direct-method answer from a device. */
export interface MethodAnswer {
  rid: string;
  status: number;
  payload: unknown;
}

interface Twin {
  desired: Record<string, unknown>;
  reported: Record<string, unknown>;
}

/** A running emulator. */
export interface AzureEmulator {
  readonly port: number;
  readonly idScope: string;
  /** `127.0.0.1:<port>`: what DPS assigns and the devices dial. */
  readonly hub: string;
  readonly connects: AzureConnect[];
  readonly publishes: DevicePublish[];
  readonly messages: D2cMessage[];
  /** Every SUBSCRIBE: client id and filter. */
  readonly subscriptions: { clientId: string; filter: string }[];
  /** DPS register bodies received, parsed. */
  readonly registrations: { clientId: string; body: unknown }[];
  /** Every direct-method answer the devices published, in order (`invoke` uses `m<n>` rids). */
  readonly methodAnswers: MethodAnswer[];
  /** Problems the emulator saw (bad topics, unreadable JSON, …). */
  readonly violations: string[];
  /** Answers the next `times` DPS requests with `status` (and `retry-after` for ≥ 429). */
  failDps(status: number, times?: number, body?: unknown): void;
  /** The hub refuses `deviceId` until it registers with DPS again. */
  forget(deviceId: string): void;
  /** The device's twin. */
  twin(deviceId: string): Twin;
  /** Sets desired properties and sends the patch with its `$version`. */
  setDesired(deviceId: string, patch: Record<string, unknown>): Promise<void>;
  /** Sets desired properties without telling the device (for boot sync). */
  presetDesired(deviceId: string, patch: Record<string, unknown>): void;
  /** Sends raw bytes as a desired patch. */
  sendRawDesired(deviceId: string, payload: string): Promise<void>;
  /** Invokes a direct method; resolves with the device's answer. */
  invoke(
    deviceId: string,
    name: string,
    payload: unknown,
    timeoutMs?: number,
  ): Promise<{ status: number; payload: unknown }>;
  /** Sends a cloud-to-device message with properties. */
  sendC2d(deviceId: string, payload: string, properties?: Record<string, string>): Promise<void>;
  /** Resolves once `check()` is true (checked on every device event). */
  waitFor(what: string, check: () => boolean, timeoutMs?: number): Promise<void>;
  /** Resolves with the `n`th (default 1st) device-to-cloud message, seen or future, that `match` accepts. */
  waitForMessage(
    what: string,
    match: (message: D2cMessage) => boolean,
    options?: { n?: number; timeoutMs?: number },
  ): Promise<D2cMessage>;
  /** Drops every client's connection; the listener stays up. */
  dropClients(): void;
  /**
   * Closes the listener and every connection, runs `down` while nothing
   * listens (to observe the outage), then listens again on the same port.
   */
  restart(down?: () => Promise<void>): Promise<void>;
  stop(): Promise<void>;
}

export async function startAzureEmulator(options: AzureEmulatorOptions): Promise<AzureEmulator> {
  const idScope = options.idScope ?? "0ne00TEST00";
  const enrollments = new AzureEnrollments({ ...options, idScope });
  const passwords = new Map<Client, string | undefined>();
  const twins = new Map<string, Twin>();
  const clients = new Map<string, Client>();
  const services = new Map<Client, "dps" | "hub">();
  const connects: AzureConnect[] = [];
  const publishes: DevicePublish[] = [];
  const messages: D2cMessage[] = [];
  const subscriptions: { clientId: string; filter: string }[] = [];
  const registrations: { clientId: string; body: unknown }[] = [];
  const methodAnswers: MethodAnswer[] = [];
  const violations: string[] = [];
  const failures: { status: number; body: unknown }[] = [];
  const methodWaiters = new Map<string, (answer: { status: number; payload: unknown }) => void>();
  const condition = new Condition();
  const wake = () => condition.changed();
  let hub = "";
  let methodRid = 0;
  let operation = 0;

  const twinOf = (id: string): Twin => {
    let twin = twins.get(id);
    if (!twin) {
      twin = { desired: { $version: 1 }, reported: { $version: 1 } };
      twins.set(id, twin);
    }
    return twin;
  };

  const broker = await Aedes.createBroker({
    authenticate(client, username, rawPassword, done) {
      const password = rawPassword === undefined ? undefined : Buffer.from(rawPassword).toString();
      const service = username?.includes("/registrations/") ? "dps" : username ? "hub" : "unknown";
      const reason = service === "dps"
        ? enrollments.dpsProblem(client, username!, password)
        : service === "hub"
        ? enrollments.hubProblem(hub, client, username!, password)
        : "no user name";
      connects.push({
        service,
        clientId: client.id,
        username,
        password,
        accepted: !reason,
        reason,
      });
      wake();
      if (reason) {
        const error = Object.assign(new Error(`not authorized: ${reason}`), { returnCode: 5 });
        return done(error as Error & { returnCode: 5 }, false);
      }
      services.set(client, service as "dps" | "hub");
      passwords.set(client, password);
      if (service === "hub") clients.set(client.id, client);
      done(null, true);
    },
    authorizeSubscribe(client, subscription, done) {
      const service = client ? services.get(client) : undefined;
      subscriptions.push({ clientId: client?.id ?? "", filter: subscription.topic });
      const allowed = service === "dps" ? subscription.topic === "$dps/registrations/res/#" : [
        "$iothub/twin/res/#",
        "$iothub/twin/PATCH/properties/desired/#",
        "$iothub/methods/POST/#",
        `devices/${client?.id}/messages/devicebound/#`,
      ].includes(subscription.topic);
      if (!allowed) violations.push(`${client?.id} subscribed to ${subscription.topic}`);
      wake();
      done(allowed ? null : new Error("not allowed"), allowed ? subscription : null);
    },
    authorizePublish(client, packet, done) {
      if (!client) return done(null);
      if (packet.qos === 2) {
        violations.push(`${client.id} published with QoS 2`);
        return done(new Error("QoS 2 is not supported"));
      }
      done(null);
    },
  });

  broker.on("clientDisconnect", (client) => {
    services.delete(client);
    passwords.delete(client);
    if (clients.get(client.id) === client) clients.delete(client.id);
    wake();
  });

  function send(id: string, topic: string, payload: string, qos: 0 | 1 = 0): Promise<void> {
    const client = clients.get(id);
    if (!client) return Promise.reject(new Error(`device ${id} is not connected`));
    return sendTo(client, topic, payload, qos);
  }

  function sendTo(client: Client, topic: string, payload: string, qos: 0 | 1 = 0): Promise<void> {
    return new Promise((resolve, reject) =>
      client.publish(
        { cmd: "publish", topic, payload: Buffer.from(payload), qos, retain: false, dup: false },
        (error) => (error ? reject(error) : resolve()),
      )
    );
  }

  function onDps(client: Client, topic: string, text: string): void {
    const register = /^\$dps\/registrations\/PUT\/iotdps-register\/\?(.*)$/.exec(topic);
    const poll = /^\$dps\/registrations\/GET\/iotdps-get-operationstatus\/\?(.*)$/.exec(topic);
    const bag = bagOf((register ?? poll)?.[1] ?? "");
    if (!bag.$rid) return void violations.push(`DPS request without $rid: ${topic}`);
    const answer = (status: number, body: unknown, extra = "") =>
      void sendTo(
        client,
        `$dps/registrations/res/${status}/?$rid=${bag.$rid}${extra}`,
        JSON.stringify(body),
      );
    const failure = failures.shift();
    if (failure) {
      return answer(failure.status, failure.body, failure.status >= 429 ? "&retry-after=0" : "");
    }
    if (register) {
      try {
        registrations.push({ clientId: client.id, body: JSON.parse(text) });
      } catch {
        violations.push(`unreadable DPS register body ${JSON.stringify(text)}`);
      }
      operation += 1;
      return answer(
        202,
        { operationId: `op-${operation}`, status: "assigning" },
        `&retry-after=${options.retryAfterSec ?? 0}`,
      );
    }
    if (!bag.operationId) return void violations.push(`poll without operationId: ${topic}`);
    enrollments.assigned(client.id, passwords.get(client));
    answer(200, {
      operationId: bag.operationId,
      status: "assigned",
      registrationState: {
        registrationId: client.id,
        assignedHub: hub,
        deviceId: client.id,
        status: "assigned",
      },
    });
  }

  function onHub(client: Client, topic: string, text: string): void {
    const id = client.id;
    const d2c = `devices/${id}/messages/events/`;
    if (topic.startsWith(d2c)) {
      messages.push({
        deviceId: id,
        topic,
        properties: bagOf(topic.slice(d2c.length)),
        payload: text,
      });
      return;
    }
    const twinGet = /^\$iothub\/twin\/GET\/\?(.*)$/.exec(topic);
    const twinPatch = /^\$iothub\/twin\/PATCH\/properties\/reported\/\?(.*)$/.exec(topic);
    if (twinGet || twinPatch) {
      const rid = bagOf((twinGet ?? twinPatch)![1]).$rid;
      if (!rid) return void violations.push(`twin request without $rid: ${topic}`);
      const twin = twinOf(id);
      if (twinGet) {
        return void send(id, `$iothub/twin/res/200/?$rid=${rid}`, JSON.stringify(twin));
      }
      let patch: unknown;
      try {
        patch = JSON.parse(text);
      } catch {
        violations.push(`unreadable reported patch ${JSON.stringify(text)}`);
        return void send(id, `$iothub/twin/res/400/?$rid=${rid}`, "");
      }
      merge(twin.reported, patch as Record<string, unknown>);
      twin.reported.$version = (twin.reported.$version as number) + 1;
      return void send(
        id,
        `$iothub/twin/res/204/?$rid=${rid}&$version=${twin.reported.$version}`,
        "",
      );
    }
    const methodRes = /^\$iothub\/methods\/res\/(\d+)\/\?(.*)$/.exec(topic);
    if (methodRes) {
      const rid = bagOf(methodRes[2]).$rid;
      let payload: unknown = text;
      try {
        payload = JSON.parse(text);
      } catch {
        violations.push(`method answer is not JSON: ${JSON.stringify(text)}`);
      }
      methodAnswers.push({ rid, status: Number(methodRes[1]), payload });
      const waiter = methodWaiters.get(rid);
      // An answer after the first (or to nothing) is one the cloud would drop.
      if (!waiter) return void violations.push(`method answer for unknown $rid ${rid}`);
      methodWaiters.delete(rid);
      return waiter({ status: Number(methodRes[1]), payload });
    }
    violations.push(`${id} published to ${topic}`);
  }

  broker.on("publish", (packet, client) => {
    if (!client) return;
    const text = Buffer.from(packet.payload).toString();
    publishes.push({ clientId: client.id, topic: packet.topic, payload: text });
    if (services.get(client) === "dps") onDps(client, packet.topic, text);
    else onHub(client, packet.topic, text);
    wake();
  });

  const sockets = new Set<Socket>();
  const server = createTlsServer({
    key: options.pki.server.key,
    cert: options.pki.server.cert,
    ca: options.pki.ca.cert,
    ...(enrollments.x509.size > 0 && { requestCert: true, rejectUnauthorized: true }),
  }, broker.handle);
  server.on("secureConnection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  hub = `127.0.0.1:${port}`;

  async function waitFor(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
    await condition.until(what, () => check() || undefined, {
      timeoutMs,
      context: () =>
        `connects: ${
          JSON.stringify(connects.slice(-4).map((c) => [c.service, c.accepted, c.reason]))
        }; last publishes: ${JSON.stringify(publishes.slice(-4).map((p) => p.topic))}; ` +
        `violations: ${JSON.stringify(violations)}`,
    });
  }

  function waitForMessage(
    what: string,
    match: (message: D2cMessage) => boolean,
    { n = 1, timeoutMs = 10_000 }: { n?: number; timeoutMs?: number } = {},
  ): Promise<D2cMessage> {
    return condition.until(what, () => messages.filter(match)[n - 1], {
      timeoutMs,
      context: () =>
        `messages: ${
          JSON.stringify(messages.slice(-6).map((m) => [m.properties, m.payload]))
        }; violations: ${JSON.stringify(violations)}`,
    });
  }

  let stopped: Promise<void> | undefined;
  return {
    port,
    idScope,
    get hub() {
      return hub;
    },
    connects,
    publishes,
    messages,
    subscriptions,
    registrations,
    methodAnswers,
    violations,
    failDps(status, times = 1, body = { errorCode: status * 1000, message: `status ${status}` }) {
      for (let i = 0; i < times; i++) failures.push({ status, body });
    },
    forget: (deviceId) => enrollments.forget(deviceId),
    twin: twinOf,
    async setDesired(deviceId, patch) {
      const twin = twinOf(deviceId);
      merge(twin.desired, patch);
      twin.desired.$version = (twin.desired.$version as number) + 1;
      const v = twin.desired.$version;
      await send(
        deviceId,
        `$iothub/twin/PATCH/properties/desired/?$version=${v}`,
        JSON.stringify({ ...patch, $version: v }),
      );
    },
    presetDesired(deviceId, patch) {
      const twin = twinOf(deviceId);
      merge(twin.desired, patch);
      twin.desired.$version = (twin.desired.$version as number) + 1;
    },
    sendRawDesired: (deviceId, payload) =>
      send(deviceId, "$iothub/twin/PATCH/properties/desired/?$version=99", payload),
    invoke(deviceId, name, payload, timeoutMs = 10_000) {
      methodRid += 1;
      const rid = `m${methodRid}`;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          methodWaiters.delete(rid);
          reject(new Error(`no answer to method ${name} within ${timeoutMs} ms`));
        }, timeoutMs);
        methodWaiters.set(rid, (answer) => {
          clearTimeout(timer);
          resolve(answer);
        });
        send(deviceId, `$iothub/methods/POST/${name}/?$rid=${rid}`, JSON.stringify(payload))
          .catch((error) => {
            clearTimeout(timer);
            methodWaiters.delete(rid);
            reject(error);
          });
      });
    },
    sendC2d(deviceId, payload, properties = {}) {
      const bag = Object.entries(properties)
        .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&");
      // QoS 0: aedes's per-client publish does not number QoS 1 packets itself.
      return send(deviceId, `devices/${deviceId}/messages/devicebound/${bag}`, payload);
    },
    waitFor,
    waitForMessage,
    dropClients() {
      for (const socket of sockets) socket.destroy();
    },
    async restart(down) {
      // Stop listening and drop everyone, as a service going down does; come back on the same port.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
      await down?.();
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, "127.0.0.1", () => resolve());
      });
    },
    stop() {
      stopped ??= (async () => {
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await new Promise<void>((resolve) => broker.close(() => resolve()));
      })();
      return stopped;
    },
  };
}
