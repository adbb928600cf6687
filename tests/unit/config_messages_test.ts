/**
 * What a configuration error says: the key, what was expected and the value
 * found, for type errors and custom rules alike; and how much of it is shown
 * when a file holds a great many mistakes.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import fc from "fast-check";
import { parse as parseToml, stringify } from "smol-toml";
import { z } from "zod";
import { ConfigError, type ConfigIssue, parseConfig } from "../../actors/agent/config.ts";
import { expectedInWords } from "../../actors/cloud/config_fields.ts";

function errorOf(text: string): ConfigError {
  try {
    parseConfig(text, { env: {}, hostname: "test-host", source: "test.toml" });
  } catch (error) {
    ok(error instanceof ConfigError, `expected a ConfigError, got ${error}`);
    return error;
  }
  throw new Error("expected a ConfigError, but the configuration was accepted");
}

const issuesOf = (text: string): ConfigIssue[] => errorOf(text).issues;

const TARGET = 'a "host:port" target like "127.0.0.1:22"';

Deno.test("a list item that breaks a rule is shown as found, not as nothing", () => {
  deepEqual(issuesOf('[remoteAccess]\nallow = ["127.0.0.1:22", "nohost"]'), [{
    key: "remoteAccess.allow.1",
    expected: `${TARGET} or "[::1]:5900"`,
    found: '"nohost"',
  }]);
  deepEqual(issuesOf("[remoteAccess]\nallow = [5]"), [
    { key: "remoteAccess.allow.0", expected: TARGET, found: "5" },
  ]);
});

Deno.test("a port in two support lists names the list, the other list and the port", () => {
  deepEqual(issuesOf("[support.ports]\nRemoteView = [5900]\nRemoteControl = [22, 5900]"), [{
    key: "support.ports.RemoteControl.1",
    expected: "a port not already in support.ports.RemoteView",
    found: "5900",
  }]);
  deepEqual(issuesOf("[support.ports]\nFileTransfer = [21, 21]"), [{
    key: "support.ports.FileTransfer.1",
    expected: "a port not already in support.ports.FileTransfer",
    found: "21",
  }]);
});

Deno.test("a list or a table where a value belongs is shown, shortened when long", () => {
  deepEqual(issuesOf('[log]\nlevel = ["debug"]'), [{
    key: "log.level",
    expected: 'one of "trace", "debug", "info", "warning", "error", "fatal"',
    found: '["debug"]',
  }]);
  const long = issuesOf(`[log]\nlevel = [${Array(40).fill('"debug"').join(", ")}]`)[0].found;
  ok(long.length <= 90 && long.endsWith("…"), long);
  equal(issuesOf("[log]\nlevel = { a = 1 }")[0].found, "a table");
  equal(
    issuesOf('[clouds.m]\ntype = "mqtt"\nurl = "mqtt://h"\npassword = ["x"]')[0].found,
    "(an array)",
  );
});

Deno.test("a cross-field rule shows the values it compared", () => {
  const both = issuesOf(
    '[clouds.az]\ntype = "azure"\nidScope = "0ne1"\ndeviceKey = "AAAA"\ngroupKey = "BBBB"',
  );
  deepEqual(both, [{
    key: "clouds.az.deviceKey",
    expected: "exactly one of deviceKey, groupKey or certFile (with keyFile)",
    found: "deviceKey and groupKey",
  }]);
  equal(issuesOf('[clouds.az]\ntype = "azure"\nidScope = "0ne1"')[0].found, "none of them");
  equal(
    issuesOf(
      '[clouds.az]\ntype = "azure"\nidScope = "0ne1"\ndeviceKey = "AAAA"\ngroupKey = "BBBB"\n' +
        'certFile = "c.pem"\nkeyFile = "k.pem"',
    )[0].found,
    "deviceKey, groupKey and certFile",
  );
  deepEqual(
    issuesOf('[clouds.c]\ntype = "c8y"\nurl = "mqtts://h"\ntenant = "t1"\npassword = "p"'),
    [{
      key: "clouds.c.user",
      expected: "a tenant id and a user (password is set)",
      found: "nothing",
    }],
  );
  deepEqual(
    issuesOf('[clouds.a]\ntype = "aws"\nurl = "mqtts://h"\n[clouds.a.envelope]\nassetType = ""'),
    [
      { key: "clouds.a.envelope.assetType", expected: "a non-empty string", found: '""' },
    ],
  );
});

Deno.test("a key without a description of its own is still expected in the file's words", () => {
  const words = (schema: z.ZodType, value: unknown) =>
    schema.safeParse(value).error!.issues.map(expectedInWords);
  deepEqual(words(z.string(), 5), ["a string"]);
  deepEqual(words(z.array(z.int()), [1.5, "x"]), ["an integer", "a number"]);
  deepEqual(words(z.strictObject({}), []), ["a table"]);
  deepEqual(words(z.string().min(1), ""), ["a non-empty string"]);
  deepEqual(words(z.string().max(3), "abcd"), ["a string of at most 3 characters"]);
  deepEqual(words(z.array(z.string()).min(2), []), ["a list of at least 2 items"]);
  deepEqual(words(z.number().positive(), 0), ["a number > 0"]);
  deepEqual(words(z.number().max(9), 10), ["a number <= 9"]);
  deepEqual(words(z.enum(["a", "b"]), "c"), ['one of "a", "b"']);
  deepEqual(words(z.string().regex(/^x+$/), "y"), ["a string matching /^x+$/"]);
});

const EXAMPLE = parseToml(
  Deno.readTextFileSync(new URL("../../outpost.example.toml", import.meta.url)),
);

// The value at a dotted issue key in `raw`, or undefined (list items are numbered keys).
function valueAt(raw: unknown, key: string): unknown {
  return key.split(".").reduce<unknown>(
    (
      t,
      k,
    ) => (typeof t === "object" && t !== null && Object.hasOwn(t, k) ? (t as never)[k] : undefined),
    raw,
  );
}

const leaf = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.integer(),
  fc.double({ noNaN: true }),
  fc.boolean(),
);
const wrongValue = fc.oneof(
  leaf,
  fc.array(leaf, { maxLength: 3 }),
  fc.dictionary(fc.string(), leaf, { maxKeys: 2 }),
);

// Every key of the example file, cloud keys under clouds.main; lists and tables included.
function examplePaths(table: Record<string, unknown>, prefix = ""): string[] {
  return Object.entries(table).flatMap(([k, v]) => {
    const path = prefix ? `${prefix}.${k}` : k;
    const inner = typeof v === "object" && v !== null && !Array.isArray(v)
      ? examplePaths(v as Record<string, unknown>, path)
      : [];
    return [path, ...inner];
  });
}

Deno.test("whatever the wrong value, the message says what the validator wanted in words and shows the value", () => {
  const paths = examplePaths(EXAMPLE).filter((p) => p !== "clouds" && p !== "clouds.main");
  fc.assert(
    fc.property(fc.constantFrom(...paths), wrongValue, (path, value) => {
      const raw = structuredClone(EXAMPLE) as Record<string, unknown>;
      const keys = path.split(".");
      const table = keys.slice(0, -1).reduce((t, k) => t[k] as Record<string, unknown>, raw);
      table[keys.at(-1)!] = value;
      let issues: ConfigIssue[];
      try {
        parseConfig(stringify(raw), { env: {}, hostname: "h" });
        return;
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        issues = error.issues;
      }
      for (const issue of issues) {
        ok(!/Invalid|Too (small|big)|received|expected/.test(issue.expected), issue.expected);
        if (valueAt(raw, issue.key) !== undefined) {
          ok(issue.found !== "nothing", `${issue.key} holds a value, yet found nothing`);
        }
      }
    }),
    { numRuns: 300 },
  );
});

Deno.test("a file with hundreds of thousands of unknown keys is one ConfigError of 50 lines and a count", () => {
  const count = 200_000;
  const text = Array.from({ length: count }, (_, i) => `k${i} = 1`).join("\n");
  const error = errorOf(text);
  equal(error.issues.length, count);
  const lines = error.message.split("\n");
  equal(lines.length, 51);
  equal(lines[0], `test.toml: k0: expected ${error.issues[0].expected}, found key "k0"`);
  equal(lines[50], `test.toml: and ${count - 50} more issues`);
  match(lines[49], /^test\.toml: k49: /);
});

Deno.test("two clouds on one broker with one client id are refused, naming the earlier cloud", () => {
  const error = errorOf(`
[clouds.a]
type = "mqtt"
url = "mqtt://Broker.example:1883"

[clouds.b]
type = "mqtt"
urls = ["mqtt://other.example", "mqtt://broker.example"]
topicPrefix = "second"
`);
  equal(error.issues.length, 1);
  equal(error.issues[0].key, "clouds.b.clientId");
  match(
    error.issues[0].expected,
    /cloud a already connects to mqtt:\/\/broker\.example as "outpost-test-host"/,
  );
  equal(error.issues[0].found, '"outpost-test-host"');
  // A client id of its own, or another broker, is fine.
  const parse = (text: string) =>
    parseConfig(text, { env: {}, hostname: "test-host", source: "test.toml" });
  ok(parse(`
[clouds.a]
type = "mqtt"
url = "mqtt://broker.example"

[clouds.b]
type = "mqtt"
url = "mqtt://broker.example"
clientId = "outpost-test-host-b"
`));
  ok(parse(`
[clouds.a]
type = "mqtt"
url = "mqtt://one.example"

[clouds.b]
type = "mqtt"
url = "mqtt://two.example"
`));
});
