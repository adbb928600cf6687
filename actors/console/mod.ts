/**
 * The local web console (docs/console.md): a page of the live agent for a
 * person at the device, served by the agent itself.
 *
 * ```
 * console        one_for_one, 10 restarts / 60 s; temporary under the root
 * ├── recorder   the log tail and one outbox sample per cloud every 5 s (the last hour)
 * └── http       Hono on Deno.serve: login, page, JSON API, server-sent events
 * ```
 *
 * Owns: the HTTP listener, the sessions and login codes (auth.ts), the
 * token file `<stateDir>/console.token`, the recorder's memory. Receives:
 * browsers' requests; lifecycle and support events and counters through
 * the control plane (the same operations as the control socket). Sends:
 * operations to the control plane (close a tunnel, answer an access
 * request, approve a client, …) and events to open pages. Supervised by:
 * the agent's root, as a `temporary` subtree that restarts its own
 * children with a backoff growing to a minute, so it never gives up and a
 * crash in it never reaches the clouds, tunnels or the root's intensity.
 */
import { child, supervisor, type SupervisorSpec } from "../runtime/spec.ts";
import { serviceActor } from "../runtime/service_actor.ts";
import { readSecretFile } from "../store/secret_file.ts";
import { getLogger } from "../runtime/logging.ts";
import type { ControlPlane } from "../agent/control_plane.ts";
import { contentSecurityPolicy } from "./assets.ts";
import { ConsoleAuth } from "./auth.ts";
import type { ConsoleSection } from "./config.ts";
import { EventHub } from "./events.ts";
import { ConsoleRecorder, recorderActor } from "./recorder.ts";
import { consoleApp } from "./server.ts";

export { consoleSchema, type ConsoleSection } from "./config.ts";

/** What the console is built from. */
export interface WebConsoleOptions {
  /** `[console]`. */
  settings: ConsoleSection;
  /** The agent's state directory (the token file lives there). */
  stateDir: string;
  /** `agent.deviceId`. */
  deviceId: string;
  /** The agent's control plane. */
  plane: ControlPlane;
}

/** A one-time login link, as `outpost console url` prints it. */
export interface ConsoleLink {
  /** Where the console listens, e.g. `http://127.0.0.1:18880`. */
  url: string;
  /** `<url>/login#code=…`: signs in once. */
  link: string;
  /** ISO time after which the link no longer works. */
  expiresAt: string;
}

/** The console of one agent run. */
export interface WebConsole {
  /** The `console` subtree. */
  spec: SupervisorSpec;
  /** Mints a one-time login link; rejects while the console does not listen. */
  link(): Promise<ConsoleLink>;
}

const log = getLogger("console");
const BACKOFF = { minMs: 1000, maxMs: 60_000 };

/**
 * Builds the console of one agent run.
 *
 * @example
 * ```ts
 * const web = webConsole({ settings: config.console, stateDir, deviceId, plane });
 * const tree = agentTree({ ...parts, console: web.spec });
 * console.log((await web.link()).link);
 * ```
 */
export function webConsole(options: WebConsoleOptions): WebConsole {
  const { settings, plane } = options;
  const recorder = new ConsoleRecorder({ logLines: settings.logLines });
  // Kept across restarts of `http`, so a crash does not sign anyone out.
  let auth: ConsoleAuth | undefined;
  let listening: { url: string } | undefined;

  const http = serviceActor("console", async () => {
    auth ??= await ConsoleAuth.open(`${options.stateDir.replace(/\/+$/, "")}/console.token`);
    const tls = settings.certFile && settings.keyFile
      ? { cert: await readPem(settings.certFile), key: await readPem(settings.keyFile) }
      : undefined;
    const hub = new EventHub({
      plane,
      recorder,
      deviceId: options.deviceId,
      logLines: settings.logLines,
    });
    // Filled once the port is known: requests only arrive after that.
    const hosts = settings.allowRemote ? undefined : new Set<string>();
    const app = consoleApp({
      plane,
      auth,
      hub,
      recorder,
      deviceId: options.deviceId,
      csp: await contentSecurityPolicy(),
      hosts,
      secure: tls !== undefined,
    });
    let server: Deno.HttpServer<Deno.NetAddr>;
    try {
      server = Deno.serve({
        hostname: settings.host,
        port: settings.port,
        ...tls,
        onListen: () => {},
      }, (request, info) => app.fetch(request, { remote: info.remoteAddr.hostname }));
    } catch (error) {
      hub.close();
      throw new Error(
        `Cannot serve the console on ${settings.host}:${settings.port}: ${
          (error as Error).message
        }`,
        { cause: error },
      );
    }
    const port = server.addr.port;
    for (const host of ["127.0.0.1", "localhost", "[::1]", urlHost(settings.host)]) {
      hosts?.add(`${host.toLowerCase()}:${port}`);
    }
    const url = `${tls ? "https" : "http"}://${urlHost(settings.host)}:${port}`;
    listening = { url };
    log.info("Console listening on {url}; `outpost console url` prints a login link", { url });
    return {
      port,
      async close() {
        listening = undefined;
        hub.close();
        await server.shutdown();
      },
    };
  });

  return {
    spec: supervisor("console", {
      strategy: "one_for_one",
      intensity: 10,
      periodMs: 60_000,
      restart: "temporary",
    }, [
      child("recorder", recorderActor(recorder, () => plane.clouds()), { backoff: BACKOFF }),
      child("http", http, { backoff: BACKOFF, shutdownMs: 3000 }),
    ]),
    link() {
      if (!listening || !auth) {
        return Promise.reject(
          new Error("The console is not listening (starting or restarting); see the agent's log"),
        );
      }
      const { code, expiresAt } = auth.newLoginCode();
      return Promise.resolve({
        url: listening.url,
        link: `${listening.url}/login#code=${code}`,
        expiresAt: new Date(expiresAt).toISOString(),
      });
    },
  };
}

// The link is for someone on the device; a wildcard address is reached on loopback.
function urlHost(host: string): string {
  if (host === "0.0.0.0" || host === "::") return "localhost";
  return host.includes(":") ? `[${host}]` : host;
}

async function readPem(path: string): Promise<string> {
  const text = await readSecretFile(path);
  if (text === undefined) throw new Error(`Cannot read ${path}: no such file`);
  return text;
}
