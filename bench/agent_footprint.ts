/**
 * The process figures of bench:agent: idle memory and start-to-connected
 * time of `outpost run` on its embedded default, as it ships (the bundle)
 * and as a newcomer runs it (`deno task start`, from source), each beside
 * the floor (bench/agent_floor.ts: the same libraries doing the least the
 * agent does, bundled and from source) and an empty `deno run`.
 */
import { formatNumber, formatSpread, median, type ResultRow } from "./measure.ts";
import {
  bundleAgent,
  MAIN,
  type Resident,
  residentBytes,
  startAgentProcess,
  type Started,
  startEmptyProcess,
} from "./agent_process.ts";

const FLOOR = new URL("./agent_floor.ts", import.meta.url).pathname;
const MB = 1024 * 1024;

/** One program measured: its idle RSS samples and its start times. */
export interface Footprint {
  label: string;
  idle: Resident[];
  startsMs: number[];
}

/** Every program of the comparison, the empty script first. */
export interface Footprints {
  empty: Footprint;
  programs: Footprint[];
}

interface Program {
  label: string;
  start: () => Promise<Started>;
}

/**
 * Measures each program: `idleSamples` fresh processes idle for `idleMs`
 * (one program after the other within a sample, so drift spreads over all),
 * then `starts` starts of each, interleaved, after a warm-up start.
 */
export async function measureFootprints(
  options: { idleMs: number; idleSamples: number; starts: number },
): Promise<Footprints> {
  const [agentBundle, floorBundle] = [await bundleAgent(), await bundleAgent(FLOOR)];
  const programs: Program[] = [
    { label: "empty deno run", start: startEmptyProcess },
    { label: "agent, bundle", start: () => startAgentProcess(agentBundle) },
    { label: "agent, source (deno task start)", start: () => startAgentProcess(MAIN) },
    { label: "floor, bundle", start: () => startAgentProcess(floorBundle) },
    { label: "floor, source", start: () => startAgentProcess(FLOOR) },
  ];
  const results = programs.map((p): Footprint => ({ label: p.label, idle: [], startsMs: [] }));
  for (let i = 0; i < options.idleSamples; i++) {
    for (const [index, program] of programs.entries()) {
      const process = await program.start();
      try {
        // A benchmark's settle time, not a test's wait: idle is what is measured.
        await new Promise((resolve) => setTimeout(resolve, options.idleMs));
        results[index].idle.push(await residentBytes(process.pid));
      } finally {
        await process.stop();
      }
    }
  }
  for (let i = 0; i <= options.starts; i++) {
    for (const [index, program] of programs.entries()) {
      const process = await program.start();
      await process.stop();
      if (i > 0) results[index].startsMs.push(process.readyMs);
    }
  }
  const [empty, ...rest] = results;
  return { empty, programs: rest };
}

/** Median idle RSS in MB. */
export function idleMb(footprint: Footprint, key: keyof Resident = "total"): number {
  return median(footprint.idle.map((r) => r[key])) / MB;
}

/** Rows of idle RSS and start time per program against the empty script. */
export function footprintRows(footprints: Footprints, idleMs: number): ResultRow[] {
  const { empty, programs } = footprints;
  return programs.flatMap((program): ResultRow[] => [
    {
      metric: `idle RSS after ${idleMs / 1000} s: ${program.label}`,
      supervised: idleMb(program),
      bare: idleMb(empty),
      unit: "MB",
      digits: 1,
    },
    {
      metric: "  of which anonymous (RssAnon: JS heap, malloc)",
      supervised: idleMb(program, "anon"),
      bare: idleMb(empty, "anon"),
      unit: "MB",
      digits: 1,
    },
    {
      metric: "  start to connected, median (vs first output)",
      supervised: median(program.startsMs),
      bare: median(empty.startsMs),
      unit: "ms",
    },
  ]);
}

/** The spread of each program's samples, one line each. */
export function footprintSpread(footprints: Footprints): string {
  return [footprints.empty, ...footprints.programs].map((f) =>
    `${f.label}: idle RSS ${formatSpread(f.idle.map((r) => r.total / MB), 1)} MB, ` +
    `starts ${formatSpread(f.startsMs, 0)} ms`
  ).join("\n");
}

/** The program with this label. */
export function footprintOf(footprints: Footprints, label: string): Footprint {
  const found = footprints.programs.find((p) => p.label.startsWith(label));
  if (!found) throw new Error(`No program measured as "${label}"`);
  return found;
}

/** "+N MB over the empty script, M MB over its floor". */
export function extraOverFloor(footprints: Footprints, program: string, floor: string): string {
  const over = idleMb(footprintOf(footprints, program)) - idleMb(footprints.empty);
  const overFloor = idleMb(footprintOf(footprints, program)) -
    idleMb(footprintOf(footprints, floor));
  return `${formatNumber(over, 1)} MB above (${formatNumber(overFloor, 1)} MB above its floor)`;
}
