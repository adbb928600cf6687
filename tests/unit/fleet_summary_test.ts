import assert from "node:assert/strict";
import {
  type FleetStats,
  formatFinal,
  formatSummary,
  type SummaryOutput,
  SummaryPrinter,
} from "../../actors/fleet/summary.ts";

const stats = (over: Partial<FleetStats> = {}): FleetStats => ({
  devices: 1000,
  started: 1000,
  connected: 998,
  down: 0,
  produced: 5000,
  delivered: 4990,
  queued: 10,
  dropped: 0,
  errors: 2,
  restarts: 1,
  uptimeMs: 50_000,
  ...over,
});

function output(terminal: boolean): SummaryOutput & { text(): string } {
  const chunks: Uint8Array[] = [];
  return {
    isTerminal: () => terminal,
    writeSync(bytes) {
      chunks.push(bytes.slice());
      return bytes.length;
    },
    text: () => chunks.map((c) => new TextDecoder().decode(c)).join(""),
  };
}

Deno.test("the summary line: connected of all, records/s, queued, errors, restarts", () => {
  assert.equal(
    formatSummary(stats(), 99.84),
    "fleet: 998/1000 connected | 99.8 records/s | 10 queued | 2 errors | 1 restarts",
  );
  assert.equal(
    formatSummary(stats({ started: 400, connected: 390, down: 7, dropped: 3 }), 0),
    "fleet: 390/1000 connected (400 started) (7 down by churn) | 0.0 records/s | 10 queued | " +
      "3 dropped | 2 errors | 1 restarts",
  );
});

Deno.test("the final line: how long, how many devices, delivered and its average rate", () => {
  assert.equal(
    formatFinal(stats()),
    "fleet stopped after 50 s: 1000 of 1000 devices ran, 4990 records delivered (99.8/s), " +
      "5000 produced, 10 queued, 0 dropped, 2 errors, 1 restarts",
  );
});

Deno.test("not on a terminal, each summary is a line of its own", () => {
  const out = output(false);
  const printer = new SummaryPrinter(() => stats(), { everyMs: 60_000, out });
  printer.print();
  printer.print();
  printer.stop("SIGTERM: stopping");
  printer.final(stats());
  const lines = out.text().split("\n");
  assert.equal(lines.length, 5);
  assert.match(lines[0], /^fleet: 998\/1000 connected/);
  assert.equal(lines[2], "SIGTERM: stopping");
  assert.match(lines[3], /^fleet stopped after/);
  assert.ok(!out.text().includes("\r"));
});

Deno.test("on a terminal, one line is rewritten in place and closed before other text", () => {
  const out = output(true);
  let delivered = 0;
  const printer = new SummaryPrinter(() => stats({ delivered }), { everyMs: 60_000, out });
  printer.print();
  delivered = 100;
  printer.print();
  printer.stop("bye");
  const text = out.text();
  assert.equal(text.split("\r\x1b[2K").length, 3, "two summaries, each rewriting the line");
  assert.ok(!text.includes("\n\r"), "no line break between two summaries");
  assert.ok(text.endsWith("\nbye\n"));
});
