/** The `aws` cloud type's configuration: the example block, the docs, and the errors. */
import { deepEqual, equal } from "node:assert/strict";
import { parseConfig } from "../../actors/agent/config.ts";
import { checkExampleBlock } from "../helpers/example_config.ts";
import { awsAlpn } from "../../actors/aws/mod.ts";

Deno.test("the example's aws block is valid, sets every aws key under a comment, and the docs name them", () => {
  const cloud = checkExampleBlock("aws", "aws").clouds.aws;
  equal(cloud.type, "aws");
  if (cloud.type !== "aws") return;
  equal(cloud.cleanSession, false);
  deepEqual(cloud.shadows, ["classic"]);
  equal(cloud.thingName, undefined, '"" means not set');
});

function issues(cloud: string): string[] {
  try {
    parseConfig(`[clouds.a]\ntype = "aws"\nurl = "mqtts://x.iot.example:8883"\n${cloud}`, {
      env: {},
    });
  } catch (error) {
    return (error as { issues: { key: string; message?: string }[] }).issues.map((i) => i.key);
  }
  return [];
}

Deno.test("aws configuration mistakes name their key", () => {
  deepEqual(issues(""), []);
  deepEqual(issues('certFile = "c.pem"\nkeyFile = "k.pem"'), ["clouds.a.thingName"]);
  deepEqual(issues('thingName = "bad name"'), ["clouds.a.thingName"]);
  deepEqual(issues('ingestRule = "a-b"'), ["clouds.a.ingestRule"]);
  deepEqual(issues('shadows = ["classic", "bad/name"]'), ["clouds.a.shadows.1"]);
  deepEqual(issues('telemetryShadow = "other"'), ["clouds.a.telemetryShadow"]);
  deepEqual(issues("[clouds.a.provisioning]\nenabled = true"), ["clouds.a.provisioning.template"]);
  deepEqual(issues('clientId = "x"'), ["clouds.a.clientId"], "the client id is the thing name");
});

Deno.test("AWS on port 443 offers ALPN x-amzn-mqtt-ca; on 8883 nothing", () => {
  deepEqual(awsAlpn("mqtts://abc-ats.iot.eu-west-1.amazonaws.com:443"), ["x-amzn-mqtt-ca"]);
  equal(awsAlpn("mqtts://abc-ats.iot.eu-west-1.amazonaws.com:8883"), undefined);
  equal(awsAlpn("mqtt://127.0.0.1:443"), undefined, "no TLS, no ALPN");
});
