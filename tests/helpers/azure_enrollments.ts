/**
 * Who the Azure emulator lets in, written from PROTOCOLS.md §3: DPS
 * enrollments (individual keys, group keys, X.509 registration ids) and the
 * devices the hub knows (those DPS assigned, and any given up front). SAS
 * tokens are checked with node:crypto, independently of the agent's code.
 * Also the emulator's small text helpers (property bags, twin merge).
 */
import { createHmac } from "node:crypto";
import type { TLSSocket } from "node:tls";
import { Buffer } from "node:buffer";
import type { Client } from "aedes";

/** What the enrollments are made of. */
export interface EnrollmentOptions {
  idScope: string;
  /** Individual enrollments: registration id → base64 key. */
  devices?: Record<string, string>;
  /** Enrollment group keys (base64). */
  groupKeys?: string[];
  /** Registration ids enrolled with X.509 (CN = id). */
  x509Devices?: string[];
  /** Devices known to the hub without DPS: id → key. */
  hubDevices?: Record<string, string>;
}

function hmac(key: string, text: string): string {
  return createHmac("sha256", Buffer.from(key, "base64")).update(text, "utf8").digest("base64");
}

/** Why `token` is not a valid SAS for `resource` under `key`, or undefined when it is. */
function sasProblem(
  token: string | undefined,
  resource: string,
  key: string,
  policy: string | undefined,
): string | undefined {
  if (!token?.startsWith("SharedAccessSignature ")) return "no SAS token";
  const fields = new Map<string, string>();
  for (const part of token.slice("SharedAccessSignature ".length).split("&")) {
    const at = part.indexOf("=");
    fields.set(part.slice(0, at), part.slice(at + 1));
  }
  const sr = fields.get("sr") ?? "";
  const se = fields.get("se") ?? "";
  if (decodeURIComponent(sr) !== resource) return `sr ${sr} is not ${resource}`;
  if (!/^\d+$/.test(se) || Number(se) * 1000 < Date.now()) return "expired or no se";
  if (fields.get("skn") !== policy) return `skn ${fields.get("skn")} is not ${policy}`;
  if (decodeURIComponent(fields.get("sig") ?? "") !== hmac(key, `${sr}\n${se}`)) {
    return "bad signature";
  }
  return undefined;
}

export function bagOf(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of text.split("&")) {
    if (!pair) continue;
    const at = pair.indexOf("=");
    out[decodeURIComponent(at < 0 ? pair : pair.slice(0, at))] = at < 0
      ? ""
      : decodeURIComponent(pair.slice(at + 1));
  }
  return out;
}

export function merge(target: Record<string, unknown>, patch: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete target[key];
    else if (
      typeof value === "object" && !Array.isArray(value) && typeof target[key] === "object" &&
      target[key] !== null
    ) merge(target[key] as Record<string, unknown>, value as Record<string, unknown>);
    else target[key] = structuredClone(value);
  }
}

/** Starts the emulator on 127.0.0.1, on a port the OS picks. */
function peerCn(client: Client): string | undefined {
  const cn = (client.conn as unknown as TLSSocket).getPeerCertificate?.()?.subject?.CN;
  return Array.isArray(cn) ? cn[0] : cn;
}

/** DPS enrollments and the hub's device registry. */
export class AzureEnrollments {
  readonly x509: Set<string>;
  #hubKeys: Map<string, string | "x509">;
  #forgotten = new Set<string>();

  constructor(private readonly options: EnrollmentOptions) {
    this.x509 = new Set(options.x509Devices ?? []);
    this.#hubKeys = new Map(Object.entries(options.hubDevices ?? {}));
  }

  /** Why DPS refuses this CONNECT, or undefined. */
  dpsProblem(client: Client, username: string, password?: string): string | undefined {
    const { idScope } = this.options;
    const expected = `${idScope}/registrations/${client.id}/api-version=`;
    if (!username.startsWith(expected)) return `user name ${username} is not ${expected}…`;
    if (this.x509.has(client.id) && password === undefined) {
      return peerCn(client) === client.id ? undefined : "certificate CN is not the registration id";
    }
    const keys = this.#keysOf(client.id);
    if (keys.length === 0) return "not enrolled";
    const resource = `${idScope}/registrations/${client.id}`;
    const problems = keys.map((key) => sasProblem(password, resource, key, "registration"));
    return problems.includes(undefined) ? undefined : problems[0];
  }

  /** Why hub `hub` refuses this CONNECT, or undefined. */
  hubProblem(hub: string, client: Client, username: string, password?: string): string | undefined {
    const prefix = `${hub}/${client.id}/`;
    if (!username.startsWith(prefix) || !/api-version=/.test(username)) {
      return `user name ${username} is not ${prefix}?api-version=…`;
    }
    const key = this.#hubKeys.get(client.id);
    if (key === undefined || this.#forgotten.has(client.id)) return "device not registered";
    if (key === "x509") {
      return peerCn(client) === client.id ? undefined : "certificate CN is not the device id";
    }
    return sasProblem(password, `${hub}/devices/${client.id}`, key, undefined);
  }

  /** DPS assigned `id` (with the key it registered with) to the hub. */
  assigned(id: string, password: string | undefined): void {
    const resource = `${this.options.idScope}/registrations/${id}`;
    const key = this.x509.has(id) && password === undefined
      ? "x509"
      : this.#keysOf(id).find((k) =>
        sasProblem(password, resource, k, "registration") === undefined
      );
    if (key !== undefined) this.#hubKeys.set(id, key);
    this.#forgotten.delete(id);
  }

  /** The hub refuses `id` until DPS assigns it again. */
  forget(id: string): void {
    this.#forgotten.add(id);
  }

  // The individual key first, then the key each group derives for `id`.
  #keysOf(id: string): string[] {
    return [
      ...(this.options.devices?.[id] ? [this.options.devices[id]] : []),
      ...(this.options.groupKeys ?? []).map((g) => hmac(g, id)),
    ];
  }
}
