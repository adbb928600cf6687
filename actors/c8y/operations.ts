/**
 * The status lifecycle of Cumulocity operations: `501,<fragment>` when one
 * starts, then `503,<fragment>[,…]` or `502,<fragment>,<reason>` when it ends.
 *
 * These lines do not name an operation: 501 moves the OLDEST pending
 * operation of the fragment to executing, 502/503 end the OLDEST executing
 * one. So when two operations of one fragment run at once, the second may
 * finish first but must not report first: each fragment has a queue, and an
 * outcome is published only after every earlier operation of that fragment
 * published its own. Different fragments do not wait for each other.
 *
 * Every status line goes out through one FIFO on `s/us`, QoS 1, in the order
 * it was queued; a line whose publish fails (the link dropped) is sent again
 * once the link is back, so that an operation is not left executing forever.
 */
import type { MqttLink } from "../mqtt/link.ts";
import { getLogger } from "../runtime/logging.ts";
import {
  C8Y_TOPICS,
  operationExecuting,
  operationFailed,
  operationSuccessful,
} from "../../protocols/c8y_messages.ts";
import { SMARTREST_PAYLOAD_LIMIT, utf8Length } from "../../protocols/smartrest.ts";

/** How an operation ended: success with the 503's extra fields, or failure with a reason. */
export type OperationOutcome =
  | { ok: true; params?: string[] }
  | { ok: false; reason: string };

/** What an operation does once `501` is out; a throw or rejection is a failure with its message. */
export type OperationWork = () => Promise<OperationOutcome>;

const log = getLogger("c8y");

// Tries per status line; a line the broker keeps refusing is logged and dropped.
const MAX_ATTEMPTS = 5;

/**
 * Reports operations of one Cumulocity device, in arrival order per fragment.
 *
 * @example
 * ```ts
 * const queue = new OperationQueue(link, { cloud: "c8y" });
 * queue.submit("c8y_Restart", async () => ({ ok: true }));   // 501, then 503
 * queue.fail("c8y_LogfileRequest", "Operation not supported by this agent"); // 501, then 502
 * ```
 */
export class OperationQueue {
  #tails = new Map<string, Promise<void>>();
  #out: Promise<void> = Promise.resolve();
  #closed = false;
  #wakeups = new Set<() => void>();
  #stopListening: () => void;

  /** A queue publishing on `link`; `cloud` names the cloud in logs. */
  constructor(private readonly link: MqttLink, private readonly options: { cloud: string }) {
    this.#stopListening = link.onStatus((up) => {
      if (!up) return;
      for (const wake of this.#wakeups) wake();
    });
  }

  /**
   * Publishes `501,<fragment>` now, runs `work` once that is out, and
   * publishes its outcome after every operation of `fragment` submitted
   * before it. Resolves when the outcome has been published (or dropped).
   */
  submit(fragment: string, work: OperationWork): Promise<void> {
    const executing = this.#send(operationExecuting(fragment));
    const outcome = executing.then(work).then(
      (result) => result,
      (error): OperationOutcome => ({ ok: false, reason: messageOf(error) }),
    );
    const previous = this.#tails.get(fragment) ?? Promise.resolve();
    const reported = previous.then(() => outcome).then((result) =>
      this.#send(statusLine(fragment, result))
    );
    this.#tails.set(fragment, reported);
    reported.then(() => {
      if (this.#tails.get(fragment) === reported) this.#tails.delete(fragment);
    });
    return reported;
  }

  /** An operation that fails at once (unsupported, malformed): `501`, then `502,<reason>`, in order. */
  fail(fragment: string, reason: string): Promise<void> {
    return this.submit(fragment, () => Promise.resolve({ ok: false, reason }));
  }

  /** Stops publishing; lines not yet out are dropped. */
  close(): void {
    this.#closed = true;
    this.#stopListening();
    for (const wake of this.#wakeups) wake();
  }

  // Queues `line` behind every line queued before it; never rejects.
  #send(line: string): Promise<void> {
    const sent = this.#out.then(() => this.#publish(line));
    this.#out = sent;
    return sent;
  }

  async #publish(line: string): Promise<void> {
    const { cloud } = this.options;
    for (let attempt = 1; !this.#closed; attempt++) {
      if (!this.link.connected) await this.#connected();
      if (this.#closed) break;
      try {
        await this.link.publish(C8Y_TOPICS.up, line, { qos: 1 });
        log.debug("Cloud {cloud}: operation status {status}", { cloud, status: head(line) });
        return;
      } catch (error) {
        if (attempt >= MAX_ATTEMPTS) {
          log.error(
            "Cloud {cloud}: dropped operation status {status} after {attempt} tries: {error}",
            {
              cloud,
              status: head(line),
              attempt,
              error,
            },
          );
          return;
        }
        log.warn(
          "Cloud {cloud}: publishing operation status {status} failed, will retry: {error}",
          {
            cloud,
            status: head(line),
            error,
          },
        );
        // A publish refused while the link stays up is retried once it reconnects or at once.
        if (this.link.connected) continue;
      }
    }
    log.warn("Cloud {cloud}: operation status {status} not sent: the session stopped", {
      cloud,
      status: head(line),
    });
  }

  #connected(): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        this.#wakeups.delete(wake);
        resolve();
      };
      this.#wakeups.add(wake);
    });
  }
}

/**
 * The 502/503 line of an outcome, with the reason or the last parameter
 * cut so that the line fits one publish (16184 bytes).
 */
export function statusLine(fragment: string, outcome: OperationOutcome): string {
  if (!outcome.ok) return fitted((text) => operationFailed(fragment, text), outcome.reason);
  const params = outcome.params ?? [];
  if (params.length === 0) return operationSuccessful(fragment);
  const first = params.slice(0, -1);
  return fitted((text) => operationSuccessful(fragment, ...first, text), params.at(-1)!);
}

const CUT = " …(truncated)";

// The longest prefix of `text` (whole code points) whose line fits the limit.
function fitted(build: (text: string) => string, text: string): string {
  const whole = build(text);
  if (utf8Length(whole) <= SMARTREST_PAYLOAD_LIMIT) return whole;
  const chars = Array.from(text);
  let low = 0;
  let high = chars.length;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (utf8Length(build(chars.slice(0, mid).join("") + CUT)) <= SMARTREST_PAYLOAD_LIMIT) {
      low = mid;
    } else high = mid - 1;
  }
  return build(chars.slice(0, low).join("") + CUT);
}

// Logs show the template and fragment, never a reason or output that may hold anything.
function head(line: string): string {
  return line.split(",", 2).join(",");
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
