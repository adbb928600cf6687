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

/** An operation, as the platform keeps it. */
export interface EmulatedOperation {
  id: number;
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
  /** Times (ms) of every token request on `s/uat`. */
  readonly tokenRequests: number[];
  /** Lets the device with this serial register, receiving these credentials. */
  accept(serial: string, user: string, password: string): void;
  /** Publishes `fields` as one SmartREST line on `topic` (default `s/ds`). */
  send(fields: string[], topic?: string): Promise<void>;
  /** Publishes raw text on `topic` (default `s/ds`). */
  sendRaw(payload: string, topic?: string): Promise<void>;
  /** Creates a PENDING operation from a downstream line and sends it. */
  operation(fields: string[]): Promise<EmulatedOperation>;
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
        : ["s/ds", "s/e", "s/dat"].includes(subscription.topic) ||
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
          /^s\/us\/[^/]+$/.test(packet.topic);
      if (!allowed) violations.push(`${client.id} published to ${packet.topic}`);
      done(allowed ? null : new Error("not allowed"));
    },
  });

  broker.on("clientDisconnect", (client) => roles.delete(client));
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
    }
    wake();
  });

  function track(fields: string[], device: string, topic: string): void {
    const [id, fragment] = fields;
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
      const op: EmulatedOperation = {
        id: operations.length + 1,
        device: fields[1] ?? "",
        fragment,
        fields,
        status: "PENDING",
        history: ["PENDING"],
      };
      operations.push(op);
      await publish(fields[0] === "da600" ? "s/dc/remoteConnect" : "s/ds", encode(fields));
      return op;
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
