/**
 * The MQTT connection keys every cloud type shares (`url`, TLS files,
 * keep-alive, backoff…), as zod fields a cloud's own table spreads into its
 * object, their resolved types, and how they become the connection actor's
 * options (PEM files read).
 */
import { z } from "zod";
import type { MqttConnectionOptions } from "../mqtt/connection.ts";
import type { RetryBackoff } from "../../machines/backoff.ts";
import { readSecretFile } from "../store/secret_file.ts";
import { flag, int, optionalText, text, validAt } from "./config_fields.ts";

const URL_EXPECTED =
  'a URL like "mqtt://host:1883" (scheme mqtt, mqtts, ws or wss; no user or password in it)';
function isCloudUrl(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  const scheme = url.protocol.slice(0, -1);
  if (!["mqtt", "mqtts", "ws", "wss"].includes(scheme)) return false;
  if (url.hostname === "" || url.username !== "" || url.password !== "") return false;
  // A path only means something to a WebSocket endpoint ("wss://host/mqtt").
  return scheme.startsWith("ws") || ((url.pathname === "" || url.pathname === "/") && !url.search);
}

/** Fields every MQTT-speaking cloud type shares; a new type spreads them into its own object. */
export const mqttConnectionFields = {
  url: text(URL_EXPECTED).refine(isCloudUrl, URL_EXPECTED),
  clientId: text().default(""),
  username: optionalText(),
  password: optionalText(),
  caFile: optionalText("a path to a PEM file"),
  certFile: optionalText("a path to a PEM file"),
  keyFile: optionalText("a path to a PEM file"),
  insecure: flag().default(false),
  cleanSession: flag().default(true),
  keepaliveSec: int(1, 65535).default(30),
  backoff: z.strictObject({
    minMs: int(0).default(1000),
    maxMs: int(0).default(60000),
    jitter: z.number().min(0).max(1).describe("a number from 0 to 1").default(0.2),
  }).refine((b) => b.maxMs >= b.minMs, {
    path: ["maxMs"],
    error: (issue) => `an integer >= minMs (${(issue.input as { minMs: number }).minMs})`,
    when: validAt("minMs", "maxMs"),
  }).prefault({}),
};

// A client certificate is useless without its key, and the reverse.
export function tlsPairing<T extends z.ZodObject>(schema: T): T {
  return schema
    .refine((c) => !c.certFile || c.keyFile, {
      path: ["keyFile"],
      message: "a path to the key of certFile (certFile is set)",
      when: validAt("certFile", "keyFile"),
    })
    .refine((c) => !c.keyFile || c.certFile, {
      path: ["certFile"],
      message: "a path to the certificate for keyFile (keyFile is set)",
      when: validAt("certFile", "keyFile"),
    }) as unknown as T;
}

/** Exponential backoff between connection attempts: the one backoff (machines/backoff.ts). */
export type ConnectionBackoff = RetryBackoff;

/** The MQTT connection keys every cloud type shares. */
export interface MqttEndpointConfig {
  /** `mqtt://`, `mqtts://`, `ws://` or `wss://`. */
  url: string;
  /** The MQTT client id; each cloud type has its own default. */
  clientId: string;
  /** MQTT password (never logged). */
  password?: string;
  /** PEM file of the CA that signed the broker's certificate. */
  caFile?: string;
  /** PEM client certificate for mutual TLS (with `keyFile`). */
  certFile?: string;
  /** PEM private key of `certFile`. */
  keyFile?: string;
  /** Turns TLS verification off (logged as a warning). */
  insecure: boolean;
  /** Start each connection without a stored session. */
  cleanSession: boolean;
  /** MQTT keep-alive. */
  keepaliveSec: number;
  /** Delays between connection attempts. */
  backoff: ConnectionBackoff;
}

/** The MQTT connection fields every cloud type shares, with PEM files read. */
export async function mqttConnectionOptions(
  cloud:
    & Pick<
      MqttEndpointConfig,
      | "url"
      | "clientId"
      | "caFile"
      | "certFile"
      | "keyFile"
      | "insecure"
      | "cleanSession"
      | "keepaliveSec"
      | "backoff"
    >
    & { username?: string; password?: string },
): Promise<Omit<MqttConnectionOptions, "will">> {
  return {
    url: cloud.url,
    clientId: cloud.clientId,
    username: cloud.username,
    password: cloud.password,
    ca: await readPem(cloud.caFile),
    cert: await readPem(cloud.certFile),
    key: await readPem(cloud.keyFile),
    rejectUnauthorized: !cloud.insecure,
    clean: cloud.cleanSession,
    keepaliveSec: cloud.keepaliveSec,
    backoff: cloud.backoff,
  };
}

/** The text of the PEM file at `path`; undefined for no path; throws naming a missing file. */
export async function readPem(path: string | undefined): Promise<string | undefined> {
  if (!path) return undefined;
  const text = await readSecretFile(path);
  if (text === undefined) throw new Error(`Cannot read ${path}: no such file`);
  return text;
}
