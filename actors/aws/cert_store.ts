/**
 * The AWS device's certificate store: a folder laid out like the seed
 * client's `certificate_store` (PROTOCOLS.md §2), so a device provisioned by
 * the Python client keeps its identity under Outpost and the other way round.
 *
 * Owns: the folder and its files `AmazonRootCA1.pem`, `clientID.txt`,
 * `deviceCert.cert`, `devicePrivateKey.pem` (0600) and `devicePublicKey.pem`.
 * Receives: `read()` from the AWS connection and the provisioning actor,
 * `write()` from the provisioning actor once `RegisterThing` is accepted.
 * Sends: nothing; it is a plain object used by those actors, which their
 * cloud's `rest_for_one` subtree supervises.
 */
import { readSecretFile, writeSecretFile } from "../store/secret_file.ts";

/** The store's file names, as the seed client spells them. */
export const CERT_STORE_FILES = {
  rootCa: "AmazonRootCA1.pem",
  clientId: "clientID.txt",
  certificate: "deviceCert.cert",
  privateKey: "devicePrivateKey.pem",
  publicKey: "devicePublicKey.pem",
} as const;

// The seed's README lists the root CA in lower camel case; accept it when
// reading a folder the seed made, write the canonical name.
const ROOT_CA_ALIAS = "amazonRootCA1.pem";

/** What a device needs to connect to AWS IoT as itself. */
export interface DeviceIdentity {
  /** Thing name, also the MQTT client id. */
  clientId: string;
  /** The device certificate (PEM). */
  certificatePem: string;
  /** Its private key (PEM). */
  privateKeyPem: string;
  /** Its public key (PEM), when stored. */
  publicKeyPem?: string;
  /** The CA that signed AWS IoT's server certificate (PEM), when stored. */
  rootCaPem?: string;
}

/** What {@link CertStore.write} persists. */
export interface DeviceIdentityToWrite {
  /** Thing name, written to `clientID.txt`. */
  clientId: string;
  /** Written to `deviceCert.cert`. */
  certificatePem: string;
  /** Written to `devicePrivateKey.pem` (0600). */
  privateKeyPem: string;
  /** Written to `devicePublicKey.pem`. */
  publicKeyPem: string;
  /** Written to `AmazonRootCA1.pem` when given. */
  rootCaPem?: string;
}

/** A certificate store folder. */
export interface CertStore {
  /** The folder. */
  readonly dir: string;
  /** The identity, or `undefined` unless client id, certificate and key are all present. */
  read(): Promise<DeviceIdentity | undefined>;
  /** The names of the required files that are absent or empty; `[]` when complete. */
  missing(): Promise<string[]>;
  /** Persists `identity`, every file atomically and with mode 0600. */
  write(identity: DeviceIdentityToWrite): Promise<void>;
}

/**
 * The certificate store in `dir` (created on the first write).
 *
 * @example
 * ```ts
 * const store = openCertStore("/var/lib/outpost/aws/certificate_store");
 * const identity = await store.read() ?? await provision(store);
 * ```
 */
export function openCertStore(dir: string): CertStore {
  if (typeof dir !== "string" || dir.length === 0) {
    throw new TypeError(
      `Cannot open certificate store ${JSON.stringify(dir)}: not a directory path`,
    );
  }
  const base = dir.endsWith("/") && dir.length > 1 ? dir.slice(0, -1) : dir;
  const path = (name: string) => `${base}/${name}`;

  async function readText(name: string): Promise<string | undefined> {
    const text = await readSecretFile(path(name));
    return text === undefined || text.trim() === "" ? undefined : text;
  }

  async function load() {
    const [clientId, certificatePem, privateKeyPem, publicKeyPem, rootCa, rootCaAlias] =
      await Promise.all([
        readText(CERT_STORE_FILES.clientId),
        readText(CERT_STORE_FILES.certificate),
        readText(CERT_STORE_FILES.privateKey),
        readText(CERT_STORE_FILES.publicKey),
        readText(CERT_STORE_FILES.rootCa),
        readText(ROOT_CA_ALIAS),
      ]);
    return {
      clientId: clientId?.trim(),
      certificatePem,
      privateKeyPem,
      publicKeyPem,
      rootCaPem: rootCa ?? rootCaAlias,
    };
  }

  function absent(files: Awaited<ReturnType<typeof load>>): string[] {
    const names: string[] = [];
    if (files.clientId === undefined) names.push(CERT_STORE_FILES.clientId);
    if (files.certificatePem === undefined) names.push(CERT_STORE_FILES.certificate);
    if (files.privateKeyPem === undefined) names.push(CERT_STORE_FILES.privateKey);
    return names;
  }

  return {
    dir: base,
    async read() {
      const files = await load();
      if (absent(files).length > 0) return undefined;
      const identity: DeviceIdentity = {
        clientId: files.clientId!,
        certificatePem: files.certificatePem!,
        privateKeyPem: files.privateKeyPem!,
      };
      if (files.publicKeyPem !== undefined) identity.publicKeyPem = files.publicKeyPem;
      if (files.rootCaPem !== undefined) identity.rootCaPem = files.rootCaPem;
      return identity;
    },
    async missing() {
      return absent(await load());
    },
    async write(identity) {
      checkIdentity(identity, base);
      await Deno.mkdir(base, { recursive: true, mode: 0o700 });
      // clientID.txt is the commit mark: it goes first and comes back last,
      // so a crash half way leaves an incomplete store (provision again),
      // never a new key beside the old certificate that `read` would trust.
      await Deno.remove(path(CERT_STORE_FILES.clientId)).catch((error) => {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      });
      await writeSecretFile(path(CERT_STORE_FILES.privateKey), identity.privateKeyPem);
      await writeSecretFile(path(CERT_STORE_FILES.publicKey), identity.publicKeyPem);
      await writeSecretFile(path(CERT_STORE_FILES.certificate), identity.certificatePem);
      if (identity.rootCaPem !== undefined) {
        await writeSecretFile(path(CERT_STORE_FILES.rootCa), identity.rootCaPem);
      }
      await writeSecretFile(path(CERT_STORE_FILES.clientId), identity.clientId);
    },
  };
}

function checkIdentity(identity: DeviceIdentityToWrite, dir: string): void {
  const where = `Cannot write certificate store "${dir}"`;
  if (
    typeof identity?.clientId !== "string" || !/^[A-Za-z0-9:_-]{1,128}$/.test(identity.clientId)
  ) {
    throw new TypeError(
      `${where}: client id ${
        JSON.stringify(identity?.clientId)
      } is not a thing name (1 to 128 of A-Z a-z 0-9 : _ -)`,
    );
  }
  const pems: [keyof DeviceIdentityToWrite, string][] = [
    ["certificatePem", "CERTIFICATE"],
    ["privateKeyPem", "PRIVATE KEY"],
    ["publicKeyPem", "PUBLIC KEY"],
  ];
  if (identity.rootCaPem !== undefined) pems.push(["rootCaPem", "CERTIFICATE"]);
  for (const [field, label] of pems) {
    const value = identity[field];
    if (typeof value !== "string" || !value.includes("-----BEGIN ") || !value.includes(label)) {
      throw new TypeError(`${where}: ${field} is not a PEM ${label.toLowerCase()}`);
    }
  }
}
