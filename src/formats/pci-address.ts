// PCI addresses as users type them and as sysfs names them: DOMAIN:BUS:DEVICE.FUNCTION, in
// hex, "0000:01:00.0". A slot ("0000:01:00") stands for every function of the device, as
// Proxmox's "All Functions" (hostpci's host= without a function, qm.conf(5)).

/** Accept "01:00.0", "0000:01:00", "1:0.1"; return the full form, or null when it is none. */
export function normalizePciAddress(input: string): string | null {
  const m = /^(?:([0-9a-fA-F]{1,4}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})(?:\.([0-7]))?$/.exec(
    input.trim(),
  );
  if (!m) return null;
  const dom = (m[1] ?? "0000").toLowerCase().padStart(4, "0");
  const bus = m[2]!.toLowerCase().padStart(2, "0");
  const slot = m[3]!.toLowerCase().padStart(2, "0");
  // The device number has 5 bits (PCI Local Bus spec, configuration address): 00-1f.
  if (parseInt(slot, 16) > 0x1f) return null;
  return m[4] !== undefined ? `${dom}:${bus}:${slot}.${m[4]}` : `${dom}:${bus}:${slot}`;
}

/** "0000:01:00.1" -> "0000:01:00"; a slot stays as it is. */
export function slotOf(address: string): string {
  return address.replace(/\.[0-7]$/, "");
}

/** A function address ("0000:01:00.1"), not a slot. */
export function isFunctionAddress(address: string): boolean {
  return /\.[0-7]$/.test(address);
}
