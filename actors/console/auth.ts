/**
 * Who may use the console. One random token, made at the first start and
 * kept in `<stateDir>/console.token` (mode 0600), is the root credential:
 * whoever can read that file may sign in. `outpost console url` turns it
 * into a one-time login link without putting the token itself in a URL:
 * the agent mints a random code that works once, for ten minutes. Signing
 * in (with a code, or the token typed into the login page) opens a session
 * held in memory; its id travels in an HttpOnly, SameSite=Strict cookie and
 * every state-changing request must also carry the session's CSRF token.
 * Failed sign-ins are rate-limited per client address and overall.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { readSecretFile, writeSecretFile } from "../store/secret_file.ts";
import { getLogger } from "../runtime/logging.ts";

/** A signed-in browser. */
export interface ConsoleSession {
  /** The cookie's value. */
  id: string;
  /** What every POST must send as `X-CSRF-Token`. */
  csrf: string;
  /** ms since 1970 of the last request. */
  lastSeen: number;
}

/** How a sign-in attempt ended. */
export type LoginResult =
  | { ok: true; session: ConsoleSession }
  | { ok: false; status: 401; message: string }
  | { ok: false; status: 429; message: string; retryAfterSec: number };

/** Options of {@link ConsoleAuth.open}. */
export interface ConsoleAuthOptions {
  /** Default `Date.now`. */
  now?: () => number;
  /** A session unused this long is forgotten. Default 12 h. */
  sessionIdleMs?: number;
  /** A login code works this long. Default 10 min. */
  codeTtlMs?: number;
  /** Failed sign-ins one address may make per `failureWindowMs`. Default 5. */
  maxFailures?: number;
  /** Default 60 s. */
  failureWindowMs?: number;
}

const log = getLogger("console", "auth");
// Enough for every tab of a few people; an old session is dropped beyond it.
const MAX_SESSIONS = 64;
const MAX_CODES = 32;
// Every address together may fail this many times the per-address limit.
const GLOBAL_FACTOR = 4;

/** The console's credentials, sessions and login codes. */
export class ConsoleAuth {
  readonly #token: string;
  readonly #now: () => number;
  readonly #idleMs: number;
  readonly #codeTtlMs: number;
  readonly #failures: FailedLogins;
  readonly #sessions = new Map<string, ConsoleSession>();
  readonly #codes = new Map<string, number>();

  private constructor(token: string, options: ConsoleAuthOptions) {
    this.#token = token;
    this.#now = options.now ?? Date.now;
    this.#idleMs = options.sessionIdleMs ?? 12 * 3600_000;
    this.#codeTtlMs = options.codeTtlMs ?? 10 * 60_000;
    this.#failures = new FailedLogins(options.maxFailures ?? 5, options.failureWindowMs ?? 60_000);
  }

  /**
   * Reads the token from `tokenFile`, or makes one and writes it there with
   * mode 0600. A token file others may read is narrowed to 0600 first.
   *
   * @throws when the file cannot be read or written, naming it.
   */
  static async open(tokenFile: string, options: ConsoleAuthOptions = {}): Promise<ConsoleAuth> {
    let token = (await readSecretFile(tokenFile))?.trim();
    if (token) {
      const mode = (await Deno.stat(tokenFile)).mode;
      if (mode !== null && (mode & 0o077) !== 0) {
        log.warn("The console token file {file} was readable by others; narrowed to 0600", {
          file: tokenFile,
        });
        await Deno.chmod(tokenFile, 0o600);
      }
    } else {
      token = randomText(32);
      await writeSecretFile(tokenFile, token + "\n");
      log.info("Created the console token in {file}", { file: tokenFile });
    }
    return new ConsoleAuth(token, options);
  }

  /** A code for a one-time login link; it works once, until `expiresAt`. */
  newLoginCode(): { code: string; expiresAt: number } {
    this.#prune();
    const code = randomText(24);
    const expiresAt = this.#now() + this.#codeTtlMs;
    this.#codes.set(code, expiresAt);
    while (this.#codes.size > MAX_CODES) this.#codes.delete(this.#codes.keys().next().value!);
    return { code, expiresAt };
  }

  /** Signs in with the token or a login code, from the address `client`. */
  login(credential: { token?: string; code?: string }, client: string): LoginResult {
    const now = this.#now();
    const wait = this.#failures.blockedFor(client, now);
    if (wait > 0) {
      const retryAfterSec = Math.ceil(wait / 1000);
      return {
        ok: false,
        status: 429,
        message: `Too many failed sign-ins; try again in ${retryAfterSec} s`,
        retryAfterSec,
      };
    }
    if (!this.#valid(credential, now)) {
      this.#failures.record(client, now);
      log.warn("A console sign-in from {client} failed", { client });
      return {
        ok: false,
        status: 401,
        message: credential.code !== undefined
          ? "This login link is not valid: it was used already or has expired; " +
            'run "outpost console url" for a new one'
          : "That token is not valid",
      };
    }
    this.#prune();
    const session = { id: randomText(32), csrf: randomText(24), lastSeen: now };
    this.#sessions.set(session.id, session);
    while (this.#sessions.size > MAX_SESSIONS) {
      this.#sessions.delete(this.#sessions.keys().next().value!);
    }
    log.info("Console session started from {client}", { client });
    return { ok: true, session };
  }

  /** The live session with cookie value `id`, marked as used now; undefined if none. */
  session(id: string | undefined): ConsoleSession | undefined {
    if (!id) return undefined;
    const session = this.#sessions.get(id);
    if (!session) return undefined;
    const now = this.#now();
    if (now - session.lastSeen > this.#idleMs) {
      this.#sessions.delete(id);
      return undefined;
    }
    session.lastSeen = now;
    return session;
  }

  /** Ends the session `id`. */
  logout(id: string): void {
    this.#sessions.delete(id);
  }

  /** True when `sent` is the CSRF token of `session`. */
  csrfMatches(session: ConsoleSession, sent: string | undefined): boolean {
    return sent !== undefined && sameSecret(session.csrf, sent);
  }

  #valid(credential: { token?: string; code?: string }, now: number): boolean {
    if (typeof credential.token === "string") return sameSecret(this.#token, credential.token);
    if (typeof credential.code !== "string") return false;
    const expiresAt = this.#codes.get(credential.code);
    // Used or not, a presented code is gone: a link works once.
    this.#codes.delete(credential.code);
    return expiresAt !== undefined && expiresAt > now;
  }

  #prune(): void {
    const now = this.#now();
    for (const [code, expiresAt] of this.#codes) if (expiresAt <= now) this.#codes.delete(code);
    for (const [id, s] of this.#sessions) {
      if (now - s.lastSeen > this.#idleMs) this.#sessions.delete(id);
    }
  }
}

/** Failed sign-ins in a sliding window, per address and over all addresses. */
class FailedLogins {
  #times = new Map<string, number[]>();

  constructor(private readonly max: number, private readonly windowMs: number) {}

  /** Milliseconds until `client` may try again; 0 when it may now. */
  blockedFor(client: string, now: number): number {
    return Math.max(
      this.#wait(client, this.max, now),
      this.#wait("*", this.max * GLOBAL_FACTOR, now),
    );
  }

  record(client: string, now: number): void {
    for (const key of [client, "*"]) {
      const times = this.#recent(key, now);
      times.push(now);
      this.#times.set(key, times);
    }
  }

  #wait(key: string, max: number, now: number): number {
    const times = this.#recent(key, now);
    return times.length < max ? 0 : times[times.length - max] + this.windowMs - now;
  }

  #recent(key: string, now: number): number[] {
    const times = (this.#times.get(key) ?? []).filter((t) => now - t < this.windowMs);
    if (times.length === 0) this.#times.delete(key);
    else this.#times.set(key, times);
    return times;
  }
}

/** Compares two secrets in time that does not depend on where they differ. */
function sameSecret(expected: string, sent: string): boolean {
  const digest = (text: string) => createHash("sha256").update(text).digest();
  return timingSafeEqual(digest(expected), digest(sent));
}

function randomText(bytes: number): string {
  const raw = crypto.getRandomValues(new Uint8Array(bytes));
  return btoa(String.fromCharCode(...raw)).replace(/\+/g, "-").replace(/\//g, "_").replace(
    /=+$/,
    "",
  );
}
