/**
 * The console's HTTP face (Hono): the login page, the page and its assets,
 * a JSON API over the control plane and the event stream. Every response
 * carries a strict Content-Security-Policy and no CORS header, so no other
 * origin may read it. `/api/*` answers 401 without a session; every POST
 * needs the session's CSRF token in `X-CSRF-Token`, a JSON body, and no
 * foreign `Origin`. Bad input is a 4xx whose `error` says what was wrong.
 */
import { type Context, Hono } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { ControlPlaneError } from "../agent/control_plane.ts";
import type { ControlPlane } from "../agent/control_plane.ts";
import type { LogLevel } from "../runtime/logging.ts";
import { getLogger } from "../runtime/logging.ts";
import { ASSETS, PAGES } from "./assets.ts";
import type { ConsoleAuth, ConsoleSession } from "./auth.ts";
import type { EventHub } from "./events.ts";
import type { ConsoleRecorder } from "./recorder.ts";

/** What the app serves. */
export interface ConsoleAppOptions {
  plane: ControlPlane;
  auth: ConsoleAuth;
  hub: EventHub;
  recorder: ConsoleRecorder;
  /** `agent.deviceId`. */
  deviceId: string;
  /** The Content-Security-Policy header (assets.ts). */
  csp: string;
  /** `Host` headers accepted (DNS rebinding); undefined: any (a console served over TLS). */
  hosts?: ReadonlySet<string>;
  /** Served over TLS: the cookie is `Secure` and `__Host-` prefixed. */
  secure: boolean;
}

/** Per request: the client's address, from the server. */
export type ConsoleEnv = {
  Bindings: { remote?: string };
  Variables: { session: ConsoleSession };
};

/** A request the console refuses, with the status to answer. */
class HttpError extends Error {
  constructor(readonly status: 400 | 403 | 404 | 409 | 413 | 415 | 421, message: string) {
    super(message);
  }
}

const LOG_LEVELS: readonly LogLevel[] = ["trace", "debug", "info", "warning", "error", "fatal"];
const MAX_BODY_BYTES = 16 * 1024;
const STATUS_OF = { bad_request: 400, not_found: 404, unavailable: 409 } as const;
const log = getLogger("console", "http");

/**
 * The console's routes.
 *
 * @example
 * ```ts
 * Deno.serve({ port: 0 }, (req, info) =>
 *   consoleApp(options).fetch(req, { remote: info.remoteAddr.hostname }));
 * ```
 */
export function consoleApp(o: ConsoleAppOptions): Hono<ConsoleEnv> {
  const app = new Hono<ConsoleEnv>();
  const cookie = o.secure ? "__Host-outpost-console" : "outpost-console";
  const sessionOf = (c: Context<ConsoleEnv>) => o.auth.session(getCookie(c, cookie));

  app.use(async (c, next) => {
    await next();
    const headers = c.res.headers;
    headers.set("Content-Security-Policy", o.csp);
    headers.set("X-Content-Type-Options", "nosniff");
    headers.set("Referrer-Policy", "no-referrer");
    headers.set("X-Frame-Options", "DENY");
    headers.set("Cross-Origin-Opener-Policy", "same-origin");
    headers.set("Cross-Origin-Resource-Policy", "same-origin");
    if (!headers.has("Cache-Control")) headers.set("Cache-Control", "no-store");
  });
  app.use(async (c, next) => {
    // HTTP/2 (over TLS) carries the host as :authority, which only the URL keeps.
    const host = c.req.header("host") ?? new URL(c.req.url).host;
    if (o.hosts && !o.hosts.has(host.toLowerCase())) {
      // A page on another site that resolved its name to this address (DNS rebinding).
      throw new HttpError(421, `This console does not answer for host ${JSON.stringify(host)}`);
    }
    if (c.req.method === "POST") checkOrigin(c, host, o.secure);
    await next();
  });

  app.get("/", (c) => sessionOf(c) ? page(c, PAGES.index.body) : c.redirect("/login", 303));
  app.get("/login", (c) => page(c, PAGES.login.body));
  app.get("/assets/:name", (c) => {
    const asset = ASSETS.get(c.req.param("name"));
    if (!asset) return c.text("Not found", 404);
    return c.body(asset.body, 200, { "Content-Type": asset.type, "Cache-Control": "no-cache" });
  });

  app.post("/api/login", async (c) => {
    const body = await bodyOf(c);
    const { token, code } = body;
    if ((typeof token === "string") === (typeof code === "string")) {
      throw new HttpError(
        400,
        'Send either "token" (the console token) or "code" (from a login link)',
      );
    }
    const result = o.auth.login(
      typeof token === "string" ? { token } : { code: code as string },
      c.env?.remote ?? "unknown",
    );
    if (!result.ok) {
      if (result.status === 429) c.header("Retry-After", String(result.retryAfterSec));
      return c.json({ error: result.message }, result.status);
    }
    setCookie(c, cookie, result.session.id, {
      httpOnly: true,
      sameSite: "Strict",
      path: "/",
      secure: o.secure,
    });
    return c.json({ ok: true });
  });

  // Everything else under /api needs a session; a POST also its CSRF token.
  app.use("/api/*", async (c, next) => {
    const session = sessionOf(c);
    if (!session) {
      return c.json(
        { error: 'Not signed in: open the link that "outpost console url" prints' },
        401,
      );
    }
    if (c.req.method === "POST" && !o.auth.csrfMatches(session, c.req.header("x-csrf-token"))) {
      throw new HttpError(
        403,
        "Missing or wrong CSRF token: send the X-CSRF-Token that /api/session gave the page",
      );
    }
    c.set("session", session);
    await next();
  });

  app.get("/api/session", (c) => c.json({ csrf: c.get("session").csrf, deviceId: o.deviceId }));
  app.post("/api/logout", async (c) => {
    await bodyOf(c);
    o.auth.logout(c.get("session").id);
    deleteCookie(c, cookie, { path: "/", secure: o.secure });
    return c.json({ ok: true });
  });
  app.get("/api/events", () =>
    // The page going away cancels the body stream; that ends the stream in the hub.
    new Response(o.hub.open(), {
      headers: {
        "Content-Type": "text/event-stream; charset=utf-8",
        "Cache-Control": "no-store",
        "X-Accel-Buffering": "no",
      },
    }));

  app.get("/api/status", (c) => c.json(o.plane.status()));
  app.get("/api/tree", (c) => c.json(o.plane.tree()));
  app.get("/api/clouds", (c) => c.json(o.plane.clouds()));
  app.get("/api/history", (c) => c.json(o.recorder.history()));
  app.get("/api/tunnels", (c) => c.json(o.plane.tunnels()));
  app.get("/api/access", (c) => c.json(o.plane.access()));
  app.get("/api/clients", (c) => c.json(o.plane.clients()));
  app.get("/api/logs", (c) => {
    const level = c.req.query("level") ?? "trace";
    if (!(LOG_LEVELS as readonly string[]).includes(level)) {
      throw new HttpError(400, `"level" must be one of ${LOG_LEVELS.join(", ")}, got "${level}"`);
    }
    const limitText = c.req.query("limit");
    const limit = limitText === undefined ? undefined : Number(limitText);
    if (limit !== undefined && !(Number.isSafeInteger(limit) && limit > 0)) {
      throw new HttpError(400, `"limit" must be a whole number above 0, got "${limitText}"`);
    }
    return c.json(o.recorder.logs({ level: level as LogLevel, limit }));
  });

  app.post("/api/tunnels/close", async (c) => {
    const body = await bodyOf(c);
    const cloud = textField(body, "cloud", '"main"');
    const id = textField(body, "id", '"t-3f2a9c01"');
    await o.plane.closeTunnel(cloud, id);
    log.info("Tunnel {id} of {cloud} closed from the console", { id, cloud });
    return c.json({ ok: true });
  });
  app.post("/api/access", async (c) => {
    const body = await bodyOf(c);
    const feature = textField(body, "feature", '"RemoteControl"');
    const access = textField(body, "access", '"AfterConfirmation"');
    return c.json({ ok: true, changed: o.plane.setAccess(feature, access) });
  });
  app.post("/api/access/requests/:feature/:answer{accept|reject}", async (c) => {
    await bodyOf(c);
    const feature = c.req.param("feature");
    o.plane.answer(feature, c.req.param("answer") === "accept");
    log.info("Access request for {feature} answered {answer} from the console", {
      feature,
      answer: c.req.param("answer"),
    });
    return c.json({ ok: true });
  });
  app.post("/api/clients/:id/:decision{approve|reject|revoke}", async (c) => {
    await bodyOf(c);
    const id = c.req.param("id");
    const decision = c.req.param("decision") as "approve" | "reject" | "revoke";
    const client = await o.plane[decision](id);
    log.info("Local API client {id}: {decision} from the console", { id, decision });
    return c.json({ ok: true, client: client ?? null });
  });

  app.notFound((c) =>
    c.req.path.startsWith("/api/")
      ? c.json({ error: `No such API: ${c.req.method} ${c.req.path}` }, 404)
      : c.text("Not found", 404)
  );
  app.onError((error, c) => {
    if (error instanceof HttpError) return c.json({ error: error.message }, error.status);
    if (error instanceof ControlPlaneError) {
      return c.json({ error: error.message }, STATUS_OF[error.code]);
    }
    log.error("Console request {method} {path} failed: {error}", {
      method: c.req.method,
      path: c.req.path,
      error,
    });
    return c.json({ error: `The agent failed to answer: ${error.message}` }, 500);
  });
  return app;
}

function page(c: Context<ConsoleEnv>, body: string): Response {
  return c.body(body, 200, { "Content-Type": "text/html; charset=utf-8" });
}

// Browsers send Origin with every POST; one from elsewhere is a cross-site request.
function checkOrigin(c: Context<ConsoleEnv>, host: string, secure: boolean): void {
  const origin = c.req.header("origin");
  const site = c.req.header("sec-fetch-site");
  if ((origin && origin !== `${secure ? "https" : "http"}://${host}`) || site === "cross-site") {
    throw new HttpError(403, `Requests from ${origin ?? "another site"} are not accepted`);
  }
}

async function bodyOf(c: Context<ConsoleEnv>): Promise<Record<string, unknown>> {
  const type = c.req.header("content-type") ?? "";
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new HttpError(
      415,
      `Send a JSON body (Content-Type: application/json), not ${JSON.stringify(type || "none")}`,
    );
  }
  const text = await c.req.text();
  if (text.length > MAX_BODY_BYTES) {
    throw new HttpError(413, `The request body is longer than ${MAX_BODY_BYTES} bytes`);
  }
  let body: unknown;
  try {
    body = text.trim() === "" ? {} : JSON.parse(text);
  } catch (error) {
    throw new HttpError(400, `The request body is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new HttpError(400, `The request body must be a JSON object, got ${text.slice(0, 40)}`);
  }
  return body as Record<string, unknown>;
}

function textField(body: Record<string, unknown>, name: string, example: string): string {
  const value = body[name];
  if (typeof value !== "string" || value === "") {
    throw new HttpError(
      400,
      `"${name}" must be a non-empty string like ${example}, got ${
        JSON.stringify(value) ?? "nothing"
      }`,
    );
  }
  return value;
}
