/**
 * The local API for apps on the device (PROTOCOLS.md §4; TeamViewer IoT
 * MQTT SDK compatible), as the `local-api` subtree:
 *
 * ```
 * local-api        rest_for_one
 * ├── authority    loads (or makes) the CA, issues the server certificate,
 * │                writes the CA certificate to caCertPath
 * ├── provisioning 18883: TLS, /createConnector → /certBack/<hash>
 * └── api          18884: mutual TLS, /v1.0/<clientId>/… → modules
 * ```
 *
 * Owns: the CA files under `<stateDir>/local-api/`, the known-clients and
 * sensor tables, both servers. Receives: MQTT requests from apps; operator
 * decisions (`approve`, `reject`; a reject of an active client revokes it
 * like its own `/delete`, and the api port closes its connections). Sends:
 * replies and live data to apps, pushed values to the agent's TelemetryRouter. Supervised by: the agent's
 * root supervisor. rest_for_one because both servers use the authority's
 * certificates: a new authority restarts them; a crashed server restarts
 * alone (or with the api port after it).
 */
import type { DatabaseSync } from "node:sqlite";
import { child, supervisor, type SupervisorSpec } from "../runtime/spec.ts";
import { getLogger } from "../runtime/logging.ts";
import { type Authority, loadAuthority } from "./authority.ts";
import { type ApiServer, startApiServer } from "./api_server.ts";
import { ClientRegistry, type LocalApiClientRecord } from "./client_registry.ts";
import type { LocalApiModule, LocalApiOutput } from "./module.ts";
import { type ProvisioningServer, startProvisioning } from "./provisioning.ts";
import { type PublishTelemetry, sensorApi } from "./sensor_api.ts";
import { SensorStore } from "./sensor_store.ts";
import { serviceActor } from "../runtime/service_actor.ts";

export type { LocalApiModule, LocalApiOutput, LocalApiRequest } from "./module.ts";
export type { ClientState, LocalApiClientRecord } from "./client_registry.ts";
export type { PublishTelemetry } from "./sensor_api.ts";

/** What the local API is configured with (`[localApi]`). */
export interface LocalApiSettings {
  /** Address of both ports; loopback only. */
  host: string;
  /** The TLS provisioning port; 0 takes a free port. */
  provisioningPort: number;
  /** The mutual-TLS API port; 0 takes a free port. */
  apiPort: number;
  /** Where the CA certificate is written for apps. */
  caCertPath: string;
  /** `operator`: new clients wait for `approve`. */
  approval: "auto" | "operator";
}

/** Options of the {@link LocalApi} constructor. */
export interface LocalApiOptions {
  /** The `[localApi]` section. */
  settings: LocalApiSettings;
  /** The agent's state directory; the CA lives in `<stateDir>/local-api/`. */
  stateDir: string;
  /** The agent's database (known clients, sensors, metrics). */
  db: DatabaseSync;
  /** The agent's `TelemetryRouter.publish`. */
  publish: PublishTelemetry;
  /** More modules after the sensor/metric API (the support modules). */
  modules?: readonly LocalApiModule[];
}

const log = getLogger("local-api");

/**
 * The local API: its state, its subtree, and the operator's handle on it.
 * The agent builds one when `[localApi]` is enabled (`agent.localApi()`).
 *
 * @example Approving apps that wait (approval = "operator")
 * ```ts
 * const localApi = agent.localApi();
 * for (const { clientId, name } of localApi.clients("pending")) {
 *   if (name === "thermometer") await localApi.approve(clientId);
 *   else await localApi.reject(clientId);
 * }
 * ```
 */
export class LocalApi {
  #registry: ClientRegistry;
  #sensors: SensorStore;
  #modules: readonly LocalApiModule[];
  #authority?: Authority;
  // The servers wait for the authority child, which starts before them.
  #authorityLoaded = Promise.withResolvers<Authority>();
  #provisioning?: ProvisioningServer;
  #api?: ApiServer;
  #provisioningUp = Promise.withResolvers<void>();
  #apiUp = Promise.withResolvers<void>();

  /** Opens the local API's tables in `options.db`; nothing listens until the subtree starts. */
  constructor(private readonly options: LocalApiOptions) {
    this.#registry = new ClientRegistry(options.db);
    this.#sensors = new SensorStore(options.db);
    this.#modules = [
      sensorApi({ store: this.#sensors, publish: options.publish }),
      ...options.modules ?? [],
    ];
  }

  /** The `local-api` subtree. */
  spec(): SupervisorSpec {
    const { settings, stateDir } = this.options;
    const backoff = { backoff: { minMs: 1000, maxMs: 30_000 } };
    return supervisor("local-api", { strategy: "rest_for_one", intensity: 5, periodMs: 30_000 }, [
      child(
        "authority",
        serviceActor("authority", async () => {
          const authority = await loadAuthority(`${stateDir.replace(/\/+$/, "")}/local-api`, {
            caCertPath: settings.caCertPath,
          });
          this.#authority = authority;
          this.#authorityLoaded.resolve(authority);
          return {
            close: () => {
              this.#authority = undefined;
              this.#authorityLoaded = Promise.withResolvers<Authority>();
              return Promise.resolve();
            },
          };
        }),
        backoff,
      ),
      child(
        "provisioning",
        serviceActor("provisioning", async () => {
          const server = await startProvisioning({
            host: settings.host,
            port: settings.provisioningPort,
            authority: await this.#authorityLoaded.promise,
            registry: this.#registry,
            approval: settings.approval === "operator",
          });
          this.#provisioning = server;
          this.#provisioningUp.resolve();
          log.info("Local API provisioning listening on {host}:{port}", {
            host: settings.host,
            port: server.port,
          });
          return { close: () => this.#closed(server, () => (this.#provisioning = undefined)) };
        }),
        backoff,
      ),
      child(
        "api",
        serviceActor("api", async () => {
          const server = await startApiServer({
            host: settings.host,
            port: settings.apiPort,
            authority: await this.#authorityLoaded.promise,
            registry: this.#registry,
            modules: this.#modules,
            removeClient: (clientId) => this.#removeClient(clientId),
          });
          this.#api = server;
          log.info("Local API listening on {host}:{port} (mutual TLS)", {
            host: settings.host,
            port: server.port,
          });
          this.#apiUp.resolve();
          return { close: () => this.#closed(server, () => (this.#api = undefined)) };
        }),
        backoff,
      ),
    ]);
  }

  /** Resolves once both ports have listened at least once. */
  ready(): Promise<void> {
    return Promise.all([this.#provisioningUp.promise, this.#apiUp.promise]).then(() => {});
  }

  /** The ports listening now (the real ones when 0 was configured). */
  ports(): { provisioning?: number; api?: number } {
    return { provisioning: this.#provisioning?.port, api: this.#api?.port };
  }

  /** The CA certificate apps trust, once the authority is loaded. */
  caCertPem(): string | undefined {
    return this.#authority?.caCertPem;
  }

  /** How modules reach apps; undefined while the api port is down. */
  output(): LocalApiOutput | undefined {
    return this.#api?.output;
  }

  /** Known clients, optionally only those in one state. */
  clients(state?: LocalApiClientRecord["state"]): LocalApiClientRecord[] {
    return this.#registry.list(state);
  }

  /** The sensors of one client, with their metric ids. */
  sensorsOf(clientId: string): { sensorId: string; name: string; metricIds: string[] }[] {
    return this.#sensors.sensors(clientId);
  }

  /** Approves a client waiting in approval mode: it receives its certificate. */
  approve(clientId: string): Promise<void> {
    return this.#live("provisioning port", this.#provisioning).approve(clientId);
  }

  /**
   * Refuses a client waiting in approval mode, or revokes an active one:
   * its certificate is refused from then on, its open connections are
   * closed and its sensors deleted, as if it had deprovisioned itself.
   */
  async reject(clientId: string): Promise<void> {
    if (this.#registry.get(clientId)?.state !== "active") {
      return await this.#live("provisioning port", this.#provisioning).reject(clientId);
    }
    await this.#removeClient(clientId);
    log.info("The operator revoked local API client {clientId}", { clientId });
  }

  // The one way a client is removed, by its own /delete or by the operator.
  // The registry announces the revocation: the api port, if up, closes the
  // client's connections. A module that fails to forget it is logged; the
  // revocation stands, and the others still forget it.
  async #removeClient(clientId: string): Promise<void> {
    this.#registry.revoke(clientId);
    for (const module of this.#modules) {
      try {
        await module.clientRemoved?.(clientId);
      } catch (error) {
        log.error("Module {module} could not forget client {clientId}: {error}", {
          module: module.name,
          clientId,
          error,
        });
      }
    }
  }

  #live<T>(what: string, value: T | undefined): T {
    if (value === undefined) throw new Error(`The local API's ${what} is not running`);
    return value;
  }

  async #closed(server: { close(): Promise<void> }, forget: () => void): Promise<void> {
    forget();
    await server.close();
  }
}
