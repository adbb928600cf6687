/**
 * The status lifecycle of Cumulocity operations: `501,<fragment>` when one
 * starts, then `503,<fragment>[,…]` or `502,<fragment>,<reason>` when it ends.
 *
 * These lines do not name an operation: 501 moves the OLDEST pending
 * operation of the fragment to executing, 502/503 end the OLDEST executing
 * one. So when two operations of one fragment run at once, the second may
 * finish first but must not report first: each fragment (of each device:
 * a child's lines go to `s/us/<child>`) has a queue, and an outcome is
 * queued only after every earlier operation of that fragment queued its own.
 * Different fragments do not wait for each other.
 *
 * Operations that arrive with their id (JSON via MQTT) report by id instead:
 * `504,<id>`, then `506,<id>[,…]` or `505,<id>,<reason>`. Those need no
 * queue, since each line names its operation.
 *
 * Every status line goes out through one {@link OrderedPublisher}: in the
 * order it was queued, without waiting for earlier PUBACKs, and again after
 * a reconnect when its PUBACK never came.
 */
import type { MqttLink } from "../mqtt/link.ts";
import {
  C8Y_TOPICS,
  operationExecuting,
  operationExecutingById,
  operationFailed,
  operationFailedById,
  operationSuccessful,
  operationSuccessfulById,
} from "../../protocols/c8y_messages.ts";
import { SMARTREST_PAYLOAD_LIMIT, utf8Length } from "../../protocols/smartrest.ts";
import { OrderedPublisher } from "./ordered_publisher.ts";

/** How an operation ended: success with the 503's extra fields, or failure with a reason. */
export type OperationOutcome =
  | { ok: true; params?: string[] }
  | { ok: false; reason: string };

/** What an operation does once `501` is out; a throw or rejection is a failure with its message. */
export type OperationWork = () => Promise<OperationOutcome>;

/** Where an operation's status lines go. */
export interface SubmitOptions {
  /** `s/us` (default) for this device, `s/us/<child>` for a child device's operation. */
  topic?: string;
}

/**
 * Reports operations of one Cumulocity device, in arrival order per fragment.
 *
 * @example
 * ```ts
 * const queue = new OperationQueue(link, { cloud: "c8y" });
 * queue.submit("c8y_Restart", async () => ({ ok: true }));   // 501, then 503
 * queue.fail("c8y_Firmware", "Operation not supported by this agent"); // 501, then 502
 * ```
 */
export class OperationQueue {
  // Per device topic and fragment: settles once the last submitted outcome is queued.
  #tails = new Map<string, Promise<void>>();
  #out: OrderedPublisher;

  /** A queue publishing on `link`; `cloud` names the cloud in logs. */
  constructor(link: MqttLink, options: { cloud: string }) {
    this.#out = new OrderedPublisher(link, options);
  }

  /**
   * Queues `501,<fragment>` now and runs `work` once the platform has it
   * (a restart must not reboot the device while its operation is still
   * PENDING, or it is sent again after the reboot). Queues the outcome after
   * every operation of `fragment` submitted before it; resolves once the
   * outcome is acknowledged or given up. When the 501 never got through,
   * nothing runs and nothing more is sent: the operation is still PENDING and
   * the platform sends it again with the pending ones after a reconnect.
   */
  submit(fragment: string, work: OperationWork, options: SubmitOptions = {}): Promise<void> {
    const topic = options.topic ?? C8Y_TOPICS.up;
    const key = `${topic}\n${fragment}`;
    const executing = this.#out.publish(topic, operationExecuting(fragment));
    const outcome = executing.then((sent) => sent ? settled(work) : undefined);
    const previous = this.#tails.get(key) ?? Promise.resolve();
    let reported: Promise<unknown> = Promise.resolve();
    // Queued is enough for the next outcome to follow: the publisher keeps the order.
    const queued = previous.then(() => outcome).then((result) => {
      if (result) reported = this.#out.publish(topic, statusLine(fragment, result));
    });
    this.#tails.set(key, queued);
    return queued.then(() => {
      if (this.#tails.get(key) === queued) this.#tails.delete(key);
      return reported.then(() => {});
    });
  }

  /**
   * Queues `504,<id>` now and runs `work` once the platform has it, then
   * queues `506,<id>[,…]` or `505,<id>,<reason>`. Resolves true once the
   * outcome is acknowledged or given up, false when the 504 never got
   * through (nothing ran; the operation is still PENDING).
   */
  submitById(id: string, work: OperationWork, options: SubmitOptions = {}): Promise<boolean> {
    const topic = options.topic ?? C8Y_TOPICS.up;
    return this.#out.publish(topic, operationExecutingById(id)).then(async (sent) => {
      if (!sent) return false;
      await this.#out.publish(topic, statusLineById(id, await settled(work)));
      return true;
    });
  }

  /**
   * Queues a line that is no status (`113`) behind every line queued before
   * it, so that an operation's outcome queued after it reaches the platform
   * after it. Resolves true on its PUBACK, false when it was given up.
   */
  report(line: string, options: SubmitOptions = {}): Promise<boolean> {
    return this.#out.publish(options.topic ?? C8Y_TOPICS.up, line);
  }

  /** An operation that fails at once (unsupported, malformed): `501`, then `502,<reason>`, in order. */
  fail(fragment: string, reason: string, options: SubmitOptions = {}): Promise<void> {
    return this.submit(fragment, () => Promise.resolve({ ok: false, reason }), options);
  }

  /** Stops publishing; lines not yet acknowledged are dropped. */
  close(): void {
    this.#out.close();
  }
}

// The work's outcome; a throw or rejection is a failure with its message.
function settled(work: OperationWork): Promise<OperationOutcome> {
  return Promise.resolve().then(work).then(
    (result) => result,
    (error): OperationOutcome => ({ ok: false, reason: messageOf(error) }),
  );
}

/**
 * The 502/503 line of an outcome, with the reason or the last parameter
 * cut so that the line fits one publish (16184 bytes).
 */
export function statusLine(fragment: string, outcome: OperationOutcome): string {
  return outcomeLine(outcome, {
    failed: (reason) => operationFailed(fragment, reason),
    successful: (...params) => operationSuccessful(fragment, ...params),
  });
}

/** The 505/506 line of an outcome of operation `id`, cut to fit as {@link statusLine} does. */
export function statusLineById(id: string, outcome: OperationOutcome): string {
  return outcomeLine(outcome, {
    failed: (reason) => operationFailedById(id, reason),
    successful: (...params) => operationSuccessfulById(id, ...params),
  });
}

function outcomeLine(
  outcome: OperationOutcome,
  build: { failed(reason: string): string; successful(...params: string[]): string },
): string {
  if (!outcome.ok) return fitted(build.failed, outcome.reason);
  const params = outcome.params ?? [];
  if (params.length === 0) return build.successful();
  const first = params.slice(0, -1);
  return fitted((text) => build.successful(...first, text), params.at(-1)!);
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

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
