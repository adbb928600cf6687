/**
 * What every cloud's subtree shares: its policy and its last word, the
 * drain of its outbox queue. A cloud type lists its own children between.
 */
import {
  child,
  type ChildSpec,
  type Spec,
  supervisor,
  type SupervisorSpec,
} from "../runtime/spec.ts";
import type { MqttLink } from "../mqtt/link.ts";
import { outboxDrain } from "../telemetry/drain.ts";
import type { Outbox } from "../telemetry/outbox.ts";

/**
 * `cloud:<name>`, `rest_for_one`: a new connection (always the first child)
 * restarts everything started after it, which holds its subscriptions. More
 * than 5 restarts in 30 s gives up and lets the agent's supervisor decide.
 */
export function cloudSupervisor(name: string, children: Spec[]): SupervisorSpec {
  return supervisor(`cloud:${name}`, {
    strategy: "rest_for_one",
    intensity: 5,
    periodMs: 30_000,
  }, children);
}

/** The `drain` child: the outbox queue of cloud `name` through its link. */
export function drainChild(outbox: Outbox, link: MqttLink, name: string): ChildSpec {
  return child("drain", outboxDrain(outbox, { link, cloud: name }), { shutdownMs: 1000 });
}
