/**
 * The benchmark's side of bench/tunnel_world.ts: start the child process
 * that plays the rest of the world (relay emulator, clients, targets) and
 * talk to it by JSON lines.
 */
import type { WorldCommand } from "./tunnel_world.ts";

/** The running world: its ports, and a way to ask it to do something. */
export interface World {
  httpBase: string;
  sinkPort: number;
  sourcePort: number;
  holderPort: number;
  ask(command: WorldCommand): Promise<Record<string, number> & { cpuMs: number }>;
  quit(): Promise<void>;
}

/** Spawns bench/tunnel_world.ts and waits for the line with its ports. */
export async function startWorld(): Promise<World> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "--v8-flags=--expose-gc",
      // e.g. TUNNEL_WORLD_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the world too.
      ...(Deno.env.get("TUNNEL_WORLD_FLAGS")?.split(" ").filter(Boolean) ?? []),
      new URL("./tunnel_world.ts", import.meta.url).pathname,
    ],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const lines = readLines(child.stdout);
  const writer = child.stdin.getWriter();
  const next = async () => JSON.parse((await lines.next()).value as string);
  const hello = await next();
  let queue = Promise.resolve();
  return {
    ...hello,
    ask(command) {
      const answer = queue.then(async () => {
        await writer.write(new TextEncoder().encode(JSON.stringify(command) + "\n"));
        return await next();
      });
      queue = answer.then(() => {}, () => {});
      return answer;
    },
    async quit() {
      await writer.write(new TextEncoder().encode(`{"op":"quit"}\n`));
      await writer.close();
      await child.status;
    },
  };
}

async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    rest += chunk;
    let newline: number;
    while ((newline = rest.indexOf("\n")) >= 0) {
      yield rest.slice(0, newline);
      rest = rest.slice(newline + 1);
    }
  }
}
