import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestCertificate {
  readonly keyPath: string;
  readonly certPath: string;
  readonly key: Buffer;
  readonly cert: Buffer;
}

/**
 * A fresh self-signed certificate for 127.0.0.1 and localhost, made by the openssl command (no
 * network); `commonName` tells two of them apart. Each lives in its own temporary folder.
 */
export function selfSignedCertificate(commonName = "localhost"): TestCertificate {
  const dir = mkdtempSync(join(tmpdir(), "postern-cert-"));
  const keyPath = join(dir, "key.pem");
  const certPath = join(dir, "cert.pem");
  execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyPath, "-out", certPath, "-days", "2",
      "-subj", `/CN=${commonName}`, "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
    { stdio: "ignore" },
  );
  return { keyPath, certPath, key: readFileSync(keyPath), cert: readFileSync(certPath) };
}
