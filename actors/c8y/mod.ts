/**
 * A Cumulocity IoT cloud (`[clouds.<name>] type = "c8y"`): MQTT with
 * SmartREST 2.0 and Cloud Remote Access (PROTOCOLS.md §1).
 *
 * ```
 * cloud:<name>     rest_for_one
 * ├── connection   MQTT connection actor: client id d:<serial>, login <tenant>/<user>
 * │                or a device certificate
 * ├── provisioning (bootstrap only) registration on s/ucr until 70,<tenant>,<user>,<password>
 * ├── token        (certificate only) JWT from s/uat, renewed at half-life
 * ├── session      100/110/114/117/150/500 on connect; s/ds, s/e (s/dc/<X-ID>) → operations;
 * │                devicecontrol/notifications → commands, support (JSON operations)
 * ├── tunnels      dynamic one_for_one, maxChildren = remoteAccess.maxTunnels: one
 * │                temporary proxy actor per 530
 * └── drain        (added by the agent) this cloud's outbox → s/us (200/201, 400, 30x)
 * ```
 * rest_for_one: a new connection restarts everything that holds its
 * subscriptions; a crashed session takes its tunnels with it (their
 * statuses would have nobody to report them); a crashed drain restarts alone.
 *
 * @module
 */
import { child, type Spec } from "../runtime/spec.ts";
import { getLogger } from "../runtime/logging.ts";
import { MqttLink } from "../mqtt/link.ts";
import { mqttConnection, type MqttConnectionOptions } from "../mqtt/connection.ts";
import { tunnelsSupervisor } from "../tunnels/proxy_actor.ts";
import type { TunnelHost } from "../cloud/connector.ts";
import type { HandlerRegistry } from "../cloud/handlers.ts";
import type { SupportChannel } from "../cloud/support.ts";
import type { C8yCloudConfig } from "./config.ts";
import type { CloudEncoder, EncodedRecord } from "../cloud/encoder.ts";
import { packLines } from "../../protocols/smartrest.ts";
import { C8Y_TOPICS } from "../../protocols/c8y_messages.ts";
import { eventRecordToLine, telemetryToLines } from "../../protocols/c8y_telemetry.ts";
import { bootstrapRegistration, C8yCredentials } from "./bootstrap.ts";
import { C8yToken, tokenRenewal } from "./token.ts";
import { c8ySession } from "./session.ts";
import { openTunnel, remoteAccessBase } from "./remote_access.ts";

export { jwtExpiry } from "./token.ts";
export { splitCommandLine } from "./commands.ts";
export { remoteAccessBase, remoteAccessUrl } from "./remote_access.ts";
export { NOT_SUPPORTED } from "./session.ts";

/** What a Cumulocity cloud needs from the agent. */
export interface C8yCloudOptions {
  /** The cloud's configured name. */
  name: string;
  /** Its resolved `[clouds.<name>]` table. */
  config: C8yCloudConfig;
  /** Broker, client id, TLS (PEM read), keep-alive and backoff; the login is added here. */
  connection: Omit<MqttConnectionOptions, "will" | "credentials" | "username" | "password">;
  /** Where bootstrap registration keeps the credentials (see {@link credentialsFile}). */
  credentialsFile: string;
  /** `[remoteAccess]`, the access check and where tunnels start. */
  tunnels: TunnelHost;
  /** The embedding app's command and desired-state handlers. */
  handlers: HandlerRegistry;
  /** Where the version of the desired configuration is kept (`c8y_Configuration`). */
  configurationFile: string;
  /** The support modules (reached with `operations.support`). */
  support?: SupportChannel;
}

/** A built Cumulocity cloud: its link, its record encoder and its supervision subtree. */
export interface C8yCloud {
  /** The cloud's MQTT link, for status and the agent's `connected()`. */
  link: MqttLink;
  /** How the agent's records become SmartREST lines on `s/us`. */
  encoder: CloudEncoder;
  /** The children of `cloud:<name>`, connection first; the agent appends the drain. */
  children: Spec[];
}

const log = getLogger("c8y");

/**
 * Where bootstrap registration keeps the credentials of cloud `name`.
 *
 * @example
 * ```ts
 * credentialsFile("/var/lib/outpost", "c8y"); // "/var/lib/outpost/c8y-c8y.credentials.json"
 * ```
 */
export function credentialsFile(stateDir: string, name: string): string {
  return `${stateDir.replace(/\/+$/, "")}/c8y-${name}.credentials.json`;
}

/**
 * Builds one Cumulocity cloud. Reads the stored bootstrap credentials, if
 * any, so the first connect already uses them.
 *
 * @example
 * ```ts
 * const cloud = await c8yCloud({ name: "c8y", config, connection, tunnels, handlers,
 *   credentialsFile: credentialsFile(stateDir, "c8y"),
 *   configurationFile: `${stateDir}/c8y-c8y.configuration.json`, support: service.channel });
 * ```
 */
export async function c8yCloud(options: C8yCloudOptions): Promise<C8yCloud> {
  const { name, config } = options;
  const link = new MqttLink(name);
  const certificate = config.certFile !== undefined;
  const bootstrap = !certificate && config.password === undefined && config.bootstrap.enabled;
  const file = options.credentialsFile;
  const tunnels = options.tunnels;
  let credentials: C8yCredentials | undefined;
  if (bootstrap) credentials = await C8yCredentials.stored(name, file);
  else if (!certificate) {
    credentials = new C8yCredentials(name, {
      tenant: config.tenant!,
      user: config.user!,
      password: config.password!,
    });
  }
  const token = certificate ? new C8yToken(link, { cloud: name }) : undefined;
  const dialTimeoutMs = tunnels.remoteAccess.dialTimeoutSec * 1000;
  const authorization = async (): Promise<string> => {
    if (token) return `Bearer ${await token.get(dialTimeoutMs)}`;
    const basic = credentials?.basicAuthorization();
    if (!basic) throw new Error("the device is not registered yet");
    return basic;
  };

  const remoteAccess = config.remoteAccess
    ? (request: Parameters<typeof openTunnel>[0]) =>
      openTunnel(request, {
        cloud: name,
        start: (spec) => tunnels.start(spec),
        baseUrl: remoteAccessBase(config.url, config.remoteAccessUrl),
        authorization,
        settings: tunnels.remoteAccess,
        accessCheck: tunnels.accessCheck,
        tunnelObserver: tunnels.observer,
        caCerts: options.connection.ca === undefined ? undefined : [options.connection.ca],
      })
    : undefined;

  const connection: MqttConnectionOptions = {
    ...options.connection,
    ...(credentials && { credentials: () => credentials.login() }),
  };
  const children: Spec[] = [
    child("connection", mqttConnection(link, connection), { shutdownMs: 2000 }),
  ];
  if (bootstrap) {
    const { url, ca, cert, key, rejectUnauthorized, keepaliveSec, connectTimeoutMs, brokers } =
      options.connection;
    children.push(
      child(
        "provisioning",
        bootstrapRegistration({
          cloud: name,
          credentials: credentials!,
          file,
          serial: config.serial,
          connect: { url, ca, cert, key, rejectUnauthorized, keepaliveSec, connectTimeoutMs },
          brokers,
          user: config.bootstrap.user,
          password: config.bootstrap.password!,
          intervalMs: config.bootstrap.intervalSec * 1000,
        }),
        { shutdownMs: 2000 },
      ),
    );
  }
  if (token) children.push(child("token", tokenRenewal(token)));
  children.push(child(
    "session",
    c8ySession({
      cloud: name,
      link,
      config,
      remoteAccess,
      handlers: options.handlers,
      configurationFile: options.configurationFile,
      support: options.support,
    }),
  ));
  if (remoteAccess) {
    children.push(tunnelsSupervisor(tunnels.remoteAccess.maxTunnels));
  }
  return { link, encoder: c8yEncoder(name), children };
}

/**
 * How Outpost's records become SmartREST on `s/us`: telemetry as `200`/`201`
 * measurements, events as `400` (or alarms `301`..`306` by `data.severity`).
 * One record is one publish: lines past the 16184-byte payload are dropped
 * with a warning, and a record with nothing to send is an empty publish,
 * which the platform ignores.
 *
 * @example
 * ```ts
 * c8yEncoder("c8y").telemetry(1, new Date(0), "door", { open: true }).payload;
 * // "200,door,open,1,,1970-01-01T00:00:00.000Z"
 * ```
 */
export function c8yEncoder(name: string): CloudEncoder {
  const record = (what: string, lines: () => string[]): EncodedRecord => {
    let payload = "";
    try {
      const payloads = packLines(lines());
      if (payloads.length > 1) {
        log.warn("Cloud {cloud}: {what} does not fit one publish; {dropped} part(s) dropped", {
          cloud: name,
          what,
          dropped: payloads.length - 1,
        });
      }
      payload = payloads[0] ?? "";
    } catch (error) {
      log.error("Cloud {cloud}: cannot encode {what} as SmartREST: {error}", {
        cloud: name,
        what,
        error,
      });
    }
    return { topic: C8Y_TOPICS.up, payload, qos: 1 };
  };
  return {
    name,
    telemetry: (_seq, ts, stream, values) =>
      record(`telemetry "${stream}"`, () => telemetryToLines(stream, values, ts)),
    event: (_seq, ts, type, text, data) =>
      record(`event "${type}"`, () => [eventRecordToLine({ type, text, ts, data })]),
  };
}
