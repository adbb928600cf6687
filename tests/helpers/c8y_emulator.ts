/**
 * A Cumulocity IoT emulator for tests, written from PROTOCOLS.md §1 (not
 * from the agent's code): an aedes MQTT broker on 127.0.0.1 that
 *
 * - logs in device users `<tenant>/<user>` with their password, the
 *   bootstrap user `management/devicebootstrap`, and (with `tls`) devices
 *   that present a client certificate whose CN is the serial of their
 *   client id `d:<serial>`;
 * - records every SmartREST line a device publishes on `s/us`, decoded;
 * - keeps operations as the platform does: created PENDING and sent on
 *   `s/ds`; `501,<fragment>` moves the oldest PENDING one of that fragment to
 *   EXECUTING, `502`/`503` end the oldest EXECUTING one, of the device that
 *   publishes on `s/us` or of the child `<id>` on `s/us/<id>` (the serial in
 *   the operation's line); `500` sends the PENDING ones again; a status line
 *   that addresses nothing is recorded in `violations`;
 * - speaks JSON via MQTT as the platform's document says: every operation is
 *   also delivered as JSON on `devicecontrol/notifications` (with its `id`,
 *   `status`, `externalSource` and fragments; a static template's operation
 *   too, beside its line on `s/ds`); ones not forwarded yet are sent when a
 *   device subscribes there; `504,<id>` moves that operation to EXECUTING,
 *   `505`/`506` end it (it must be the publishing device's); events created
 *   on `event/events/create` (`t/…` transient) are recorded, and a body
 *   without `type`, `text` and `time` is answered on `error`;
 * - keeps what `113` (c8y_Configuration) and `114` (c8y_SupportedOperations)
 *   set on each device's managed object;
 * - answers `s/ucr` with `70,<tenant>,<user>,<password>` on `s/dcr` once the
 *   test `accept`ed the serial, and `s/uat` with `71,<jwt>` on `s/dat`;
 * - says whether an `Authorization` header is one the platform would take
 *   (`authorizes`), for the remote-access server.
 *
 * Its SmartREST reader and writer are its own, from the same document.
 */
import { Aedes, type Client } from "aedes";
import { createServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import { Buffer } from "node:buffer";
import { Condition } from "./condition.ts";

/** Options of {@link startC8yEmulator}. */
export interface C8yEmulatorOptions {
  /** Default "t100". */
  tenant?: string;
  /** Device users of the tenant: user → password. */
  users?: Record<string, string>;
  /** The bootstrap user's password (user `management/devicebootstrap`). */
  bootstrapPassword?: string;
  /** Serve MQTT over TLS and require client certificates signed by `ca`. */
  tls?: { ca: string; cert: string; key: string };
  /** Lifetime of the JWTs it issues. Default 3600 s. */
  tokenLifetimeSec?: number;
  /** Answer every `s/uat` with this token instead of a new one (for a relay that knows it). */
  jwt?: string;
}

/** One CONNECT the emulator saw. */
export interface ConnectAttempt {
  clientId: string;
  username: string | undefined;
  accepted: boolean;
  /** "device" (basic), "certificate", "bootstrap", or undefined when refused. */
  as?: "device" | "certificate" | "bootstrap";
}

/** One line a device published, with who and where. */
export interface DeviceLine {
  clientId: string;
  topic: string;
  fields: string[];
  at: number;
}

/** An event a device created through JSON via MQTT. */
export interface JsonEvent {
  clientId: string;
  /** True when published on `t/event/events/create` (delivered, not stored). */
  transient: boolean;
  /** The body as the device sent it. */
  body: Record<string, unknown>;
}

/** An operation, as the platform keeps it. */
export interface EmulatedOperation {
  id: number;
  /** The operation as JSON via MQTT delivers it. */
  json: Record<string, unknown>;
  /** The serial of the device it is for (the line's second field; "" when missing). */
  device: string;
  fragment: string;
  fields: string[];
  status: "PENDING" | "EXECUTING" | "SUCCESSFUL" | "FAILED";
  failureReason?: string;
  /** Extra fields of the 503. */
  result?: string[];
  /** Every status it went through, in order. */
  history: string[];
}

/** A running emulator. */
export interface C8yEmulator {
  /** `mqtt://127.0.0.1:<port>` (`mqtts://` with TLS). */
  readonly url: string;
  readonly port: number;
  readonly tenant: string;
  readonly connects: ConnectAttempt[];
  /** Every line published on `s/us` (and `s/ucr`, `s/uat` as empty lines). */
  readonly lines: DeviceLine[];
  readonly operations: EmulatedOperation[];
  /** Status lines that addressed no operation, and other protocol mistakes. */
  readonly violations: string[];
  /** Events created through JSON via MQTT. */
  readonly events: JsonEvent[];
  /** Fragments of each device's managed object that its lines set (113, 114), by serial. */
  readonly inventory: Map<string, Record<string, unknown>>;
  /** Times (ms) of every token request on `s/uat`. */
  readonly tokenRequests: number[];
  /** Lets the device with this serial register, receiving these credentials. */
  accept(serial: string, user: string, password: string): void;
  /** Publishes `fields` as one SmartREST line on `topic` (default `s/ds`). */
  send(fields: string[], topic?: string): Promise<void>;
  /** Publishes raw text on `topic` (default `s/ds`). */
  sendRaw(payload: string, topic?: string): Promise<void>;
  /** Creates a PENDING operation from a downstream line and sends it (also as JSON). */
  operation(fields: string[]): Promise<EmulatedOperation>;
  /**
   * Creates a PENDING operation with these fragments (the first one names
   * it for 501/502/503) for `device` (default: the device whose client id is
   * `d:<device>`; "dev-1") and delivers it as JSON only, as the platform does
   * for a fragment no static template has.
   */
  customOperation(
    fragments: Record<string, unknown>,
    options?: { device?: string; description?: string },
  ): Promise<EmulatedOperation>;
  /** Publishes raw text on `devicecontrol/notifications`. */
  sendJson(payload: string): Promise<void>;
  /** Resolves once `count` JSON events match. */
  waitForEvents(
    match: (event: JsonEvent) => boolean,
    count?: number,
    timeoutMs?: number,
  ): Promise<JsonEvent[]>;
  /** Resolves once `count` lines on `s/us` match. */
  waitForLines(
    match: (fields: string[]) => boolean,
    count?: number,
    timeoutMs?: number,
  ): Promise<DeviceLine[]>;
  /** Resolves once `op` reached SUCCESSFUL or FAILED. */
  waitForEnd(op: EmulatedOperation, timeoutMs?: number): Promise<EmulatedOperation>;
  /** Resolves once `check()` is true (checked on every device event). */
  waitFor(what: string, check: () => boolean, timeoutMs?: number): Promise<void>;
  /** Whether the platform would take this `Authorization` header. */
  authorizes(header: string | null): boolean;
  /** Drops every client's connection, as a platform restart would. */
  dropClients(): void;
  stop(): Promise<void>;
}

const BOOTSTRAP_USER = "management/devicebootstrap";
const OPERATIONS_TOPIC = "devicecontrol/notifications";
// JSON via MQTT endpoints a device may publish to (<api>/<resource>/<action>[/<id>]).
const JSON_UPSTREAM =
  /^([tqc]\/)?(event\/events|alarm\/alarms|measurement\/measurements|inventory\/managedObjects)\/(create|createBulk|update|delete)(\/[^/]+)?$/;
/**
 * The static operation templates of Cumulocity's MQTT static templates
 * document (PROTOCOLS.md §1 names four) and the fragment each operation is
 * created with, as Cumulocity's own device agents report it.
 */
export const OPERATION_FRAGMENTS: Readonly<Record<string, string>> = {
  "510": "c8y_Restart",
  "511": "c8y_Command",
  "513": "c8y_Configuration",
  "515": "c8y_Firmware",
  "516": "c8y_SoftwareList",
  "517": "c8y_MeasurementRequestOperation",
  "518": "c8y_Relay",
  "519": "c8y_RelayArray",
  "520": "c8y_UploadConfigFile",
  "521": "c8y_DownloadConfigFile",
  "522": "c8y_LogfileRequest",
  "523": "c8y_CommunicationMode",
  "524": "c8y_DownloadConfigFile",
  "525": "c8y_Firmware",
  "526": "c8y_UploadConfigFile",
  "527": "c8y_DeviceProfile",
  "528": "c8y_SoftwareUpdate",
  "529": "c8y_SoftwareUpdate",
  "530": "c8y_RemoteAccessConnect",
  "da600": "c8y_RemoteAccessConnect",
};

/**
 * The fragment of a static template's operation as its JSON copy carries it
 * (the REST API's device management library: c8y_Command.text,
 * c8y_Configuration.config, c8y_RemoteAccessConnect.hostname/port/connectionKey).
 */
function staticFragmentBody(fields: string[]): Record<string, unknown> {
  switch (fields[0]) {
    case "511":
      return { text: fields[2] ?? "" };
    case "513":
      return { config: fields[2] ?? "" };
    case "530":
    case "da600":
      return { hostname: fields[2], port: Number(fields[3]), connectionKey: fields[4] };
    default:
      return {};
  }
}

/** Starts the emulator on 127.0.0.1, on a port the OS picks. */
export async function startC8yEmulator(options: C8yEmulatorOptions = {}): Promise<C8yEmulator> {
  const tenant = options.tenant ?? "t100";
  const users = new Map(Object.entries(options.users ?? {}));
  const accepted = new Map<string, { user: string; password: string }>();
  const connects: ConnectAttempt[] = [];
  const lines: DeviceLine[] = [];
  const operations: EmulatedOperation[] = [];
  const violations: string[] = [];
  const tokenRequests: number[] = [];
  const events: JsonEvent[] = [];
  const inventory = new Map<string, Record<string, unknown>>();
  // Operations the JSON channel has not delivered yet, sent when a device subscribes.
  const unforwarded = new Set<EmulatedOperation>();
  const jsonSubscribers = new Set<Client>();
  const tokens = new Map<string, number>();
  const roles = new Map<Client, "device" | "certificate" | "bootstrap">();
  const condition = new Condition();
  const wake = () => condition.changed();
  const lifetimeSec = options.tokenLifetimeSec ?? 3600;

  const broker = await Aedes.createBroker({
    authenticate(client, username, password, done) {
      const secret = password === undefined ? undefined : Buffer.from(password).toString();
      let as: ConnectAttempt["as"];
      if (username === undefined && options.tls) {
        const cn = (client.conn as TLSSocket).getPeerCertificate?.()?.subject?.CN;
        if (cn !== undefined && client.id === `d:${cn}`) as = "certificate";
      } else if (username === BOOTSTRAP_USER && secret === options.bootstrapPassword) {
        as = "bootstrap";
      } else if (username?.startsWith(`${tenant}/`)) {
        const user = username.slice(tenant.length + 1);
        if (users.has(user) && users.get(user) === secret) as = "device";
      }
      connects.push({ clientId: client.id, username, accepted: as !== undefined, as });
      wake();
      if (as === undefined) {
        const error = Object.assign(new Error("Bad user name or password"), { returnCode: 4 });
        return done(error as Error & { returnCode: 4 }, false);
      }
      roles.set(client, as);
      done(null, true);
    },
    authorizeSubscribe(client, subscription, done) {
      const role = roles.get(client);
      const allowed = role === "bootstrap"
        ? subscription.topic === "s/dcr"
        : ["s/ds", "s/e", "s/dat", OPERATIONS_TOPIC, "error"].includes(subscription.topic) ||
          subscription.topic.startsWith("s/dc/");
      if (!allowed) violations.push(`${client.id} subscribed to ${subscription.topic}`);
      done(allowed ? null : new Error("not allowed"), allowed ? subscription : null);
    },
    authorizePublish(client, packet, done) {
      if (!client) return done(null);
      const role = roles.get(client);
      const allowed = role === "bootstrap"
        ? packet.topic === "s/ucr"
        : ["s/us", "s/uat", "t/us", "q/us"].includes(packet.topic) ||
          /^s\/us\/[^/]+$/.test(packet.topic) || JSON_UPSTREAM.test(packet.topic);
      if (!allowed) violations.push(`${client.id} published to ${packet.topic}`);
      done(allowed ? null : new Error("not allowed"));
    },
  });

  broker.on("clientDisconnect", (client) => {
    roles.delete(client);
    jsonSubscribers.delete(client);
  });
  broker.on("subscribe", (subscriptions, client) => {
    if (!client || !subscriptions.some((s) => s.topic === OPERATIONS_TOPIC)) return;
    jsonSubscribers.add(client);
    for (const op of [...unforwarded]) {
      if (op.status === "PENDING") void forward(op);
    }
  });
  broker.on("unsubscribe", (topics, client) => {
    if (client && topics.includes(OPERATIONS_TOPIC)) jsonSubscribers.delete(client);
  });
  broker.on("publish", (packet, client) => {
    if (!client) return;
    const at = Date.now();
    const text = Buffer.from(packet.payload).toString();
    if (packet.topic === "s/ucr") {
      lines.push({ clientId: client.id, topic: packet.topic, fields: [], at });
      const registration = accepted.get(client.id);
      if (registration) {
        users.set(registration.user, registration.password);
        void publish("s/dcr", encode(["70", tenant, registration.user, registration.password]));
      }
    } else if (packet.topic === "s/uat") {
      tokenRequests.push(at);
      lines.push({ clientId: client.id, topic: packet.topic, fields: [], at });
      const jwt = options.jwt ?? makeJwt(client.id, tenant, lifetimeSec);
      tokens.set(jwt, Date.now() + lifetimeSec * 1000);
      void publish("s/dat", encode(["71", jwt]));
    } else if (packet.topic === "s/us" || packet.topic.startsWith("s/us/")) {
      let decoded: string[][] = [];
      try {
        decoded = decode(text);
      } catch (error) {
        violations.push(`unreadable ${packet.topic} payload ${JSON.stringify(text)}: ${error}`);
      }
      // s/us speaks for the client's own device (d:<serial>), s/us/<id> for child <id>.
      const device = packet.topic === "s/us"
        ? client.id.replace(/^d:/, "")
        : packet.topic.slice("s/us/".length);
      for (const fields of decoded) {
        lines.push({ clientId: client.id, topic: packet.topic, fields, at });
        track(fields, device, packet.topic);
      }
    } else if (JSON_UPSTREAM.test(packet.topic)) {
      createFromJson(client, packet.topic, text);
    }
    wake();
  });

  // JSON via MQTT: <api>/<resource>/<action>, "t/" for transient processing.
  function createFromJson(client: Client, topic: string, text: string): void {
    const endpoint = topic.replace(/^[tqc]\//, "");
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return jsonError(`${topic}: the payload is not JSON: ${JSON.stringify(text.slice(0, 80))}`);
    }
    if (endpoint !== "event/events/create") {
      return jsonError(`${topic}: this emulator creates events only`);
    }
    const event = body as Record<string, unknown>;
    const missing = ["type", "text", "time"].filter((k) => typeof event?.[k] !== "string");
    if (missing.length > 0 || Number.isNaN(Date.parse(String(event.time)))) {
      return jsonError(
        `${topic}: Following mandatory fields should be included: ${missing.join(",") || "time"}`,
      );
    }
    events.push({ clientId: client.id, transient: topic.startsWith("t/"), body: event });
  }

  function jsonError(message: string): void {
    violations.push(message);
    void publish("error", JSON.stringify({ error: "undefined/validationError", message }));
  }

  function forward(op: EmulatedOperation): Promise<void> {
    if (jsonSubscribers.size === 0) {
      unforwarded.add(op);
      return Promise.resolve();
    }
    unforwarded.delete(op);
    return publish(OPERATIONS_TOPIC, JSON.stringify(op.json));
  }

  function createOperation(
    device: string,
    fragment: string,
    fields: string[],
    fragments: Record<string, unknown>,
    description = `Operation ${fragment}`,
  ): EmulatedOperation {
    const id = operations.length + 1;
    const op: EmulatedOperation = {
      id,
      json: {
        id: String(id),
        status: "PENDING",
        creationTime: new Date().toISOString(),
        deviceId: `mo-${device}`,
        agentId: `mo-${device}`,
        description,
        delivery: { log: [], status: "PENDING", time: new Date().toISOString() },
        externalSource: { externalId: device, type: "c8y_Serial" },
        ...fragments,
      },
      device,
      fragment,
      fields,
      status: "PENDING",
      history: ["PENDING"],
    };
    operations.push(op);
    return op;
  }

  function setFragment(device: string, name: string, value: unknown): void {
    const object = inventory.get(device) ?? {};
    object[name] = value;
    inventory.set(device, object);
  }

  function track(fields: string[], device: string, topic: string): void {
    const [id, fragment] = fields;
    if (id === "113") return setFragment(device, "c8y_Configuration", { config: fields[1] ?? "" });
    if (id === "114") return setFragment(device, "c8y_SupportedOperations", fields.slice(1));
    if (["504", "505", "506"].includes(id)) return trackById(fields, device);
    if (id === "500") {
      for (const op of operations) {
        if (op.status === "PENDING") void publish("s/ds", encode(op.fields));
      }
      return;
    }
    if (!["501", "502", "503"].includes(id)) return;
    const from = id === "501" ? "PENDING" : "EXECUTING";
    // A line without a serial (only tests send those) is taken as the device's own.
    const op = operations.find((o) =>
      (o.device === device || (o.device === "" && !/^s\/us\//.test(topic))) &&
      o.fragment === fragment && o.status === from
    );
    if (!op) {
      violations.push(
        `${fields.join(",")} addresses no ${from} ${fragment} operation of ${device}`,
      );
      return;
    }
    op.status = id === "501" ? "EXECUTING" : id === "502" ? "FAILED" : "SUCCESSFUL";
    op.history.push(op.status);
    if (id === "502") op.failureReason = fields[2];
    if (id === "503") op.result = fields.slice(2);
  }

  // 504/505/506: "The operation must exist and must have the requesting device as the source."
  function trackById(fields: string[], device: string): void {
    const [template, id] = fields;
    const from = template === "504" ? "PENDING" : "EXECUTING";
    const op = operations.find((o) => String(o.id) === id);
    if (!op || op.device !== device || op.status !== from) {
      violations.push(
        `${fields.join(",")} addresses no ${from} operation ${id} of ${device}` +
          (op ? ` (it is ${op.status}, of ${op.device})` : ""),
      );
      return;
    }
    op.status = template === "504" ? "EXECUTING" : template === "505" ? "FAILED" : "SUCCESSFUL";
    op.history.push(op.status);
    if (template === "505") op.failureReason = fields[2];
    if (template === "506") op.result = fields.slice(2);
  }

  function publish(topic: string, payload: string): Promise<void> {
    return new Promise((resolve, reject) =>
      broker.publish(
        {
          cmd: "publish",
          topic,
          payload: Buffer.from(payload),
          qos: 1,
          retain: false,
          dup: false,
        },
        (error) => (error ? reject(error) : resolve()),
      )
    );
  }

  const sockets = new Set<Socket>();
  const server: Server = options.tls
    ? createTlsServer({
      key: options.tls.key,
      cert: options.tls.cert,
      ca: options.tls.ca,
      requestCert: true,
      rejectUnauthorized: true,
    }, broker.handle)
    : createServer(broker.handle);
  server.on(options.tls ? "secureConnection" : "connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as { port: number }).port;

  async function waitFor(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
    await condition.until(what, () => check() || undefined, {
      timeoutMs,
      context: () =>
        `last lines: ${JSON.stringify(lines.slice(-6).map((l) => l.fields.join(",")))}; ` +
        `violations: ${JSON.stringify(violations)}`,
    });
  }

  let stopped: Promise<void> | undefined;
  return {
    url: `${options.tls ? "mqtts" : "mqtt"}://127.0.0.1:${port}`,
    port,
    tenant,
    connects,
    lines,
    operations,
    violations,
    events,
    inventory,
    tokenRequests,
    accept(serial, user, password) {
      accepted.set(serial, { user, password });
    },
    send: (fields, topic = "s/ds") => publish(topic, encode(fields)),
    sendRaw: (payload, topic = "s/ds") => publish(topic, payload),
    async operation(fields) {
      const fragment = Object.hasOwn(OPERATION_FRAGMENTS, fields[0])
        ? OPERATION_FRAGMENTS[fields[0]]
        : undefined;
      if (!fragment) throw new Error(`No operation fragment for template ${fields[0]}`);
      const op = createOperation(fields[1] ?? "", fragment, fields, {
        [fragment]: staticFragmentBody(fields),
      });
      await publish(fields[0] === "da600" ? "s/dc/remoteConnect" : "s/ds", encode(fields));
      await forward(op);
      return op;
    },
    async customOperation(fragments, options = {}) {
      const fragment = Object.keys(fragments)[0];
      if (!fragment) throw new Error("An operation needs a fragment");
      const op = createOperation(
        options.device ?? "dev-1",
        fragment,
        [],
        fragments,
        options.description,
      );
      await forward(op);
      return op;
    },
    sendJson: (payload) => publish(OPERATIONS_TOPIC, payload),
    async waitForEvents(match, count = 1, timeoutMs = 5000) {
      const found = () => events.filter(match);
      await waitFor(`${count} matching JSON event(s)`, () => found().length >= count, timeoutMs);
      return found();
    },
    async waitForLines(match, count = 1, timeoutMs = 5000) {
      const found = () => lines.filter((l) => l.topic === "s/us" && match(l.fields));
      await waitFor(`${count} matching line(s) on s/us`, () => found().length >= count, timeoutMs);
      return found();
    },
    async waitForEnd(op, timeoutMs = 5000) {
      await waitFor(
        `operation ${op.id} (${op.fields[0]}) to end`,
        () => op.status === "SUCCESSFUL" || op.status === "FAILED",
        timeoutMs,
      );
      return op;
    },
    waitFor,
    authorizes(header) {
      if (!header) return false;
      const bearer = header.match(/^Bearer (.+)$/);
      if (bearer) return (tokens.get(bearer[1]) ?? 0) > Date.now();
      const basic = header.match(/^Basic (.+)$/);
      if (!basic) return false;
      const text = new TextDecoder().decode(
        Uint8Array.from(atob(basic[1]), (c) => c.charCodeAt(0)),
      );
      const colon = text.indexOf(":");
      const [username, password] = [text.slice(0, colon), text.slice(colon + 1)];
      if (colon < 0 || !username.startsWith(`${tenant}/`)) return false;
      return users.get(username.slice(tenant.length + 1)) === password;
    },
    dropClients() {
      for (const socket of sockets) socket.destroy();
    },
    stop: () =>
      stopped ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        await new Promise<void>((resolve) => broker.close(() => resolve()));
        for (const socket of sockets) socket.destroy();
        await closed;
      })(),
  };
}

/** A JWT like the platform's: header, claims with `exp`, and a (fake) signature. */
export function makeJwt(clientId: string, tenant: string, lifetimeSec: number): string {
  const now = Math.floor(Date.now() / 1000);
  const part = (value: unknown) =>
    btoa(JSON.stringify(value)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const signature = btoa(crypto.randomUUID()).replace(/=+$/, "");
  return [
    part({ alg: "RS256", typ: "JWT" }),
    part({
      sub: clientId,
      ten: tenant,
      iat: now,
      exp: now + lifetimeSec,
      jti: crypto.randomUUID(),
    }),
    signature,
  ].join(".");
}

/**
 * PROTOCOLS.md §1: fields separated by ",", a field with ",", '"', a line
 * break or leading/trailing spaces is quoted, '"' inside is written '\"'.
 */
export function encode(fields: readonly string[]): string {
  return fields.map((field) =>
    /[,"\n\r]|^\s|\s$/.test(field)
      ? `"${field.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`
      : field
  ).join(",");
}

/** Every line of a payload as its fields (line breaks inside quotes belong to the field). */
export function decode(text: string): string[][] {
  const records: string[][] = [];
  let fields: string[] = [];
  let field = "";
  let quoted = false;
  let i = 0;
  const endLine = () => {
    fields.push(field);
    if (fields.length > 1 || fields[0] !== "") records.push(fields);
    fields = [];
    field = "";
  };
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === "\\" && (text[i + 1] === '"' || text[i + 1] === "\\")) {
        field += text[i + 1];
        i += 2;
        continue;
      }
      if (c === '"') quoted = false;
      else field += c;
      i++;
      continue;
    }
    if (c === '"' && field.trim() === "") {
      quoted = true;
      field = "";
    } else if (c === ",") {
      fields.push(field);
      field = "";
    } else if (c === "\n") endLine();
    else if (c !== "\r") field += c;
    i++;
  }
  if (quoted) throw new Error(`unterminated quote in ${JSON.stringify(text)}`);
  if (field !== "" || fields.length > 0) endLine();
  return records;
}
