/**
 * The two operations that run programs on the device: `510` restart (a
 * configured argv) and `511` shell (a command line from the cloud, run only
 * when its program is allowlisted). Both are off unless configured.
 *
 * No shell ever runs: the command line is split into an argv here, with
 * quotes and backslashes as a POSIX shell reads them, and anything a shell
 * would expand or interpret (`$`, `` ` ``, `;`, `|`, `&`, `<`, `>`,
 * globs) stays a literal character of an argument.
 */
import type { C8yRestart, C8yShell } from "./config.ts";
import type { OperationOutcome } from "./operations.ts";

/** A command line that cannot be split into an argv. */
export class CommandLineError extends Error {
  /** Builds the error; `message` says what was wrong. */
  constructor(message: string) {
    super(message);
    this.name = "CommandLineError";
  }
}

/**
 * Splits a command line into words: blanks separate words, `'…'` keeps
 * everything literally, `"…"` keeps everything but `\"`, `\\`, `\$` and
 * `` \` ``, and outside quotes a backslash makes the next character literal.
 *
 * @example
 * ```ts
 * splitCommandLine(`grep -c "a b" 'it''s'`); // ["grep", "-c", "a b", "its"]
 * ```
 * @throws {CommandLineError} for an unterminated quote, a trailing backslash, or no words.
 */
export function splitCommandLine(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let i = 0;
  const append = (text: string) => void (word = (word ?? "") + text);
  while (i < line.length) {
    const char = line[i];
    if (char === " " || char === "\t" || char === "\n" || char === "\r") {
      if (word !== undefined) words.push(word);
      word = undefined;
      i++;
    } else if (char === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) {
        throw new CommandLineError(`the single quote at column ${i + 1} is never closed`);
      }
      append(line.slice(i + 1, end));
      i = end + 1;
    } else if (char === '"') {
      let j = i + 1;
      let text = "";
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === "\\" && '"\\$`'.includes(line[j + 1] ?? "")) j++;
        text += line[j];
      }
      if (j >= line.length) {
        throw new CommandLineError(`the double quote at column ${i + 1} is never closed`);
      }
      append(text);
      i = j + 1;
    } else if (char === "\\") {
      if (i + 1 >= line.length) {
        throw new CommandLineError("the command line ends with a backslash");
      }
      append(line[i + 1]);
      i += 2;
    } else {
      append(char);
      i++;
    }
  }
  if (word !== undefined) words.push(word);
  if (words.length === 0) throw new CommandLineError("the command line is empty");
  return words;
}

/** What a finished program left behind. */
export interface CommandResult {
  /** Its exit code, or undefined when a signal ended it. */
  code: number | undefined;
  /** Standard output then standard error, as text. */
  output: string;
  /** True when it was killed for running past its time. */
  timedOut: boolean;
}

/**
 * Runs `argv` without a shell and collects its output; stops it (SIGTERM)
 * after `timeoutMs` or when `signal` aborts.
 *
 * @throws when the program cannot be started (not found, not executable).
 */
export async function runCommand(
  argv: readonly string[],
  options: { timeoutMs: number; signal?: AbortSignal },
): Promise<CommandResult> {
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal,
    }).output();
  } catch (error) {
    throw new Error(`Cannot run ${JSON.stringify(argv[0])}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const decoder = new TextDecoder();
  const text = decoder.decode(output.stdout) + decoder.decode(output.stderr);
  return {
    code: output.signal === null ? output.code : undefined,
    output: text,
    timedOut: timeout.aborted,
  };
}

/** `510`: runs the configured restart command; exit 0 is success. */
export async function restartOperation(
  restart: C8yRestart,
  signal?: AbortSignal,
): Promise<OperationOutcome> {
  const result = await runCommand(restart.command, {
    timeoutMs: restart.timeoutSec * 1000,
    signal,
  });
  if (result.code === 0) return { ok: true };
  return { ok: false, reason: `Restart command ${failure(result, restart.timeoutSec)}` };
}

/**
 * `511`: runs `commandLine` when its program is allowlisted; success answers
 * the output (`503,c8y_Command,<output>`), failure the exit status and output.
 */
export async function shellOperation(
  commandLine: string,
  shell: C8yShell,
  signal?: AbortSignal,
): Promise<OperationOutcome> {
  let argv: string[];
  try {
    argv = splitCommandLine(commandLine);
  } catch (error) {
    return { ok: false, reason: `Cannot run the command: ${(error as Error).message}` };
  }
  if (!shell.allow.includes(argv[0])) {
    return {
      ok: false,
      reason: `Command ${JSON.stringify(argv[0])} is not allowed on this device (allowed: ${
        shell.allow.length > 0 ? shell.allow.join(", ") : "none"
      })`,
    };
  }
  const result = await runCommand(argv, { timeoutMs: shell.timeoutSec * 1000, signal });
  if (result.code === 0) return { ok: true, params: [result.output] };
  const reason = `Command ${failure(result, shell.timeoutSec)}`;
  return { ok: false, reason: result.output === "" ? reason : `${reason}: ${result.output}` };
}

function failure(result: CommandResult, timeoutSec: number): string {
  if (result.timedOut) return `timed out after ${timeoutSec} s and was killed`;
  if (result.code === undefined) return "was ended by a signal";
  return `exited with code ${result.code}`;
}
