import assert from "node:assert/strict";
import { configureLogging, getLogger, resetLogging } from "../../actors/runtime/logging.ts";
import { RepeatedErrors } from "../../actors/runtime/repeated_errors.ts";

Deno.test("an error repeated within the interval is counted, and the count is logged with the next one after it", async () => {
  const lines: string[] = [];
  await configureLogging({ level: "error", write: (line) => lines.push(line) });
  try {
    let now = 0;
    const errors = new RepeatedErrors(getLogger("test"), { intervalMs: 1000, now: () => now });
    const disk = new Error("database disk image is malformed");
    assert.equal(errors.error("Cannot store a {stream} record", { stream: "system" }, disk), true);
    for (let i = 0; i < 500; i++) {
      now += 1;
      errors.error("Cannot store a {stream} record", { stream: "system" }, disk);
    }
    assert.equal(lines.length, 1, "500 repeats within the interval log nothing more");
    // Another message, or another stream, is its own kind.
    errors.error("Cannot store a {stream} record", { stream: "gps" }, disk);
    assert.equal(lines.length, 2);
    now = 1500;
    assert.equal(errors.error("Cannot store a {stream} record", { stream: "system" }, disk), true);
    assert.equal(lines.length, 3);
    assert.match(
      lines[2],
      /Cannot store a "?system"? record: .*malformed \(and 500 more time\(s\)/,
    );
  } finally {
    await resetLogging();
  }
});
