// `guest setup --cloud-init VMID --api ...` against the Proxmox simulator: the REST API cannot
// upload snippets, so the command refuses (exit 3) before changing the VM, says what to do
// instead, and prints neither the API token nor anything secret.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cli } from "../helpers/cli.js";
import { MARKER_AUTHKEY, TEST_PUBKEY } from "../helpers/guest.js";
import { haveOpenssl, testCerts } from "../sim/certs.js";
import { SECRETS, threeNodeCluster, tokenString } from "../sim/cluster-fixtures.js";
import { PveSchema } from "../sim/pve-schema.js";
import { PveSimulator } from "../sim/pve-simulator.js";

const openssl = haveOpenssl();
const schema = PveSchema.load();

describe.skipIf(!openssl)("guest setup --cloud-init through the REST API", () => {
  let sim: PveSimulator;
  let dir: string;
  const certs = openssl ? testCerts() : null!;

  beforeEach(async () => {
    sim = await PveSimulator.start(threeNodeCluster(), { cert: certs.selfSigned, schema });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "passthrough-guest-api-"));
  });
  afterEach(async () => {
    expect(sim.violations).toEqual([]);
    await sim.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("refuses, changes nothing, and says how to place the snippet by hand", async () => {
    const pub = path.join(dir, "me.pub");
    fs.writeFileSync(pub, `${TEST_PUBKEY}\n`);
    const key = path.join(dir, "ts.key");
    fs.writeFileSync(key, MARKER_AUTHKEY);
    const out = path.join(dir, "user-data.yaml");
    const before = sim.vmConfigText(100);
    const r = await cli(
      [
        "guest",
        "setup",
        "--distro",
        "ubuntu:22.04",
        "--ssh-key",
        pub,
        "--tailscale",
        "--embed-secrets",
        "--tailscale-authkey-file",
        key,
        "--cloud-init",
        "100",
        "--cloud-init-drive",
        "local-lvm",
        "-o",
        out,
        "--api",
        sim.url,
        "--fingerprint",
        certs.selfSigned.fingerprint,
        "--node",
        "pve1",
      ],
      { PASSTHROUGH_PVE_TOKEN: tokenString("admin") },
    );
    expect(r.code).toBe(3);
    expect(r.stdout).toBe("");
    const lines = r.stderr.split("\n");
    expect(lines[0]).toBe(
      `warning: ${out} and the cloud-init snippet for VM 100 embed the Tailscale auth key from ${key}: keep it private and delete it after the first run (a one-off, ephemeral, pre-approved key limits the damage)`,
    );
    expect(lines.slice(1).join("\n")).toBe(
      `error: the api backend cannot store snippets (Proxmox's upload API takes only iso, vztmpl and import), so VM 100 was not changed; ${out} is written; copy it to the node as the file \`pvesm path local:snippets/passthrough-guest-100.yaml\` names there (/var/lib/vz/snippets/ for "local"), then run on the node: qm set 100 --cicustom user=local:snippets/passthrough-guest-100.yaml\n`,
    );
    expect(sim.vmConfigText(100)).toBe(before);
    expect(fs.statSync(out).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(out, "utf8")).toContain("#cloud-config");
    for (const s of [...Object.values(SECRETS), MARKER_AUTHKEY])
      expect(r.stdout + r.stderr).not.toContain(s);
  });
});
