/**
 * Session management: every remote-access tunnel the agent opens, from any
 * cloud, is a session. Prints sessions as they start and stop, with the
 * running count and the list of running sessions; `--terminate` ends all
 * of them once at start.
 *
 * Run: deno run -A examples/session_management.ts [--terminate]
 * (connection settings: see examples/agent_connection.ts)
 */
import { AgentConnection } from "../actors/facades/local_api.ts";
import { connectionOptions, interrupted } from "./agent_connection.ts";

const connection = new AgentConnection(connectionOptions());
const sessions = connection.sessions;

async function printRunning(): Promise<void> {
  for (const s of await sessions.getRunningSessions()) {
    console.log(`  #${s.sessionId} ${s.cloud} → ${s.target} since ${s.startedAt}`);
  }
}

sessions.setCallbacks({
  sessionStarted: (id, count) => {
    console.log(`[SessionManagement] Session ${id} started, sessions count: ${count}`);
    printRunning().catch(console.error);
  },
  sessionStopped: (id, count) => {
    console.log(`[SessionManagement] Session ${id} stopped, sessions count: ${count}`);
    printRunning().catch(console.error);
  },
});
connection.start();
await connection.whenConnected();
console.log("Running sessions:");
await printRunning();
if (Deno.args.includes("--terminate")) {
  console.log(`Terminated ${await sessions.terminateAll()} session(s)`);
}
console.log("Waiting for sessions... Press Ctrl+C to exit");
await interrupted();
await connection.stop();
Deno.exit(0);
