/**
 * Publishes SmartREST lines on a link, QoS 1, in the order they were queued,
 * without waiting for one PUBACK before sending the next: on one connection
 * the MQTT client writes QoS 1 publishes in the order it is given them, so
 * the broker reads them in queue order, and fifty tunnels' `503`s leave
 * together instead of one round trip apart.
 *
 * A line stays queued until its PUBACK. When the connection drops, every
 * line without one is sent again, in queue order and ahead of newer lines,
 * once the link is back (so an operation is not left EXECUTING for good).
 * Owned by the operation queue of a Cumulocity session; not an actor.
 */
import type { MqttLink } from "../mqtt/link.ts";
import { getLogger } from "../runtime/logging.ts";

const log = getLogger("c8y");

// Tries per line; a line the broker keeps refusing is logged and dropped.
const MAX_ATTEMPTS = 5;

interface Entry {
  topic: string;
  line: string;
  attempts: number;
  inFlight: boolean;
  settle: (acknowledged: boolean) => void;
}

/**
 * One FIFO of lines for one link.
 *
 * @example
 * ```ts
 * const out = new OrderedPublisher(link, { cloud: "c8y" });
 * out.publish("s/us", "501,c8y_Restart"); // sent now
 * await out.publish("s/us", "503,c8y_Restart"); // sent now too; resolves true on its PUBACK
 * ```
 */
export class OrderedPublisher {
  #queue: Entry[] = [];
  #closed = false;
  #stopListening: () => void;

  /** A publisher on `link`; `cloud` names the cloud in logs. */
  constructor(private readonly link: MqttLink, private readonly options: { cloud: string }) {
    this.#stopListening = link.onStatus((up) => up && this.#pump());
  }

  /**
   * Queues `line` for `topic` behind every line queued before it and sends
   * it as soon as the link is up. Resolves true on its PUBACK, false when it
   * was dropped or the publisher closed first; never rejects.
   */
  publish(topic: string, line: string): Promise<boolean> {
    if (this.#closed) {
      this.#notSent(line);
      return Promise.resolve(false);
    }
    return new Promise((settle) => {
      this.#queue.push({ topic, line, attempts: 0, inFlight: false, settle });
      this.#pump();
    });
  }

  /** Stops publishing; lines not yet acknowledged resolve false. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopListening();
    for (const entry of this.#queue.splice(0)) {
      this.#notSent(entry.line);
      entry.settle(false);
    }
  }

  // Sends every queued line that is not on its way, in queue order.
  #pump(): void {
    if (this.#closed || !this.link.connected) return;
    for (const entry of this.#queue) {
      if (!entry.inFlight) this.#send(entry);
    }
  }

  #send(entry: Entry): void {
    entry.inFlight = true;
    entry.attempts++;
    this.link.publish(entry.topic, entry.line, { qos: 1 }).then(
      () => this.#acknowledged(entry),
      (error) => this.#failed(entry, error),
    );
  }

  #acknowledged(entry: Entry): void {
    if (!this.#remove(entry)) return;
    log.debug("Cloud {cloud}: operation status {status} sent", {
      cloud: this.options.cloud,
      status: head(entry.line),
    });
    entry.settle(true);
  }

  #failed(entry: Entry, error: unknown): void {
    if (this.#closed) return;
    const { cloud } = this.options;
    entry.inFlight = false;
    if (entry.attempts >= MAX_ATTEMPTS) {
      this.#remove(entry);
      log.error(
        "Cloud {cloud}: dropped operation status {status} after {attempts} tries: {error}",
        {
          cloud,
          status: head(entry.line),
          attempts: entry.attempts,
          error,
        },
      );
      entry.settle(false);
      return;
    }
    log.warn("Cloud {cloud}: publishing operation status {status} failed, will retry: {error}", {
      cloud,
      status: head(entry.line),
      error,
    });
    // A dropped connection fails its publishes before the link reports it down, so
    // by now the link is down and the line waits, with the lines behind it, for the
    // next connect. A publish refused on a live connection is sent again at once,
    // behind lines already on their way: rare enough to accept that reordering.
    this.#pump();
  }

  #remove(entry: Entry): boolean {
    const index = this.#queue.indexOf(entry);
    if (index < 0) return false;
    this.#queue.splice(index, 1);
    return true;
  }

  #notSent(line: string): void {
    log.warn("Cloud {cloud}: operation status {status} not sent: the session stopped", {
      cloud: this.options.cloud,
      status: head(line),
    });
  }
}

// Logs show the template and fragment, never a reason or output that may hold anything.
function head(line: string): string {
  return line.split(",", 2).join(",");
}
