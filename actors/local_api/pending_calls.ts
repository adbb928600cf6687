/**
 * The calls of a `LocalApiClient` that wait for their replies. Replies carry
 * no request id: each call waits on the reply topics of its path (one for
 * the answer, one for the error), and calls waiting on the same topics are
 * answered in order.
 *
 * Owns: the reply queues, the topics worked out for each call path, and
 * one timer for every call's deadline. Receives: a call to wait (`add`), a
 * reply (`answer`), a connection that closed (`failAll`). Sends: each
 * call's body, a {@link LocalApiRequestError} for a refusal, or an error
 * when no reply came within `timeoutMs`.
 */
import { decodeErrorBody } from "../../protocols/local_api_errors.ts";
import { apiTopic, routeOf } from "../../protocols/local_api_topics.ts";
import { LocalApiRequestError } from "./app_identity.ts";

/** One call waiting for its reply. */
export interface Waiter {
  path: string;
  /** `performance.now()` after which the call fails. */
  deadline: number;
  resolve(body: unknown): void;
  reject(error: Error): void;
}

/** The calls waiting on one pair of reply topics, oldest first; answered in order. */
export interface ReplyQueue {
  ok: string;
  error: string;
  waiters: Waiter[];
}

/** What a call path publishes to and waits on, worked out once per path. */
export interface CallTopics {
  request: string;
  queue: ReplyQueue;
}

// Distinct call paths remembered (they repeat per sensor and metric); then forgotten at once.
const MAX_CALL_PATHS = 1000;

/** The calls waiting for replies on one client's connection. */
export class PendingCalls {
  // Each reply queue under both of its topics.
  #waiting = new Map<string, ReplyQueue>();
  #calls = new Map<string, CallTopics>();
  #pending = 0;
  // One timer for every call's deadline, not one per call.
  #deadlines?: ReturnType<typeof setTimeout>;
  readonly #timeoutMs: number;

  /** Calls that wait; each fails after `timeoutMs` without a reply. */
  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  /** Forgets the topics worked out so far: they name a client id that is no longer used. */
  clear(): void {
    this.#calls.clear();
    this.#waiting.clear();
  }

  /** The topics of a call to `path` by `clientId`; undefined when `path` is not a call. */
  topicsOf(clientId: string, path: string): CallTopics | undefined {
    const known = this.#calls.get(path);
    if (known) return known;
    const route = routeOf(path);
    if (!route) return undefined;
    const ok = apiTopic(clientId, route.ok);
    let queue = this.#waiting.get(ok);
    if (!queue) {
      queue = { ok, error: apiTopic(clientId, route.error), waiters: [] };
      this.#waiting.set(ok, queue);
      this.#waiting.set(queue.error, queue);
    }
    if (this.#calls.size >= MAX_CALL_PATHS) this.#calls.clear();
    const topics = { request: apiTopic(clientId, path), queue };
    this.#calls.set(path, topics);
    return topics;
  }

  /** Makes `waiter` wait on `queue`, after the calls already there. */
  add(queue: ReplyQueue, waiter: Waiter): void {
    queue.waiters.push(waiter);
    this.#pending++;
    this.#deadlines ??= setTimeout(() => this.#expire(), this.#timeoutMs);
  }

  /** Removes `waiter` from its queue if it is still waiting, then runs `then`. */
  settle(queue: ReplyQueue, waiter: Waiter, then: () => void): void {
    const at = queue.waiters.indexOf(waiter);
    if (at < 0) return;
    queue.waiters.splice(at, 1);
    this.#done();
    then();
  }

  /** Gives a reply that came on `topic` to the oldest call waiting there, if any. */
  answer(topic: string, body: unknown): void {
    const queue = this.#waiting.get(topic);
    const waiter = queue?.waiters.shift();
    if (!waiter) return;
    this.#done();
    if (topic === queue!.error) {
      const failure = decodeErrorBody(body);
      waiter.reject(
        new LocalApiRequestError(failure?.errorcode ?? 0, failure?.errorMessage ?? String(body)),
      );
    } else waiter.resolve(body);
  }

  /** Fails every waiting call with `error`. */
  failAll(error: Error): void {
    clearTimeout(this.#deadlines);
    this.#deadlines = undefined;
    this.#pending = 0;
    const failed: Waiter[] = [];
    for (const [topic, queue] of this.#waiting) {
      if (topic === queue.ok) failed.push(...queue.waiters.splice(0));
    }
    for (const waiter of failed) waiter.reject(error);
  }

  #done(): void {
    if (--this.#pending > 0) return;
    clearTimeout(this.#deadlines);
    this.#deadlines = undefined;
  }

  // Fails the calls whose deadline passed and waits for the next deadline.
  #expire(): void {
    this.#deadlines = undefined;
    const now = performance.now();
    let next = Infinity;
    for (const [topic, queue] of this.#waiting) {
      if (topic !== queue.ok) continue;
      while (queue.waiters.length > 0 && queue.waiters[0].deadline <= now) {
        const waiter = queue.waiters.shift()!;
        this.#pending--;
        waiter.reject(
          new Error(`No reply to ${waiter.path} within ${this.#timeoutMs} ms`),
        );
      }
      if (queue.waiters.length > 0) next = Math.min(next, queue.waiters[0].deadline);
    }
    if (next < Infinity) this.#deadlines = setTimeout(() => this.#expire(), next - now);
  }
}
