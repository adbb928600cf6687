/**
 * The `[console]` section: the local web console (docs/console.md). Off by
 * default; on, it listens on loopback only, like the embedded broker. Any
 * other address needs `allowRemote = true` and then TLS (`certFile` and
 * `keyFile`): a session cookie must never cross a network in the clear.
 */
import { z } from "zod";
import { flag, int, optionalText, text, validAt } from "../cloud/config_fields.ts";
import { isLoopbackHost } from "../broker/embedded_broker.ts";

/** `[console]`, resolved. */
export interface ConsoleSection {
  /** Serve the console. Default false. */
  enabled: boolean;
  /** Address to listen on; loopback unless `allowRemote`. Default "127.0.0.1". */
  host: string;
  /** TCP port; 0 takes a free one. Default 18880. */
  port: number;
  /** Allows a host that is not loopback (then TLS is required). Default false. */
  allowRemote: boolean;
  /** PEM certificate served over TLS (with `keyFile`). */
  certFile?: string;
  /** PEM private key of `certFile`. */
  keyFile?: string;
  /** Log lines kept for the Logs view. Default 500. */
  logLines: number;
}

/** The `[console]` table's schema, as the root configuration schema uses it. */
export const consoleSchema = z.strictObject({
  enabled: flag().default(false),
  host: text("a host name or IP address").min(1).default("127.0.0.1"),
  port: int(0, 65535).default(18880),
  allowRemote: flag().default(false),
  certFile: optionalText("a PEM certificate file path"),
  keyFile: optionalText("a PEM private key file path"),
  logLines: int(10, 100_000).default(500),
}).refine((c) => c.allowRemote || isLoopbackHost(c.host), {
  path: ["host"],
  message: "a loopback address (127.0.0.0/8, ::1, localhost) unless console.allowRemote = true",
  when: validAt("host", "allowRemote"),
}).refine((c) => (c.certFile === undefined) === (c.keyFile === undefined), {
  path: ["keyFile"],
  message: "a PEM private key file path when console.certFile is set (and only then)",
  when: validAt("certFile", "keyFile"),
}).refine((c) => isLoopbackHost(c.host) || c.certFile !== undefined, {
  path: ["certFile"],
  message: "a PEM certificate file path: a console reachable from the network is served over " +
    "TLS only",
  when: validAt("host", "certFile", "allowRemote"),
}).prefault({});

// The schema's output must be what the documented type promises.
const _schemaMatchesType: [z.output<typeof consoleSchema>] extends [ConsoleSection] ? true
  : false = true;
