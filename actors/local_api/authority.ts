/**
 * The local API's certificate authority (PROTOCOLS.md §4): an RSA CA kept
 * in the state directory (key 0600, reused across restarts), the agent's
 * server certificate for both local API ports (SAN 127.0.0.1, ::1,
 * localhost), and client certificates signed from apps' CSRs with
 * CN = their client id. X.509 v3 with basicConstraints, keyUsage,
 * extendedKeyUsage and key identifiers, which node:tls needs to verify a
 * chain (ARCHITECTURE.md, platform notes).
 */
import forge from "node-forge";
import { verifyCsr } from "../../protocols/aws_csr.ts";
import { LocalApiError } from "../../protocols/local_api_errors.ts";
import { readSecretFile, writeSecretFile } from "../store/secret_file.ts";

/** The CA and the agent's server identity, as PEM. */
export interface Authority {
  /** The CA certificate apps trust (written to `caCertPath`). */
  caCertPem: string;
  /** The agent's server certificate for 127.0.0.1, ::1 and localhost. */
  serverCertPem: string;
  /** The server certificate's key. */
  serverKeyPem: string;
  /** Signs a validated CSR as a client certificate with CN = `clientId`. */
  signClient(csrPem: string, clientId: string): { certPem: string; serial: string };
}

/** The smallest RSA key an app may provision with. */
export const MIN_CLIENT_KEY_BITS = 2048;

// node-forge ships no types; these name the parts used here.
interface ForgeKeys {
  publicKey: unknown;
  privateKey: unknown;
}
interface ForgeCert {
  publicKey: unknown;
  serialNumber: string;
  validity: { notBefore: Date; notAfter: Date };
  setSubject(attrs: unknown[]): void;
  setIssuer(attrs: unknown[]): void;
  setExtensions(exts: unknown[]): void;
  sign(key: unknown, md: unknown): void;
  subject: { attributes: unknown[] };
}

const CA_NAME = [{ name: "commonName", value: "Outpost Local API Authority" }, {
  name: "organizationName",
  value: "Outpost",
}];

/**
 * Loads the CA from `dir` (`ca.key`, `ca.crt`), or makes one when absent,
 * and issues a fresh server certificate. Writes the CA certificate to
 * `caCertPath` for apps.
 *
 * @example
 * ```ts
 * const authority = await loadAuthority(".outpost/local-api", { caCertPath: "/tmp/ca.crt" });
 * ```
 */
export async function loadAuthority(
  dir: string,
  options: { caCertPath?: string } = {},
): Promise<Authority> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const keyPath = `${dir}/ca.key`;
  const certPath = `${dir}/ca.crt`;
  let keyPem = await readSecretFile(keyPath);
  let caCertPem = await readText(certPath);
  if (keyPem === undefined || caCertPem === undefined) {
    const keys = await generateRsa(2048);
    const cert = newCertificate(keys.publicKey, CA_NAME, 3650);
    cert.setIssuer(CA_NAME);
    cert.setExtensions([
      { name: "basicConstraints", cA: true, critical: true },
      { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
      { name: "subjectKeyIdentifier" },
    ]);
    cert.sign(keys.privateKey, forge.md.sha256.create());
    keyPem = forge.pki.privateKeyToPem(keys.privateKey) as string;
    caCertPem = forge.pki.certificateToPem(cert) as string;
    await writeSecretFile(keyPath, keyPem);
    await Deno.writeTextFile(certPath, caCertPem);
  }
  const caKey = forge.pki.privateKeyFromPem(keyPem);
  const caCert = forge.pki.certificateFromPem(caCertPem) as ForgeCert;
  if (options.caCertPath && !samePath(options.caCertPath, certPath)) {
    await writeAtomically(options.caCertPath, caCertPem);
  }

  const serverKeys = await generateRsa(2048);
  const server = newCertificate(
    serverKeys.publicKey,
    [{ name: "commonName", value: "localhost" }],
    825,
  );
  server.setIssuer(caCert.subject.attributes);
  server.setExtensions([
    { name: "basicConstraints", cA: false, critical: true },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", serverAuth: true },
    {
      name: "subjectAltName",
      altNames: [{ type: 7, ip: "127.0.0.1" }, { type: 7, ip: "::1" }, {
        type: 2,
        value: "localhost",
      }],
    },
    { name: "subjectKeyIdentifier" },
    { name: "authorityKeyIdentifier", keyIdentifier: authorityKeyId(caCert) },
  ]);
  server.sign(caKey, forge.md.sha256.create());

  return {
    caCertPem,
    serverCertPem: forge.pki.certificateToPem(server),
    serverKeyPem: forge.pki.privateKeyToPem(serverKeys.privateKey),
    signClient(csrPem, clientId) {
      const csr = checkCsr(csrPem);
      const cert = newCertificate(csr.publicKey, [{ name: "commonName", value: clientId }], 3650);
      cert.setIssuer(caCert.subject.attributes);
      cert.setExtensions([
        { name: "basicConstraints", cA: false, critical: true },
        { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
        { name: "extKeyUsage", clientAuth: true },
        { name: "subjectKeyIdentifier" },
        { name: "authorityKeyIdentifier", keyIdentifier: authorityKeyId(caCert) },
      ]);
      cert.sign(caKey, forge.md.sha256.create());
      return { certPem: forge.pki.certificateToPem(cert), serial: cert.serialNumber };
    },
  };
}

/**
 * Refuses a CSR that cannot be parsed, whose self-signature does not
 * verify or is not SHA-256 with RSA (ForbiddendAccess), or whose RSA key
 * is under 2048 bits (OutOfRange).
 */
export function checkCsr(
  csrPem: string,
): { publicKey: unknown; bits: number; commonName?: string } {
  let info;
  try {
    info = verifyCsr(csrPem);
  } catch (error) {
    throw new LocalApiError(
      "ForbiddendAccess",
      `The CSR cannot be parsed: ${(error as Error).message}`,
    );
  }
  if (!info.valid) {
    throw new LocalApiError(
      "ForbiddendAccess",
      "The CSR's signature does not verify, or is not SHA-256 with RSA",
    );
  }
  if (info.bits < MIN_CLIENT_KEY_BITS) {
    throw new LocalApiError(
      "OutOfRange",
      `The CSR's RSA key has ${info.bits} bits; at least ${MIN_CLIENT_KEY_BITS} are required`,
    );
  }
  const csr = forge.pki.certificationRequestFromPem(csrPem) as { publicKey: unknown };
  return { publicKey: csr.publicKey, bits: info.bits, commonName: info.commonName };
}

function newCertificate(publicKey: unknown, subject: unknown[], days: number): ForgeCert {
  const cert = forge.pki.createCertificate() as ForgeCert;
  cert.publicKey = publicKey;
  // 16 random bytes with the top bit clear: a positive serial, unique in practice.
  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0] &= 0x7f;
  cert.serialNumber = [...serial].map((b) => b.toString(16).padStart(2, "0")).join("");
  const now = Date.now();
  // Back-dated an hour so a device clock slightly behind still accepts it.
  cert.validity.notBefore = new Date(now - 3600_000);
  cert.validity.notAfter = new Date(now + days * 86400_000);
  cert.setSubject(subject);
  return cert;
}

function authorityKeyId(caCert: ForgeCert): string {
  return (caCert as unknown as { generateSubjectKeyIdentifier(): { getBytes(): string } })
    .generateSubjectKeyIdentifier().getBytes();
}

function generateRsa(bits: number): Promise<ForgeKeys> {
  // workers: -1 lets forge use the runtime's native generator (node:crypto).
  return new Promise((resolve, reject) =>
    forge.pki.rsa.generateKeyPair(
      { bits, workers: -1 },
      (error: Error | null, keys: ForgeKeys) => error ? reject(error) : resolve(keys),
    )
  );
}

function samePath(a: string, b: string): boolean {
  const clean = (p: string) => p.replace(/\/+/g, "/").replace(/^\.\//, "");
  return clean(a) === clean(b);
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

// The CA certificate is public, but an app must never read half of it.
async function writeAtomically(path: string, text: string): Promise<void> {
  const slash = path.lastIndexOf("/");
  if (slash > 0) await Deno.mkdir(path.slice(0, slash), { recursive: true });
  const temp = `${path}.tmp-${crypto.randomUUID()}`;
  await Deno.writeTextFile(temp, text, { mode: 0o644 });
  await Deno.rename(temp, path);
}
