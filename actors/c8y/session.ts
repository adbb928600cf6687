/**
 * The session of a Cumulocity device on top of its link (PROTOCOLS.md §1):
 * what the device says on every connect (the lines: announcement.ts), and
 * the operations the platform sends it.
 *
 * Owns: the subscriptions to `s/ds`, `s/e` (and `s/dc/<X-ID>` in legacy
 * mode; `devicecontrol/notifications` and `error` when commands are
 * configured or support is on), the operation queue (statuses in arrival
 * order per fragment) and the programs operations run. Receives: SmartREST
 * lines and JSON operations on those topics, link status changes. Sends: on
 * every connect `100`, `110`, `114` (only what is served), `117` (when
 * configured), `150` (with remote access) and `500`; `501` and then
 * `503`/`502` for every static-template operation, after running it (510
 * restart, 511 shell), applying it (513 configuration → the `onDesired`
 * handlers, configuration.ts) or handing it over (530 remote access → a
 * tunnel under `tunnels`); `504` and then `506`/`505` for JSON operations
 * (json_operations.ts: `onCommand` handlers, support); every other operation
 * (another static template, one not enabled, a malformed one, one for a
 * child device on `s/us/<child>`) is failed with its reason, since the
 * platform keeps it PENDING until it hears. A line with no fragment to
 * answer under is logged once per kind and counted. Supervised by: its
 * cloud's `rest_for_one` supervisor, after the connection (and token),
 * before the tunnels.
 */
import { fromCallback } from "xstate";
import { holdSubscriptions, type MqttLink } from "../mqtt/link.ts";
import { getLogger } from "../runtime/logging.ts";
import type { ActorLogic } from "../runtime/spec.ts";
import type { HandlerRegistry } from "../cloud/handlers.ts";
import type { SupportChannel } from "../cloud/support.ts";
import type { C8yCloudConfig } from "./config.ts";
import { decodeMessage, packLines, templateIdOf } from "../../protocols/smartrest.ts";
import { topicNameProblem } from "../../protocols/mqtt_topic.ts";
import {
  C8Y_TOPICS,
  C8yMessageError,
  type C8yOperation,
  type C8yUnknownMessage,
  FRAGMENTS,
  parseDownstream,
  parseServerError,
} from "../../protocols/c8y_messages.ts";
import { describeJsonError } from "../../protocols/c8y_json.ts";
import { announcementLines, enabledOperations, type Served } from "./announcement.ts";
import { type OperationOutcome, OperationQueue } from "./operations.ts";
import { restartOperation, shellOperation } from "./commands.ts";
import { DesiredConfiguration } from "./configuration.ts";
import { JsonOperations } from "./json_operations.ts";
import { C8ySupport } from "./support.ts";
import { UnanswerableLines } from "./unanswerable.ts";

/** A `530` (or `da600`) that parsed: where to dial and the key of the platform's side. */
export interface RemoteAccessRequest {
  host: string;
  port: number;
  connectionKey: string;
}

/** What a Cumulocity session needs. */
export interface C8ySessionOptions {
  cloud: string;
  link: MqttLink;
  config: C8yCloudConfig;
  /** Opens a tunnel; resolves when it is up or failed. Absent: remote access is off. */
  remoteAccess?: (request: RemoteAccessRequest) => Promise<OperationOutcome>;
  /** The embedding app's handlers: commands (custom operations) and desired state (513). */
  handlers: HandlerRegistry;
  /** Where the version of the desired configuration is kept. */
  configurationFile: string;
  /** The support modules; reached with `operations.support`. */
  support?: SupportChannel;
}

/** The reason every operation this agent does not do is failed with. */
export const NOT_SUPPORTED = "Operation not supported by this agent";

const log = getLogger("c8y");

/** The session actor's logic, for `child("session", c8ySession(...))`. */
export function c8ySession(options: C8ySessionOptions): ActorLogic {
  return fromCallback(() => {
    const session = new C8ySession(options);
    session.start();
    return () => session.stop();
  });
}

class C8ySession {
  #queue: OperationQueue;
  #unanswerable: UnanswerableLines;
  #desired: DesiredConfiguration;
  #support: C8ySupport | undefined;
  #json: JsonOperations;
  #abort = new AbortController();
  #cleanups: (() => void)[] = [];

  constructor(private readonly o: C8ySessionOptions) {
    const { cloud, link, config, handlers } = o;
    this.#queue = new OperationQueue(link, { cloud });
    this.#unanswerable = new UnanswerableLines(cloud);
    this.#desired = new DesiredConfiguration({
      cloud,
      handlers,
      file: o.configurationFile,
      report: (line) => void this.#queue.report(line),
    });
    if (config.operations.support && o.support) {
      this.#support = new C8ySupport({ cloud, link, channel: o.support });
    }
    this.#json = new JsonOperations({
      cloud,
      commands: config.operations.commands,
      handlers,
      queue: this.#queue,
      support: this.#support,
      statusTopic: (serial) => this.#statusTopic(serial),
      unanswerable: (what, why) => this.#unanswerable.note(what, why),
      notSupported: NOT_SUPPORTED,
    });
  }

  start(): void {
    const { link, config } = this.o;
    this.#cleanups.push(link.onStatus((connected) => connected && this.#announce()));
    const downstream = (payload: Uint8Array, topic: string) => this.#onDownstream(payload, topic);
    const filters: [string, (payload: Uint8Array, topic: string) => void][] = [
      [C8Y_TOPICS.errors, (payload) => this.#onErrors(payload)],
      [C8Y_TOPICS.down, downstream],
    ];
    if (config.legacyTemplateXid) {
      filters.push([C8Y_TOPICS.legacy(config.legacyTemplateXid), downstream]);
    }
    // JSON operations double what s/ds delivers: subscribed only when something needs them.
    if (Object.keys(config.operations.commands).length > 0 || this.#support) {
      filters.push(
        [C8Y_TOPICS.operations, (payload) => this.#json.handle(payload)],
        [C8Y_TOPICS.jsonErrors, (payload) => this.#onJsonError(payload)],
      );
    }
    this.#support?.start();
    this.#cleanups.push(
      holdSubscriptions(
        link,
        filters.map(([filter, handle]) => [filter, (m) => handle(m.payload, m.topic)]),
      ),
      () => this.#support?.stop(),
    );
    this.#warnUnmatchedCommands();
    if (link.connected) this.#announce();
  }

  stop(): void {
    this.#abort.abort();
    this.#queue.close();
    for (const cleanup of this.#cleanups) cleanup();
  }

  #served(): Served {
    const { handlers } = this.o;
    return {
      remoteAccess: this.o.remoteAccess !== undefined,
      desired: this.#desired.served,
      commands: new Set(handlers.commands.keys()),
      support: this.#support !== undefined,
    };
  }

  #announce(): void {
    const { cloud, config, link } = this.o;
    const served = this.#served();
    for (const payload of packLines(announcementLines(config, served))) {
      link.publish(C8Y_TOPICS.up, payload, { qos: 1 }).catch((error) =>
        log.warn("Cloud {cloud}: announcing the device failed: {error}", { cloud, error })
      );
    }
    log.info("Cloud {cloud}: announced device {serial} with operations {operations}", {
      cloud,
      serial: config.serial,
      operations: enabledOperations(config, served).join(", ") || "none",
    });
  }

  // A handler no fragment reaches, or a fragment without its handler, is a mistake
  // the operator would otherwise learn of from a failed operation, or never.
  #warnUnmatchedCommands(): void {
    const { cloud, config, handlers } = this.o;
    const configured = new Set(Object.values(config.operations.commands));
    const unreached = [...handlers.commands.keys()].filter((name) => !configured.has(name));
    if (unreached.length > 0) {
      log.warn(
        "Cloud {cloud}: onCommand handlers {names} are reached by no operation fragment; map them in [clouds.{cloud}.operations] commands",
        { cloud, names: unreached.join(", ") },
      );
    }
    const missing = Object.entries(config.operations.commands)
      .filter(([, name]) => !handlers.commands.has(name))
      .map(([fragment, name]) => `${fragment} → ${name}`);
    if (missing.length > 0) {
      log.warn(
        "Cloud {cloud}: operation fragments {fragments} have no onCommand handler yet; they are not announced",
        { cloud, fragments: missing.join(", ") },
      );
    }
  }

  #onJsonError(payload: Uint8Array): void {
    log.warn("Cloud {cloud}: the platform reported on error: {error}", {
      cloud: this.o.cloud,
      error: describeJsonError(payload),
    });
  }

  #onErrors(payload: Uint8Array): void {
    let lines: string[][];
    try {
      lines = decodeMessage(payload);
    } catch (error) {
      log.warn("Cloud {cloud}: unreadable message on s/e: {error}", {
        cloud: this.o.cloud,
        error: (error as Error).message,
      });
      return;
    }
    for (const fields of lines) {
      const { code, templateId, message } = parseServerError(fields);
      log.warn(
        "Cloud {cloud}: the platform reported error {code} for template {templateId}: {message}",
        {
          cloud: this.o.cloud,
          code,
          templateId,
          message,
        },
      );
    }
  }

  #onDownstream(payload: Uint8Array, topic: string): void {
    let lines: string[][];
    try {
      lines = decodeMessage(payload);
    } catch (error) {
      this.#unanswerable.note(`an unreadable message on ${topic}`, (error as Error).message);
      return;
    }
    for (const fields of lines) this.#dispatch(fields);
  }

  #dispatch(fields: string[]): void {
    const { cloud } = this.o;
    let operation: C8yOperation | C8yUnknownMessage;
    try {
      operation = parseDownstream(fields);
    } catch (error) {
      if (!(error instanceof C8yMessageError)) throw error;
      const topic = error.fragment && this.#statusTopic(fields[1]);
      if (!error.fragment || !topic) {
        this.#unanswerable.note(
          `a line of template "${templateIdOf(fields[0] ?? "")}"`,
          error.message,
        );
        return;
      }
      log.warn("Cloud {cloud}: {error}", { cloud, error: error.message });
      void this.#queue.fail(error.fragment, error.message, { topic });
      return;
    }
    if (operation.kind === "unknown") {
      this.#unanswerable.note(
        `a line of template "${templateIdOf(operation.templateId)}"`,
        "not an operation template Outpost knows, so there is no fragment to answer under",
      );
      return;
    }
    const fragment = operation.kind === "other" ? operation.fragment : FRAGMENTS[operation.kind];
    const topic = this.#statusTopic(operation.serial);
    if (!topic) {
      this.#unanswerable.note(
        `a ${fragment} operation for a serial with "/", "+" or "#"`,
        "such a serial cannot name the child topic to answer on",
      );
      return;
    }
    if (topic !== C8Y_TOPICS.up) {
      // Routed here because this device is its parent; nobody else will answer it.
      log.warn("Cloud {cloud}: failing a {fragment} operation for child device {serial}", {
        cloud,
        fragment,
        serial: operation.serial,
      });
      void this.#queue.fail(fragment, NOT_SUPPORTED, { topic });
      return;
    }
    if (this.#run(operation)) return;
    log.warn(
      "Cloud {cloud}: {fragment} (template {templateId}) is not done by this agent; failing it",
      {
        cloud,
        fragment,
        templateId: fields[0],
      },
    );
    void this.#queue.fail(fragment, NOT_SUPPORTED);
  }

  // Starts an operation this agent does and returns true, or returns false.
  #run(operation: C8yOperation): boolean {
    const { cloud, config } = this.o;
    const signal = this.#abort.signal;
    switch (operation.kind) {
      case "restart":
        if (!config.restart.enabled) return false;
        log.info("Cloud {cloud}: restart requested", { cloud });
        void this.#queue.submit(FRAGMENTS.restart, () => restartOperation(config.restart, signal));
        return true;
      case "shell":
        if (!config.shell.enabled) return false;
        void this.#queue.submit(
          FRAGMENTS.shell,
          () => shellOperation(operation.command, config.shell, signal),
        );
        return true;
      case "configuration":
        if (!this.#desired.served) return false;
        void this.#queue.submit(
          FRAGMENTS.configuration,
          () => this.#desired.apply(operation.text),
        );
        return true;
      case "remoteAccess": {
        const open = this.o.remoteAccess;
        if (!open) return false;
        const { host, port, connectionKey } = operation;
        log.info("Cloud {cloud}: remote access to {host}:{port} requested", { cloud, host, port });
        void this.#queue.submit(FRAGMENTS.remoteAccess, () => open({ host, port, connectionKey }));
        return true;
      }
      default:
        return false;
    }
  }

  // Where the statuses of an operation for `serial` go: this device's topic, a
  // child's, or undefined when the serial cannot name a topic.
  #statusTopic(serial: string | undefined): string | undefined {
    if (serial === undefined || serial === "" || serial === this.o.config.serial) {
      return C8Y_TOPICS.up;
    }
    const topic = C8Y_TOPICS.childUp(serial);
    return serial.includes("/") || topicNameProblem(topic) ? undefined : topic;
  }
}
