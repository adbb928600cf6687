/**
 * The remote-access allowlist: the only `host:port` targets a tunnel may
 * dial. Matching is exact and never resolves names: `localhost:22` and
 * `127.0.0.1:22` are different entries, so what the configuration says is
 * what is reachable. Host names compare case-insensitively; IPv6 addresses
 * compare in their canonical form (`[0:0::1]:22` is `[::1]:22`).
 */
import type { TunnelTarget } from "../../machines/tunnel_proxy.ts";

/** A parsed allowlist. */
export interface Allowlist {
  /** The entries in canonical form (`host:port`, IPv6 as `[addr]:port`). */
  readonly entries: readonly string[];
  /** Whether a tunnel may dial `target`. */
  allows(target: TunnelTarget): boolean;
}

/**
 * Parses `host:port` entries (IPv6 as `[::1]:22`); throws a TypeError that
 * names the first entry that is not one.
 *
 * @example
 * ```ts
 * const allow = parseAllowlist(["127.0.0.1:22", "[::1]:5900"]);
 * allow.allows({ host: "127.0.0.1", port: 22 }); // true
 * allow.allows({ host: "127.0.0.1", port: 23 }); // false
 * ```
 */
export function parseAllowlist(entries: readonly string[]): Allowlist {
  const canonical = entries.map((entry) => {
    const match = entry.match(/^(\[[^\]]+\]|[^:\[\]]+):(\d{1,5})$/);
    const port = match ? Number(match[2]) : NaN;
    const host = match ? canonicalHost(match[1]) : undefined;
    if (!match || host === undefined || port < 1 || port > 65535) {
      throw new TypeError(
        `Cannot parse allowlist entry "${entry}": expected "host:port" like "127.0.0.1:22" or "[::1]:22"`,
      );
    }
    return `${host}:${port}`;
  });
  const set = new Set(canonical);
  return {
    entries: canonical,
    allows(target) {
      if (!Number.isInteger(target.port) || target.port < 1 || target.port > 65535) return false;
      const host = canonicalHost(target.host);
      return host !== undefined && set.has(`${host}:${target.port}`);
    },
  };
}

/** Formats a target as an allowlist entry would be written (`[::1]:22` for IPv6). */
export function formatTarget(target: TunnelTarget): string {
  const host = target.host.includes(":") && !target.host.startsWith("[")
    ? `[${target.host}]`
    : target.host;
  return `${host}:${target.port}`;
}

/**
 * Lowercased host name or IPv4 address as written; IPv6 (with or without
 * brackets) canonical and bracketed; undefined when it is neither.
 */
function canonicalHost(host: string): string | undefined {
  const bare = host.replace(/^\[(.*)\]$/, "$1");
  if (bare.includes(":")) {
    try {
      const hostname = new URL(`http://[${bare}]/`).hostname;
      return hostname.startsWith("[") ? hostname : undefined;
    } catch {
      return undefined;
    }
  }
  if (host.startsWith("[") || !/^[A-Za-z0-9.-]+$/.test(bare)) return undefined;
  return bare.toLowerCase();
}
