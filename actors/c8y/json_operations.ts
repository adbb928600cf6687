/**
 * Operations that arrive as JSON on `devicecontrol/notifications`
 * (docs/c8y.md, protocols/c8y_json.ts): the embedding app's commands under
 * the fragments of `[clouds.<name>.operations] commands`, and the support
 * modules' `outpost_Support` messages. Each is answered by its id: `504`,
 * then `506,<id>[,<result>]` or `505,<id>,<reason>`.
 *
 * The platform sends every operation here, also those a static template
 * delivers on `s/ds`: a copy that carries a static template's fragment is
 * left to that path. Any other operation is answered, since the platform
 * keeps it PENDING until it hears: one for a child device, or with a
 * fragment nobody here serves, fails with `Operation not supported by this
 * agent`. An id already taken in this session is not run twice.
 *
 * Owned by the Cumulocity session (not an actor), which subscribes to the
 * topic only when commands are configured or support is on.
 */
import { getLogger } from "../runtime/logging.ts";
import type { HandlerRegistry } from "../cloud/handlers.ts";
import { type C8yJsonOperation, parseJsonOperation } from "../../protocols/c8y_json.ts";
import { C8Y_TOPICS, OPERATION_TEMPLATES } from "../../protocols/c8y_messages.ts";
import { SUPPORT_FRAGMENT } from "../../protocols/c8y_support.ts";
import type { OperationOutcome, OperationQueue } from "./operations.ts";
import type { C8ySupport } from "./support.ts";

/** What JSON operations need from their session. */
export interface JsonOperationsOptions {
  cloud: string;
  /** Fragment → command name (`[clouds.<name>.operations] commands`). */
  commands: Readonly<Record<string, string>>;
  handlers: HandlerRegistry;
  queue: OperationQueue;
  /** Present while support is on. */
  support?: C8ySupport;
  /** Where the statuses of an operation for `serial` go; undefined: nowhere. */
  statusTopic(serial: string | undefined): string | undefined;
  /** Notes a message nothing can be answered to (logged once per kind). */
  unanswerable(what: string, why: string): void;
  /** The reason an operation nobody serves fails with. */
  notSupported: string;
}

const STATIC_FRAGMENTS: ReadonlySet<string> = new Set(Object.values(OPERATION_TEMPLATES));
// Ids remembered against a second delivery (a resubscription sends the ones not forwarded yet).
const REMEMBERED = 1024;

const log = getLogger("c8y");

/** The JSON operations of one Cumulocity session. */
export class JsonOperations {
  #taken = new Set<string>();

  /** Answers operations with what `options` serves. */
  constructor(private readonly o: JsonOperationsOptions) {}

  /** One message from `devicecontrol/notifications`. */
  handle(payload: Uint8Array): void {
    let operation: C8yJsonOperation;
    try {
      operation = parseJsonOperation(payload);
    } catch (error) {
      this.o.unanswerable(
        `an unreadable message on ${C8Y_TOPICS.operations}`,
        (error as Error).message,
      );
      return;
    }
    const { id, status, serial, fragments } = operation;
    const names = Object.keys(fragments);
    if (status !== undefined && status !== "PENDING") {
      log.debug("Cloud {cloud}: operation {id} is {status}, not PENDING; ignored", {
        cloud: this.o.cloud,
        id,
        status,
      });
      return;
    }
    if (names.some((name) => STATIC_FRAGMENTS.has(name)) || this.#taken.has(id)) return;
    const topic = this.o.statusTopic(serial);
    if (!topic) {
      this.o.unanswerable(
        'an operation for a serial with "/", "+" or "#"',
        "such a serial cannot name the child topic to answer on",
      );
      return;
    }
    this.#take(id);
    const fragment = names.find((name) => this.#serves(name));
    const work = topic !== C8Y_TOPICS.up || fragment === undefined
      ? this.#refuse(id, serial, names)
      : () => this.#run(id, fragment, fragments[fragment]);
    void this.o.queue.submitById(id, work, { topic }).then((started) => {
      // Not started: still PENDING, so a later delivery may run it.
      if (!started) this.#taken.delete(id);
    });
  }

  #serves(fragment: string): boolean {
    if (fragment === SUPPORT_FRAGMENT) return this.o.support !== undefined;
    return Object.hasOwn(this.o.commands, fragment);
  }

  #refuse(id: string, serial: string | undefined, names: string[]) {
    log.warn("Cloud {cloud}: failing operation {id} ({fragments}{child}): not served here", {
      cloud: this.o.cloud,
      id,
      fragments: names.join(", ") || "no fragment",
      child: serial === undefined ? "" : ` for ${serial}`,
    });
    return (): Promise<OperationOutcome> =>
      Promise.resolve({ ok: false, reason: this.o.notSupported });
  }

  async #run(id: string, fragment: string, value: unknown): Promise<OperationOutcome> {
    const { cloud, handlers } = this.o;
    if (fragment === SUPPORT_FRAGMENT) return this.o.support!.deliver(value);
    const name = this.o.commands[fragment];
    const handler = handlers.commands.get(name);
    if (!handler) {
      return {
        ok: false,
        reason: `No onCommand handler for "${name}" (operation fragment ${fragment})`,
      };
    }
    log.info("Cloud {cloud}: operation {id} ({fragment}) runs command {name}", {
      cloud,
      id,
      fragment,
      name,
    });
    const result = await handler(value, { name, requestId: id, cloud });
    return { ok: true, params: resultParams(result) };
  }

  #take(id: string): void {
    this.#taken.add(id);
    if (this.#taken.size > REMEMBERED) {
      this.#taken.delete(this.#taken.values().next().value!);
    }
  }
}

/**
 * A command's result as the parameters of `506`: nothing for `undefined`
 * and `null`, a string as it is, anything else as its JSON text.
 *
 * @example
 * ```ts
 * resultParams("done"); // ["done"]
 * resultParams({ level: 3 }); // ['{"level":3}']
 * ```
 */
export function resultParams(result: unknown): string[] {
  if (result === undefined || result === null) return [];
  if (typeof result === "string") return [result];
  const text = JSON.stringify(result);
  return text === undefined ? [] : [text];
}
