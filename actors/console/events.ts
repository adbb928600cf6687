/**
 * The console's event stream (server-sent events, `GET /api/events`): what
 * the page shows, pushed as it changes, so the page never polls.
 *
 * A new stream first gets the whole picture (`hello`, `tree`, `clouds`,
 * `history`, `tunnels`, `access`, `clients`, `logs`). After that:
 * `lifecycle` and a fresh `tree` as soon as an actor starts, exits,
 * restarts or stops (coalesced within one turn of the event loop); `access`
 * on every support event; `log` and `sample` as the recorder adds them;
 * and, once a second while a page is open, whichever of `tree` (state
 * values), `clouds`, `tunnels`, `clients` changed. Each event's data is one
 * JSON document.
 *
 * Owns: the open streams. Receives: lifecycle events and support events
 * through the control plane, lines and samples from the recorder. Sends:
 * events to every open stream. Lives inside the `http` actor.
 */
import type { ControlPlane } from "../agent/control_plane.ts";
import type { SystemEvent } from "../runtime/node.ts";
import type { LogLine } from "../runtime/logging.ts";
import type { ConsoleRecorder } from "./recorder.ts";

/** Options of {@link EventHub}. */
export interface EventHubOptions {
  plane: ControlPlane;
  recorder: ConsoleRecorder;
  /** `agent.deviceId`, for `hello`. */
  deviceId: string;
  /** Time between two checks for changes while a page is open. Default 1000. */
  tickMs?: number;
  /** Log lines sent to a new stream. Default 500. */
  logLines?: number;
}

// A page that stops reading is dropped before its backlog grows past this.
const MAX_BACKLOG_BYTES = 4 * 1024 * 1024;
const KEEPALIVE_MS = 15_000;
const encoder = new TextEncoder();

interface Stream {
  controller: ReadableStreamDefaultController<Uint8Array>;
  closed: boolean;
}

/** The open event streams and what feeds them. */
export class EventHub {
  readonly #o: EventHubOptions;
  readonly #streams = new Set<Stream>();
  readonly #unsubscribe: (() => void)[];
  // What every open stream was last sent of each view.
  #last = new Map<string, { key: string; text: string }>();
  #tick: ReturnType<typeof setInterval> | undefined;
  #burst: string[] = [];
  #logBatch: LogLine[] = [];
  #sinceKeepalive = 0;
  #closed = false;

  constructor(options: EventHubOptions) {
    this.#o = options;
    const { plane, recorder } = options;
    this.#unsubscribe = [
      plane.lifecycle((event) => this.#lifecycle(event)),
      plane.watchSupport({
        event: () => this.#publishIfChanged("access", () => plane.access(), true),
        canAnswer: () => this.#streams.size > 0,
      }),
      recorder.listen({
        log: (line) => this.#queueLog(line),
        sample: (cloud, sample) => this.#broadcast("sample", { cloud, sample }),
      }),
    ];
  }

  /** Open streams (pages). */
  get size(): number {
    return this.#streams.size;
  }

  /** A new stream, starting with the whole picture; cancelling it (the page left) ends it. */
  open(): ReadableStream<Uint8Array> {
    let stream!: Stream;
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        // Streams already open get what changed first, so all agree on #last.
        for (const [name, read] of this.#views()) this.#publishIfChanged(name, read, false);
        stream = { controller, closed: false };
        this.#streams.add(stream);
        this.#snapshot(stream);
        if (this.#closed) {
          this.#end(stream);
          return;
        }
        this.#tick ??= setInterval(() => this.#onTick(), this.#o.tickMs ?? 1000);
      },
      cancel: () => this.#drop(stream),
    }, { highWaterMark: MAX_BACKLOG_BYTES, size: (chunk) => chunk.byteLength });
    return body;
  }

  /** Ends every stream and stops listening. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    for (const stream of [...this.#streams]) this.#end(stream);
  }

  #snapshot(stream: Stream): void {
    const { plane, recorder, deviceId } = this.#o;
    const status = plane.status();
    this.#send(stream, "hello", { deviceId, version: status.version, at: Date.now() });
    // Fresh reads (uptimes); what changed was just sent to the other streams.
    for (const [name, read] of this.#views()) {
      const text = json(read());
      this.#last.set(name, { key: keyOf(name, text), text });
      this.#sendText(stream, name, text);
    }
    this.#send(stream, "status", status);
    this.#send(stream, "history", recorder.history());
    this.#send(stream, "logs", recorder.logs({ limit: this.#o.logLines ?? 500 }));
  }

  #views(): [string, () => unknown][] {
    const { plane } = this.#o;
    return [
      ["tree", () => plane.tree()],
      ["clouds", () => plane.clouds()],
      ["tunnels", () => plane.tunnels()],
      ["access", () => plane.access()],
      ["clients", () => clientsView(plane)],
    ];
  }

  #lifecycle(event: SystemEvent): void {
    if (this.#streams.size === 0) return;
    const { error, ...rest } = event as SystemEvent & { error?: unknown };
    const text = json({
      ...rest,
      ...(error === undefined
        ? {}
        : { error: error instanceof Error ? error.message : `${error}` }),
      at: Date.now(),
    });
    // A restart is a burst (exited, restarting, started): its events and the
    // tree after it leave in one write, so the page takes them in one go.
    this.#burst.push(`event: lifecycle\ndata: ${text}\n\n`);
    if (this.#burst.length > 1) return;
    queueMicrotask(() => {
      const events = this.#burst.join("");
      this.#burst = [];
      let tree = "";
      try {
        const treeText = json(this.#o.plane.tree());
        this.#last.set("tree", { key: keyOf("tree", treeText), text: treeText });
        tree = `event: tree\ndata: ${treeText}\n\n`;
      } catch {
        // the tree cannot be read (the system is stopping); the events still go
      }
      for (const stream of this.#streams) this.#write(stream, events + tree);
    });
  }

  #queueLog(line: LogLine): void {
    if (this.#streams.size === 0) return;
    // Lines come in bursts; one event per burst.
    if (this.#logBatch.push(line) > 1) return;
    queueMicrotask(() => {
      const lines = this.#logBatch;
      this.#logBatch = [];
      this.#broadcast("log", lines);
    });
  }

  #onTick(): void {
    for (const [name, read] of this.#views()) this.#publishIfChanged(name, read, false);
    this.#sinceKeepalive += this.#o.tickMs ?? 1000;
    if (this.#sinceKeepalive >= KEEPALIVE_MS) {
      this.#sinceKeepalive = 0;
      for (const stream of this.#streams) this.#write(stream, ": keepalive\n\n");
    }
  }

  /** Sends view `name` when it changed since last sent (or always, with `force`). */
  #publishIfChanged(name: string, read: () => unknown, force: boolean): void {
    if (this.#streams.size === 0) return;
    let text: string;
    try {
      text = json(read());
    } catch {
      return; // a part that is off or not running yet; the snapshot said so
    }
    const key = keyOf(name, text);
    if (!force && this.#last.get(name)?.key === key) return;
    this.#last.set(name, { key, text });
    for (const stream of this.#streams) this.#sendText(stream, name, text);
  }

  #broadcast(event: string, data: unknown): void {
    if (this.#streams.size === 0) return;
    const text = json(data);
    for (const stream of this.#streams) this.#sendText(stream, event, text);
  }

  #send(stream: Stream, event: string, data: unknown): void {
    this.#sendText(stream, event, json(data));
  }

  #sendText(stream: Stream, event: string, text: string): void {
    this.#write(stream, `event: ${event}\ndata: ${text}\n\n`);
  }

  #write(stream: Stream, text: string): void {
    if (stream.closed) return;
    if ((stream.controller.desiredSize ?? 0) <= 0) {
      this.#end(stream); // the page stopped reading; EventSource reconnects when it can
      return;
    }
    stream.controller.enqueue(encoder.encode(text));
  }

  #end(stream: Stream): void {
    if (stream.closed) return;
    this.#drop(stream);
    try {
      stream.controller.close();
    } catch {
      // already errored or cancelled by the client
    }
  }

  #drop(stream: Stream): void {
    stream.closed = true;
    this.#streams.delete(stream);
    if (this.#streams.size > 0) return;
    // Nobody watches: no ticks, so an idle console costs nothing.
    clearInterval(this.#tick);
    this.#tick = undefined;
  }
}

/** The clients view: the list, or why there is none. */
export function clientsView(plane: ControlPlane): { clients: unknown[] } | { unavailable: string } {
  try {
    return { clients: plane.clients() };
  } catch (error) {
    return { unavailable: (error as Error).message };
  }
}

// Uptimes change on every tick; a tree is "changed" only when something else did.
function keyOf(name: string, text: string): string {
  return name === "tree" ? text.replace(/"uptimeMs":\d+/g, "") : text;
}

function json(value: unknown): string {
  return JSON.stringify(value) ?? "null";
}
