/** The remote-access allowlist: exact host:port, no DNS, IPv6 canonical. */
import { deepEqual, equal, throws } from "node:assert/strict";
import { formatTarget, parseAllowlist } from "../../actors/tunnels/allowlist.ts";

Deno.test("an allowlist allows exactly its host:port entries", () => {
  const allow = parseAllowlist(["127.0.0.1:22", "10.0.0.5:5900"]);
  equal(allow.allows({ host: "127.0.0.1", port: 22 }), true);
  equal(allow.allows({ host: "10.0.0.5", port: 5900 }), true);
  equal(allow.allows({ host: "127.0.0.1", port: 23 }), false);
  equal(allow.allows({ host: "10.0.0.5", port: 22 }), false);
  equal(allow.allows({ host: "127.0.0.2", port: 22 }), false);
});

Deno.test("an empty allowlist allows nothing", () => {
  const allow = parseAllowlist([]);
  equal(allow.allows({ host: "127.0.0.1", port: 22 }), false);
  deepEqual(allow.entries, []);
});

Deno.test("host names compare case-insensitively and are never resolved", () => {
  const allow = parseAllowlist(["LocalHost:22", "plc.factory.example:502"]);
  equal(allow.allows({ host: "localhost", port: 22 }), true);
  equal(allow.allows({ host: "PLC.Factory.Example", port: 502 }), true);
  // localhost resolves to 127.0.0.1, but only what is written is allowed.
  equal(allow.allows({ host: "127.0.0.1", port: 22 }), false);
  deepEqual(allow.entries, ["localhost:22", "plc.factory.example:502"]);
});

Deno.test("IPv6 entries are bracketed and match any spelling of the same address", () => {
  const allow = parseAllowlist(["[::1]:22", "[FE80:0:0:0:0:0:0:1]:5900"]);
  equal(allow.allows({ host: "::1", port: 22 }), true);
  equal(allow.allows({ host: "[::1]", port: 22 }), true);
  equal(allow.allows({ host: "0:0:0:0:0:0:0:1", port: 22 }), true);
  equal(allow.allows({ host: "fe80::1", port: 5900 }), true);
  equal(allow.allows({ host: "::2", port: 22 }), false);
  deepEqual(allow.entries, ["[::1]:22", "[fe80::1]:5900"]);
});

Deno.test("targets that are not host names or addresses never match", () => {
  const allow = parseAllowlist(["127.0.0.1:22"]);
  for (
    const host of ["", "127.0.0.1 ", "127.0.0.1/8", "[127.0.0.1]", "::zz", "a b", "127.0.0.1:22"]
  ) {
    equal(allow.allows({ host, port: 22 }), false, JSON.stringify(host));
  }
  for (const port of [0, -22, 22.5, 65536, NaN]) {
    equal(allow.allows({ host: "127.0.0.1", port }), false, String(port));
  }
});

Deno.test("an entry that is not host:port is refused with the entry in the message", () => {
  for (
    const entry of ["127.0.0.1", "127.0.0.1:", ":22", "host:0", "host:65536", "::1:22", "a b:1"]
  ) {
    throws(
      () => parseAllowlist(["127.0.0.1:22", entry]),
      (e: Error) =>
        e instanceof TypeError && e.message.startsWith(`Cannot parse allowlist entry "${entry}"`),
      entry,
    );
  }
});

Deno.test("formatTarget writes a target the way an allowlist entry is written", () => {
  equal(formatTarget({ host: "127.0.0.1", port: 22 }), "127.0.0.1:22");
  equal(formatTarget({ host: "::1", port: 22 }), "[::1]:22");
  equal(formatTarget({ host: "[::1]", port: 22 }), "[::1]:22");
});
