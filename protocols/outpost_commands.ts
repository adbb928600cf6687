/**
 * How a command on Outpost's topics is answered (PROTOCOLS.md §0), the same
 * on every cloud that carries them (a generic cloud, AWS IoT Core):
 *
 * ```
 * <base>/commands/<name>/<requestId>     any JSON (empty: null)     cloud → device
 * <base>/responses/<name>/<requestId>    {"status":…,"body":…}      device → cloud
 * ```
 *
 * | case                              | status | body                         |
 * | --------------------------------- | ------ | ---------------------------- |
 * | the payload is not UTF-8 JSON     | 400    | `{"error":"<what is wrong>"}` |
 * | no handler for `<name>`           | 404    | `{"error":"Unknown command \"<name>\""}` |
 * | the handler throws                | 500    | `{"error":"<its message>"}`  |
 * | the handler returns `v`           | 200    | `v` (`null` when undefined)  |
 *
 * Pure apart from the handler it is given: the caller decides which handler
 * a name has and publishes the encoded answer.
 */
import { decodeCommandPayload, encodeResponse } from "./outpost_topics.ts";

/** The answer to one command. */
export interface CommandAnswer {
  /** HTTP-like: 200, 400, 404 or 500. */
  status: number;
  /** The handler's result, or `{error}`. */
  body: unknown;
}

/** Runs the handler of one command on its decoded input; what it returns is the 200 body. */
export type CommandRunner = (input: unknown) => unknown;

/**
 * Answers command `name` with raw `payload` by running `handler` (undefined:
 * nobody handles `name`). Never rejects: every failure is an answer.
 *
 * @example
 * ```ts
 * await answerCommand("reboot", "{}", () => ({ rebooting: true })); // {status: 200, body: {rebooting: true}}
 * await answerCommand("reboot", "{", () => 1); // {status: 400, body: {error: "command payload: invalid JSON: …"}}
 * await answerCommand("nope", "", undefined); // {status: 404, body: {error: 'Unknown command "nope"'}}
 * ```
 */
export async function answerCommand(
  name: string,
  payload: Uint8Array | string,
  handler: CommandRunner | undefined,
): Promise<CommandAnswer> {
  let input: unknown;
  try {
    input = decodeCommandPayload(payload);
  } catch (error) {
    return { status: 400, body: { error: (error as Error).message } };
  }
  if (!handler) return { status: 404, body: { error: `Unknown command "${name}"` } };
  try {
    return { status: 200, body: (await handler(input)) ?? null };
  } catch (error) {
    return {
      status: 500,
      body: { error: error instanceof Error ? error.message : String(error) },
    };
  }
}

/**
 * `{"status":…,"body":…}`: the payload of an answer on
 * `…/responses/<name>/<requestId>`. A body JSON cannot carry (a BigInt, a
 * cycle) becomes a 500 saying so, so every command gets an answer.
 */
export function encodeAnswer(answer: CommandAnswer): string {
  try {
    return encodeResponse(answer.status, answer.body);
  } catch (error) {
    // JSON.stringify throws a TypeError for a cycle or a BigInt; a bad status is a bug.
    if (!(error instanceof TypeError)) throw error;
    return encodeResponse(500, {
      error: `The command's result cannot be sent as JSON: ${(error as Error).message}`,
    });
  }
}
