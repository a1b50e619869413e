// What the emu tests that drive the Engine in-process share: a store in a temp dir, one EmuBackend
// (one guest for the whole file, restored from the snapshot) with the busybox image unpacked in it,
// setup errors kept for each test to throw (fail, never skip), and RunOptions with defaults.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EmuBackend } from '../../backend-emu/src/index.ts';
import type { GuestMachine } from '../../backend-emu/src/index.ts';
import { Engine } from '../../shared/src/engine/engine.ts';
import { runOptions as coreRunOptions, type RunOptions } from '../../shared/src/engine/run-options.ts';
import { Store } from '../../shared/src/store/index.ts';
import { buildBusyboxImage } from '../../images/busybox/build.ts';

export interface EmuFixture {
  root: string;
  backend: EmuBackend;
  engine: Engine;
  guest: GuestMachine;
}

/** Store, backend, guest and busybox image; throws what went wrong (call it in beforeAll). */
export async function startEmuEngine(tag: string): Promise<EmuFixture> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `strata-emu-${tag}-`));
  const backend = new EmuBackend();
  try {
    await backend.checkPrerequisites();
    const engine = new Engine(new Store(root), backend);
    const guest = await backend.guest();
    await buildBusyboxImage(engine.store, backend);
    return { root, backend, engine, guest };
  } catch (e) {
    await stopEmuEngine({ root, backend });
    throw e;
  }
}

export async function stopEmuEngine(f: Partial<EmuFixture> | undefined): Promise<void> {
  await f?.backend?.close();
  if (f?.root) fs.rmSync(f.root, { recursive: true, force: true });
}

/** `run` options for the busybox image, networking off (the guest has no bridge), as the CLI's defaults. */
export function runOptions(args: string[], o: Partial<RunOptions> = {}): RunOptions {
  return coreRunOptions('busybox', args, { network: 'none', ...o });
}

/** Captures what the container writes to process.stdout and process.stderr while `fn` runs. */
export async function captureOutput<T>(
  fn: () => Promise<T>,
): Promise<{ value: T; out: string; err: string }> {
  let out = '';
  let err = '';
  const w = {
    out: process.stdout.write.bind(process.stdout),
    err: process.stderr.write.bind(process.stderr),
  };
  const text = (c: string | Uint8Array) => (typeof c === 'string' ? c : Buffer.from(c).toString());
  process.stdout.write = ((c: string | Uint8Array) => {
    out += text(c);
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((c: string | Uint8Array) => {
    err += text(c);
    return true;
  }) as typeof process.stderr.write;
  try {
    return { value: await fn(), out, err };
  } finally {
    process.stdout.write = w.out;
    process.stderr.write = w.err;
  }
}
