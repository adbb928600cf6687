/**
 * The seam between the local API's broker and the modules that answer on it.
 *
 * The `local-api` subtree owns the MQTT endpoint for apps on the device
 * (PROTOCOLS.md §4): it authenticates each client by its certificate and
 * hands every request under `/v1.0/<clientId>` to the first module that
 * `handles` its path. The sensor/metric API is one module; the support
 * modules (sessions, access control, instant support, chat; §5) are another.
 * A module answers through `LocalApiOutput`, never through the broker itself,
 * so it can be tested with a recording output and no sockets.
 */

/** One request from a local app, already authorized for its own topics. */
export interface LocalApiRequest {
  /** The client id: the CN of the app's certificate (32 hex characters). */
  clientId: string;
  /** The topic after `/v1.0/<clientId>`, starting with "/" (e.g. "/sensor/create"). */
  path: string;
  /** The raw payload as published. */
  payload: Uint8Array;
}

/** How a module reaches local apps. */
export interface LocalApiOutput {
  /** Publishes `payload` (JSON-encoded unless a string) to `/v1.0/<clientId><path>`. */
  send(clientId: string, path: string, payload: unknown): void;
  /** Publishes to `/v1.0/<clientId><path>` of every connected, active client (never a revoked one). */
  broadcast(path: string, payload: unknown): void;
  /** The client ids connected right now on the mutual-TLS port. */
  connectedClients(): string[];
}

/** A set of calls served on the local API. */
export interface LocalApiModule {
  /** A short name for logs ("sensors", "support"). */
  readonly name: string;
  /**
   * Called once when the router starts (and after each restart), with the
   * output for pushes no request triggered (events, broadcasts). Optional.
   */
  start?(output: LocalApiOutput): void;
  /** True when this module answers requests on `path`. */
  handles(path: string): boolean;
  /** Answers one request; a throw is logged and answered with InternalError by the router. */
  handle(request: LocalApiRequest, output: LocalApiOutput): void | Promise<void>;
  /** Optional: forgets everything of a client that was deprovisioned (`/delete`) or rejected by the operator. */
  clientRemoved?(clientId: string): void | Promise<void>;
}
