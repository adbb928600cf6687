import { deepEqual, equal, match, ok, throws } from "node:assert/strict";
import { createHmac } from "node:crypto";
import { Buffer } from "node:buffer";
import fc from "fast-check";
import {
  base64Decode,
  base64Encode,
  deriveDeviceKey,
  dpsResourceUri,
  hubResourceUri,
  parseSasToken,
  sasToken,
} from "../../protocols/azure_sas.ts";
import {
  dpsPollTopic,
  dpsUsername,
  encodePropertyBag,
  hubUsername,
  parseC2dTopic,
  parseDesiredTopic,
  parseMethodTopic,
  parsePropertyBag,
  parseResponseTopic,
  splitCommandName,
  telemetryTopic,
} from "../../protocols/azure_topics.ts";
import {
  desiredProperties,
  pendingDesired,
  reportedPatch,
  writableAckPatch,
} from "../../protocols/azure_pnp.ts";
import { dpsRegistrationBody, parseDpsReply } from "../../protocols/azure_dps.ts";
import { parseConfig } from "../../actors/agent/config.ts";

const KEY = btoa("0123456789abcdef0123456789abcdef");
const nodeHmac = (key: string, text: string) =>
  createHmac("sha256", Buffer.from(key, "base64")).update(text).digest("base64");

Deno.test("a hub SAS token signs the URL-encoded resource and expiry, as node:crypto computes it", async () => {
  const sr = hubResourceUri("hub.azure-devices.net", "dev-1");
  equal(sr, "hub.azure-devices.net%2Fdevices%2Fdev-1");
  const token = await sasToken({ resourceUri: sr, key: KEY, expirySec: 1_700_000_000 });
  const fields = parseSasToken(token);
  equal(fields.sr, sr);
  equal(fields.se, "1700000000");
  equal(fields.skn, undefined);
  equal(decodeURIComponent(fields.sig), nodeHmac(KEY, `${sr}\n1700000000`));
});

Deno.test("a DPS SAS token carries skn=registration over <scope>/registrations/<id>", async () => {
  const token = await sasToken({
    resourceUri: dpsResourceUri("0ne001", "dev-1"),
    key: KEY,
    expirySec: 42,
    policy: "registration",
  });
  match(
    token,
    /^SharedAccessSignature sr=0ne001\/registrations\/dev-1&sig=[^&]+&se=42&skn=registration$/,
  );
});

Deno.test("any key and resource sign to the signature node:crypto computes, and parse back", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ minLength: 1, maxLength: 64 }),
      fc.string({ minLength: 1 }),
      fc.integer({ min: 1, max: 2 ** 40 }),
      async (raw, resource, expiry) => {
        const key = base64Encode(raw);
        const resourceUri = encodeURIComponent(resource);
        const token = await sasToken({ resourceUri, key, expirySec: expiry });
        const fields = parseSasToken(token);
        equal(fields.sr, resourceUri);
        equal(decodeURIComponent(fields.sig), nodeHmac(key, `${resourceUri}\n${expiry}`));
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("a group key derives the device key as HMAC-SHA256 of the device id", async () => {
  equal(await deriveDeviceKey(KEY, "dev-1"), nodeHmac(KEY, "dev-1"));
});

Deno.test("keys that are not base64 and SAS text that is not a token are refused clearly", async () => {
  throws(() => base64Decode("not base64!"), /not base64/);
  throws(() => parseSasToken("Bearer x"), /starts with "SharedAccessSignature "/);
  throws(() => parseSasToken("SharedAccessSignature sr=a&se=1"), /lacks its "sig" field/);
  await sasToken({ resourceUri: "x", key: "???", expirySec: 1 }).then(
    () => ok(false, "should reject"),
    (error) => match(error.message, /not base64/),
  );
});

Deno.test("user names follow PROTOCOLS.md for the hub (api-version, model-id) and DPS", () => {
  equal(hubUsername("h.net", "d1"), "h.net/d1/?api-version=2021-04-12");
  equal(
    hubUsername("h.net", "d1", "dtmi:a:b;1"),
    "h.net/d1/?api-version=2021-04-12&model-id=dtmi:a:b;1",
  );
  equal(dpsUsername("0ne1", "d1"), "0ne1/registrations/d1/api-version=2019-03-31");
});

Deno.test("property bags round-trip whatever their keys and values", () => {
  fc.assert(
    fc.property(
      fc.dictionary(fc.string({ minLength: 1 }), fc.string()),
      (properties) => deepEqual(parsePropertyBag(encodePropertyBag(properties)), properties),
    ),
    { numRuns: 500 },
  );
  equal(
    telemetryTopic("d1", { "$.ct": "application/json", "$.sub": "thermostat1" }),
    "devices/d1/messages/events/%24.ct=application%2Fjson&%24.sub=thermostat1",
  );
  throws(() => parsePropertyBag("a=%E0%A4%A"), /bad %-escape/);
});

Deno.test("response topics give status, $rid, $version and retry-after; anything else is not one or an error", () => {
  deepEqual(parseResponseTopic("$iothub/twin/res/204/?$rid=7&$version=12"), {
    service: "twin",
    status: 204,
    rid: "7",
    version: 12,
    properties: { $rid: "7", $version: "12" },
  });
  const dps = parseResponseTopic("$dps/registrations/res/202/?$rid=1&retry-after=3")!;
  equal(dps.service, "dps");
  equal(dps.retryAfterSec, 3);
  equal(parseResponseTopic("devices/x/messages/events/"), undefined);
  throws(() => parseResponseTopic("$iothub/twin/res/200/?a=1"), /has no \$rid/);
  throws(() => parseResponseTopic("$iothub/twin/res/204/?$rid=1&$version=x"), /not a whole number/);
  fc.assert(
    fc.property(fc.string(), (suffix) => {
      try {
        const response = parseResponseTopic(`$iothub/twin/res/200/?${suffix}`);
        ok(response === undefined || typeof response.rid === "string");
      } catch (error) {
        ok(error instanceof TypeError, String(error));
      }
    }),
    { numRuns: 500 },
  );
});

Deno.test("method topics split comp*cmd into component and command", () => {
  deepEqual(parseMethodTopic("$iothub/methods/POST/thermostat*reboot/?$rid=5"), {
    name: "thermostat*reboot",
    component: "thermostat",
    command: "reboot",
    rid: "5",
  });
  deepEqual(parseMethodTopic("$iothub/methods/POST/reboot/?$rid=5"), {
    name: "reboot",
    command: "reboot",
    rid: "5",
  });
  deepEqual(splitCommandName("*x"), { name: "*x", command: "*x" });
  equal(parseMethodTopic("$iothub/methods/res/200/?$rid=1"), undefined);
  deepEqual(parseC2dTopic("d1", "devices/d1/messages/devicebound/method-name=go&%24.mid=1"), {
    "method-name": "go",
    "$.mid": "1",
  });
  deepEqual(parseDesiredTopic("$iothub/twin/PATCH/properties/desired/?$version=4"), { version: 4 });
  equal(
    dpsPollTopic("2", "op 1"),
    "$dps/registrations/GET/iotdps-get-operationstatus/?$rid=2&operationId=op%201",
  );
});

Deno.test("writable property acks follow the PnP shape, wrapped with __t inside components", () => {
  deepEqual(writableAckPatch({ name: "fan", value: 2, ac: 200, av: 4, ad: "ok" }), {
    fan: { value: 2, ac: 200, av: 4, ad: "ok" },
  });
  deepEqual(writableAckPatch({ component: "th", name: "t", value: 21, ac: 400, av: 5 }), {
    th: { __t: "c", t: { value: 21, ac: 400, av: 5 } },
  });
  deepEqual(reportedPatch({ a: 1 }, "c"), { c: { __t: "c", a: 1 } });
  deepEqual(desiredProperties({ fan: 2, th: { __t: "c", t: 21 }, $version: 3 }), [
    { name: "fan", value: 2 },
    { component: "th", name: "t", value: 21 },
  ]);
});

Deno.test("boot sync picks desired properties with no ack or an older av", () => {
  const { version, properties } = pendingDesired({
    desired: { a: 1, b: 2, c: 3, th: { __t: "c", t: 20 }, $version: 7 },
    reported: {
      b: { value: 2, ac: 200, av: 7 },
      c: { value: 3, ac: 200, av: 6 },
      th: { __t: "c" },
    },
  });
  equal(version, 7);
  deepEqual(properties.map((p) => `${p.component ?? ""}.${p.name}`), [".a", ".c", "th.t"]);
  fc.assert(
    fc.property(fc.jsonValue(), fc.jsonValue(), (desired, reported) => {
      const result = pendingDesired({ desired, reported });
      ok(Array.isArray(result.properties));
    }),
    { numRuns: 300 },
  );
});

Deno.test("DPS bodies carry the IoT Central model payload; replies map to assigning, assigned, throttled, failed", () => {
  equal(dpsRegistrationBody("d1"), '{"registrationId":"d1"}');
  deepEqual(JSON.parse(dpsRegistrationBody("d1", "dtmi:x;1")), {
    registrationId: "d1",
    payload: { iotcModelId: "dtmi:x;1", modelId: "dtmi:x;1" },
  });
  deepEqual(parseDpsReply(202, '{"operationId":"op","status":"assigning"}', 2), {
    kind: "assigning",
    operationId: "op",
    retryAfterSec: 2,
  });
  deepEqual(
    parseDpsReply(
      200,
      '{"status":"assigned","registrationState":{"assignedHub":"h","deviceId":"d","status":"assigned"}}',
    ),
    { kind: "assigned", hub: "h", deviceId: "d" },
  );
  deepEqual(parseDpsReply(429, ""), { kind: "throttled", status: 429, retryAfterSec: undefined });
  deepEqual(parseDpsReply(503, "x", 5), { kind: "throttled", status: 503, retryAfterSec: 5 });
  const failed = parseDpsReply(401, '{"errorCode":401002,"message":"denied"}');
  deepEqual(failed, {
    kind: "failed",
    status: 401,
    reason: "DPS refused the registration with 401 (401002): denied",
  });
  fc.assert(
    fc.property(fc.integer({ min: 100, max: 599 }), fc.string(), (status, payload) => {
      const outcome = parseDpsReply(status, payload);
      ok(["assigning", "assigned", "throttled", "failed"].includes(outcome.kind));
      if (status >= 429) equal(outcome.kind, "throttled");
    }),
    { numRuns: 500 },
  );
});

Deno.test("the example's azure block is valid and every azure key is documented", () => {
  const text = Deno.readTextFileSync(new URL("../../outpost.example.toml", import.meta.url));
  const lines = text.split("\n");
  const start = lines.indexOf("# [clouds.azure]");
  const end = lines.findIndex((l, i) => i > start && l.startsWith("# A Cumulocity IoT cloud"));
  ok(start > 0 && end > start, "no commented [clouds.azure] block before the c8y one");
  const block = lines.slice(start, end).map((line) => line.replace(/^# ?/, "")).join("\n");
  const config = parseConfig(`[agent]\ndeviceId = "outpost-1"\n${block}`, { env: {} });
  const cloud = config.clouds.azure;
  equal(cloud.type, "azure");
  const docs = Deno.readTextFileSync(new URL("../../docs/configuration.md", import.meta.url));
  for (const key of Object.keys(cloud)) {
    if (key === "type") continue;
    if (key === "backoff") {
      for (const inner of ["minMs", "maxMs", "jitter"]) {
        ok(docs.includes(`\`clouds.<name>.backoff.${inner}\``), inner);
      }
      continue;
    }
    ok(docs.includes(`\`clouds.<name>.${key}\``), `docs lack clouds.<name>.${key}`);
  }
  for (const key of ["groupKey", "certFile", "keyFile", "hub", "caFile"]) {
    ok(docs.includes(`\`clouds.<name>.${key}\``), key);
  }
});
