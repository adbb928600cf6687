/**
 * The JWT of a device that logs in with a certificate: the remote-access
 * WebSocket needs `Authorization: Bearer <jwt>`, and only MQTT knows how to
 * get one (PROTOCOLS.md §1): subscribe `s/dat`, publish an empty message to
 * `s/uat`, receive `71,<jwt>`.
 *
 * Owns: the current token, its renewal timer and a retry timer for a
 * request that got no answer. Receives: `71` lines on `s/dat`, link status
 * changes. Sends: token requests on `s/uat` when connected without a fresh
 * token, at half of each token's life (`exp` is read from the JWT without
 * verifying it: the device only passes it back to the platform that signed
 * it), and whenever a tunnel asks while there is none. Supervised by: its
 * cloud's `rest_for_one` supervisor, after the connection, before the
 * session that uses it.
 */
import { fromCallback } from "xstate";
import type { MqttLink } from "../mqtt/link.ts";
import { getLogger } from "../runtime/logging.ts";
import type { ActorLogic } from "../runtime/spec.ts";
import { decodeMessage } from "../../protocols/smartrest.ts";
import { C8Y_TOPICS, parseToken } from "../../protocols/c8y_messages.ts";

/** Options of {@link C8yToken}. */
export interface C8yTokenOptions {
  /** The cloud's name, for logs. */
  cloud: string;
  /** How long a request may go unanswered before it is sent again. Default 10000 ms. */
  retryMs?: number;
  /** Renewal when a token carries no readable `exp`. Default 30 minutes. */
  fallbackLifetimeMs?: number;
}

interface Waiter {
  resolve: (jwt: string) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

const log = getLogger("c8y");

/**
 * The expiry (ms since the epoch) in a JWT's `exp` claim. Not verified.
 *
 * @example
 * ```ts
 * jwtExpiry("eyJhbGciOiJub25lIn0.eyJleHAiOjE3MDAwMDAwMDB9."); // 1700000000000
 * ```
 * @throws {Error} when the token has no payload part or no numeric `exp`.
 */
export function jwtExpiry(jwt: string): number {
  const part = jwt.split(".")[1];
  if (!part) throw new Error("the token is not a JWT (no payload part)");
  let claims: unknown;
  try {
    const base64 = part.replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    claims = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new Error("the token's payload is not base64url JSON");
  }
  const exp = (claims as { exp?: unknown } | null)?.exp;
  if (typeof exp !== "number" || !Number.isFinite(exp)) {
    throw new Error("the token has no numeric exp claim");
  }
  return exp * 1000;
}

/** The device's current JWT, kept fresh while the cloud runs. */
export class C8yToken {
  #jwt: string | undefined;
  #expiresAt = 0;
  #renewAt = 0;
  #renewTimer: ReturnType<typeof setTimeout> | undefined;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #waiters = new Set<Waiter>();
  #cleanups: (() => void)[] = [];
  #running = false;

  /** A token holder for the cloud in `options`; it requests nothing until started. */
  constructor(private readonly link: MqttLink, private readonly options: C8yTokenOptions) {}

  /** Starts listening on `s/dat` and requests a token when connected. */
  start(): void {
    this.#running = true;
    this.#cleanups.push(this.link.onStatus((up) => up && this.#refreshIfDue()));
    this.link.subscribe(C8Y_TOPICS.tokenResponse, (m) => this.#onReply(m.payload)).then(
      (sub) =>
        this.#running
          ? this.#cleanups.push(() => void sub.unsubscribe().catch(() => {}))
          : void sub.unsubscribe().catch(() => {}),
      (error) =>
        log.error("Cloud {cloud}: cannot subscribe to {topic}: {error}", {
          cloud: this.options.cloud,
          topic: C8Y_TOPICS.tokenResponse,
          error,
        }),
    );
    if (this.link.connected) this.#refreshIfDue();
  }

  /** Stops timers and listening; whoever waits for a token gets an error. */
  stop(): void {
    this.#running = false;
    clearTimeout(this.#renewTimer);
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    for (const cleanup of this.#cleanups.splice(0)) cleanup();
    const error = new Error(`cloud "${this.options.cloud}": the token actor stopped`);
    for (const waiter of this.#waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
    this.#waiters.clear();
  }

  /** The current token if it has not expired. */
  current(): string | undefined {
    return this.#jwt !== undefined && Date.now() < this.#expiresAt ? this.#jwt : undefined;
  }

  /** The current token, or the next one to arrive within `timeoutMs`. */
  get(timeoutMs: number): Promise<string> {
    const jwt = this.current();
    if (jwt !== undefined) return Promise.resolve(jwt);
    if (!this.#running) {
      return Promise.reject(new Error(`cloud "${this.options.cloud}": no token (not running)`));
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters.delete(waiter);
          reject(new Error(`no JWT from the platform within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.#waiters.add(waiter);
      this.#request();
    });
  }

  #refreshIfDue(): void {
    if (this.#jwt === undefined || Date.now() >= this.#renewAt) this.#request();
  }

  #request(): void {
    if (!this.#running || this.#retryTimer !== undefined || !this.link.connected) return;
    const retryMs = this.options.retryMs ?? 10_000;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      log.warn("Cloud {cloud}: no answer to the token request within {retryMs} ms; asking again", {
        cloud: this.options.cloud,
        retryMs,
      });
      this.#request();
    }, retryMs);
    log.debug("Cloud {cloud}: requesting a JWT", { cloud: this.options.cloud });
    this.link.publish(C8Y_TOPICS.tokenRequest, "", { qos: 1 }).catch((error) =>
      log.warn("Cloud {cloud}: the token request failed: {error}", {
        cloud: this.options.cloud,
        error,
      })
    );
  }

  #onReply(payload: Uint8Array): void {
    let jwt: string | undefined;
    try {
      for (const fields of decodeMessage(payload)) if (fields[0] === "71") jwt = parseToken(fields);
    } catch (error) {
      log.warn("Cloud {cloud}: unreadable token reply: {error}", {
        cloud: this.options.cloud,
        error: (error as Error).message,
      });
    }
    if (jwt === undefined) return;
    const now = Date.now();
    let expiresAt: number;
    try {
      expiresAt = jwtExpiry(jwt);
    } catch (error) {
      expiresAt = now + (this.options.fallbackLifetimeMs ?? 30 * 60_000);
      log.warn(
        "Cloud {cloud}: cannot read the token's expiry ({error}); renewing it in {minutes} min",
        {
          cloud: this.options.cloud,
          error: (error as Error).message,
          minutes: Math.round((expiresAt - now) / 60_000),
        },
      );
    }
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#jwt = jwt;
    this.#expiresAt = expiresAt;
    // Half of the remaining life: a clock skewed against the platform's still renews in time.
    this.#renewAt = now + Math.max(0, expiresAt - now) / 2;
    clearTimeout(this.#renewTimer);
    this.#renewTimer = setTimeout(() => this.#refreshIfDue(), this.#renewAt - now);
    log.info("Cloud {cloud}: got a JWT valid until {expiry}; renewing it at {renewal}", {
      cloud: this.options.cloud,
      expiry: new Date(expiresAt).toISOString(),
      renewal: new Date(this.#renewAt).toISOString(),
    });
    for (const waiter of this.#waiters) {
      clearTimeout(waiter.timer);
      waiter.resolve(jwt);
    }
    this.#waiters.clear();
  }
}

/** The `token` child: keeps `token` fresh while it runs. */
export function tokenRenewal(token: C8yToken): ActorLogic {
  return fromCallback(() => {
    token.start();
    return () => token.stop();
  });
}
