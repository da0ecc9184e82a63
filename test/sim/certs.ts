// Test certificates for the simulator, made with the `openssl` CLI (Debian package openssl) at
// test time: nothing secret is committed, and each run gets fresh keys.
//
//   selfSigned: a leaf signed by itself, like a node before anyone set up a CA (the pinning case);
//   caSigned:   a cluster-CA + leaf pair, like Proxmox's pve-root-ca.pem + pve-ssl.pem, with
//               subjectAltName IP:127.0.0.1 so a CA-verified connection can pass the name check.

import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestCert {
  key: string;
  cert: string;
  /** "AA:BB:…", as Node's getPeerCertificate().fingerprint256 and `pvenode cert info` show it. */
  fingerprint: string;
  /** The CA that signed `cert` (caSigned only). */
  ca?: string;
}

export function haveOpenssl(): boolean {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

export const OPENSSL_MISSING_MESSAGE =
  "openssl not found (Debian package openssl): the HTTPS simulator tests are skipped";

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

export interface TestCerts {
  selfSigned: TestCert;
  other: TestCert;
  caSigned: TestCert;
  /** Same CA, but issued for pve1.sim only: fails the host-name check at 127.0.0.1. */
  caSignedOtherName: TestCert;
}

let cache: TestCerts | null = null;

/** Two unrelated self-signed certificates and two CA-signed ones. Made once per process. */
export function testCerts(): TestCerts {
  if (cache) return cache;
  const dir = mkdtempSync(join(tmpdir(), "pve-sim-certs-"));
  try {
    const self = (name: string): TestCert => {
      openssl(
        [
          "req",
          "-x509",
          ...EC,
          "-keyout",
          `${name}.key`,
          "-out",
          `${name}.pem`,
          "-days",
          "2",
          "-subj",
          `/CN=${name}`,
          "-addext",
          "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        dir,
      );
      const cert = readFileSync(join(dir, `${name}.pem`), "utf8");
      return {
        key: readFileSync(join(dir, `${name}.key`), "utf8"),
        cert,
        fingerprint: new X509Certificate(cert).fingerprint256,
      };
    };
    const selfSigned = self("pve-sim");
    const other = self("pve-other");

    openssl(
      [
        "req",
        "-x509",
        ...EC,
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=Proxmox Virtual Environment/OU=sim/O=PVE Cluster Manager CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
      ],
      dir,
    );
    const signed = (name: string, san: string): TestCert => {
      openssl(
        [
          "req",
          "-new",
          ...EC,
          "-keyout",
          `${name}.key`,
          "-out",
          `${name}.csr`,
          "-subj",
          "/CN=pve1.sim",
        ],
        dir,
      );
      writeFileSync(
        join(dir, `${name}.cnf`),
        `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`,
      );
      openssl(
        [
          "x509",
          "-req",
          "-in",
          `${name}.csr`,
          "-CA",
          "ca.pem",
          "-CAkey",
          "ca.key",
          "-CAcreateserial",
          "-out",
          `${name}.pem`,
          "-days",
          "2",
          "-extfile",
          `${name}.cnf`,
        ],
        dir,
      );
      const cert = readFileSync(join(dir, `${name}.pem`), "utf8");
      return {
        key: readFileSync(join(dir, `${name}.key`), "utf8"),
        cert,
        fingerprint: new X509Certificate(cert).fingerprint256,
        ca: readFileSync(join(dir, "ca.pem"), "utf8"),
      };
    };
    cache = {
      selfSigned,
      other,
      caSigned: signed("node", "IP:127.0.0.1,DNS:localhost"),
      caSignedOtherName: signed("named", "DNS:pve1.sim"),
    };
    return cache;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
