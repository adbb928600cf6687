/**
 * The agent's one logger: LogTape, writing one line per record to stderr (or
 * to `write` in tests), as text for people or as JSON lines for collectors.
 *
 * An agent holds SAS tokens, device keys and broker passwords, and its logs
 * leave the device, so every record is redacted before it is formatted: by
 * property name (`password`, `deviceKey`, …), by value (strings that look
 * like random key material) and by pattern in every string and in the
 * rendered message (`Bearer …`, PEM private keys, URL passwords, …).
 */
import {
  configure,
  getLogger as getLogTapeLogger,
  getLogLevels,
  isLogLevel,
  type Logger,
  type LogRecord,
  reset,
} from "@logtape/logtape";

/** A record's severity; LogTape's level names, lowest first. */
export type LogLevel = "trace" | "debug" | "info" | "warning" | "error" | "fatal";

/** `text` for people reading a console, `json` for log collectors. */
export type LogFormat = "text" | "json";

/** What {@link configureLogging} accepts. */
export interface LoggingOptions {
  /** The lowest level written; lower ones are dropped. Default `"info"`. */
  level?: LogLevel;
  /** How each record is written. Default `"text"`. */
  format?: LogFormat;
  /** Receives each line without its newline. Default: stderr, synchronously. */
  write?: (line: string) => void;
}

const REDACTED = "[REDACTED]";
// Deep enough for any config or payload we log; deeper means a runaway value.
const MAX_DEPTH = 10;

// "key" counts only after a qualifier (`deviceKey`, `privateKey`, `x-api-key`):
// a bare `key` names a setting or a map entry (a shadow's desired key), and
// hiding it hid which one was refused.
const SECRET_KEY =
  /(?:password|passwd|secret|token|authorization|.key|sas|signature|sig|credential|cookie)s?$/;

// Compared after lowercasing and dropping "-" and "_", and matched at the end
// of the name, so `deviceKey`, `x-api-key` and `accessToken` are secret while
// `key`, `keyFile`, `keepalive` and `tokenUrl` are not.
function isSecretKey(name: string): boolean {
  return SECRET_KEY.test(normalName(name));
}

// In query and connection strings a bare `key=` is an API key by convention.
function isSecretParameter(name: string): boolean {
  return isSecretKey(name) || normalName(name) === "key";
}

function normalName(name: string): string {
  return name.toLowerCase().replace(/[-_]/g, "");
}

const BASE64_BLOB = /^[A-Za-z0-9+/]{32,}={0,2}$/;

// Random bytes in base64 (Azure device keys, AWS secret access keys) hidden
// under whatever name they are logged: 32 or more base64 characters with
// upper case, lower case and digits, switching between them every few
// characters, as no word, identifier, path or hex digest does.
function looksLikeKeyMaterial(value: string): boolean {
  if (!BASE64_BLOB.test(value)) return false;
  const classes = [...value].map(charClass).filter((c) => c !== undefined);
  if (new Set(classes).size < 3) return false;
  let switches = 0;
  for (let i = 1; i < classes.length; i++) if (classes[i] !== classes[i - 1]) switches++;
  return switches * 4 >= classes.length;
}

function charClass(char: string): "upper" | "lower" | "digit" | undefined {
  if (char >= "A" && char <= "Z") return "upper";
  if (char >= "a" && char <= "z") return "lower";
  if (char >= "0" && char <= "9") return "digit";
  return undefined;
}

// Each pattern rewrites its match so that it no longer carries the secret and
// a second pass leaves it unchanged; order matters: whole SAS tokens go before
// their `sig=` parameter would. A doubled scheme ("Bearer Bearer xyz", a common
// client bug) must not be taken for the credential, or the real one leaks.
const TEXT_RULES: [RegExp, (...match: string[]) => string][] = [
  [
    /-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)/g,
    (_, kind) => `-----BEGIN ${kind}PRIVATE KEY-----${REDACTED}-----END ${kind}PRIVATE KEY-----`,
  ],
  [
    /\bSharedAccessSignature\s+(?!SharedAccessSignature\s)[^\s"'<>;,]+/g,
    () => `SharedAccessSignature ${REDACTED}`,
  ],
  [/\bBearer\s+(?!Bearer\s)[\w\-.~+/]+=*/gi, () => `Bearer ${REDACTED}`],
  // A JSON Web Token wherever it appears: header and payload both start `{"`.
  [/\beyJ[\w-]+\.eyJ[\w-]+\.[\w-]*/g, () => REDACTED],
  // "Basic" is also an English word; only a base64 "user:password" is a secret.
  [/\bBasic\s+(?!Basic\s)([A-Za-z0-9+/]{4,}={0,2})/gi, (match, encoded) => {
    try {
      return atob(encoded).includes(":") ? `Basic ${REDACTED}` : match;
    } catch {
      return match;
    }
  }],
  [
    /\b([a-z][a-z0-9+.-]{0,31}:\/\/[^\s:/?#@]*):[^\s/?#]+@/gi,
    (_, userAndScheme) => `${userAndScheme}:${REDACTED}@`,
  ],
  // `name=value` pairs from query strings and connection strings: `sig=`,
  // `SharedAccessKey=`, `password=`, judged by the same names as properties.
  [
    /\b([A-Za-z][\w-]{0,63})=([^&;\s"'<>#,]+)/g,
    (match, name) => isSecretParameter(name) ? `${name}=${REDACTED}` : match,
  ],
];

/**
 * Removes secrets that appear inside free text: bearer and basic credentials,
 * Azure SAS tokens, JSON Web Tokens, secret `name=value` parameters (such as
 * `sig=` or `key=`), PEM private keys and passwords in URLs. Applying it twice changes nothing more.
 *
 * @example
 * ```ts
 * redactText("dialing mqtts://dev:hunter2@broker:8883");
 * // "dialing mqtts://dev:[REDACTED]@broker:8883"
 * ```
 */
export function redactText(text: string): string {
  // One rule's rewrite can complete another's match (`sig=` removing the "/"
  // that ended a URL's userinfo), so repeat until nothing changes.
  let result = text;
  for (let pass = 0; pass < 5; pass++) {
    const previous = result;
    for (const [pattern, replace] of TEXT_RULES) result = result.replace(pattern, replace);
    if (result === previous) break;
  }
  return result;
}

/**
 * Returns a copy of `value` that is safe to log: values under secret property
 * names and strings that look like key material (long random base64) become
 * `"[REDACTED]"`, other strings go through {@link redactText}, Errors
 * become `{ name, message }`, cycles become `"[Circular]"` and nesting past
 * ten levels becomes `"[Truncated]"`. The input is not modified.
 *
 * @example
 * ```ts
 * redact({ host: "hub", auth: { deviceKey: "c2VjcmV0" } });
 * // { host: "hub", auth: { deviceKey: "[REDACTED]" } }
 * ```
 */
export function redact(value: unknown): unknown {
  return redactCollecting(value, new Set());
}

// `secrets` collects every value found under a secret name or looking like
// one, so that the same value is also hidden where a message placeholder
// interpolates it.
function redactCollecting(root: unknown, secrets: Set<unknown>): unknown {
  const path = new WeakSet<object>();
  function walk(value: unknown, depth: number): unknown {
    if (typeof value === "string") {
      if (!looksLikeKeyMaterial(value)) return redactText(value);
      secrets.add(value);
      return REDACTED;
    }
    if (typeof value !== "object" || value === null) return value;
    if (path.has(value)) return "[Circular]";
    if (depth >= MAX_DEPTH) return "[Truncated]";
    let source: unknown = value;
    if (value instanceof Error) {
      // name, message and cause are not enumerable: a plain copy would be {}.
      const { name, message, cause } = value;
      source = Object.assign({ name, message }, value, cause === undefined ? {} : { cause });
    } else if (value instanceof Map) source = Object.fromEntries(value);
    else if (value instanceof Set) source = [...value];
    else if (ArrayBuffer.isView(value)) {
      return `[${value.constructor.name} ${value.byteLength} bytes]`;
    } else if (typeof (value as { toJSON?: unknown }).toJSON === "function") {
      // Dates become ISO strings, URLs their href, which may carry a password.
      return walk((value as { toJSON(): unknown }).toJSON(), depth + 1);
    }
    path.add(value);
    try {
      if (Array.isArray(source)) return source.map((item) => walk(item, depth + 1));
      const copy: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(source as object)) {
        if (!isSecretKey(key)) copy[key] = walk(item, depth + 1);
        else {
          // Numbers and booleans are too common to hide wherever they appear.
          if (typeof item === "string" || typeof item === "object") secrets.add(item);
          copy[key] = REDACTED;
        }
      }
      return copy;
    } finally {
      path.delete(value);
    }
  }
  return walk(root, 0);
}

function toJson(value: unknown): string {
  return JSON.stringify(value, (_, v) => typeof v === "bigint" ? v.toString() : v) ?? String(value);
}

function renderValue(value: unknown, secrets: Set<unknown>): string {
  if (secrets.has(value)) return REDACTED;
  if (typeof value === "string") return value;
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  if (typeof value === "object" && value !== null) return toJson(redact(value));
  return String(value);
}

function redactRecord(record: LogRecord) {
  const secrets = new Set<unknown>();
  const properties = redactCollecting(record.properties, secrets);
  const message = record.message
    .map((part, i) => i % 2 === 0 ? String(part) : renderValue(part, secrets))
    .join("");
  return {
    ts: new Date(record.timestamp).toISOString(),
    level: record.level as LogLevel,
    category: record.category.join("."),
    message: redactText(message),
    properties,
  };
}

// Newlines are escaped so that a message can neither break the one-line-per-
// record promise nor forge a line that looks like another record.
function formatText(r: ReturnType<typeof redactRecord>): string {
  const message = r.message.replace(/\r/g, "\\r").replace(/\n/g, "\\n");
  return `${r.ts} ${r.level.toUpperCase().padEnd(5)} ${r.category}: ${message}`;
}

// Synchronous, so a line is out before the next statement runs and never
// interleaves with program output on stdout; the loop covers partial writes.
function writeToStderr(line: string): void {
  const bytes = new TextEncoder().encode(line + "\n");
  let written = 0;
  while (written < bytes.length) written += Deno.stderr.writeSync(bytes.subarray(written));
}

/**
 * Sends every record under the `outpost` category at `level` and above to one
 * sink, redacted and formatted. Calling it again replaces the configuration.
 *
 * @example
 * ```ts
 * await configureLogging({ level: "debug", format: "json" });
 * getLogger("runtime").info("started {name}", { name: "agent" });
 * ```
 */
export async function configureLogging(options: LoggingOptions = {}): Promise<void> {
  const { level = "info", format = "text", write = writeToStderr } = options;
  // Level and format often come straight from an environment variable.
  if (!isLogLevel(level) || (format !== "text" && format !== "json")) {
    const expected = `levels: ${getLogLevels().join(", ")}; formats: text, json`;
    throw new TypeError(
      `Cannot configure logging with level "${level}", format "${format}" (${expected})`,
    );
  }
  const formatLine = format === "json" ? toJson : formatText;
  const sink = (record: LogRecord) => {
    const redacted = redactRecord(record);
    write(formatLine(redacted));
    if (taps.size === 0) return;
    const { ts, level, category, message } = redacted;
    for (const tap of taps) tap({ ts, level, category, message });
  };
  await configure({
    reset: true,
    sinks: { agent: sink },
    loggers: [
      { category: ["outpost"], sinks: ["agent"], lowestLevel: level },
      // LogTape's own warnings; configuring it also silences its startup notice.
      { category: ["logtape", "meta"], sinks: ["agent"], lowestLevel: "warning" },
    ],
  });
}

/** A record as written to the log: redacted, with its message rendered. */
export interface LogLine {
  /** ISO-8601 time. */
  ts: string;
  /** Its severity. */
  level: LogLevel;
  /** `outpost.<category…>`, dotted. */
  category: string;
  /** The rendered message, secrets redacted. */
  message: string;
}

const taps = new Set<(line: LogLine) => void>();

/**
 * Also hands `listener` every record that the configured logging writes
 * (same level, same redaction); returns a function that stops it. The web
 * console keeps the last lines this way.
 *
 * @example
 * ```ts
 * const stop = tapLog((line) => lines.push(line));
 * stop();
 * ```
 */
export function tapLog(listener: (line: LogLine) => void): () => void {
  const tap = (line: LogLine) => {
    try {
      listener(line);
    } catch {
      // A listener must never break logging, nor log about itself.
    }
  };
  taps.add(tap);
  return () => void taps.delete(tap);
}

/**
 * Removes the configuration, so records go nowhere until configured again.
 *
 * @example
 * ```ts
 * await resetLogging();
 * ```
 */
export async function resetLogging(): Promise<void> {
  await reset();
}

/**
 * The logger for `outpost.<category…>`.
 *
 * @example
 * ```ts
 * const log = getLogger("tunnel");
 * log.warn("tunnel {id} closed: {error}", { id: "t1", error: new Error("reset") });
 * ```
 */
export function getLogger(...category: string[]): Logger {
  return getLogTapeLogger(["outpost", ...category]);
}
