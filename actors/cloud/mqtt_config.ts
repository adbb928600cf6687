/**
 * The MQTT connection keys every cloud type shares (`url` or `urls`, TLS
 * files, keep-alive, backoff…), as zod fields a cloud's own table spreads
 * into its object, the rule between `url` and `urls`, their resolved types,
 * and how they become the connection actor's options (PEM files read).
 */
import { z } from "zod";
import type { MqttBroker, MqttConnectionOptions } from "../mqtt/connection.ts";
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

const URLS_EXPECTED =
  'a non-empty list of broker URLs like ["mqtt://a:1883", "mqtt://b:1883"], tried in this order';
const MISSING_EXPECTED = `${URL_EXPECTED}, or urls, a list of them`;
const brokerUrl = () => text(URL_EXPECTED).refine(isCloudUrl, URL_EXPECTED);

const DEFAULT_PORTS: Record<string, string> = { mqtt: "1883", mqtts: "8883", ws: "80", wss: "443" };

/**
 * One spelling per broker: "mqtt://A:1883/" and "mqtt://a" are the same
 * broker (in a list it would be tried twice a round; for two clouds it is
 * one broker).
 */
export function brokerKey(value: string): string {
  const url = new URL(value);
  const scheme = url.protocol.slice(0, -1);
  const path = url.pathname.replace(/\/+$/, "");
  return `${scheme}://${url.hostname.toLowerCase()}:${url.port || DEFAULT_PORTS[scheme]}${path}`;
}

function listedOnce(urls: string[], ctx: z.RefinementCtx): void {
  const first = new Map<string, number>();
  for (const [index, url] of urls.entries()) {
    if (typeof url !== "string" || !isCloudUrl(url)) continue;
    const key = brokerKey(url);
    const earlier = first.get(key);
    if (earlier === undefined) first.set(key, index);
    else {
      ctx.addIssue({
        code: "custom",
        path: [index],
        message: `a broker not already in the list (it is urls.${earlier} again)`,
      });
    }
  }
}

/**
 * Fields every MQTT-speaking cloud type shares; a new type spreads them into
 * its own object and wraps that object in {@link urlOrUrls}.
 */
export const mqttConnectionFields = {
  // `excludes`: an environment override of one replaces the other from the file.
  url: brokerUrl().optional().meta({ excludes: ["urls"] }),
  urls: z.array(brokerUrl()).min(1)
    // Checked beside the items' own issues: one run of the file names every mistake.
    .superRefine(listedOnce, { when: (payload) => Array.isArray(payload.value) }).describe(
      URLS_EXPECTED,
    ).optional()
    .meta({ excludes: ["url"] }),
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

/**
 * The rule between `url` and `urls`: a table gives one of them, never both
 * (which would leave unclear which broker is first).
 *
 * @example
 * ```ts
 * const schema = urlOrUrls(z.strictObject({ type: z.literal("echo"), ...mqttConnectionFields }));
 * ```
 */
export function urlOrUrls<T extends z.ZodObject>(schema: T): T {
  return schema.superRefine((table, ctx) => {
    const { url, urls } = table as { url?: string; urls?: string[] };
    if (url !== undefined && urls !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["urls"],
        message: "url or urls, not both",
        params: { found: "both url and urls" },
      });
    } else if (url === undefined && urls === undefined) {
      ctx.addIssue({ code: "custom", path: ["url"], message: MISSING_EXPECTED });
    }
  }, { when: validAt("url", "urls") }) as unknown as T;
}

/**
 * `url` and `urls` of a table that passed {@link urlOrUrls}, both filled:
 * `urls` is the fail-over list, `url` its first broker.
 *
 * @example
 * ```ts
 * brokerUrls({ urls: ["mqtt://a:1883", "mqtt://b:1883"] }); // { url: "mqtt://a:1883", urls: [...] }
 * ```
 */
export function brokerUrls(
  table: { url?: string; urls?: string[] },
): { url: string; urls: string[] } {
  const urls = table.urls ?? [table.url!];
  return { url: urls[0], urls };
}

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
  /** The first broker of `urls`: `mqtt://`, `mqtts://`, `ws://` or `wss://`. */
  url: string;
  /** The brokers to fail over between, in order (docs/failover.md); one entry for a `url`. */
  urls: string[];
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

/**
 * The MQTT connection fields every cloud type shares, with PEM files read;
 * `urls`, when given, become the connection's fail-over `brokers`.
 */
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
    & { username?: string; password?: string; urls?: readonly string[] },
): Promise<Omit<MqttConnectionOptions, "will">> {
  const brokers: MqttBroker[] | undefined = cloud.urls?.map((url) => ({ url }));
  return {
    url: brokers?.[0]?.url ?? cloud.url,
    brokers,
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
