import assert from "node:assert/strict";
import { CERT_STORE_FILES, openCertStore } from "../../actors/aws/cert_store.ts";

const identity = {
  clientId: "pump-7",
  certificatePem: "-----BEGIN CERTIFICATE-----\nMIIcert\n-----END CERTIFICATE-----\n",
  privateKeyPem: "-----BEGIN RSA PRIVATE KEY-----\nMIIkey\n-----END RSA PRIVATE KEY-----\n",
  publicKeyPem: "-----BEGIN PUBLIC KEY-----\nMIIpub\n-----END PUBLIC KEY-----\n",
  rootCaPem: "-----BEGIN CERTIFICATE-----\nMIIroot\n-----END CERTIFICATE-----\n",
};

async function withTempDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "outpost_cert_store_" });
  try {
    await run(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a written identity reads back whole, in the seed's file names", async () => {
  await withTempDir(async (dir) => {
    const store = openCertStore(`${dir}/certificate_store`);
    assert.equal(await store.read(), undefined);
    await store.write(identity);
    assert.deepEqual(await store.read(), identity);
    assert.deepEqual(await store.missing(), []);
    const names = [];
    for await (const entry of Deno.readDir(`${dir}/certificate_store`)) names.push(entry.name);
    assert.deepEqual(names.sort(), Object.values(CERT_STORE_FILES).sort());
    assert.equal(await Deno.readTextFile(`${dir}/certificate_store/clientID.txt`), "pump-7");
    assert.equal(
      await Deno.readTextFile(`${dir}/certificate_store/deviceCert.cert`),
      identity.certificatePem,
    );
  });
});

Deno.test("the private key file is readable by its owner only (0600)", async () => {
  await withTempDir(async (dir) => {
    await openCertStore(dir).write(identity);
    const { mode } = await Deno.stat(`${dir}/${CERT_STORE_FILES.privateKey}`);
    assert.equal(mode! & 0o777, 0o600);
  });
});

Deno.test("a rewrite replaces the identity and leaves no temp files", async () => {
  await withTempDir(async (dir) => {
    const store = openCertStore(dir);
    await store.write(identity);
    const next = { ...identity, clientId: "pump-8", rootCaPem: undefined };
    await store.write(next);
    const read = await store.read();
    assert.equal(read?.clientId, "pump-8");
    assert.equal(read?.rootCaPem, identity.rootCaPem, "the root CA is kept when not given");
    for await (const entry of Deno.readDir(dir)) assert.ok(!entry.name.startsWith("."));
  });
});

Deno.test("a partial store reads as undefined and names what is missing", async () => {
  await withTempDir(async (dir) => {
    const store = openCertStore(dir);
    assert.deepEqual(await store.missing(), [
      "clientID.txt",
      "deviceCert.cert",
      "devicePrivateKey.pem",
    ]);
    await store.write(identity);
    await Deno.remove(`${dir}/deviceCert.cert`);
    await Deno.writeTextFile(`${dir}/devicePrivateKey.pem`, "  \n");
    assert.equal(await store.read(), undefined);
    assert.deepEqual(await store.missing(), ["deviceCert.cert", "devicePrivateKey.pem"]);
  });
});

Deno.test("a store made by the seed client is read, client id trimmed, lower-case root CA accepted", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/clientID.txt`, "pump-9\n");
    await Deno.writeTextFile(`${dir}/deviceCert.cert`, identity.certificatePem);
    await Deno.writeTextFile(`${dir}/devicePrivateKey.pem`, identity.privateKeyPem);
    await Deno.writeTextFile(`${dir}/amazonRootCA1.pem`, identity.rootCaPem);
    assert.deepEqual(await openCertStore(dir).read(), {
      clientId: "pump-9",
      certificatePem: identity.certificatePem,
      privateKeyPem: identity.privateKeyPem,
      rootCaPem: identity.rootCaPem,
    });
  });
});

Deno.test("an identity with a bad client id or a non-PEM field is refused before any write", async () => {
  await withTempDir(async (dir) => {
    const store = openCertStore(`${dir}/s`);
    await assert.rejects(
      store.write({ ...identity, clientId: "a/b" }),
      /client id "a\/b" is not a thing name/,
    );
    await assert.rejects(
      store.write({ ...identity, privateKeyPem: "secret" }),
      /privateKeyPem is not a PEM private key/,
    );
    await assert.rejects(Deno.stat(`${dir}/s`), Deno.errors.NotFound);
  });
});
