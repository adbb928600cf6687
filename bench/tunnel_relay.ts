/**
 * The Cloud Remote Access relay emulator (tests/helpers/remote_access_server.ts)
 * in a process of its own, for bench/tunnel_bench.ts: it stands for
 * Cumulocity's servers, so it shares neither the device's process nor the
 * JavaScript thread of the users' clients and targets (bench/tunnel_world.ts).
 *
 * `TUNNEL_RELAY=lean` runs bench/tunnel_lean_relay.ts instead (the same
 * wire, this project's codec in place of `Deno.upgradeWebSocket`).
 *
 * Protocol: as bench/tunnel_world.ts (`open`, `cpu`, `memory`, `quit`).
 */
import process from "node:process";
import { startRemoteAccessServer } from "../tests/helpers/remote_access_server.ts";
import { WORLD_PASSWORD, WORLD_USER, type WorldCommand } from "./tunnel_world.ts";
import { startLeanRelay } from "./tunnel_lean_relay.ts";

function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

async function main(): Promise<void> {
  const basic = { user: WORLD_USER, password: WORLD_PASSWORD };
  const lean = Deno.env.get("TUNNEL_RELAY") === "lean";
  const relay = lean ? startLeanRelay(basic) : await startRemoteAccessServer({ basic });
  const encoder = new TextEncoder();
  const say = (answer: object) =>
    Deno.stdout.write(encoder.encode(JSON.stringify({ ...answer, cpuMs: cpuMs() }) + "\n"));
  await say({
    httpBase: relay.httpBase,
    relay: lean
      ? "lean (bench/tunnel_lean_relay.ts)"
      : "emulator (tests/helpers/remote_access_server.ts)",
  });
  let rest = "";
  const decoder = new TextDecoder();
  for await (const chunk of Deno.stdin.readable) {
    rest += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = rest.indexOf("\n")) >= 0) {
      const command = JSON.parse(rest.slice(0, newline)) as WorldCommand;
      rest = rest.slice(newline + 1);
      switch (command.op) {
        case "open":
          await say({ port: (await relay.open(command.key)).port });
          break;
        case "cpu":
          await say({});
          break;
        case "memory": {
          const gc = (globalThis as { gc?: () => void }).gc;
          gc?.();
          gc?.();
          const { heapUsed, rss } = Deno.memoryUsage();
          await say({ heapUsed, rss });
          break;
        }
        case "quit":
          await relay.close().catch(() => {});
          Deno.exit(0);
          break;
        default:
          throw new TypeError(`unknown relay command: ${JSON.stringify(command)}`);
      }
    }
  }
}

if (import.meta.main) await main();
