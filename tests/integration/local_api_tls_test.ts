/**
 * Who may use the local API's mutual-TLS port (PROTOCOLS.md §4): only an
 * app holding an X.509 v3 certificate our CA signed for an active client,
 * and only under its own `/v1.0/<clientId>`. Each refusal is shown next
 * to the same app getting in with its real certificate, so the test
 * fails if the port refused everything.
 */
import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import forge from "node-forge";
import { startLocalApiWorld } from "../helpers/local_api_world.ts";
import { attemptConnect, connectApi, provisionApp } from "../helpers/local_api_app.ts";
import { testPki } from "../helpers/tls.ts";
import { configureLogging, resetLogging } from "../../actors/runtime/logging.ts";

async function accepted(port: number, options: { ca: string; key?: string; cert?: string }) {
  const attempt = await attemptConnect(port, options);
  if (attempt.connected) await attempt.client.endAsync(true);
  return attempt.connected;
}

Deno.test("the API port refuses no certificate, a certificate from another CA, and a v1 certificate from its own CA", async () => {
  const world = await startLocalApiWorld();
  try {
    const app = await provisionApp(world.provisioningPort, world.caPem);
    equal(
      await accepted(world.apiPort, { ca: world.caPem, key: app.keyPem, cert: app.certPem }),
      true,
    );

    equal(await accepted(world.apiPort, { ca: world.caPem }), false, "no client certificate");

    const pki = await testPki();
    equal(
      await accepted(world.apiPort, {
        ca: world.caPem,
        key: pki.client.key,
        cert: pki.client.cert,
      }),
      false,
      "a certificate from another CA",
    );

    // A v1 certificate with everything else right: our CA's signature, the
    // client's CN, key and serial.
    const real = forge.pki.certificateFromPem(app.certPem);
    const caKey = forge.pki.privateKeyFromPem(
      await Deno.readTextFile(`${world.stateDir}/local-api/ca.key`),
    );
    const v1 = forge.pki.createCertificate();
    v1.version = 0;
    v1.publicKey = real.publicKey;
    v1.serialNumber = real.serialNumber;
    v1.validity.notBefore = real.validity.notBefore;
    v1.validity.notAfter = real.validity.notAfter;
    v1.setSubject(real.subject.attributes);
    v1.setIssuer(real.issuer.attributes);
    v1.sign(caKey, forge.md.sha256.create());
    const v1Pem = forge.pki.certificateToPem(v1);
    ok(forge.pki.certificateFromPem(world.caPem).verify(forge.pki.certificateFromPem(v1Pem)));
    equal(
      await accepted(world.apiPort, { ca: world.caPem, key: app.keyPem, cert: v1Pem }),
      false,
      "a v1 certificate",
    );
  } finally {
    await world.stop();
  }
});

Deno.test("a deprovisioned app loses its sensors and its certificate is refused from then on", async () => {
  const world = await startLocalApiWorld();
  try {
    const identity = await provisionApp(world.provisioningPort, world.caPem);
    const app = await connectApi(world.apiPort, world.caPem, identity);
    await app.call("/sensor/create", { name: "s" }, ["/sensor/inbox"]);
    equal(world.api.sensorsOf(identity.clientId).length, 1);
    const reply = await app.call("/delete", {}, ["/delete/info/inbox", "/delete/error/inbox"]);
    equal(reply.topic, `/v1.0/${identity.clientId}/delete/info/inbox`);
    deepEqual(world.api.sensorsOf(identity.clientId), []);
    equal(world.api.clients("revoked")[0].clientId, identity.clientId);
    await app.close();
    equal(
      await accepted(world.apiPort, {
        ca: world.caPem,
        key: identity.keyPem,
        cert: identity.certPem,
      }),
      false,
    );
  } finally {
    await world.stop();
  }
});

Deno.test("an app can neither subscribe to nor publish on another app's topics", async () => {
  const world = await startLocalApiWorld();
  const a = await connectApi(
    world.apiPort,
    world.caPem,
    await provisionApp(world.provisioningPort, world.caPem, "a"),
  );
  const b = await connectApi(
    world.apiPort,
    world.caPem,
    await provisionApp(world.provisioningPort, world.caPem, "b"),
  );
  try {
    for (
      const filter of [`/v1.0/${b.clientId}/#`, "#", "/v1.0/+/sensor/inbox", "/createConnector"]
    ) {
      await rejects(a.client.subscribeAsync(filter, { qos: 1 }), Error, filter);
    }
    const closed = new Promise<void>((resolve) => a.client.once("close", () => resolve()));
    a.client.publish(`/v1.0/${b.clientId}/sensor/create`, '{"name":"intruder"}', { qos: 1 });
    await closed;
    // B is untouched and still served.
    const list = await b.call("/inventory", {}, ["/inventory/inbox"]);
    deepEqual(list.body, []);
    ok(!b.messages.some((m) => m.topic.endsWith("/sensor/inbox")));
  } finally {
    await a.close();
    await b.close();
    await world.stop();
  }
});

Deno.test("a publish in no client's namespace (the SDK's /v1.0/<cid>sensor<sid>/error) is acknowledged and dropped; another client's namespace is still refused", async () => {
  const lines: string[] = [];
  await configureLogging({ level: "warning", write: (line) => lines.push(line) });
  const world = await startLocalApiWorld();
  const a = await connectApi(
    world.apiPort,
    world.caPem,
    await provisionApp(world.provisioningPort, world.caPem, "a"),
  );
  const b = await connectApi(
    world.apiPort,
    world.caPem,
    await provisionApp(world.provisioningPort, world.caPem, "b"),
  );
  try {
    // The topic the SDK's own sensor_error()/metric_error() build: no slash after the client id.
    const stray = `/v1.0/${a.clientId}sensor${"0".repeat(32)}/error`;
    for (let i = 0; i < 2; i++) {
      const outcome = await Promise.race([
        a.client.publishAsync(stray, '{"errorcode":0}', { qos: 1 }).then(
          () => "acknowledged",
          (error: Error) => `failed: ${error.message}`,
        ),
        a.closed.then(() => "closed"),
      ]);
      equal(outcome, "acknowledged");
    }
    const pong = await a.call("/ping", { request: "Ping" }, ["/ping/info/inbox"]);
    deepEqual(pong.body, { request: "Ping" });
    ok(!a.messages.some((m) => m.topic === stray), "nobody receives the stray publish");
    const dropped = lines.filter((line) => line.includes("Dropped a publish"));
    equal(dropped.length, 1, `logged once per client and topic shape: ${dropped.join("\n")}`);
    ok(dropped[0].includes("/v1.0/<id>sensor<id>/error"), dropped[0]);

    a.client.publish(`/v1.0/${b.clientId}/ping`, "{}", { qos: 1 });
    await a.waitClosed();
    ok(!b.messages.some((m) => m.topic.endsWith("/ping/info/inbox")));
  } finally {
    await a.close();
    await b.close();
    await world.stop();
    await resetLogging();
  }
});
