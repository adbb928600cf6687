import { deepEqual, equal, match, ok, rejects, throws } from "node:assert/strict";
import fc from "fast-check";
import { parse as parseToml, stringify } from "smol-toml";
import { z } from "zod";
import { cloudTypes } from "../../actors/clouds.ts";
import {
  type CloudConfig,
  type Config,
  ConfigError,
  configFileSchema,
  type ConfigIssue,
  loadConfig,
  parseConfig,
} from "../../actors/agent/config.ts";
import { schemaCore } from "../../actors/agent/config_env.ts";

const EXAMPLE = new URL("../../outpost.example.toml", import.meta.url);
const DOCS = new URL("../../docs/configuration.md", import.meta.url);

type Env = Record<string, string | undefined>;

function parse(text: string | undefined, env: Env = {}): Config {
  return parseConfig(text, { env, hostname: "test-host" });
}

// The error parseConfig throws; fails the test when it returns or throws anything else.
function errorOf(text: string | undefined, env: Env = {}): ConfigError {
  try {
    parseConfig(text, { env, hostname: "test-host", source: "test.toml" });
  } catch (error) {
    ok(error instanceof ConfigError, `expected a ConfigError, got ${error}`);
    return error;
  }
  throw new Error("expected a ConfigError, but the configuration was accepted");
}

function issuesOf(text: string | undefined, env: Env = {}): ConfigIssue[] {
  return errorOf(text, env).issues;
}

function issueAt(issues: ConfigIssue[], key: string): ConfigIssue {
  const issue = issues.find((i) => i.key === key);
  ok(issue, `no issue at ${key}; issues: ${JSON.stringify(issues)}`);
  return issue;
}

const MAIN = `[clouds.main]\ntype = "mqtt"\nurl = "mqtts://broker.example:8883"\n`;

// The cloud types as an error message lists them.
const TYPES_EXPECTED = `one of ${cloudTypes().map((t) => JSON.stringify(t)).join(", ")}`;

// A generic MQTT cloud's table; fails the test for any other type.
function mqttCloud(cloud: CloudConfig) {
  if (cloud.type !== "mqtt") throw new Error(`expected an mqtt cloud, got ${cloud.type}`);
  return cloud;
}

// Every dotted key path of the schema, cloud keys written under clouds.<name>.
function schemaKeys(schema: z.ZodType, prefix: string): string[] {
  const s = schemaCore(schema);
  if (s instanceof z.ZodObject) {
    return Object.entries(s.shape).flatMap(([key, value]) => {
      const path = prefix ? `${prefix}.${key}` : key;
      const inner = schemaKeys(value as z.ZodType, path);
      return inner.length > 0 ? inner : [path];
    });
  }
  if (s instanceof z.ZodRecord) return schemaKeys(s.valueType as z.ZodType, `${prefix}.<name>`);
  return [];
}

Deno.test("with no file and no environment the configuration is complete and runs the embedded broker", () => {
  deepEqual(parse(undefined), {
    agent: { deviceId: "test-host", stateDir: ".outpost" },
    log: { level: "info", format: "text" },
    control: { socket: ".outpost/control.sock" },
    outbox: { maxRecords: 100000, durability: "process" },
    telemetry: { system: { enabled: true, intervalSec: 5 } },
    remoteAccess: {
      allow: [],
      maxTunnels: 10,
      bufferSize: 16384,
      pingIntervalSec: 10,
      dialTimeoutSec: 10,
    },
    support: {
      access: {
        FileTransfer: "Allowed",
        RemoteView: "Allowed",
        RemoteControl: "Allowed",
        ScreenRecording: "Allowed",
      },
      ports: { FileTransfer: [], RemoteView: [], RemoteControl: [], ScreenRecording: [] },
      defaultFeature: "RemoteControl",
      confirmationTimeoutSec: 60,
      connectionRequestTimeoutSec: 60,
      sendTimeoutSec: 30,
    },
    broker: { enabled: true, host: "127.0.0.1", port: 1883, allowRemote: false },
    localApi: {
      enabled: false,
      host: "127.0.0.1",
      provisioningPort: 18883,
      apiPort: 18884,
      caCertPath: ".outpost/local-api/ca.crt",
      approval: "auto",
    },
    console: {
      enabled: false,
      host: "127.0.0.1",
      port: 18880,
      allowRemote: false,
      logLines: 500,
    },
    clouds: {
      local: {
        type: "mqtt",
        url: "mqtt://127.0.0.1:1883",
        urls: ["mqtt://127.0.0.1:1883"],
        clientId: "outpost-test-host",
        insecure: false,
        cleanSession: true,
        keepaliveSec: 30,
        backoff: { minMs: 1000, maxMs: 60000, jitter: 0.2 },
        topicPrefix: "outpost",
      },
    },
  });
  deepEqual(parse(""), parse(undefined));
  deepEqual(cloudTypes().slice(0, 2), ["mqtt", "c8y"]);
});

Deno.test("the device id defaults to the hostname, sanitized to a valid id", () => {
  const id = (hostname: string) => parseConfig(undefined, { hostname }).agent.deviceId;
  equal(id("gw-01.site.lan"), "gw-01.site.lan");
  equal(id("my host!"), "my-host-");
  equal(id(""), "outpost");
  equal(id("x".repeat(100)), "x".repeat(64));
  match(parseConfig(undefined).agent.deviceId, /^[A-Za-z0-9._-]{1,64}$/);
  equal(parse('[agent]\ndeviceId = ""').agent.deviceId, "test-host");
});

Deno.test("the local cloud follows the embedded broker's host and port", () => {
  equal(mqttCloud(parse("[broker]\nport = 1999").clouds.local).url, "mqtt://127.0.0.1:1999");
  equal(mqttCloud(parse('[broker]\nhost = "::1"').clouds.local).url, "mqtt://[::1]:1883");
  equal(mqttCloud(parse('[broker]\nhost = "localhost"').clouds.local).url, "mqtt://localhost:1883");
  equal(parse("[broker]\nenabled = false").broker.enabled, false);
  equal(
    parse('[agent]\nstateDir = "/var/lib/outpost/"').control.socket,
    "/var/lib/outpost/control.sock",
  );
  equal(parse('[control]\nsocket = "/run/o.sock"').control.socket, "/run/o.sock");
});

Deno.test("configured clouds replace the local one and turn the embedded broker off by default", () => {
  const config = parse(`[agent]\ndeviceId = "dev-7"\n${MAIN}clientId = ""\nusername = ""`);
  deepEqual(Object.keys(config.clouds), ["main"]);
  equal(config.broker.enabled, false);
  equal(mqttCloud(config.clouds.main).clientId, "outpost-dev-7");
  equal(mqttCloud(config.clouds.main).username, undefined);
  equal(parse(`[broker]\nenabled = true\n${MAIN}`).broker.enabled, true);
  equal(mqttCloud(parse(`${MAIN}clientId = "mine"`).clouds.main).clientId, "mine");
  equal(parse(`${MAIN}\n[clouds.main.backoff]\nminMs = 0\nmaxMs = 0`).clouds.main.backoff.maxMs, 0);
  equal(parse("[clouds]").broker.enabled, true, "an empty [clouds] table is no cloud");
});

Deno.test("remote-access tunnels ping every 10 s unless pingIntervalSec = 0 turns pings off", () => {
  equal(parse(undefined).remoteAccess.pingIntervalSec, 10);
  equal(parse("[remoteAccess]\npingIntervalSec = 0").remoteAccess.pingIntervalSec, 0);
  equal(parse("[remoteAccess]\npingIntervalSec = 2.5").remoteAccess.pingIntervalSec, 2.5);
});

Deno.test("cloud names that differ only in letter case are rejected, as the environment sees them as one", () => {
  const other = '[clouds.Main]\ntype = "mqtt"\nurl = "mqtts://broker.example:8883"\n';
  deepEqual(issuesOf(`${MAIN}${other}`), [{
    key: "clouds.Main",
    expected: 'a cloud name that differs from "main" in more than letter case',
    found: 'key "Main"',
  }]);
  const withMistake = issuesOf(`${MAIN}keepaliveSec = 0\n${other}[clouds.MAIN]\ntype = "mqtt"`);
  deepEqual(withMistake.map((i) => i.key).sort(), [
    "clouds.MAIN",
    "clouds.MAIN.url",
    "clouds.Main",
    "clouds.main.keepaliveSec",
  ]);
  // Another broker: on the same one, both would have the default client id.
  const second = other.replace("Main", "main-2").replace("broker.example", "other.example");
  deepEqual(Object.keys(parse(`${MAIN}${second}`).clouds), [
    "main",
    "main-2",
  ]);
});

Deno.test("the example file is valid and sets every key, each under a comment", () => {
  const text = Deno.readTextFileSync(EXAMPLE);
  const config = parse(text);
  deepEqual(Object.keys(config.clouds), ["main"]);
  const raw = parseToml(text);
  for (const key of schemaKeys(configFileSchema(), "")) {
    // A table gives url or urls, not both: the example sets url and shows urls in a comment.
    if (key === "clouds.<name>.urls") {
      match(text, /^# urls = \[/m);
      continue;
    }
    const path = key.replace("<name>", "main").split(".");
    ok(path.reduce<unknown>((t, k) => (t as Record<string, unknown>)?.[k], raw) !== undefined, key);
  }
  const lines = text.split("\n");
  for (const [i, line] of lines.entries()) {
    if (/^\w+ = /.test(line)) match(lines[i - 1], /^#/, `no comment above "${line}"`);
  }
});

Deno.test("the documentation names every key", () => {
  const docs = Deno.readTextFileSync(DOCS);
  for (const key of schemaKeys(configFileSchema(), "")) ok(docs.includes(`\`${key}\``), key);
});

Deno.test("each kind of mistake names its key, what was expected and what was found", () => {
  deepEqual(issuesOf('[broker]\nport = "1883"'), [
    { key: "broker.port", expected: "an integer from 0 to 65535", found: '"1883"' },
  ]);
  deepEqual(issuesOf("[broker]\nport = 70000")[0].found, "70000");
  deepEqual(issuesOf("[broker]\nport = 70000")[0].expected, "an integer from 0 to 65535");
  deepEqual(issuesOf("colour = 1"), [{
    key: "colour",
    expected:
      "no such key (known keys: agent, log, control, outbox, telemetry, remoteAccess, support, broker, localApi, console, clouds)",
    found: 'key "colour"',
  }]);
  deepEqual(issuesOf(`${MAIN}[clouds.main.backoff]\nminMS = 5`), [{
    key: "clouds.main.backoff.minMS",
    expected: "no such key (known keys: minMs, maxMs, jitter)",
    found: 'key "minMS"',
  }]);
  deepEqual(issuesOf('[clouds.main]\ntype = "mqtt"'), [{
    key: "clouds.main.url",
    expected:
      'a URL like "mqtt://host:1883" (scheme mqtt, mqtts, ws or wss; no user or password in it), or urls, a list of them',
    found: "nothing",
  }]);
  deepEqual(issuesOf('[log]\nlevel = "verbose"'), [{
    key: "log.level",
    expected: 'one of "trace", "debug", "info", "warning", "error", "fatal"',
    found: '"verbose"',
  }]);
  const scheme = issueAt(
    issuesOf('[clouds.main]\ntype = "mqtt"\nurl = "http://h:80"'),
    "clouds.main.url",
  );
  equal(scheme.found, '"http://h:80"');
  const backoff = issuesOf(`${MAIN}[clouds.main.backoff]\nminMs = 5000\nmaxMs = 1000`);
  deepEqual(backoff, [
    { key: "clouds.main.backoff.maxMs", expected: "an integer >= minMs (5000)", found: "1000" },
  ]);
  deepEqual(issuesOf('[broker]\nhost = "0.0.0.0"'), [{
    key: "broker.host",
    expected: "a loopback address (127.0.0.0/8, ::1, localhost) unless broker.allowRemote = true",
    found: '"0.0.0.0"',
  }]);
  deepEqual(issuesOf('[clouds.other]\ntype = "cumulocity"\nurl = "mqtts://c8y.example"'), [
    { key: "clouds.other.type", expected: TYPES_EXPECTED, found: '"cumulocity"' },
  ]);
  deepEqual(issuesOf("broker = 5"), [{ key: "broker", expected: "a table", found: "5" }]);
  deepEqual(issuesOf('[clouds."a.b"]\ntype = "mqtt"\nurl = "mqtt://h"')[0], {
    key: 'clouds."a.b"',
    expected: "a cloud name of 1 to 32 characters from A-Z a-z 0-9 _ -",
    found: 'key "a.b"',
  });
});

Deno.test("values are checked for what they mean, not only their type", () => {
  const url = (u: string) =>
    mqttCloud(parse(`[clouds.m]\ntype = "mqtt"\nurl = "${u}"`).clouds.m).url;
  for (
    const good of ["mqtt://h", "mqtts://h:8883", "ws://h:80/mqtt", "wss://[::1]/m", "mqtt://h/"]
  ) {
    equal(url(good), good);
  }
  for (
    const bad of ["mqtt://", "mqtt://h/path", "mqtt://u:p@h", "tcp://h", "h:1883", "mqtt://h:99999"]
  ) {
    throws(() => url(bad), ConfigError, bad);
  }
  equal(parse('[broker]\nhost = "0.0.0.0"\nallowRemote = true').broker.host, "0.0.0.0");
  for (const host of ["127.0.0.1", "127.8.9.10", "localhost", "::1"]) {
    equal(parse(`[broker]\nhost = "${host}"`).broker.host, host);
  }
  issueAt(issuesOf('[broker]\nhost = "127.0.0.256"'), "broker.host");
  issueAt(issuesOf(`${MAIN}topicPrefix = "a/+/b"`), "clouds.main.topicPrefix");
  issueAt(issuesOf(`${MAIN}topicPrefix = "/a"`), "clouds.main.topicPrefix");
  equal(mqttCloud(parse(`${MAIN}topicPrefix = "site/7"`).clouds.main).topicPrefix, "site/7");
  issueAt(issuesOf(`${MAIN}certFile = "c.pem"`), "clouds.main.keyFile");
  issueAt(issuesOf(`${MAIN}keyFile = "k.pem"`), "clouds.main.certFile");
  issueAt(issuesOf(`${MAIN}keepaliveSec = 0`), "clouds.main.keepaliveSec");
  issueAt(issuesOf(`${MAIN}[clouds.main.backoff]\njitter = 1.5`), "clouds.main.backoff.jitter");
  issueAt(issuesOf("[telemetry.system]\nintervalSec = 0"), "telemetry.system.intervalSec");
  issueAt(issuesOf("[outbox]\nmaxRecords = 0"), "outbox.maxRecords");
  issueAt(issuesOf('[agent]\ndeviceId = "a/b"'), "agent.deviceId");
  equal(issueAt(issuesOf("[agent]\ndeviceId = 2024-01-01"), "agent.deviceId").found, "a date-time");
});

Deno.test("every issue is reported at once, one line each, prefixed with the source", () => {
  const error = errorOf([
    "extra = true",
    "[broker]",
    "port = -1",
    'host = "10.0.0.1"',
    "[log]",
    'format = "xml"',
    "[clouds.main]",
    'type = "mqtt"',
    "keepaliveSec = 0",
    "[clouds.main.backoff]",
    "minMs = 10",
    "maxMs = 5",
  ].join("\n"));
  deepEqual(error.issues.map((i) => i.key).sort(), [
    "broker.host",
    "broker.port",
    "clouds.main.backoff.maxMs",
    "clouds.main.keepaliveSec",
    "clouds.main.url",
    "extra",
    "log.format",
  ]);
  equal(error.source, "test.toml");
  equal(error.name, "ConfigError");
  const lines = error.message.split("\n");
  equal(lines.length, error.issues.length);
  for (const [i, issue] of error.issues.entries()) {
    equal(lines[i], `test.toml: ${issue.key}: expected ${issue.expected}, found ${issue.found}`);
  }
  ok(lines.includes("test.toml: broker.port: expected an integer from 0 to 65535, found -1"));
});

Deno.test("a TOML syntax error names its line and column", () => {
  deepEqual(issuesOf('[agent]\ndeviceId = "dev-1"\nstateDir = \n'), [
    { key: "line 3, column 12", expected: "valid TOML", found: "invalid value" },
  ]);
  equal(issuesOf("[broker\nport = 1")[0].key.startsWith("line 1, column"), true);
});

Deno.test("loadConfig reads the file, or says the file is missing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/outpost.toml`;
    await Deno.writeTextFile(path, '[agent]\ndeviceId = "from-file"\n');
    const config = await loadConfig(path, { env: { OUTPOST_BROKER__PORT: "1884" } });
    equal(config.agent.deviceId, "from-file");
    equal(config.broker.port, 1884);
    const missing = `${dir}/nope.toml`;
    await rejects(loadConfig(missing, { env: {} }), (error: unknown) => {
      ok(error instanceof ConfigError);
      deepEqual(error.issues, [
        { key: "(file)", expected: "a readable TOML file", found: `no such file: ${missing}` },
      ]);
      equal(error.source, missing);
      return true;
    });
    await Deno.writeTextFile(path, "[broker]\nport = \n");
    await rejects(
      loadConfig(path, { env: {} }),
      /outpost\.toml: line 2, column 8: expected valid TOML, found invalid value$/,
    );
    equal(
      mqttCloud((await loadConfig(undefined, { env: {}, hostname: "h" })).clouds.local).clientId,
      "outpost-h",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("environment variables override keys, typed as the schema says", () => {
  const config = parse(MAIN, {
    OUTPOST_AGENT__DEVICE_ID: "dev-7",
    OUTPOST_BROKER__PORT: "1884",
    OUTPOST_BROKER__ENABLED: "true",
    OUTPOST_CLOUDS__MAIN__PASSWORD: "12345",
    OUTPOST_CLOUDS__MAIN__KEEPALIVE_SEC: " 45 ",
    OUTPOST_CLOUDS__MAIN__BACKOFF__JITTER: "0.5",
    OUTPOST_TELEMETRY__SYSTEM__INTERVAL_SEC: "0.25",
    OUTPOST_LOG__LEVEL: "debug",
    OUTPOST_CONFIG: "/etc/outpost.toml",
    OTHER_BROKER__PORT: "1",
  });
  equal(config.agent.deviceId, "dev-7");
  equal(
    mqttCloud(config.clouds.main).clientId,
    "outpost-dev-7",
    "overrides apply before defaults resolve",
  );
  equal(config.broker.port, 1884);
  equal(config.broker.enabled, true);
  equal(mqttCloud(config.clouds.main).password, "12345");
  equal(config.clouds.main.keepaliveSec, 45);
  equal(config.clouds.main.backoff.jitter, 0.5);
  equal(config.telemetry.system.intervalSec, 0.25);
  equal(config.log.level, "debug");
  equal(parse(undefined, { OUTPOST_AGENT__DEVICE_ID: "" }).agent.deviceId, "test-host");
});

Deno.test("environment cloud names match the file's clouds in any case, else are lowercased", () => {
  const matched = parse('[clouds.Main]\ntype = "mqtt"\nurl = "mqtt://h"', {
    OUTPOST_CLOUDS__MAIN__USERNAME: "u",
  });
  deepEqual(Object.keys(matched.clouds), ["Main"]);
  equal(mqttCloud(matched.clouds.Main).username, "u");
  const created = parse(undefined, {
    OUTPOST_CLOUDS__EDGE_1__TYPE: "mqtt",
    OUTPOST_CLOUDS__EDGE_1__URL: "mqtt://10.1.2.3:1883",
  });
  deepEqual(Object.keys(created.clouds), ["edge_1"]);
  equal(mqttCloud(created.clouds.edge_1).url, "mqtt://10.1.2.3:1883");
  deepEqual(issuesOf(undefined, { OUTPOST_CLOUDS__NEW__URL: "mqtt://h" }), [
    { key: "clouds.new.type", expected: TYPES_EXPECTED, found: "nothing" },
  ]);
});

Deno.test("a bad environment value is an error naming the variable", () => {
  deepEqual(issuesOf(undefined, { OUTPOST_BROKER__PORT: "abc" }), [
    { key: "OUTPOST_BROKER__PORT", expected: "an integer", found: '"abc"' },
  ]);
  deepEqual(issuesOf(undefined, { OUTPOST_BROKER__ENABLED: "yes" }), [
    { key: "OUTPOST_BROKER__ENABLED", expected: "true or false", found: '"yes"' },
  ]);
  deepEqual(issuesOf(undefined, { OUTPOST_BROKER__PORT: "70000" }), [
    { key: "OUTPOST_BROKER__PORT", expected: "an integer from 0 to 65535", found: "70000" },
  ]);
  deepEqual(issuesOf(undefined, { OUTPOST_BROKER__PROT: "1" }), [{
    key: "OUTPOST_BROKER__PROT",
    expected: "no such key in broker (known keys: ENABLED, HOST, PORT, ALLOW_REMOTE)",
    found: 'key "PROT"',
  }]);
  equal(issuesOf(undefined, { OUTPOST_NOPE__X: "1" })[0].key, "OUTPOST_NOPE__X");
  equal(
    issuesOf(undefined, { OUTPOST_BROKER__PORT__X: "1" })[0].expected,
    "no level below broker.port",
  );
  equal(issuesOf(undefined, { OUTPOST_BROKER: "1" })[0].key, "OUTPOST_BROKER");
  deepEqual(issuesOf(undefined, { OUTPOST_LOG_LEVEL: "debug" }), [{
    key: "OUTPOST_LOG_LEVEL",
    expected: 'levels separated by "__", like OUTPOST_LOG__LEVEL',
    found: "variable OUTPOST_LOG_LEVEL",
  }]);
  const both = issuesOf("[broker]\nport = true", { OUTPOST_LOG__FORMAT: "xml" });
  deepEqual(both.map((i) => i.key).sort(), ["OUTPOST_LOG__FORMAT", "broker.port"]);
});

Deno.test("secrets never appear in error messages", () => {
  const secret = "hunter2-s3cret";
  const messages = [
    errorOf(`${MAIN}password = 987654321\nkeepaliveSec = 0`).message,
    errorOf(`${MAIN}password = ["${secret}"]`).message,
    errorOf(`${MAIN}password = { value = "${secret}" }`).message,
    errorOf(`${MAIN}password = "${secret}`).message,
    errorOf(`[clouds.main]\ntype = "mqtt"\nurl = "mqtt://user:${secret}@h"`).message,
    errorOf(`${MAIN}pasword = "${secret}"`).message,
    errorOf(MAIN, { OUTPOST_CLOUDS__MAIN__PASWORD: secret }).message,
    errorOf(MAIN, { OUTPOST_CLOUDS__MAIN__PASSWORD: secret, OUTPOST_BROKER__PORT: "x" }).message,
  ];
  for (const message of messages) {
    ok(!message.includes(secret) && !message.includes("987654321"), message);
  }
  deepEqual(issuesOf(`${MAIN}password = 987654321`), [
    { key: "clouds.main.password", expected: "a string", found: "(a number)" },
  ]);
});

const KNOWN = [
  "agent",
  "log",
  "broker",
  "clouds",
  "main",
  "type",
  "url",
  "port",
  "host",
  "backoff",
];
const tomlValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.string(),
    fc.constantFrom("mqtt", "c8y", "mqtt://h:1", "127.0.0.1", "::1", "info", ""),
    fc.integer(),
    fc.double({ noNaN: false }),
    fc.boolean(),
    // TOML dates have four-digit years.
    fc.date({ min: new Date("0001-01-01"), max: new Date("9999-12-31"), noInvalidDate: true }),
    fc.array(tie("value"), { maxLength: 3 }),
    tie("table"),
  ),
  table: fc.dictionary(
    fc.oneof(fc.constantFrom(...KNOWN, "__proto__", "constructor", "toString"), fc.string()),
    tie("value"),
    { maxKeys: 5 },
  ),
})).table;

// Runs `run`; anything thrown but a well-formed ConfigError fails the property.
function onlyConfigErrors(run: () => unknown): ConfigError | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    ok(error.issues.length > 0);
    for (const issue of error.issues) ok(issue.key && issue.expected && issue.found);
    return error;
  }
}

Deno.test("parseConfig throws nothing but ConfigError, whatever the text", () => {
  const fragment = fc.oneof(
    fc.string(),
    fc.constantFrom("[", "]", "[[", "=", '"', "\n", "[clouds.main]", "type = ", "port = ", "a.b"),
  );
  fc.assert(fc.property(fc.array(fragment, { maxLength: 20 }), (parts) => {
    onlyConfigErrors(() => parse(parts.join("")));
  }));
  fc.assert(fc.property(tomlValue, (table) => {
    let text: string;
    try {
      text = stringify(table);
    } catch {
      return; // not representable in TOML
    }
    onlyConfigErrors(() => parse(text));
  }));
  fc.assert(fc.property(
    fc.dictionary(fc.string().map((s) => `OUTPOST_${s}`), fc.string(), { maxKeys: 4 }),
    (env) => void onlyConfigErrors(() => parse(MAIN, env)),
  ));
});

Deno.test("a mistake in one key is reported in that key's section, whatever the wrong value", () => {
  const example = parseToml(Deno.readTextFileSync(EXAMPLE));
  const paths = schemaKeys(configFileSchema(), "").map((key) => key.replace("<name>", "main"));
  const edits = fc.array(fc.tuple(fc.constantFrom(...paths), tomlValue), {
    minLength: 1,
    maxLength: 4,
  });
  fc.assert(fc.property(edits, (changes) => {
    const raw = structuredClone(example) as Record<string, Record<string, unknown>>;
    for (const [path, value] of changes) {
      const keys = path.split(".");
      const table = keys.slice(0, -1).reduce<Record<string, unknown>>(
        (t, k) => t[k] as Record<string, unknown>,
        raw,
      );
      table[keys.at(-1)!] = value;
    }
    let text: string;
    try {
      text = stringify(raw);
    } catch {
      return;
    }
    const sections = new Set(changes.map(([path]) => path.split(".")[0]));
    for (const issue of onlyConfigErrors(() => parse(text))?.issues ?? []) {
      ok(sections.has(issue.key.split(".")[0]), issue.key);
    }
  }));
});

Deno.test("a secret of any kind written where a password belongs is never echoed", () => {
  const marker = "Zq7Secret";
  const secretValue = fc.oneof(
    fc.integer({ min: 10_000_000 }),
    fc.string().map((s) => [marker + s]),
    fc.string().map((s) => ({ value: marker + s })),
  );
  fc.assert(fc.property(secretValue, (value) => {
    const text = stringify({
      broker: { port: "bad" },
      clouds: { main: { type: "mqtt", url: "mqtt://h", password: value } },
    });
    const message = errorOf(text).message;
    ok(!message.includes(marker) && !message.includes(String(value)), message);
  }));
});
