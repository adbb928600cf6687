/**
 * `c8y_Configuration` as the embedding app's desired state (docs/c8y.md):
 * the text of a `513,<serial>,<configuration>` is one JSON object, handed to
 * the `onDesired` handlers with a version this cloud counts; what they
 * applied becomes the device's configuration on the platform
 * (`113,<configuration>`), ahead of the operation's `503`.
 *
 * Documents apply one at a time, in arrival order, each with the next
 * version; the counter is kept in a state file, so versions keep growing
 * across runs. A version is used up by every document that reaches the
 * handlers, applied or not.
 *
 * Owned by the Cumulocity session (not an actor).
 */
import { getLogger } from "../runtime/logging.ts";
import type { HandlerRegistry } from "../cloud/handlers.ts";
import { configuration } from "../../protocols/c8y_messages.ts";
import { parseConfigurationText } from "../../protocols/c8y_json.ts";
import { SMARTREST_PAYLOAD_LIMIT, utf8Length } from "../../protocols/smartrest.ts";
import type { OperationOutcome } from "./operations.ts";

/** What the desired configuration needs from its session. */
export interface DesiredConfigurationOptions {
  /** The cloud's name, for logs and the handlers' context. */
  cloud: string;
  handlers: HandlerRegistry;
  /** The state file of the version counter (`<stateDir>/c8y-<name>.configuration.json`). */
  file: string;
  /** Queues a line on `s/us` ahead of the operation's outcome. */
  report(line: string): void;
}

const log = getLogger("c8y");

/** The desired state of one Cumulocity cloud. */
export class DesiredConfiguration {
  #version: Promise<number> | undefined;
  #tail: Promise<unknown> = Promise.resolve();

  /** Reads nothing yet: the counter is loaded by the first document. */
  constructor(private readonly o: DesiredConfigurationOptions) {}

  /** Whether an `onDesired` handler would see a document now. */
  get served(): boolean {
    return this.o.handlers.desired.size > 0;
  }

  /**
   * Applies one configuration text after the documents before it; a text
   * that is not a JSON object, or a handler that throws, is a failure with
   * the reason.
   */
  apply(text: string): Promise<OperationOutcome> {
    const done = this.#tail.then(() => this.#apply(text));
    this.#tail = done.catch(() => {});
    return done;
  }

  async #apply(text: string): Promise<OperationOutcome> {
    const { cloud } = this.o;
    const desired = parseConfigurationText(text);
    const version = (await this.#current()) + 1;
    this.#version = Promise.resolve(version);
    await this.#store(version);
    let applied: Record<string, unknown>;
    try {
      applied = await this.o.handlers.applyDesired(desired, version);
    } catch (error) {
      throw new Error(
        `Configuration version ${version} failed: ${
          error instanceof Error ? error.message : String(error)
        }`,
      );
    }
    log.info("Cloud {cloud}: applied configuration version {version} ({keys})", {
      cloud,
      version,
      keys: Object.keys(applied).join(", ") || "no keys",
    });
    const line = configuration(JSON.stringify(applied, null, 2));
    if (utf8Length(line) <= SMARTREST_PAYLOAD_LIMIT) this.o.report(line);
    else {
      log.warn(
        "Cloud {cloud}: configuration version {version} is applied but too long to report (113 over {limit} bytes)",
        { cloud, version, limit: SMARTREST_PAYLOAD_LIMIT },
      );
    }
    return { ok: true };
  }

  #current(): Promise<number> {
    return this.#version ??= Deno.readTextFile(this.o.file).then(
      (text) => {
        const version = JSON.parse(text).version;
        if (!Number.isSafeInteger(version) || version < 0) {
          throw new Error(`"version" is ${JSON.stringify(version)}, not a whole number`);
        }
        return version as number;
      },
    ).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) {
        log.warn("Cloud {cloud}: cannot read {file}, counting versions from 0: {error}", {
          cloud: this.o.cloud,
          file: this.o.file,
          error: (error as Error).message,
        });
      }
      return 0;
    });
  }

  // Written whole to a temporary file and renamed: a crash leaves the old count or the new.
  async #store(version: number): Promise<void> {
    const temporary = `${this.o.file}.tmp`;
    try {
      await Deno.writeTextFile(temporary, JSON.stringify({ version }) + "\n");
      await Deno.rename(temporary, this.o.file);
    } catch (error) {
      log.warn("Cloud {cloud}: cannot keep configuration version {version} in {file}: {error}", {
        cloud: this.o.cloud,
        version,
        file: this.o.file,
        error: (error as Error).message,
      });
    }
  }
}
