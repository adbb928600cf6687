/**
 * Instant support (PROTOCOLS.md §5): an app asks a supporter for help; the
 * request travels to the remote side over a cloud that carries support
 * (`…/support/instant/<appId>/…`, docs/support.md), which answers with the
 * case's session data, an error code, or a connection request that the app
 * accepts or rejects in time.
 *
 * One case per app: a second request while one is pending or open answers
 * `Busy`, unless it names the case's own session code (rejoining it, e.g.
 * after the app restarted). A case ends when the remote side reports it `Closed` (after the
 * app's `closeInstantSupportCase`, or on its own) or refuses the request.
 */
import { createActor } from "xstate";
import {
  confirmationMachine,
  type ConfirmationOutcome,
} from "../../machines/support_confirmation.ts";
import {
  type CaseState,
  type InstantSupportError,
  type SupportErrorCode,
} from "../../protocols/support_api.ts";
import type { SessionData } from "../../protocols/support_remote.ts";
import { checkInstantSupportRequest } from "../../protocols/support_instant.ts";
import type { Clock } from "../runtime/clock.ts";
import { getLogger } from "../runtime/logging.ts";

/** How the instant-support module reaches the apps and the remote side. */
export interface InstantSupportDeps {
  /** Publishes `payload` (JSON) to the remote side of `appId` on `leaf`; rejects when no cloud is up. */
  publish(
    appId: string,
    leaf: "request" | "close" | "connection/answer",
    payload: unknown,
  ): Promise<void>;
  /** Sends an instantSupport event to one app. */
  send(appId: string, event: string, payload: Record<string, unknown>): void;
  /** Time for the app to answer a connection request. */
  connectionRequestTimeoutMs: number;
  /** Timers of the connection request; default the real clock. */
  clock?: Clock;
}

/** The outcome of a call, as the local API answers it. */
export type InstantSupportResult =
  | { ok: true }
  | { ok: false; code: InstantSupportError | SupportErrorCode; message: string };

interface Case {
  state: CaseState;
  sessionCode?: string;
  connection?: ReturnType<typeof createActor<typeof confirmationMachine>>;
}

const log = getLogger("support", "instant");

/** The instant-support cases of the apps on this device. */
export class InstantSupport {
  #cases = new Map<string, Case>();

  constructor(private readonly deps: InstantSupportDeps) {}

  /** Checks and forwards a request; at most one case per app. */
  async request(appId: string, body: Record<string, unknown>): Promise<InstantSupportResult> {
    const checked = checkInstantSupportRequest(body);
    if (!checked.ok) return this.#error(appId, checked.code, checked.message);
    const current = this.#cases.get(appId);
    // Rejoining its own case (say, after the app restarted) is not a second request.
    const rejoin = current?.sessionCode !== undefined &&
      current.sessionCode === checked.request.sessionCode;
    if (current && !rejoin) {
      return this.#error(appId, "Busy", "This app already has an instant-support request");
    }
    if (current?.connection) current.connection.send({ type: "cancel" });
    this.#cases.set(appId, { state: "Undefined", sessionCode: current?.sessionCode });
    try {
      await this.deps.publish(appId, "request", checked.request);
    } catch (error) {
      if (current) this.#cases.set(appId, current);
      else this.#cases.delete(appId);
      return this.#error(
        appId,
        "InternalError",
        `Cannot reach the remote side: ${(error as Error).message}`,
      );
    }
    log.info("App {appId} asked for instant support (group {group})", {
      appId,
      group: checked.request.group,
    });
    return { ok: true };
  }

  /** Asks the remote side to close this app's case. */
  async close(appId: string): Promise<InstantSupportResult> {
    const current = this.#cases.get(appId);
    if (!current) return this.#error(appId, "NotFound", "This app has no instant-support case");
    try {
      await this.deps.publish(appId, "close", { sessionCode: current.sessionCode ?? "" });
    } catch (error) {
      return this.#error(
        appId,
        "CloseRequestFailed",
        `Cannot reach the remote side: ${(error as Error).message}`,
      );
    }
    return { ok: true };
  }

  /** Answers a pending connection request; false when none waits. */
  answerConnection(appId: string, accept: boolean): boolean {
    const connection = this.#cases.get(appId)?.connection;
    if (!connection) return false;
    connection.send({ type: accept ? "accept" : "reject" });
    return true;
  }

  /** The remote side's view of a case. */
  sessionData(appId: string, data: SessionData): void {
    const current = this.#cases.get(appId);
    if (!current) {
      log.warn("Session data for app {appId}, which has no case: ignored", { appId });
      return;
    }
    current.state = data.state;
    current.sessionCode = data.sessionCode;
    this.deps.send(appId, "sessionDataChanged", { ...data });
    if (data.state === "Closed") this.#end(appId);
  }

  /** The remote side refused a request or a close. */
  remoteError(appId: string, code: InstantSupportError): void {
    const current = this.#cases.get(appId);
    if (!current) return;
    this.deps.send(appId, "requestError", { code });
    // A refused request ends the case; a refused close leaves it open.
    if (current.state !== "Open") this.#end(appId);
  }

  /** The supporter wants to connect: ask the app, answer the remote side. */
  connectionRequest(appId: string): void {
    const current = this.#cases.get(appId);
    if (!current || current.state !== "Open") {
      log.warn("Connection request for app {appId} without an open case: rejected", { appId });
      this.#answer(appId, "rejected");
      return;
    }
    if (current.connection) return;
    const actor = createActor(
      confirmationMachine.provide({
        actions: { ask: () => this.deps.send(appId, "connectionRequest", {}) },
      }),
      {
        input: { timeoutMs: this.deps.connectionRequestTimeoutMs },
        ...(this.deps.clock && { clock: this.deps.clock }),
      },
    );
    current.connection = actor;
    actor.subscribe({
      complete: () => {
        if (current.connection === actor) current.connection = undefined;
        this.#answer(appId, actor.getSnapshot().output ?? "cancelled");
      },
    });
    actor.start();
  }

  /** The app left: its case is forgotten here (the remote side keeps its own). */
  forget(appId: string): void {
    this.#end(appId);
  }

  /** Cancels every pending connection request (the agent stops). */
  cancelAll(): void {
    for (const appId of [...this.#cases.keys()]) this.#end(appId);
  }

  /** The state of `appId`'s case, for tests and listings. */
  stateOf(appId: string): CaseState | undefined {
    return this.#cases.get(appId)?.state;
  }

  #end(appId: string): void {
    const current = this.#cases.get(appId);
    this.#cases.delete(appId);
    current?.connection?.send({ type: "cancel" });
  }

  #answer(appId: string, outcome: ConfirmationOutcome): void {
    const answer = outcome === "cancelled" ? "rejected" : outcome;
    log.info("Connection request for app {appId}: {answer}", { appId, answer });
    this.deps.publish(appId, "connection/answer", { answer }).catch((error) =>
      log.warn("Cannot answer the connection request of app {appId}: {error}", { appId, error })
    );
  }

  #error(
    appId: string,
    code: InstantSupportError | SupportErrorCode,
    message: string,
  ): InstantSupportResult {
    log.warn("Instant support for app {appId}: {code}: {message}", { appId, code, message });
    return { ok: false, code, message };
  }
}
