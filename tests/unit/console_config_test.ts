/**
 * `[console]`: off by default, loopback only unless `allowRemote`, and then
 * TLS; mistakes name the key, what was expected and what was found.
 */
import { deepEqual, equal } from "node:assert/strict";
import { ConfigError, parseConfig } from "../../actors/agent/config.ts";

function issuesOf(text: string) {
  try {
    parseConfig(text, { env: {}, hostname: "h" });
  } catch (error) {
    if (error instanceof ConfigError) return error.issues;
    throw error;
  }
  return [];
}

Deno.test("the console is off by default and listens on loopback when enabled", () => {
  const config = parseConfig("[console]\nenabled = true", { env: {}, hostname: "h" });
  deepEqual(config.console, {
    enabled: true,
    host: "127.0.0.1",
    port: 18880,
    allowRemote: false,
    logLines: 500,
  });
  equal(parseConfig(undefined, { env: {}, hostname: "h" }).console.enabled, false);
});

Deno.test("an address that is not loopback needs allowRemote and then TLS", () => {
  deepEqual(issuesOf('[console]\nhost = "0.0.0.0"'), [{
    key: "console.host",
    expected: "a loopback address (127.0.0.0/8, ::1, localhost) unless console.allowRemote = true",
    found: '"0.0.0.0"',
  }]);
  deepEqual(issuesOf('[console]\nhost = "0.0.0.0"\nallowRemote = true'), [{
    key: "console.certFile",
    expected:
      "a PEM certificate file path: a console reachable from the network is served over TLS only",
    found: "nothing",
  }]);
  deepEqual(issuesOf('[console]\ncertFile = "/etc/outpost/console.crt"'), [{
    key: "console.keyFile",
    expected: "a PEM private key file path when console.certFile is set (and only then)",
    found: "nothing",
  }]);
  const remote = parseConfig(
    '[console]\nhost = "0.0.0.0"\nallowRemote = true\ncertFile = "c.pem"\nkeyFile = "k.pem"',
    { env: {}, hostname: "h" },
  );
  equal(remote.console.certFile, "c.pem");
  deepEqual(issuesOf("[console]\nport = 70000")[0].key, "console.port");
  deepEqual(issuesOf("[console]\nlogLines = 1")[0].expected, "an integer from 10 to 100000");
});

Deno.test("console keys can be set from the environment", () => {
  const config = parseConfig(undefined, {
    env: { OUTPOST_CONSOLE__ENABLED: "true", OUTPOST_CONSOLE__PORT: "0" },
    hostname: "h",
  });
  equal(config.console.enabled, true);
  equal(config.console.port, 0);
});
