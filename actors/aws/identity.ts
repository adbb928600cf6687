/**
 * Who the device is on AWS IoT: its thing name (also the MQTT client id),
 * certificate and key. Shared by the connection, which asks for it before
 * every attempt, and the provisioning actor, which delivers it when the
 * certificate store is empty.
 *
 * ```
 * cloud:<name>
 * ├── connection     credentials hook → AwsIdentity.login()  (waits while provisioning runs)
 * └── provisioning   AwsIdentity.provisioned(identity) | failed(error)
 * ```
 */
import type { MqttLogin } from "../mqtt/connection.ts";
import type { CertStore, DeviceIdentity } from "./cert_store.ts";

type Waiter = { resolve: () => void; reject: (error: Error) => void };

/** The identity in use, or the promise of one. */
export class AwsIdentity {
  #current: DeviceIdentity | undefined;
  #failure: Error | undefined;
  // "none": nobody will deliver an identity; "running": provisioning will.
  #provisioning: "none" | "running" = "none";
  #waiters = new Set<Waiter>();

  /**
   * `cloud` names the cloud in messages; `fixed` is an identity from the
   * configuration; otherwise `store` is read by {@link load}.
   */
  constructor(
    private readonly cloud: string,
    private readonly source: { store?: CertStore; fixed?: DeviceIdentity },
  ) {
    this.#current = source.fixed;
  }

  /** Reads the certificate store, if there is one and no fixed identity. */
  async load(): Promise<DeviceIdentity | undefined> {
    if (!this.#current && this.source.store) this.#current = await this.source.store.read();
    return this.#current;
  }

  /** The identity, once known. */
  get current(): DeviceIdentity | undefined {
    return this.#current;
  }

  /** The thing name, once known. */
  get thingName(): string | undefined {
    return this.#current?.clientId;
  }

  /** The certificate store, when the identity lives in one. */
  get store(): CertStore | undefined {
    return this.source.store;
  }

  /**
   * The connection's credentials hook: client id, certificate and key now,
   * or once provisioning delivers them. Rejects with the reason when nobody
   * will: provisioning failed, or there is no identity and no provisioning.
   */
  async login(): Promise<MqttLogin> {
    if (!this.#current) {
      if (this.#failure) throw this.#failure;
      if (this.#provisioning === "none") {
        const missing = this.source.store ? await this.source.store.missing() : [];
        throw new Error(
          `cloud "${this.cloud}" has no device identity` +
            (this.source.store
              ? ` (certificate store ${this.source.store.dir} lacks ${missing.join(", ")})`
              : "") +
            " and fleet provisioning is not running",
        );
      }
      await new Promise<void>((resolve, reject) => this.#waiters.add({ resolve, reject }));
    }
    const identity = this.#current!;
    return {
      clientId: identity.clientId,
      cert: identity.certificatePem,
      key: identity.privateKeyPem,
    };
  }

  /** Resolves once an identity is known; rejects like {@link login}. */
  async ready(): Promise<DeviceIdentity> {
    await this.login();
    return this.#current!;
  }

  /** For provisioning: it runs, so waiting for it makes sense. */
  provisioningStarted(): void {
    this.#provisioning = "running";
    this.#failure = undefined;
  }

  /** For provisioning: it stopped without an identity; waiters are released. */
  provisioningStopped(): void {
    this.#provisioning = "none";
    this.#release(new Error(`cloud "${this.cloud}": provisioning stopped before it succeeded`));
  }

  /** For provisioning: AWS refused; waiters (and later logins) get `error`. */
  failed(error: Error): void {
    this.#failure = error;
    this.#provisioning = "none";
    this.#release(error);
  }

  /** For provisioning: the new identity, already persisted. */
  provisioned(identity: DeviceIdentity): void {
    this.#current = identity;
    for (const waiter of this.#waiters) waiter.resolve();
    this.#waiters.clear();
  }

  #release(error: Error): void {
    for (const waiter of this.#waiters) waiter.reject(error);
    this.#waiters.clear();
  }
}
