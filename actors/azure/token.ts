/**
 * The `token` child of an Azure cloud that logs in with a SAS key: IoT Hub
 * closes a connection whose token expired, so the connection is renewed
 * before that, on the device's terms.
 *
 * Owns: one timer, set on every connect for `renewAt` of the token that
 * connection used (by default 80 % of its life). Receives: link status.
 * Sends: `reconnect()` (the connection actor's `reconnect` event), which
 * makes the connection close and dial again; the credentials hook then
 * signs a new token. Time is the runtime's {@link Clock}, so a test drives
 * it with a SimulatedClock. Supervised by: `cloud:<name>` (rest_for_one),
 * after the connection.
 */
import { fromCallback } from "xstate";
import type { MqttLink } from "../mqtt/link.ts";
import { type Clock, realClock } from "../runtime/clock.ts";
import { getLogger } from "../runtime/logging.ts";
import type { ActorLogic } from "../runtime/spec.ts";
import type { AzureCredentials } from "./credentials.ts";

/** Options of {@link sasRenewal}. */
export interface SasRenewalOptions {
  cloud: string;
  link: MqttLink;
  credentials: AzureCredentials;
  /** Makes the connection actor reconnect. */
  reconnect: () => void;
  /** Fraction (0..1) of the token's remaining life after which it is renewed. Default 0.8. */
  renewAt?: number;
  /** Timers; default the wall clock. */
  clock?: Clock;
}

const log = getLogger("azure");

/** When, from now, the token that expires at `expiryMs` should be renewed. */
export function renewalDelayMs(nowMs: number, expiryMs: number, renewAt = 0.8): number {
  return Math.max(0, Math.floor((expiryMs - nowMs) * renewAt));
}

/** The `token` child. */
export function sasRenewal(options: SasRenewalOptions): ActorLogic {
  const clock = options.clock ?? realClock;
  return fromCallback(() => {
    let timer: unknown;
    const arm = (up: boolean) => {
      clock.clearTimeout(timer);
      timer = undefined;
      const expiry = options.credentials.tokenExpiryMs;
      if (!up || expiry === undefined) return;
      const delayMs = renewalDelayMs(options.credentials.now(), expiry, options.renewAt);
      log.debug("Cloud {cloud}: SAS token renewal in {seconds} s", {
        cloud: options.cloud,
        seconds: Math.round(delayMs / 1000),
      });
      timer = clock.setTimeout(() => {
        timer = undefined;
        log.info("Cloud {cloud}: renewing the SAS token: reconnecting", { cloud: options.cloud });
        options.reconnect();
      }, delayMs);
    };
    const stop = options.link.onStatus(arm);
    arm(options.link.connected);
    return () => {
      stop();
      clock.clearTimeout(timer);
    };
  });
}
