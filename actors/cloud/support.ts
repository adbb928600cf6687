/**
 * How the support modules (actors/support/) reach a cloud: the cloud hands
 * the channel a port when its session starts, and the channel says which
 * topics to subscribe and hears what arrives on them (docs/support.md).
 */

/** How the support modules use one cloud's topics. */
export interface SupportPort {
  /** The cloud's name. */
  cloud: string;
  /** `<prefix>/<deviceId>`: support topics are `<base>/support/…`. */
  base: string;
  /** True while the cloud's link is up. */
  connected(): boolean;
  /** Publishes at QoS 1 (not retained); rejects when the link is down. */
  publish(topic: string, payload: string): Promise<void>;
}

/** The support modules' side of a cloud: what to subscribe and who hears it. */
export interface SupportChannel {
  /** Called when the session starts; the returned function is called when it stops. */
  attach(
    port: SupportPort,
  ): { filters: string[]; receive(topic: string, payload: Uint8Array): void; detach(): void };
}
