/**
 * The console's recorder: the log tail with a level filter, and the outbox
 * samples of the last hour with records per second between two samples.
 */
import { deepEqual, equal } from "node:assert/strict";
import type { CloudView } from "../../actors/agent/control_plane.ts";
import { ConsoleRecorder } from "../../actors/console/recorder.ts";
import {
  configureLogging,
  getLogger,
  type LogLine,
  resetLogging,
  tapLog,
} from "../../actors/runtime/logging.ts";

function line(level: LogLine["level"], message: string): LogLine {
  return { ts: "2026-01-01T00:00:00.000Z", level, category: "outpost.test", message };
}

function cloud(name: string, queued: number, sent: number): CloudView {
  return {
    name,
    type: "mqtt",
    connected: true,
    broker: "mqtt://127.0.0.1:1883",
    since: null,
    reconnects: 0,
    lastError: null,
    queued,
    sent,
    dropped: 0,
  };
}

Deno.test("the log keeps the last lines and filters by lowest level", () => {
  const recorder = new ConsoleRecorder({ logLines: 3 });
  const heard: string[] = [];
  const stop = recorder.listen({ log: (l) => heard.push(l.message) });
  for (
    const [level, message] of [["info", "a"], ["debug", "b"], ["warning", "c"], ["error", "d"]]
  ) {
    recorder.addLog(line(level as LogLine["level"], message));
  }
  stop();
  recorder.addLog(line("info", "e"));
  deepEqual(heard, ["a", "b", "c", "d"]);
  deepEqual(recorder.logs().map((l) => l.message), ["c", "d", "e"]);
  deepEqual(recorder.logs({ level: "warning" }).map((l) => l.message), ["c", "d"]);
  deepEqual(recorder.logs({ limit: 1 }).map((l) => l.message), ["e"]);
});

Deno.test("samples give the queue depth and records per second, for the last hour only", () => {
  const recorder = new ConsoleRecorder({ logLines: 10, sampleMs: 1000, historyMs: 3000 });
  recorder.sample([cloud("a", 5, 0)], 0);
  recorder.sample([cloud("a", 2, 30)], 2000);
  recorder.sample([cloud("a", 0, 31)], 3000);
  recorder.sample([cloud("a", 0, 31)], 4000);
  deepEqual(recorder.history(), {
    a: [
      { t: 2000, queued: 2, rate: 15 },
      { t: 3000, queued: 0, rate: 1 },
      { t: 4000, queued: 0, rate: 0 },
    ],
  });
  equal(recorder.history().a.length, 3, "3 s of history at one sample a second");
});

Deno.test("log lines reach the console as the log file has them: same level, secrets redacted", async () => {
  const written: string[] = [];
  await configureLogging({ level: "info", write: (line) => written.push(line) });
  const recorder = new ConsoleRecorder({ logLines: 10 });
  const untap = tapLog((line) => recorder.addLog(line));
  try {
    const log = getLogger("test");
    log.debug("below the level");
    log.info("dialing {url} with {password}", {
      url: "mqtts://dev:hunter2@broker:8883",
      password: "s3cret-pw",
    });
  } finally {
    untap();
    await resetLogging();
  }
  const lines = recorder.logs();
  deepEqual(lines.map((l) => [l.level, l.category]), [["info", "outpost.test"]]);
  equal(lines[0].message, "dialing mqtts://dev:[REDACTED]@broker:8883 with [REDACTED]");
  equal(written.length, 1);
  equal(written[0].endsWith(lines[0].message), true, "the same text as the log line");
});
