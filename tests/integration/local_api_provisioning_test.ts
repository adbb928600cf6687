/**
 * Provisioning on the local API's TLS port exactly as the TeamViewer IoT
 * SDK does it (PROTOCOLS.md §4), with a plain npm:mqtt client and a
 * node-forge CSR: the certificate, the CSR checks and their error codes,
 * the approval mode, and the CA kept across restarts.
 */
import { deepEqual, equal, notEqual, ok, rejects } from "node:assert/strict";
import forge from "node-forge";
import { startLocalApiWorld } from "../helpers/local_api_world.ts";
import {
  attemptConnect,
  commonNameOf,
  connectApi,
  connectProvisioning,
  csrHash,
  makeKeyAndCsr,
  provisionApp,
  requestCertificate,
} from "../helpers/local_api_app.ts";
import { until } from "../helpers/wait.ts";

function csrWith(bits: number, md = forge.md.sha256.create()): string {
  const keys = forge.pki.rsa.generateKeyPair({ bits, workers: -1 });
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = keys.publicKey;
  csr.setSubject([{ name: "commonName", value: "app" }]);
  csr.sign(keys.privateKey, md);
  return forge.pki.certificationRequestToPem(csr);
}

// The signature is the last field of the DER: flipping its last byte breaks it and nothing else.
function tampered(csrPem: string): string {
  const der = forge.pem.decode(csrPem)[0].body as string;
  const flipped = der.slice(0, -1) + String.fromCharCode(der.charCodeAt(der.length - 1) ^ 1);
  return forge.pem.encode({ type: "CERTIFICATE REQUEST", body: flipped });
}

Deno.test("a CSR on /createConnector gets a CA-signed X.509 v3 client certificate with a 32-hex CN on /certBack/<sha256>", async () => {
  const world = await startLocalApiWorld();
  try {
    const { csrPem } = makeKeyAndCsr("my-app");
    const reply = await requestCertificate(world.provisioningPort, world.caPem, csrPem);
    ok(reply.ok, reply.text);
    const cert = forge.pki.certificateFromPem(reply.text);
    const ca = forge.pki.certificateFromPem(world.caPem);
    ok(ca.verify(cert), "signed by the CA written to caCertPath");
    equal(cert.version, 2, "X.509 v3");
    const clientId = commonNameOf(reply.text);
    ok(/^[0-9a-f]{32}$/.test(clientId), clientId);
    deepEqual(cert.getExtension("basicConstraints").cA, false);
    equal(cert.getExtension("extKeyUsage").clientAuth, true);
    const [record] = world.api.clients("active");
    deepEqual([record.clientId, record.name, record.csrHash], [
      clientId,
      "my-app",
      await csrHash(csrPem),
    ]);
    const repeated = await requestCertificate(world.provisioningPort, world.caPem, csrPem);
    equal(repeated.text, reply.text, "the same CSR again gets the same certificate");
    equal(world.api.clients().length, 1);
    const again = await provisionApp(world.provisioningPort, world.caPem);
    notEqual(again.clientId, clientId, "each app gets its own client id");
  } finally {
    await world.stop();
  }
});

Deno.test("bad CSRs are answered on /certBack/<hash>/error with the SDK's error codes and provisioning keeps serving", async () => {
  const world = await startLocalApiWorld();
  try {
    const cases: [string, string, number][] = [
      ["not a CSR", "hello", 18],
      ["an empty payload", "", 18],
      ["a 1024-bit key", csrWith(1024), 19],
      ["a signature that does not verify", tampered(csrWith(2048)), 18],
      ["a SHA-1 signature", csrWith(2048, forge.md.sha1.create()), 18],
    ];
    for (const [what, csr, code] of cases) {
      const reply = await requestCertificate(world.provisioningPort, world.caPem, csr);
      equal(reply.ok, false, what);
      const body = JSON.parse(reply.text);
      equal(body.errorcode, code, `${what}: ${reply.text}`);
      equal(typeof body.errorMessage, "string");
    }
    deepEqual(world.api.clients(), [], "no refused CSR became a client");
    equal(world.restarts(), 0, "nothing in the local-api subtree crashed");
    await provisionApp(world.provisioningPort, world.caPem);
  } finally {
    await world.stop();
  }
});

Deno.test("the provisioning port allows only /createConnector and the app's own /certBack topics", async () => {
  const world = await startLocalApiWorld();
  const client = await connectProvisioning(world.provisioningPort, world.caPem);
  try {
    for (const filter of ["#", "/v1.0/#", "/certBack/+", "/createConnector"]) {
      await rejects(client.subscribeAsync(filter, { qos: 1 }), Error, filter);
    }
    const granted = await client.subscribeAsync(`/certBack/${"a".repeat(64)}`, { qos: 1 });
    deepEqual(granted.map((g) => g.qos), [1]);
    const closed = new Promise<void>((resolve) => client.once("close", () => resolve()));
    client.publish("/v1.0/" + "0".repeat(32) + "/sensor/create", '{"name":"x"}', { qos: 1 });
    await closed;
    await provisionApp(world.provisioningPort, world.caPem);
  } finally {
    await client.endAsync(true);
    await world.stop();
  }
});

Deno.test("in approval mode a new app waits until the operator approves it, and a refused one gets ForbiddendAccess", async () => {
  const world = await startLocalApiWorld({ approval: "operator" });
  try {
    const first = makeKeyAndCsr("waiting-app");
    const reply = requestCertificate(world.provisioningPort, world.caPem, first.csrPem, 10_000);
    await until("the client to be pending", () => world.api.clients("pending").length === 1);
    const [pending] = world.api.clients("pending");
    equal(pending.name, "waiting-app");
    const refused = await attemptConnect(world.apiPort, { ca: world.caPem });
    equal(refused.connected, false);
    await world.api.approve(pending.clientId);
    const answered = await reply;
    ok(answered.ok, answered.text);
    equal(commonNameOf(answered.text), pending.clientId);

    const second = makeKeyAndCsr("unwanted-app");
    const rejected = requestCertificate(world.provisioningPort, world.caPem, second.csrPem, 10_000);
    await until("the second client to be pending", () => world.api.clients("pending").length === 1);
    await world.api.reject(world.api.clients("pending")[0].clientId);
    const no = await rejected;
    equal(no.ok, false);
    equal(JSON.parse(no.text).errorcode, 18);
  } finally {
    await world.stop();
  }
});

Deno.test("the CA is made once with its key at mode 0600 and reused after a restart, where provisioned apps still connect", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "outpost-local-api-" });
  try {
    const first = await startLocalApiWorld({ stateDir });
    let identity;
    try {
      identity = await provisionApp(first.provisioningPort, first.caPem);
    } finally {
      await first.stop();
    }
    equal((await Deno.stat(`${stateDir}/local-api/ca.key`)).mode! & 0o777, 0o600);
    const second = await startLocalApiWorld({ stateDir });
    try {
      equal(second.caPem, first.caPem);
      const app = await connectApi(second.apiPort, second.caPem, identity);
      const ping = await app.call("/ping", { request: "Ping" }, ["/ping/info/inbox"]);
      deepEqual(ping.body, { request: "Ping" });
      await app.close();
    } finally {
      await second.stop();
    }
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});
