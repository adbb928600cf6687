/**
 * How `outpost tree` prints the supervision tree: pure functions from an
 * ActorTreeNode to text, with no I/O, so the layout is tested without an agent.
 */
import type { ActorTreeNode } from "../runtime/node.ts";

/**
 * The tree as a table for `outpost tree`: one node per line, indented by
 * depth, in aligned columns. The state (JSON, workers only) comes last
 * because it is the one column of unbounded width.
 *
 * @example
 * ```ts
 * console.log(formatTree(system.tree()));
 * // PATH           KIND        STATUS   RESTARTS  UPTIME  STATE
 * // agent          supervisor  running  0         2m 5s
 * //   agent/store  worker      running  0         2m 5s   "ready"
 * ```
 */
export function formatTree(tree: ActorTreeNode): string {
  const rows: string[][] = [["PATH", "KIND", "STATUS", "RESTARTS", "UPTIME", "STATE"]];
  (function walk(node: ActorTreeNode, depth: number) {
    rows.push([
      "  ".repeat(depth) + node.path,
      node.kind,
      node.status,
      String(node.restarts),
      formatUptime(node.uptimeMs),
      node.kind === "worker" ? formatState(node.state) : "",
    ]);
    for (const child of node.children) walk(child, depth + 1);
  })(tree, 0);
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows
    .map((row) => row.map((cell, column) => cell.padEnd(widths[column])).join("  ").trimEnd())
    .join("\n");
}

/** "3s", "2m 5s", "1h 2m", "3d 4h"; "-" when not running. */
export function formatUptime(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms) || ms < 0) return "-";
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

function formatState(state: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(state) ?? "-";
  } catch {
    text = String(state);
  }
  return text.length > 60 ? `${text.slice(0, 59)}…` : text;
}
