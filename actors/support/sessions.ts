/**
 * Session management: every open remote-access tunnel of any cloud is a
 * session (PROTOCOLS.md §5). The registry is the tunnels' observer; it
 * numbers sessions (a new number for every session, never a TeamViewer
 * id), counts them, lists them and stops them all on request.
 */
import { getLogger } from "../runtime/logging.ts";
import type { TunnelObserver, TunnelRequest } from "../tunnels/types.ts";
import { formatTarget } from "../tunnels/allowlist.ts";

/** One running session as the API lists it. */
export interface SessionInfo {
  /** A number for this session only; a reconnect gets a new one. */
  sessionId: number;
  /** The cloud that opened the tunnel. */
  cloud: string;
  /** The tunnel's id in the tree (`t-…`). */
  tunnel: string;
  /** `host:port` the tunnel reaches. */
  target: string;
  /** ISO-8601 time the tunnel opened. */
  startedAt: string;
}

/** What the registry tells its owner. */
export interface SessionEvents {
  started(sessionId: number, sessionsCount: number): void;
  stopped(sessionId: number, sessionsCount: number): void;
}

const log = getLogger("support", "sessions");

/** Running sessions, fed by the tunnels. */
export class SessionRegistry implements TunnelObserver {
  #next = 1;
  #sessions = new Map<string, SessionInfo>();
  #meters = new Map<string, NonNullable<TunnelRequest["meter"]>>();

  constructor(private readonly events: SessionEvents) {}

  opened(tunnel: TunnelRequest): void {
    const key = `${tunnel.cloud}/${tunnel.id}`;
    if (this.#sessions.has(key)) return;
    const info: SessionInfo = {
      sessionId: this.#next++,
      cloud: tunnel.cloud,
      tunnel: tunnel.id,
      target: formatTarget(tunnel.target),
      startedAt: new Date().toISOString(),
    };
    this.#sessions.set(key, info);
    if (tunnel.meter) this.#meters.set(key, tunnel.meter);
    log.info("Session {sessionId} started: tunnel {tunnel} of {cloud} to {target}", { ...info });
    this.events.started(info.sessionId, this.#sessions.size);
  }

  closed(tunnel: TunnelRequest): void {
    const key = `${tunnel.cloud}/${tunnel.id}`;
    const info = this.#sessions.get(key);
    if (!info) return;
    this.#sessions.delete(key);
    this.#meters.delete(key);
    log.info("Session {sessionId} stopped: tunnel {tunnel} of {cloud}", { ...info });
    this.events.stopped(info.sessionId, this.#sessions.size);
  }

  /** The running sessions, oldest first. */
  list(): SessionInfo[] {
    return [...this.#sessions.values()];
  }

  /** Bytes each way so far through the open tunnel `tunnel` of `cloud`, if it is metered. */
  traffic(cloud: string, tunnel: string): { bytesUp: number; bytesDown: number } | undefined {
    const meter = this.#meters.get(`${cloud}/${tunnel}`);
    return meter && { bytesUp: meter.bytesUp, bytesDown: meter.bytesDown };
  }

  /** Stops every running session with `terminate`; resolves with how many were asked to stop. */
  async terminateAll(terminate: (cloud: string, tunnel: string) => Promise<void>): Promise<number> {
    const running = this.list();
    const results = await Promise.allSettled(running.map((s) => terminate(s.cloud, s.tunnel)));
    results.forEach((result, i) => {
      if (result.status === "rejected") {
        log.warn("Cannot stop tunnel {tunnel} of {cloud}: {error}", {
          tunnel: running[i].tunnel,
          cloud: running[i].cloud,
          error: result.reason,
        });
      }
    });
    return running.length;
  }
}
