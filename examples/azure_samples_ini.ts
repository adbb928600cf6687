/**
 * Reads `samples.ini` the way the iotc samples do: sections of `Key = value`
 * lines (`;` and `#` start comments), one section per device.
 */

/** The keys of one section, as written. */
import type { AzureDevice } from "../actors/facades/azure.ts";

export type SampleSection = Record<string, string>;

/** Parses INI text into sections; keys outside any section go to `DEFAULT`. */
export function parseSamplesIni(text: string): Record<string, SampleSection> {
  const sections: Record<string, SampleSection> = { DEFAULT: {} };
  let current = sections.DEFAULT;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith(";") || line.startsWith("#")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = sections[header[1]] ??= {};
      continue;
    }
    const eq = line.indexOf("=");
    if (eq <= 0) throw new Error(`samples.ini: cannot read the line "${line}"`);
    current[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return sections;
}

/** Section `name` of the file at `path` (default `samples.ini`, or `$AZURE_SAMPLES_INI`). */
export async function sampleSection(name: string, path?: string): Promise<SampleSection> {
  const file = path ?? Deno.env.get("AZURE_SAMPLES_INI") ?? "samples.ini";
  const sections = parseSamplesIni(await Deno.readTextFile(file));
  const section = sections[name];
  if (!section) throw new Error(`${file} has no [${name}] section`);
  return { ...sections.DEFAULT, ...section };
}

/**
 * The samples' telemetry loop: random accelerometer readings every
 * `IntervalSec` (3), `Iterations` times (forever when unset) while
 * connected; then waits until every reading has left the outbox.
 */
export async function sendSampleTelemetry(
  device: Pick<AzureDevice, "isConnected" | "sendTelemetry" | "flush">,
  config: SampleSection,
): Promise<void> {
  const iterations = config.Iterations ? Number(config.Iterations) : Infinity;
  const intervalMs = Number(config.IntervalSec ?? 3) * 1000;
  const random = () => String(20 + Math.floor(Math.random() * 26));
  for (let i = 0; i < iterations && device.isConnected(); i++) {
    await device.sendTelemetry({
      accelerometerX: random(),
      accelerometerY: random(),
      accelerometerZ: random(),
    });
    if (i + 1 < iterations) await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  await device.flush();
}
