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
  equal(cloud.topicPrefix, "outpost");
});

Deno.test("commands and support on AWS are off until asked for; topicPrefix defaults to outpost", () => {
  const config = parseConfig('[clouds.a]\ntype = "aws"\nurl = "mqtts://x.iot.example:8883"', {
    env: {},
  });
  const cloud = config.clouds.a;
  if (cloud.type !== "aws") throw new Error("not aws");
  deepEqual([cloud.commands, cloud.support, cloud.topicPrefix], [false, false, "outpost"]);
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
  deepEqual(issues('topicPrefix = "acme/outpost"'), []);
  // AWS allows 7 slashes in a topic: the deepest support topic leaves room for two levels.
  deepEqual(issues('topicPrefix = "a/b/c"'), ["clouds.a.topicPrefix"]);
  deepEqual(issues('topicPrefix = "$aws"'), ["clouds.a.topicPrefix"]);
  deepEqual(issues('topicPrefix = "site/+"'), ["clouds.a.topicPrefix"]);
  deepEqual(issues(`topicPrefix = "${"x".repeat(25)}"`), ["clouds.a.topicPrefix"]);
  deepEqual(issues('commands = "yes"'), ["clouds.a.commands"]);
});

Deno.test("AWS on port 443 offers ALPN x-amzn-mqtt-ca; on 8883 nothing", () => {
  deepEqual(awsAlpn("mqtts://abc-ats.iot.eu-west-1.amazonaws.com:443"), ["x-amzn-mqtt-ca"]);
  equal(awsAlpn("mqtts://abc-ats.iot.eu-west-1.amazonaws.com:8883"), undefined);
  equal(awsAlpn("mqtt://127.0.0.1:443"), undefined, "no TLS, no ALPN");
});
