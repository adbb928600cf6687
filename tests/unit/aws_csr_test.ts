import assert from "node:assert/strict";
import fc from "fast-check";
import forge from "node-forge";
import {
  decodeCreateFromCsrAccepted,
  decodeProvisioningRejected,
  decodeRegisterThingAccepted,
  encodeCreateFromCsr,
  encodeRegisterThing,
  generateKeyAndCsr,
  ProvisioningError,
  provisioningTopics,
  verifyCsr,
} from "../../protocols/aws_csr.ts";

const certificatePem = "-----BEGIN CERTIFICATE-----\nMIIcert\n-----END CERTIFICATE-----\n";

Deno.test("a 2048-bit CSR verifies, carries the CN, and its key matches the private key", async () => {
  const { privateKeyPem, publicKeyPem, csrPem } = await generateKeyAndCsr({
    commonName: "pump-7",
  });
  assert.deepEqual(verifyCsr(csrPem), { commonName: "pump-7", bits: 2048, valid: true });
  assert.match(privateKeyPem, /^-----BEGIN RSA PRIVATE KEY-----/);
  const csr = forge.pki.certificationRequestFromPem(csrPem);
  assert.equal(forge.pki.publicKeyToPem(csr.publicKey), publicKeyPem);
  const privateKey = forge.pki.privateKeyFromPem(privateKeyPem);
  assert.equal(privateKey.n.toString(16), csr.publicKey.n.toString(16));
  assert.equal(csr.siginfo.algorithmOid, forge.pki.oids.sha256WithRSAEncryption);
});

Deno.test("a CSR may have no CN, and bits decide the modulus size", async () => {
  const { csrPem } = await generateKeyAndCsr({ bits: 1024 });
  assert.deepEqual(verifyCsr(csrPem), { commonName: undefined, bits: 1024, valid: true });
});

Deno.test("a CSR whose subject was changed after signing, or signed with SHA-1, is not valid", async () => {
  const { csrPem, privateKeyPem } = await generateKeyAndCsr({ commonName: "a", bits: 1024 });
  const tampered = forge.pki.certificationRequestFromPem(csrPem);
  tampered.setSubject([{ name: "commonName", value: "b" }]);
  tampered.certificationRequestInfo = null;
  const tamperedInfo = verifyCsr(forge.pki.certificationRequestToPem(tampered));
  assert.equal(tamperedInfo.commonName, "b");
  assert.equal(tamperedInfo.valid, false);

  const sha1 = forge.pki.certificationRequestFromPem(csrPem);
  sha1.sign(forge.pki.privateKeyFromPem(privateKeyPem), forge.md.sha1.create());
  assert.equal(verifyCsr(forge.pki.certificationRequestToPem(sha1)).valid, false);
});

Deno.test("key generation refuses sizes and common names out of range", async () => {
  await assert.rejects(generateKeyAndCsr({ bits: 512 }), /512 bits/);
  await assert.rejects(generateKeyAndCsr({ commonName: "" }), /common name ""/);
});

Deno.test("text that is not a PEM CSR fails verification with a ProvisioningError", () => {
  assert.throws(() => verifyCsr("hello"), ProvisioningError);
  assert.throws(() => verifyCsr(certificatePem), /Cannot parse CSR/);
});

Deno.test("topics name create-from-csr and the template's provision request and replies", () => {
  assert.deepEqual(provisioningTopics("Fleet_1"), {
    createFromCsr: {
      request: "$aws/certificates/create-from-csr/json",
      accepted: "$aws/certificates/create-from-csr/json/accepted",
      rejected: "$aws/certificates/create-from-csr/json/rejected",
    },
    registerThing: {
      request: "$aws/provisioning-templates/Fleet_1/provision/json",
      accepted: "$aws/provisioning-templates/Fleet_1/provision/json/accepted",
      rejected: "$aws/provisioning-templates/Fleet_1/provision/json/rejected",
    },
  });
  for (const bad of ["", "a/b", "a+", "#", "x".repeat(37)]) {
    assert.throws(() => provisioningTopics(bad), /Cannot use provisioning template/, bad);
  }
});

Deno.test("requests encode as AWS's JSON bodies", () => {
  const csr = "-----BEGIN CERTIFICATE REQUEST-----\nMII\n-----END CERTIFICATE REQUEST-----\n";
  assert.deepEqual(JSON.parse(encodeCreateFromCsr(csr)), { certificateSigningRequest: csr });
  assert.throws(() => encodeCreateFromCsr(certificatePem), /not a PEM certificate request/);
  assert.deepEqual(JSON.parse(encodeRegisterThing("tok", { SerialNumber: "42" })), {
    certificateOwnershipToken: "tok",
    parameters: { SerialNumber: "42" },
  });
  assert.deepEqual(JSON.parse(encodeRegisterThing("tok")), {
    certificateOwnershipToken: "tok",
    parameters: {},
  });
  assert.throws(() => encodeRegisterThing(""), /ownership token is empty/);
  assert.throws(
    () => encodeRegisterThing("tok", { n: 1 } as unknown as Record<string, string>),
    /parameter "n" is not a string/,
  );
});

Deno.test("accepted and rejected replies decode from text or bytes", () => {
  const accepted = { certificateOwnershipToken: "tok", certificateId: "abc", certificatePem };
  assert.deepEqual(decodeCreateFromCsrAccepted(JSON.stringify(accepted)), accepted);
  assert.deepEqual(
    decodeCreateFromCsrAccepted(new TextEncoder().encode(JSON.stringify(accepted))),
    accepted,
  );
  assert.deepEqual(
    decodeRegisterThingAccepted('{"thingName":"pump-7","deviceConfiguration":{"a":"1"}}'),
    { thingName: "pump-7", deviceConfiguration: { a: "1" } },
  );
  assert.deepEqual(decodeRegisterThingAccepted('{"thingName":"pump-7"}'), {
    thingName: "pump-7",
    deviceConfiguration: {},
  });
  assert.deepEqual(
    decodeProvisioningRejected(
      '{"statusCode":400,"errorCode":"InvalidParameters","errorMessage":"Missing SerialNumber"}',
    ),
    { statusCode: 400, errorCode: "InvalidParameters", errorMessage: "Missing SerialNumber" },
  );
  assert.deepEqual(decodeProvisioningRejected('{"statusCode":403,"errorCode":"Forbidden"}'), {
    statusCode: 403,
    errorCode: "Forbidden",
    errorMessage: "",
  });
});

Deno.test("malformed replies fail with a ProvisioningError saying what was wrong", () => {
  const cases: [() => unknown, RegExp][] = [
    [() => decodeCreateFromCsrAccepted("{"), /create-from-csr accepted reply: invalid JSON/],
    [() => decodeCreateFromCsrAccepted("[]"), /not a JSON object/],
    [() => decodeCreateFromCsrAccepted(new Uint8Array([0xff])), /not valid UTF-8/],
    [
      () => decodeCreateFromCsrAccepted(`{"certificatePem":${JSON.stringify(certificatePem)}}`),
      /"certificateOwnershipToken" is missing/,
    ],
    [
      () =>
        decodeCreateFromCsrAccepted(
          '{"certificateOwnershipToken":"t","certificateId":"i","certificatePem":"x"}',
        ),
      /"certificatePem" is not a PEM certificate/,
    ],
    [() => decodeRegisterThingAccepted('{"thingName":7}'), /"thingName" is missing/],
    [
      () => decodeRegisterThingAccepted('{"thingName":"t","deviceConfiguration":[]}'),
      /"deviceConfiguration" is not an object/,
    ],
    [() => decodeProvisioningRejected('{"statusCode":"400","errorCode":"x"}'), /"statusCode"/],
    [() => decodeProvisioningRejected('{"statusCode":400}'), /"errorCode" is missing/],
    [
      () => decodeProvisioningRejected('{"statusCode":400,"errorCode":"x","errorMessage":1}'),
      /"errorMessage" is not a string/,
    ],
  ];
  for (const [decode, message] of cases) {
    assert.throws(decode, (error: unknown) => {
      assert.ok(error instanceof ProvisioningError);
      assert.match(error.message, message);
      return true;
    });
  }
});

Deno.test("the decoders throw nothing but ProvisioningError, whatever arrives", () => {
  const decoders = [
    decodeCreateFromCsrAccepted,
    decodeRegisterThingAccepted,
    decodeProvisioningRejected,
  ];
  const check = (payload: string | Uint8Array) => {
    for (const decode of decoders) {
      try {
        decode(payload);
      } catch (error) {
        if (!(error instanceof ProvisioningError)) throw error;
      }
    }
  };
  fc.assert(fc.property(fc.string(), check), { numRuns: 500 });
  fc.assert(fc.property(fc.uint8Array(), check), { numRuns: 300 });
  const field = fc.oneof(fc.jsonValue(), fc.constant(certificatePem));
  const shaped = fc.record({
    certificateOwnershipToken: field,
    certificateId: field,
    certificatePem: field,
    thingName: field,
    deviceConfiguration: field,
    statusCode: field,
    errorCode: field,
    errorMessage: field,
  }, { requiredKeys: [] });
  fc.assert(fc.property(shaped, (body) => check(JSON.stringify(body))), { numRuns: 500 });
});
