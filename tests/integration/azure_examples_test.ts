import { deepEqual, equal, ok } from "node:assert/strict";
import { startAzureEmulator } from "../helpers/azure_emulator.ts";
import { testPki } from "../helpers/tls.ts";
import { parseSamplesIni } from "../../examples/azure_samples_ini.ts";

const GROUP_KEY = btoa("the-enrollment-group-key-0123456");

async function runExample(name: string, ini: string, dir: string) {
  const file = `${dir}/samples.ini`;
  await Deno.writeTextFile(file, ini);
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(`../../examples/${name}`, import.meta.url).pathname],
    env: { AZURE_SAMPLES_INI: file },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
  equal(output.code, 0, `${name} failed:\n${text}`);
  return text;
}

Deno.test("the seed's samples (device key / group key, X.509) run on Outpost against the emulator", async () => {
  const pki = await testPki();
  const dir = await Deno.makeTempDir({ prefix: "outpost-azure-samples-" });
  const keyed = await startAzureEmulator({ pki, groupKeys: [GROUP_KEY] });
  try {
    const log = await runExample(
      "azure_device_key.ts",
      `[DEVICE_A]\nScopeId = ${keyed.idScope}\nDeviceId = sample-a\nGroupKey = ${GROUP_KEY}\n` +
        `DpsHost = ${keyed.hub}\nCaFile = ${pki.ca.certFile}\nIterations = 2\nIntervalSec = 0\n` +
        `StateDir = ${dir}/a\nModelId = dtmi:iotc:sample;1\n`,
      dir,
    );
    ok(log.includes("Device connected"), log);
    equal(keyed.messages.length, 2);
    deepEqual(Object.keys(JSON.parse(keyed.messages[0].payload)), [
      "accelerometerX",
      "accelerometerY",
      "accelerometerZ",
    ]);
    equal(
      (keyed.registrations[0].body as { payload: { modelId: string } }).payload.modelId,
      "dtmi:iotc:sample;1",
    );
  } finally {
    await keyed.stop();
  }
  const x509 = await startAzureEmulator({ pki, x509Devices: ["dev-1"] });
  try {
    await runExample(
      "azure_x509.ts",
      `[X509]\nScopeId = ${x509.idScope}\nDeviceId = dev-1\nCertFilePath = ${pki.client.certFile}\n` +
        `KeyFilePath = ${pki.client.keyFile}\nDpsHost = ${x509.hub}\nCaFile = ${pki.ca.certFile}\n` +
        `Iterations = 1\nStateDir = ${dir}/x\n`,
      dir,
    );
    equal(x509.messages.length, 1);
  } finally {
    await x509.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("samples.ini is read as the seed writes it: sections, comments, DEFAULT", () => {
  deepEqual(parseSamplesIni("[DEFAULT]\nLocal = yes\n; note\n[DEVICE_A]\nScopeId = s\n"), {
    DEFAULT: { Local: "yes" },
    DEVICE_A: { ScopeId: "s" },
  });
});
