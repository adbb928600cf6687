/**
 * The benchmark's side of bench/tunnel_world.ts and bench/tunnel_relay.ts:
 * start the child processes that play the rest of the world (the users'
 * clients and targets; the relay emulator) and talk to them by JSON lines.
 */
import type { WorldCommand } from "./tunnel_world.ts";

type Answer = Record<string, number> & { cpuMs: number };

/** The running world: its ports, and a way to ask it to do something. */
export interface World {
  httpBase: string;
  /** Which relay stand-in runs. */
  relay: string;
  sinkPort: number;
  sourcePort: number;
  holderPort: number;
  /**
   * `open` is the relay's; `down` and `up` the clients'. `cpuMs` in every
   * answer is both processes' CPU so far; `memory` gives the relay's heap
   * and RSS (what a relay session costs).
   */
  ask(command: WorldCommand): Promise<Answer>;
  quit(): Promise<void>;
}

/** A child process speaking the JSON-lines protocol. */
interface Child {
  hello: Record<string, unknown>;
  ask(command: WorldCommand): Promise<Answer>;
  quit(): Promise<void>;
}

async function spawn(script: string): Promise<Child> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "--v8-flags=--expose-gc",
      // e.g. TUNNEL_WORLD_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the world too.
      ...(Deno.env.get("TUNNEL_WORLD_FLAGS")?.split(" ").filter(Boolean) ?? []),
      new URL(script, import.meta.url).pathname,
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
    hello,
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

/** Spawns the clients' world and the relay, and waits for their ports. */
export async function startWorld(): Promise<World> {
  const [clients, relay] = await Promise.all([
    spawn("./tunnel_world.ts"),
    spawn("./tunnel_relay.ts"),
  ]);
  return {
    ...(clients.hello as { sinkPort: number; sourcePort: number; holderPort: number }),
    httpBase: relay.hello.httpBase as string,
    relay: relay.hello.relay as string,
    async ask(command) {
      if (command.op === "open") {
        const answer = await relay.ask(command);
        return { ...answer, cpuMs: answer.cpuMs + (await clients.ask({ op: "cpu" })).cpuMs };
      }
      if (command.op === "memory") {
        const [answer, other] = await Promise.all([relay.ask(command), clients.ask({ op: "cpu" })]);
        return { ...answer, cpuMs: answer.cpuMs + other.cpuMs };
      }
      const answer = await clients.ask(command);
      return { ...answer, cpuMs: answer.cpuMs + (await relay.ask({ op: "cpu" })).cpuMs };
    },
    async quit() {
      await Promise.all([clients.quit(), relay.quit()]);
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
