/*
 * Test certificates, made at test time by certs/make-test-certs.sh in a scratch folder
 * (never committed): a CA, the node's server certificate (CN 127.0.0.1, subjectAltName
 * IP:127.0.0.1 and DNS:localhost), a client certificate, a second CA with its client,
 * and an expired client. `removeTestCerts()` deletes the folder (the keys) afterwards.
 */
import { cwd, readFile, temporaryDirectory } from "host/runtime";
import { fromHex } from "../lib/harness";
import { available, run } from "../lib/process";

export type CertName = "ca" | "server" | "client" | "other-ca" | "other-client" | "expired-client";

export interface TestCerts {
  dir: string;
  /** path of NAME.crt */
  crt(name: CertName): string;
  /** path of NAME.key */
  key(name: CertName): string;
  /** PEM bytes of NAME.crt */
  pem(name: CertName): Uint8Array;
  /** PEM bytes of NAME.key */
  keyPem(name: CertName): Uint8Array;
  /** DER bytes of NAME.der (certificates) or NAME-key.der (keys of server and client) */
  der(file: string): Promise<Uint8Array>;
}

export const haveOpenssl = await available("openssl");

function bytesOf(path: string): Uint8Array {
  const text = readFile(path);
  if (text === undefined) throw new Error(`missing ${path}`);
  return new Uint8Array(ArrayBuffer.fromString(text));
}

/** Runs the project's script into a fresh scratch folder. */
export async function makeTestCerts(names: string[] = []): Promise<TestCerts> {
  const dir = `${temporaryDirectory()}/certs`;
  const made = await run(["sh", `${cwd()}/certs/make-test-certs.sh`, dir, ...names], { timeout: 20000 });
  if (made.status !== 0) throw new Error(`make-test-certs.sh failed (${made.status}): ${made.stderr}`);
  return {
    dir,
    crt: (name) => `${dir}/${name}.crt`,
    key: (name) => `${dir}/${name}.key`,
    pem: (name) => bytesOf(`${dir}/${name}.crt`),
    keyPem: (name) => bytesOf(`${dir}/${name}.key`),
    async der(file) {
      const dump = await run(["od", "-An", "-tx1", "-v", `${dir}/${file}.der`]);
      if (dump.status !== 0) throw new Error(`od ${file}.der: ${dump.stderr}`);
      return fromHex(dump.stdout);
    },
  };
}

/** Deletes the scratch folder with the test keys. */
export async function removeTestCerts(certs: TestCerts | undefined): Promise<void> {
  if (certs) await run(["rm", "-rf", certs.dir.replace(/\/certs$/, "")]);
}
