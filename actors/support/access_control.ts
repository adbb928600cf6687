/**
 * Access control (PROTOCOLS.md §5): per feature Allowed, AfterConfirmation
 * or Denied, stored in SQLite so it outlives restarts, and the tunnels'
 * access check that applies it when a session starts.
 *
 * A tunnel stands for one feature: its target port's entry in
 * `support.featureByPort`, else `support.defaultFeature` (RemoteControl).
 * AfterConfirmation asks the connected local apps (`accessRequest`); the
 * first answer wins and no answer within `confirmationTimeoutSec` is a
 * denial. Requests for the same feature while one is asked share its answer.
 */
import type { DatabaseSync } from "node:sqlite";
import { createActor } from "xstate";
import {
  confirmationMachine,
  type ConfirmationOutcome,
} from "../../machines/support_confirmation.ts";
import { type Access, ACCESS_LEVELS, type Feature, FEATURES } from "../../protocols/support_api.ts";
import type { Clock } from "../runtime/clock.ts";
import { getLogger } from "../runtime/logging.ts";
import { migrate } from "../store/database.ts";
import type { AccessCheck, AccessDecision, TunnelRequest } from "../tunnels/types.ts";

/** How access control is set up. */
export interface AccessControlOptions {
  /** Access of each feature until it is set (`support.access`). */
  defaults: Record<Feature, Access>;
  /** Feature of a tunnel by its target port. */
  featureByPort: Record<string, Feature>;
  /** Feature of any other tunnel. */
  defaultFeature: Feature;
  /** Time for an answer to an access request. */
  confirmationTimeoutMs: number;
  /** True when at least one local app could answer an access request. */
  anyoneToAsk: () => boolean;
  /** Tells the owner about changes and requests. */
  events: {
    accessChanged(feature: Feature, access: Access): void;
    accessRequest(feature: Feature): void;
    /** The request for `feature` was answered, timed out or was cancelled. */
    accessRequestEnded?(feature: Feature, outcome: ConfirmationOutcome): void;
  };
  /** Timers of the confirmation; default the real clock. */
  clock?: Clock;
}

const log = getLogger("support", "access");

/** The stored access levels and the pending confirmations. */
export class AccessControl {
  #pending = new Map<
    Feature,
    {
      actor: ReturnType<typeof createActor<typeof confirmationMachine>>;
      done: Promise<ConfirmationOutcome>;
    }
  >();

  constructor(private readonly db: DatabaseSync, private readonly o: AccessControlOptions) {
    migrate(db, "support_access", [
      `CREATE TABLE support_access (
        feature TEXT PRIMARY KEY,
        access TEXT NOT NULL,
        changed_at INTEGER NOT NULL
      )`,
    ]);
  }

  /** The access of `feature`: the stored value, else the configured default. */
  get(feature: Feature): Access {
    const row = this.db.prepare("SELECT access FROM support_access WHERE feature = ?").get(
      feature,
    ) as { access: string } | undefined;
    const stored = row?.access;
    return stored && (ACCESS_LEVELS as readonly string[]).includes(stored)
      ? stored as Access
      : this.o.defaults[feature];
  }

  /** Every feature's access. */
  all(): Record<Feature, Access> {
    return Object.fromEntries(FEATURES.map((f) => [f, this.get(f)])) as Record<Feature, Access>;
  }

  /** Stores `access` for `feature`; true (and `accessChanged`) only when it changed. */
  set(feature: Feature, access: Access): boolean {
    const before = this.get(feature);
    this.db.prepare(
      `INSERT INTO support_access (feature, access, changed_at) VALUES (?, ?, ?)
       ON CONFLICT(feature) DO UPDATE SET access = excluded.access, changed_at = excluded.changed_at`,
    ).run(feature, access, Date.now());
    if (before === access) return false;
    log.info("Access to {feature} changed from {before} to {access}", { feature, before, access });
    this.o.events.accessChanged(feature, access);
    return true;
  }

  /** The feature a tunnel to `port` stands for. */
  featureOf(port: number): Feature {
    return this.o.featureByPort[String(port)] ?? this.o.defaultFeature;
  }

  /** True while an access request for `feature` waits for an answer. */
  pending(feature: Feature): boolean {
    return this.#pending.has(feature);
  }

  /** Answers the pending request for `feature`; false when none waits. */
  answer(feature: Feature, accept: boolean): boolean {
    const pending = this.#pending.get(feature);
    if (!pending) return false;
    pending.actor.send({ type: accept ? "accept" : "reject" });
    return true;
  }

  /** Denies every pending request (the agent stops). */
  cancelAll(): void {
    for (const { actor } of this.#pending.values()) actor.send({ type: "cancel" });
  }

  /** The tunnels' access check. */
  readonly check: AccessCheck = (tunnel) => this.#decide(tunnel);

  async #decide(tunnel: TunnelRequest): Promise<AccessDecision> {
    const feature = this.featureOf(tunnel.target.port);
    const access = this.get(feature);
    if (access === "Allowed") return { allowed: true };
    if (access === "Denied") {
      return { allowed: false, reason: `${feature} is denied on this device` };
    }
    if (!this.o.anyoneToAsk()) {
      return {
        allowed: false,
        reason: `${feature} needs confirmation and no local app is connected to confirm`,
      };
    }
    const outcome = await this.#confirm(feature);
    if (outcome === "accepted") return { allowed: true };
    const why = {
      rejected: "was rejected by the device user",
      timedOut: `was not confirmed within ${this.o.confirmationTimeoutMs / 1000} s`,
      cancelled: "was cancelled: the agent is stopping",
    }[outcome];
    return { allowed: false, reason: `${feature} ${why}` };
  }

  #confirm(feature: Feature): Promise<ConfirmationOutcome> {
    const existing = this.#pending.get(feature);
    if (existing) return existing.done;
    const actor = createActor(
      confirmationMachine.provide({ actions: { ask: () => this.o.events.accessRequest(feature) } }),
      {
        input: { timeoutMs: this.o.confirmationTimeoutMs },
        ...(this.o.clock && { clock: this.o.clock }),
      },
    );
    const done = new Promise<ConfirmationOutcome>((resolve) => {
      actor.subscribe({
        complete: () => {
          this.#pending.delete(feature);
          const outcome = actor.getSnapshot().output ?? "cancelled";
          log.info("Access request for {feature}: {outcome}", { feature, outcome });
          this.o.events.accessRequestEnded?.(feature, outcome);
          resolve(outcome);
        },
      });
    });
    this.#pending.set(feature, { actor, done });
    actor.start();
    return done;
  }
}
