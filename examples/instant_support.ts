/**
 * Instant support: once connected, asks a supporter for help, prints the
 * case's session data as the remote side changes it, and asks on the
 * terminal when the supporter wants to connect.
 *
 * Run: deno run -A examples/instant_support.ts --token <accessToken> [--name …]
 *      [--group Contacts] [--description …] [--email …] [--session-code s01-234-567]
 * (connection settings: see examples/agent_connection.ts)
 */
import { parseArgs } from "node:util";
import { AgentConnection } from "../actors/facades/local_api.ts";
import { connectionOptions, interrupted } from "./agent_connection.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    token: { type: "string" },
    name: { type: "string", default: "Help Me Please!" },
    group: { type: "string", default: "Contacts" },
    description: { type: "string", default: "I need your support!" },
    email: { type: "string", default: "" },
    "session-code": { type: "string", default: "" },
  },
});
if (!values.token) {
  console.error("--token <accessToken> is required");
  Deno.exit(2);
}

const connection = new AgentConnection(connectionOptions());
const support = connection.instantSupport;
support.setCallbacks({
  sessionDataChanged: (data) =>
    console.log(`[InstantSupport] ${data.sessionCode} "${data.name}": ${data.state}`),
  requestError: (code) => console.log(`[InstantSupport] request error: ${code}`),
  connectionRequest: () => {
    const answer = prompt("The supporter wants to connect. Allow? (y/N)");
    const accept = answer === "y" || answer === "Y";
    (accept ? support.acceptConnectionRequest() : support.rejectConnectionRequest())
      .catch((error) => console.error(`Too late: ${error.message}`));
  },
});
connection.setCallbacks({
  statusChanged: (status) => {
    if (status !== "Connected") return;
    support.requestInstantSupport({
      accessToken: values.token!,
      name: values.name!,
      group: values.group!,
      description: values.description!,
      email: values.email || undefined,
      sessionCode: values["session-code"] || undefined,
    }).then(
      () => console.log("Instant support requested"),
      (error) => console.error(`Request refused: ${error.code}: ${error.message}`),
    );
  },
});
connection.start();
console.log("Press Ctrl+C to close the case and exit");
await interrupted();
await support.closeInstantSupportCase().catch(() => {});
await connection.stop();
Deno.exit(0);
