/**
 * The import rules of docs/clouds.md and ../shared/ARCHITECTURE.md, read off
 * the real module graph (`deno info --json`): no cycles among Outpost's own
 * modules; a cloud folder never imports the agent; the cloud contract
 * (actors/cloud/) imports neither the agent nor a cloud; machines/ and
 * protocols/ never import actors/.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url);
const ROOT_PATH = ROOT.pathname;

interface InfoModule {
  specifier: string;
  dependencies?: { code?: { specifier: string }; type?: { specifier: string } }[];
}

/** The local modules reachable from `entry` and, for each, the local modules it imports. */
async function moduleGraph(entry: string): Promise<Map<string, string[]>> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: ROOT_PATH,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  const info = JSON.parse(new TextDecoder().decode(output.stdout)) as { modules: InfoModule[] };
  const local = (specifier: string) =>
    specifier.startsWith(ROOT.href) ? specifier.slice(ROOT.href.length) : undefined;
  const graph = new Map<string, string[]>();
  for (const module of info.modules) {
    const from = local(module.specifier);
    if (!from) continue;
    const to = (module.dependencies ?? [])
      .flatMap((d) => [d.code?.specifier, d.type?.specifier])
      .map((s) => s && local(s))
      .filter((s): s is string => s !== undefined);
    graph.set(from, [...new Set(to)]);
  }
  return graph;
}

/** Every cycle's modules, as found by Tarjan's strongly connected components. */
function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const indexes = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string) => {
    indexes.set(node, index);
    low.set(node, index++);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!indexes.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) low.set(node, Math.min(low.get(node)!, indexes.get(next)!));
    }
    if (low.get(node) === indexes.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      const selfLoop = (graph.get(node) ?? []).includes(node);
      if (component.length > 1 || selfLoop) found.push(component.sort());
    }
  };
  for (const node of graph.keys()) if (!indexes.has(node)) visit(node);
  return found;
}

/** The folders under actors/ that hold a cloud (a connector.ts). */
function cloudFolders(): string[] {
  return [...Deno.readDirSync(new URL("actors/", ROOT))]
    .filter((e) => e.isDirectory && e.name !== "cloud")
    .map((e) => e.name)
    .filter((name) => {
      try {
        return Deno.statSync(new URL(`actors/${name}/connector.ts`, ROOT)).isFile;
      } catch {
        return false;
      }
    });
}

function violations(graph: Map<string, string[]>, from: RegExp, to: RegExp): string[] {
  return [...graph].flatMap(([module, imports]) =>
    from.test(module) ? imports.filter((i) => to.test(i)).map((i) => `${module} → ${i}`) : []
  );
}

// Read once, inside the first test that asks (the sanitizers see its subprocesses end there).
let merged: Map<string, string[]> | undefined;
async function graph(): Promise<Map<string, string[]>> {
  if (merged) return merged;
  const [a, b] = [await moduleGraph("mod.ts"), await moduleGraph("main.ts")];
  merged = new Map(a);
  for (const [k, v] of b) merged.set(k, [...new Set([...(merged.get(k) ?? []), ...v])]);
  return merged;
}

Deno.test("the module graph of mod.ts and main.ts has no import cycle", async () => {
  const found = cycles(await graph());
  assert.deepEqual(found, [], `cycles:\n${found.map((c) => c.join(" ↔ ")).join("\n")}`);
});

Deno.test("no cloud folder imports the agent", async () => {
  const folders = cloudFolders();
  assert.ok(folders.length >= 4, `cloud folders found: ${folders.join(", ")}`);
  const from = new RegExp(`^actors/(${folders.join("|")})/`);
  assert.deepEqual(violations(await graph(), from, /^actors\/agent\//), []);
});

Deno.test("the cloud contract imports neither the agent nor a cloud", async () => {
  const to = new RegExp(`^actors/(agent|${cloudFolders().join("|")})/`);
  assert.deepEqual(violations(await graph(), /^actors\/cloud\//, to), []);
});

Deno.test("machines/ and protocols/ never import actors/", async () => {
  assert.deepEqual(violations(await graph(), /^(machines|protocols)\//, /^actors\//), []);
});
