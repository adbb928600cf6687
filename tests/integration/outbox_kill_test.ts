import assert from "node:assert/strict";
import { LineReader } from "../helpers/line_reader.ts";
import { openDatabase } from "../../actors/store/mod.ts";
import { Outbox } from "../../actors/telemetry/mod.ts";

const decoder = new TextDecoder();
const WRITER = new URL("../helpers/outbox_writer.ts", import.meta.url).pathname;

function writer(stateDir: string, count: number): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", WRITER, stateDir, String(count)],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
}

/** Sequence numbers reported by `committed <first> <n>` lines. */
function seqsOf(line: string): number[] {
  const match = /^committed (\d+) (\d+)$/.exec(line);
  assert.ok(match, `unexpected writer output: ${JSON.stringify(line)}`);
  const [first, n] = [Number(match[1]), Number(match[2])];
  return Array.from({ length: n }, (_, i) => first + i);
}

/** The seq of every record in the outbox, in id order. */
function storedSeqs(stateDir: string): number[] {
  const db = openDatabase(stateDir);
  const outbox = new Outbox(db);
  try {
    return outbox.peek("local", 0, Number.MAX_SAFE_INTEGER)
      .map((r) =>
        JSON.parse(typeof r.payload === "string" ? r.payload : decoder.decode(r.payload)).seq
      );
  } finally {
    outbox.close();
    db.close();
  }
}

function assertStrictlyIncreasing(seqs: number[]): void {
  for (let i = 1; i < seqs.length; i++) {
    assert.ok(seqs[i] > seqs[i - 1], `seq ${seqs[i]} at position ${i} follows ${seqs[i - 1]}`);
  }
}

Deno.test("records a writer reported committed survive its SIGKILL, in order, and seq never repeats", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "outpost_kill_" });
  try {
    const killed = writer(stateDir, 10_000_000);
    const lines = new LineReader(killed.stdout);
    const reported: number[] = [];
    try {
      while (reported.length < 2000) {
        const line = await lines.read();
        assert.ok(line !== undefined, "the writer ended before it was killed");
        reported.push(...seqsOf(line));
      }
    } finally {
      killed.kill("SIGKILL");
      await lines.cancel();
    }
    const status = await killed.status;
    assert.equal(status.signal, "SIGKILL");

    const afterKill = storedSeqs(stateDir);
    assert.ok(afterKill.length >= reported.length);
    assert.deepEqual(
      afterKill.slice(0, reported.length),
      reported,
      "every reported record is there, first and in order",
    );
    assertStrictlyIncreasing(afterKill);

    const second = writer(stateDir, 120);
    const secondLines = new LineReader(second.stdout);
    const secondReported: number[] = [];
    for (let line = await secondLines.read(); line !== "done"; line = await secondLines.read()) {
      assert.ok(line !== undefined, "the second writer ended without finishing");
      secondReported.push(...seqsOf(line));
    }
    await secondLines.cancel();
    assert.equal((await second.status).code, 0);

    assert.equal(secondReported.length, 120);
    assert.ok(
      secondReported[0] > afterKill.at(-1)!,
      `the second run starts at ${secondReported[0]}, above ${afterKill.at(-1)}`,
    );
    const all = storedSeqs(stateDir);
    assert.deepEqual(all, [...afterKill, ...secondReported]);
    assertStrictlyIncreasing(all);
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});
