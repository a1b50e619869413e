// The shim's setup flags for a container spec: mounts, devices and /dev symlinks as numbers and
// paths, which stage/setup.c carries out inside the container's namespaces. Computed without
// touching the rootfs (it is not mounted yet) and without a syscall binding. What is not the
// host's own (the --privileged device list) is the core's: shared/src/run-plan.ts.
import fs from 'node:fs';
import path from 'node:path';
import type { ContainerSpec } from '../../shared/src/spec.js';
import { deviceArg, devSymlinkArgs, mountArgs, specDeviceArgs } from '../../shared/src/run-plan.js';

// The plan builder itself is the core's (shared/src/run-plan.ts, also the emulator guest's).
export { mountArgs };

// What runc leaves out of a privileged container's /dev: mounts of their own, and per-namespace
// entries.
const SKIP = new Set(['pts', 'shm', 'mqueue', 'fd', 'console', 'ptmx', '.lxc', '.lxd-mounts', '.udev']);

/** --privileged: every character and block device of the host's /dev, with its mode and owner. */
function hostDeviceArgs(dir = '/dev'): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (SKIP.has(e.name)) continue;
    const host = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...hostDeviceArgs(host));
    if (!e.isCharacterDevice() && !e.isBlockDevice()) continue;
    const st = fs.statSync(host);
    const major = Math.floor(st.rdev / 256) & 0xfff;
    const minor = (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00);
    const kind = e.isCharacterDevice() ? 'c' : 'b';
    out.push(...deviceArg(kind, st.mode & 0o7777, [major, minor], [st.uid, st.gid], host));
  }
  return out;
}

/** The spec's devices, the host's for --privileged (existing ones kept), then runc's /dev links. */
export function deviceArgs(spec: ContainerSpec): string[] {
  return [
    ...specDeviceArgs(spec),
    ...(spec.security?.privileged ? hostDeviceArgs() : []),
    ...devSymlinkArgs(),
  ];
}
