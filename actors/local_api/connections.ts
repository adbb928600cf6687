/**
 * The mutual-TLS port's connections by client id: who is connected and
 * still active (what `send`, `broadcast` and `connectedClients` reach), and
 * the cut-off of a revoked client. A revoked client is out at once, so
 * nothing more is sent to it; its connections are closed as soon as the
 * requests it is being answered are answered (the `/delete` reply goes out
 * first), with `end()` so that reply is flushed rather than thrown away.
 */
import type { TLSSocket } from "node:tls";
import type { Client } from "aedes";

// A peer that does not close its side once we closed ours is cut off after this.
const CLOSE_GRACE_MS = 2000;

/** The connections of the API port. */
export class ApiConnections {
  #ids = new WeakMap<Client, string>();
  #connected = new Map<string, Set<Client>>();
  #revoked = new Set<string>();
  // Requests being answered, per client: a revoked client's connections wait for them.
  #answering = new Map<string, number>();

  /** `client` authenticated as `clientId` (the CN of its certificate). */
  authenticated(client: Client, clientId: string): void {
    this.#ids.set(client, clientId);
  }

  /** The client id of `client`, unless it is unknown or revoked. */
  activeId(client: Client | null): string | undefined {
    const clientId = client ? this.#ids.get(client) : undefined;
    return clientId !== undefined && !this.#revoked.has(clientId) ? clientId : undefined;
  }

  /** True once `clientId` was revoked while this port ran. */
  isRevoked(clientId: string): boolean {
    return this.#revoked.has(clientId);
  }

  /** The active clients with at least one connection. */
  clientIds(): string[] {
    return [...this.#connected.keys()].filter((clientId) => !this.#revoked.has(clientId));
  }

  /** `client` completed CONNECT. One revoked during its handshake is closed at once. */
  ready(client: Client): void {
    const clientId = this.#ids.get(client);
    if (clientId === undefined) return;
    const set = this.#connected.get(clientId) ?? new Set();
    set.add(client);
    this.#connected.set(clientId, set);
    if (this.#revoked.has(clientId)) this.#closeWhenAnswered(clientId);
  }

  /** `client` is gone. */
  gone(client: Client): void {
    const clientId = this.#ids.get(client);
    const set = clientId === undefined ? undefined : this.#connected.get(clientId);
    set?.delete(client);
    if (set?.size === 0) this.#connected.delete(clientId!);
  }

  /**
   * Answers a request of `clientId` with `work`. Call it synchronously when
   * the request arrives: a revocation during `work` (the client's own
   * `/delete`) then waits for it before closing the connections.
   */
  async answer(clientId: string, work: () => Promise<void>): Promise<void> {
    this.#answering.set(clientId, (this.#answering.get(clientId) ?? 0) + 1);
    try {
      await work();
    } finally {
      const left = this.#answering.get(clientId)! - 1;
      if (left > 0) this.#answering.set(clientId, left);
      else this.#answering.delete(clientId);
      if (this.#revoked.has(clientId)) this.#closeWhenAnswered(clientId);
    }
  }

  /** Cuts `clientId` off: nothing more is sent to it, and its connections close once answered. */
  revoke(clientId: string): void {
    this.#revoked.add(clientId);
    this.#closeWhenAnswered(clientId);
  }

  #closeWhenAnswered(clientId: string): void {
    if (this.#answering.has(clientId)) return;
    for (const client of this.#connected.get(clientId) ?? []) endGracefully(client);
  }
}

function endGracefully(client: Client): void {
  const socket = client.conn as unknown as TLSSocket;
  if (socket.destroyed || socket.writableEnded) return;
  // end() sends what is queued (the /delete reply) before closing; aedes'
  // own close() destroys the socket and could throw that reply away.
  socket.end();
  const timer = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS);
  socket.once("close", () => clearTimeout(timer));
}
