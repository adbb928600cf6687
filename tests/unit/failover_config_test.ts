/**
 * `urls`, the broker list of a cloud (docs/configuration.md, "Broker
 * fail-over"): the rule between `url` and `urls`, each item's errors, which
 * cloud types take it, and the environment override.
 */
import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { type ConfigIssue, parseConfig } from "../../actors/agent/config.ts";
import { mqttConnectionOptions } from "../../actors/cloud/mqtt_config.ts";
import { mqttConnection } from "../../actors/mqtt/connection.ts";
import { MqttLink } from "../../actors/mqtt/link.ts";
import { remoteAccessBase } from "../../actors/c8y/remote_access.ts";

type Env = Record<string, string>;

function issuesOf(text: string, env: Env = {}): ConfigIssue[] {
  try {
    parseConfig(text, { env, source: "t.toml" });
  } catch (error) {
    return (error as { issues: ConfigIssue[] }).issues;
  }
  return [];
}

function cloudOf(text: string, env: Env = {}) {
  return Object.values(parseConfig(text, { env }).clouds)[0] as {
    type: string;
    url: string;
    urls: string[];
  };
}

const URL_EXPECTED =
  'a URL like "mqtt://host:1883" (scheme mqtt, mqtts, ws or wss; no user or password in it)';
const MQTT = '[clouds.main]\ntype = "mqtt"\n';
const TWO = 'urls = ["mqtt://a.example:1883", "mqtt://b.example:1883"]\n';

Deno.test("a generic cloud takes urls; the resolved table has the list and url as its first broker", () => {
  const { url, urls } = cloudOf(MQTT + TWO);
  deepEqual({ url, urls }, {
    url: "mqtt://a.example:1883",
    urls: ["mqtt://a.example:1883", "mqtt://b.example:1883"],
  });
  const single = cloudOf(`${MQTT}url = "mqtts://one.example:8883"\n`);
  deepEqual([single.url, single.urls], ["mqtts://one.example:8883", ["mqtts://one.example:8883"]]);
});

Deno.test("a table gives url or urls: both is an error naming both keys, neither one naming url", () => {
  deepEqual(issuesOf(`${MQTT}url = "mqtt://a.example"\n${TWO}`), [{
    key: "clouds.main.urls",
    expected: "url or urls, not both",
    found: "both url and urls",
  }]);
  deepEqual(issuesOf(MQTT), [{
    key: "clouds.main.url",
    expected: `${URL_EXPECTED}, or urls, a list of them`,
    found: "nothing",
  }]);
});

Deno.test("each item of urls is checked like url, and its error names its index", () => {
  deepEqual(
    issuesOf(`${MQTT}urls = ["mqtt://a.example", "http://b.example", "mqtt://u:p@c.example", 7]\n`),
    [
      { key: "clouds.main.urls.1", expected: URL_EXPECTED, found: '"http://b.example"' },
      { key: "clouds.main.urls.2", expected: URL_EXPECTED, found: '"mqtt://u:(hidden)@c.example"' },
      { key: "clouds.main.urls.3", expected: URL_EXPECTED, found: "7" },
    ],
  );
});

Deno.test("urls must be a non-empty list", () => {
  const expected =
    'a non-empty list of broker URLs like ["mqtt://a:1883", "mqtt://b:1883"], tried in this order';
  deepEqual(issuesOf(`${MQTT}urls = []\n`), [
    { key: "clouds.main.urls", expected, found: "[]" },
  ]);
  deepEqual(issuesOf(`${MQTT}urls = "mqtt://a.example"\n`), [
    { key: "clouds.main.urls", expected, found: '"mqtt://a.example"' },
  ]);
});

Deno.test("a broker listed twice, in any spelling of the same URL, is an error at its second place", () => {
  const urls =
    '["mqtt://a.example", "mqtt://b.example", "mqtt://A.example:1883/", "ws://a.example"]';
  deepEqual(issuesOf(`${MQTT}urls = ${urls}\n`), [{
    key: "clouds.main.urls.2",
    expected: "a broker not already in the list (it is urls.0 again)",
    found: '"mqtt://A.example:1883/"',
  }]);
  deepEqual(issuesOf(`${MQTT}urls = ["wss://h.example/mqtt", "wss://h.example/other"]\n`), []);
});

Deno.test("Cumulocity takes urls, and its remote access follows the first URL unless remoteAccessUrl is set", () => {
  const c8y = '[clouds.c]\ntype = "c8y"\ntenant = "t1"\nuser = "u"\npassword = "p"\n' +
    'urls = ["mqtts://t1.example.com:8883", "wss://t1.example.com/mqtt"]\n';
  const cloud = cloudOf(c8y);
  deepEqual(cloud.urls, ["mqtts://t1.example.com:8883", "wss://t1.example.com/mqtt"]);
  equal(remoteAccessBase(cloud.url), "wss://t1.example.com");
  equal(issuesOf(c8y + 'url = "mqtts://t1.example.com"\n')[0].found, "both url and urls");
});

Deno.test("AWS takes urls: endpoints of one account and region", () => {
  const cloud = cloudOf(
    '[clouds.a]\ntype = "aws"\nurls = ["mqtts://x-ats.iot.example:8883", "mqtts://x-ats.iot.example:443"]\n',
  );
  deepEqual([cloud.url, cloud.urls.length], ["mqtts://x-ats.iot.example:8883", 2]);
});

Deno.test("Azure refuses url and urls with the reason, and does not list them as known keys", () => {
  const azure = '[clouds.z]\ntype = "azure"\nhub = "h.azure-devices.net"\ndeviceKey = "AAAA"\n';
  const reason =
    "no url or urls: an Azure cloud connects to the hub DPS assigns (idScope), or to hub";
  deepEqual(issuesOf(`${azure}urls = ["mqtts://h.azure-devices.net:8883"]\n`), [{
    key: "clouds.z.urls",
    expected: reason,
    found: '["mqtts://h.azure-devices.net:8883"]',
  }]);
  deepEqual(issuesOf(`${azure}url = "mqtts://h.azure-devices.net:8883"\n`)[0].expected, reason);
  const unknown = issuesOf(`${azure}colour = 1\n`)[0].expected;
  ok(unknown.startsWith("no such key (known keys: type, idScope,"), unknown);
  ok(!/\burls?\b/.test(unknown), unknown);
});

const FILE = `${MQTT}url = "mqtt://file.example:1883"\n`;

Deno.test("OUTPOST_CLOUDS__<NAME>__URLS takes a JSON list and replaces the file's url", () => {
  const cloud = cloudOf(FILE, {
    OUTPOST_CLOUDS__MAIN__URLS: ' ["mqtt://a.example:1883", "mqtt://b.example:1883"] ',
  });
  deepEqual(cloud.urls, ["mqtt://a.example:1883", "mqtt://b.example:1883"]);
  const created = cloudOf("", {
    OUTPOST_CLOUDS__EDGE__TYPE: "mqtt",
    OUTPOST_CLOUDS__EDGE__URLS: '["mqtt://a.example:1883"]',
  });
  deepEqual(created.urls, ["mqtt://a.example:1883"]);
});

Deno.test("OUTPOST_CLOUDS__<NAME>__URL replaces the file's urls", () => {
  const cloud = cloudOf(`${MQTT}${TWO}`, { OUTPOST_CLOUDS__MAIN__URL: "mqtt://env.example:1883" });
  deepEqual(cloud.urls, ["mqtt://env.example:1883"]);
});

Deno.test("a bad URLS variable is an error naming the variable, and the index of a bad item", () => {
  deepEqual(issuesOf(FILE, { OUTPOST_CLOUDS__MAIN__URLS: "mqtt://a:1883,mqtt://b:1883" }), [{
    key: "OUTPOST_CLOUDS__MAIN__URLS",
    expected: 'a JSON list, like ["a", "b"] or [1, 2]',
    found: '"mqtt://a:1883,mqtt://b:1883"',
  }]);
  deepEqual(issuesOf(FILE, { OUTPOST_CLOUDS__MAIN__URLS: '["mqtt://a:1883", "ftp://b"]' }), [{
    key: "OUTPOST_CLOUDS__MAIN__URLS.1",
    expected: URL_EXPECTED,
    found: '"ftp://b"',
  }]);
  deepEqual(
    issuesOf(FILE, {
      OUTPOST_CLOUDS__MAIN__URL: "mqtt://c:1883",
      OUTPOST_CLOUDS__MAIN__URLS: '["mqtt://a:1883"]',
    }).map((i) => [i.key, i.found]),
    [["OUTPOST_CLOUDS__MAIN__URLS", "both url and urls"]],
  );
});

Deno.test("every list key takes a JSON list from the environment", () => {
  const config = parseConfig(undefined, {
    env: {
      OUTPOST_REMOTE_ACCESS__ALLOW: '["127.0.0.1:22", "[::1]:5900"]',
      OUTPOST_SUPPORT__PORTS__REMOTE_VIEW: "[5900]",
    },
    hostname: "h",
  });
  deepEqual(config.remoteAccess.allow, ["127.0.0.1:22", "[::1]:5900"]);
  deepEqual(config.support.ports.RemoteView, [5900]);
});

Deno.test("urls become the connection's brokers, in order, with url the first", async () => {
  const cloud = parseConfig(MQTT + TWO, { env: {} }).clouds.main;
  if (cloud.type !== "mqtt") throw new Error(`expected an mqtt cloud, got ${cloud.type}`);
  const options = await mqttConnectionOptions(cloud);
  equal(options.url, "mqtt://a.example:1883");
  deepEqual(options.brokers, [{ url: "mqtt://a.example:1883" }, { url: "mqtt://b.example:1883" }]);
});

Deno.test("a connection whose broker list does not start with its url is refused, naming both", () => {
  throws(
    () =>
      mqttConnection(new MqttLink("t"), {
        url: "mqtt://a.example:1883",
        clientId: "c",
        brokers: [{ url: "mqtt://user:secret@b.example:1883" }],
      }),
    (error: Error) =>
      error instanceof TypeError && error.message.includes("mqtt://a.example:1883") &&
      error.message.includes("[mqtt://b.example:1883]"),
  );
  throws(() => mqttConnection(new MqttLink("t"), { url: "mqtt://a", clientId: "c", brokers: [] }));
});
