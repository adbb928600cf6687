/**
 * The single-file bundle is how Outpost ships where `deno compile` cannot
 * fetch its runtime (see ARCHITECTURE.md "Platform notes"). These tests
 * build a bundle and run it from an empty directory, so any import that
 * escaped the bundle (a file next to the source, an uncached npm package)
 * makes them fail.
 */
import assert from "node:assert/strict";

const repoRoot = new URL("../../", import.meta.url);

/** Long enough for a cold `deno bundle`; a hung child fails instead of stalling CI. */
const deadlineMs = 30_000;

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `deno <args>` in `cwd` and kills it if it outlives the deadline. */
async function runDeno(args: string[], cwd: string | URL): Promise<RunResult> {
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), deadlineMs);
  try {
    const output = await new Deno.Command(Deno.execPath(), {
      args,
      cwd,
      stdin: "null",
      env: { NO_COLOR: "1" },
      signal: deadline.signal,
    }).output();
    const decoder = new TextDecoder();
    const result = {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
    assert.ok(
      !deadline.signal.aborted,
      `deno ${args.join(" ")} ran longer than ${deadlineMs} ms and was killed\n` +
        `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`,
    );
    return result;
  } finally {
    // A timer left running would trip the op sanitizer.
    clearTimeout(timer);
  }
}

/** Asserts that each pattern matches a line of `text`, each one below the last. */
function assertLinesInOrder(text: string, patterns: RegExp[]): void {
  const lines = text.split("\n");
  let from = 0;
  for (const pattern of patterns) {
    const index = lines.findIndex((line, i) => i >= from && pattern.test(line));
    assert.ok(
      index >= 0,
      `Expected a line matching ${pattern} after line ${from} of the output:\n${text}`,
    );
    from = index + 1;
  }
}

Deno.test("the custom_actor example bundles into one file that runs from an empty directory", async () => {
  const buildDir = await Deno.makeTempDir({ prefix: "outpost_bundle_" });
  const runDir = await Deno.makeTempDir({ prefix: "outpost_bundle_run_" });
  try {
    const bundlePath = `${buildDir}/custom_actor.js`;
    const build = await runDeno(
      ["bundle", "--quiet", "--output", bundlePath, "examples/custom_actor.ts"],
      repoRoot,
    );
    assert.equal(build.code, 0, `deno bundle failed:\n${build.stderr}`);
    // Deno would fetch a leftover npm:/jsr:/https: import at run time from its
    // cache, so the empty directory alone cannot prove the bundle is whole.
    const bundle = await Deno.readTextFile(bundlePath);
    assert.doesNotMatch(bundle, /\b(from|import)\s*\(?\s*["'](npm|jsr|https?):/);

    // npm:mqtt's stream library reads an environment variable when loaded.
    const run = await runDeno(["run", "--allow-env", bundlePath], runDir);
    assert.equal(
      run.code,
      0,
      `The bundle exited with ${run.code}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`,
    );
    assertLinesInOrder(run.stdout, [
      /^Tree before the crash:$/,
      /^\s*app\/sensor \[worker\] running .*restarts=0$/,
      /crashed: sensor returned garbage/,
      /^Tree after the crash:$/,
      /^\s*app\/sensor \[worker\] running .*restarts=1$/,
    ]);
  } finally {
    await Deno.remove(buildDir, { recursive: true });
    await Deno.remove(runDir, { recursive: true });
  }
});
