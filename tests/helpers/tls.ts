/**
 * A throwaway PKI for TLS tests, made with the `openssl` command: a CA, a
 * server certificate for 127.0.0.1 and localhost, a client certificate for
 * mutual TLS, and a second CA that signed none of them. X.509 v3 with
 * basicConstraints, keyUsage and extendedKeyUsage, which node:tls on Deno
 * needs to verify a chain. EC P-256 keys keep generation fast; the set is
 * made once per process and shared.
 */

/** A PEM certificate, its key, and where both are on disk. */
export interface Identity {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}

/** Everything a TLS test needs. */
export interface TestPki {
  /** The CA that signed `server` and `client`. */
  ca: Identity;
  /** CN 127.0.0.1, SAN IP:127.0.0.1 and DNS:localhost, serverAuth. */
  server: Identity;
  /** CN dev-1, clientAuth. */
  client: Identity;
  /** A CA that signed nothing here: trusting only it must fail. */
  otherCa: Identity;
  /** The directory holding the files. */
  dir: string;
}

let made: Promise<TestPki> | undefined;

/** The process's test PKI, made on first use. */
export function testPki(): Promise<TestPki> {
  return made ??= makePki();
}

async function openssl(dir: string, args: string[]): Promise<void> {
  const { code, stderr } = await new Deno.Command("openssl", {
    args,
    cwd: dir,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(`openssl ${args.join(" ")} failed: ${new TextDecoder().decode(stderr)}`);
  }
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

async function makeCa(dir: string, name: string, cn: string): Promise<Identity> {
  await openssl(dir, [
    "req",
    "-x509",
    "-new",
    ...EC,
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.pem`,
    "-days",
    "2",
    "-subj",
    `/CN=${cn}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  return await identity(dir, name);
}

async function makeLeaf(
  dir: string,
  name: string,
  cn: string,
  extensions: string[],
): Promise<Identity> {
  await Deno.writeTextFile(
    `${dir}/${name}.ext`,
    [
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      ...extensions,
    ].join("\n") + "\n",
  );
  await openssl(dir, [
    "req",
    "-new",
    ...EC,
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.csr`,
    "-subj",
    `/CN=${cn}`,
  ]);
  await openssl(dir, [
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-set_serial",
    String(Math.floor(Math.random() * 2 ** 48)),
    "-days",
    "2",
    "-extfile",
    `${name}.ext`,
    "-out",
    `${name}.pem`,
  ]);
  return await identity(dir, name);
}

async function identity(dir: string, name: string): Promise<Identity> {
  const certFile = `${dir}/${name}.pem`;
  const keyFile = `${dir}/${name}.key`;
  return {
    cert: await Deno.readTextFile(certFile),
    key: await Deno.readTextFile(keyFile),
    certFile,
    keyFile,
  };
}

async function makePki(): Promise<TestPki> {
  const dir = await Deno.makeTempDir({ prefix: "outpost-pki-" });
  globalThis.addEventListener("unload", () => {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // Already gone; nothing to tidy.
    }
  });
  const [ca, otherCa] = await Promise.all([
    makeCa(dir, "ca", "Outpost Test CA"),
    makeCa(dir, "other-ca", "Some Other CA"),
  ]);
  const [server, client] = await Promise.all([
    makeLeaf(dir, "server", "127.0.0.1", [
      "extendedKeyUsage=serverAuth",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
    ]),
    makeLeaf(dir, "client", "dev-1", ["extendedKeyUsage=clientAuth"]),
  ]);
  return { ca, server, client, otherCa, dir };
}
