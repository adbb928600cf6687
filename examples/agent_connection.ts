/**
 * The basic Agent API example: connect to the local Outpost agent over
 * mutual TLS, watch the connection status (Connecting, Connected,
 * ConnectionLost, …) and disconnect on Ctrl-C. The other support examples
 * reuse `connectionOptions()` from here.
 *
 * An app gets its certificate once by provisioning (`LocalApiClient.provision`);
 * point these variables at the files it stored:
 *   OUTPOST_API_URL        default mqtts://127.0.0.1:18884
 *   OUTPOST_API_CA         the agent's CA certificate (PEM file)
 *   OUTPOST_API_CERT       this app's certificate (PEM file)
 *   OUTPOST_API_KEY        its private key (PEM file)
 *   OUTPOST_API_CLIENT_ID  the certificate's CN
 *
 * Run: deno run -A examples/agent_connection.ts
 */
import { AgentConnection, type AgentConnectionOptions } from "../actors/facades/local_api.ts";

/** The connection settings from the environment. */
export function connectionOptions(): AgentConnectionOptions {
  const need = (name: string): string => {
    const value = Deno.env.get(name);
    if (!value) throw new Error(`Set ${name} (see the comment at the top of this example)`);
    return value;
  };
  return {
    url: Deno.env.get("OUTPOST_API_URL") ?? "mqtts://127.0.0.1:18884",
    ca: Deno.readTextFileSync(need("OUTPOST_API_CA")),
    cert: Deno.readTextFileSync(need("OUTPOST_API_CERT")),
    key: Deno.readTextFileSync(need("OUTPOST_API_KEY")),
    clientId: need("OUTPOST_API_CLIENT_ID"),
  };
}

/** Resolves on Ctrl-C. */
export function interrupted(): Promise<void> {
  return new Promise((resolve) => Deno.addSignalListener("SIGINT", () => resolve()));
}

if (import.meta.main) {
  const connection = new AgentConnection(connectionOptions());
  connection.setCallbacks({
    statusChanged: (status) => console.log(`Connection status: ${status}`),
  });
  connection.start();
  console.log("Monitoring connection status changes... Press Ctrl+C to exit");
  await interrupted();
  await connection.stop();
  Deno.exit(0);
}
