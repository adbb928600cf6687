/**
 * The web console's cost and speed, side by side in one run:
 *
 * - idle RSS of the agent as it ships (the bundle, embedded default) with
 *   `[console] enabled = true` and without, fresh processes interleaved;
 * - latency from an actor's crash to the page in headless Chromium showing
 *   its new restart count (the DOM text of its row changed), measured
 *   against a running agent with the page signed in.
 *
 * Targets (issue 14): at most +8 MB idle RSS; p99 latency under 250 ms.
 * Run: `deno task bench:console`.
 */
import { bundleAgent, type Resident, residentBytes, startAgentProcess } from "./agent_process.ts";
import { formatNumber, formatSpread, formatTable, median, percentile } from "./measure.ts";
import { freePort } from "../tests/helpers/brokers.ts";
import { CRASHY, startBrowser, startConsoleWorld } from "../tests/browser/console_world.ts";

const IDLE_SAMPLES = 5;
const IDLE_MS = 5000;
const RESTARTS = 200;
const MB = 1024 * 1024;
const TARGETS = { idleExtraMb: 8, p99Ms: 250 };

/** Idle RSS of fresh agents, console off and on, interleaved. */
async function idleMemory(program: string): Promise<{ off: Resident[]; on: Resident[] }> {
  const measure = async (env: Record<string, string>) => {
    const process = await startAgentProcess(program, 30_000, env);
    try {
      // A benchmark's settle time, not a test's wait: idle is what is measured.
      await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
      return await residentBytes(process.pid);
    } finally {
      await process.stop();
    }
  };
  const samples = { off: [] as Resident[], on: [] as Resident[] };
  for (let i = 0; i < IDLE_SAMPLES; i++) {
    samples.off.push(await measure({}));
    samples.on.push(
      await measure({ OUTPOST_CONSOLE__ENABLED: "true", OUTPOST_CONSOLE__PORT: `${freePort()}` }),
    );
  }
  return samples;
}

/** Milliseconds from crashing the actor to the page's restart count showing it, per restart. */
async function restartLatency(): Promise<number[]> {
  const world = await startConsoleWorld({ logs: true });
  const browser = await startBrowser();
  const { page } = browser;
  try {
    await page.goto(await world.loginLink());
    await page.waitForURL(`${world.url}/`);
    await page.locator(`tr[data-path="${CRASHY}"]`).waitFor();
    const latencies: number[] = [];
    for (let n = 1; n <= RESTARTS; n++) {
      // The watcher is in place before the crash; it notes the wall clock of the change.
      await page.evaluate(`void (window.__shown = new Promise((resolve) => {
        const cell = () => document.querySelector('tr[data-path="${CRASHY}"] td[data-col="restarts"]');
        const check = () => {
          if (cell()?.textContent === "${n}") {
            observer.disconnect();
            resolve(performance.timeOrigin + performance.now());
          }
        };
        const observer = new MutationObserver(check);
        observer.observe(document.body, { subtree: true, childList: true, characterData: true });
        check();
      }))`);
      const crashedAt = performance.timeOrigin + performance.now();
      world.crash();
      const shownAt = await page.evaluate<number>("window.__shown");
      latencies.push(shownAt - crashedAt);
    }
    return latencies;
  } finally {
    await browser.close();
    await world.close();
  }
}

async function main(): Promise<void> {
  const started = performance.now();
  console.log(
    `Outpost console benchmark: deno ${Deno.version.deno}, ${Deno.build.os}/${Deno.build.arch}, ` +
      `${navigator.hardwareConcurrency} cores, load ${Deno.loadavg()[0].toFixed(2)} at start`,
  );
  console.log(
    `idle RSS: the bundle's embedded default, ${IDLE_SAMPLES} fresh processes each, ` +
      `${IDLE_MS / 1000} s after start; latency: ${RESTARTS} crashes of one actor, ` +
      `page signed in, headless Chromium\n`,
  );
  const latencies = await restartLatency();
  const program = await bundleAgent();
  const memory = await idleMemory(program);

  const rss = (list: Resident[], key: keyof Resident) => median(list.map((r) => r[key])) / MB;
  console.log(formatTable(
    (["total", "anon", "file"] as const).map((key) => ({
      metric: {
        total: "idle RSS, console on (vs off)",
        anon: "  of which anonymous (JS heap, malloc)",
        file: "  of which file pages",
      }[key],
      supervised: rss(memory.on, key),
      bare: rss(memory.off, key),
      unit: "MB",
      digits: 1,
    })),
    { labels: ["on", "off"], difference: true },
  ));
  const p50 = percentile(latencies, 50);
  const p99 = percentile(latencies, 99);
  console.log(`
crash -> page shows the restart (ms): p50 ${formatNumber(p50, 1)}, p90 ${
    formatNumber(percentile(latencies, 90), 1)
  }, p99 ${formatNumber(p99, 1)}, max ${formatNumber(Math.max(...latencies), 1)}
idle RSS across samples (MB): on ${formatSpread(memory.on.map((r) => r.total / MB), 1)}, off ${
    formatSpread(memory.off.map((r) => r.total / MB), 1)
  }
load ${Deno.loadavg()[0].toFixed(2)} at the end
`);
  const extraMb = rss(memory.on, "total") - rss(memory.off, "total");
  const verdict = (pass: boolean, text: string) =>
    console.log(`${pass ? "PASS" : "FAIL"}  ${text}`);
  verdict(
    extraMb <= TARGETS.idleExtraMb,
    `idle RSS with the console <= +${TARGETS.idleExtraMb} MB: ${formatNumber(extraMb, 1)} MB`,
  );
  verdict(
    p99 < TARGETS.p99Ms,
    `restart -> page p99 < ${TARGETS.p99Ms} ms: ${formatNumber(p99, 1)} ms`,
  );
  console.log(`\ntotal ${formatNumber((performance.now() - started) / 1000, 1)} s`);
}

await main();
