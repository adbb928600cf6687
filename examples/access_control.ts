/**
 * Access control: prints every feature's access, optionally sets one, and
 * asks on the terminal whenever a remote party wants a feature that is set
 * to AfterConfirmation (no answer in time denies it on the agent's side).
 *
 * Run: deno run -A examples/access_control.ts [--feature RemoteControl --access AfterConfirmation]
 * (connection settings: see examples/agent_connection.ts)
 */
import { parseArgs } from "node:util";
import {
  type Access,
  ACCESS_LEVELS,
  AgentConnection,
  type Feature,
  FEATURES,
} from "../actors/facades/local_api.ts";
import { connectionOptions, interrupted } from "./agent_connection.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { feature: { type: "string" }, access: { type: "string" }, help: { type: "boolean" } },
});
if (values.help) {
  console.log(`--feature ${FEATURES.join("|")} --access ${ACCESS_LEVELS.join("|")}`);
  Deno.exit(0);
}

const connection = new AgentConnection(connectionOptions());
const access = connection.accessControl;
access.setCallbacks({
  accessChanged: (feature, level) => console.log(`[AccessControl] ${feature} is now ${level}`),
  accessRequest: (feature) => {
    const answer = prompt(`Received an access request for ${feature}. Confirm? (y/N)`);
    const accept = answer === "y" || answer === "Y";
    (accept ? access.acceptAccessRequest(feature) : access.rejectAccessRequest(feature))
      .then(() => console.log(`Access request ${accept ? "accepted" : "rejected"}`))
      .catch((error) => console.error(`Too late: ${error.message}`));
  },
});
connection.start();
await connection.whenConnected();
if (values.feature && values.access) {
  await access.setAccess(values.feature as Feature, values.access as Access);
}
for (const feature of FEATURES) console.log(`\t${feature} - ${await access.getAccess(feature)}`);
console.log("Waiting for access requests... Press Ctrl+C to exit");
await interrupted();
await connection.stop();
Deno.exit(0);
