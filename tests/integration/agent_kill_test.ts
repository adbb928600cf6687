/**
 * The agent's promise end to end: a record whose `publish` resolved reaches
 * the cloud even when the agent is killed with SIGKILL while offline. The
 * agent runs in a child process (tests/helpers/agent_writer.ts) so it can
 * be killed for real; the restarted agent runs in this process.
 */
import assert from "node:assert/strict";
import { LineReader } from "../helpers/line_reader.ts";
import { startAedes } from "../helpers/brokers.ts";
import { observe } from "../helpers/mqtt_observer.ts";
import { testAgent } from "../helpers/agent.ts";

const WRITER = new URL("../helpers/agent_writer.ts", import.meta.url).pathname;
const TOPIC = "outpost/dev-1/telemetry/kill";
const KILL_AFTER = 300;

/** A record the writer reported committed: its seq and the `i` it carried. */
interface Committed {
  seq: number;
  i: number;
}

function parseCommitted(line: string): Committed {
  const match = /^committed (\d+) (\d+)$/.exec(line);
  assert.ok(match, `unexpected writer output: ${JSON.stringify(line)}`);
  return { seq: Number(match[1]), i: Number(match[2]) };
}

/** Reads `committed` lines until there are `count`, or rejects at the deadline. */
async function readCommitted(
  lines: LineReader,
  options: { count: number; deadlineMs: number },
): Promise<Committed[]> {
  const committed: Committed[] = [];
  const late = Promise.withResolvers<never>();
  const timer = setTimeout(
    () =>
      late.reject(
        new Error(
          `the writer reported ${committed.length} of ${options.count} committed records within ${options.deadlineMs} ms`,
        ),
      ),
    options.deadlineMs,
  );
  try {
    while (committed.length < options.count) {
      const line = await Promise.race([lines.read(), late.promise]);
      assert.ok(line !== undefined, "the writer ended before it was killed");
      committed.push(parseCommitted(line));
    }
  } finally {
    clearTimeout(timer);
  }
  return committed;
}

Deno.test("records an agent committed while offline all reach the cloud after it was SIGKILLed and restarted, with no seq gap", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "outpost_agent_kill_" });
  try {
    const first = await startAedes();
    const { port, url } = first;
    // The broker is down for the whole life of the writer: the agent is offline.
    await first.stop();

    const writer = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", WRITER, stateDir, url, "10000000"],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const lines = new LineReader(writer.stdout);
    const committed: Committed[] = [];
    try {
      committed.push(...await readCommitted(lines, { count: KILL_AFTER, deadlineMs: 30_000 }));
    } finally {
      writer.kill("SIGKILL");
    }
    // Lines already in the pipe when the kill landed are committed records too.
    for (let line = await lines.read(); line !== undefined; line = await lines.read()) {
      committed.push(parseCommitted(line));
    }
    await lines.cancel();
    assert.equal((await writer.status).signal, "SIGKILL");
    assert.ok(committed.length >= KILL_AFTER);
    const expected = new Map(committed.map(({ seq, i }) => [seq, i]));
    assert.equal(expected.size, committed.length, "the writer never reported a seq twice");

    const broker = await startAedes({ port });
    try {
      const cloud = await observe(broker.url, [TOPIC]);
      try {
        const { agent } = await testAgent({ url: broker.url, stateDir });
        await agent.start();
        try {
          // Dense seqs: the restarted agent continues right after the last
          // record the killed one committed, so every seq below its first one
          // belongs to a committed record and must arrive (PROTOCOLS.md §0:
          // a gap means loss).
          const next = await agent.publish("kill", { i: -1 });
          const highest = Math.max(...expected.keys());
          assert.ok(next > highest, `the restarted agent's seq ${next} is above ${highest}`);
          // At least once: duplicates are allowed, a missing record is not. The
          // match runs again over every message on each arrival, so it only
          // crosses seqs off.
          const missing = new Set(Array.from({ length: next }, (_, i) => i + 1));
          await cloud.waitFor((message) => {
            missing.delete(JSON.parse(message.text).seq);
            return missing.size === 0;
          }, 30_000).catch((error) => {
            throw new Error(
              `${missing.size} seq(s) below ${next} never arrived (a gap); first missing: ${
                [...missing].slice(0, 10).join(", ")
              }`,
              { cause: error },
            );
          });
          const records = cloud.messages.map((m) => JSON.parse(m.text));
          for (const { seq, values } of records) {
            if (!expected.has(seq)) continue;
            assert.equal(values.i, expected.get(seq), `record seq ${seq} carries its i`);
          }
        } finally {
          await agent.stop();
        }
      } finally {
        await cloud.close();
      }
    } finally {
      await broker.stop();
    }
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});
