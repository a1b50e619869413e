// What the emu test files share: set-up done once per file whose error fails every test (never a
// skip); one guest restored from the snapshot (restoreGuestOnce); for the files that drive the
// Engine in-process, a store in a temp dir and one EmuBackend with the busybox image unpacked in its
// guest (startEmuEngine); RunOptions with defaults; the container's output captured.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { EmuBackend, GuestMachine } from '../../backend-emu/src/index.ts';
import { Engine } from '../../shared/src/engine/engine.ts';
import { runOptions as coreRunOptions, type RunOptions } from '../../shared/src/engine/run-options.ts';
import { Store } from '../../shared/src/store/index.ts';
import { buildBusyboxImage } from '../../images/busybox/build.ts';

/**
 * Set up once for the whole file: `setup` runs in beforeAll and `use` gets its value before the
 * first test; `teardown` runs in afterAll for whatever was set up. A setup that throws (a missing
 * guest image, executor, root) fails every test of the file with its error: beforeEach throws it,
 * since vitest would only skip the tests of a failing beforeAll.
 */
export function setUpOnce<T>(
  setup: () => Promise<T>,
  teardown: (value: T) => Promise<void> | void,
  use: (value: T) => void,
  timeoutMs?: number,
): void {
  let value: { v: T } | null = null;
  let failure: { e: unknown } | null = null;
  beforeAll(async () => {
    try {
      value = { v: await setup() };
      use(value.v);
    } catch (e) {
      failure = { e };
    }
  }, timeoutMs);
  beforeEach(() => {
    if (failure) throw failure.e;
  });
  afterAll(async () => {
    if (value) await teardown(value.v);
  });
}

/** One guest for the file, restored from the snapshot after `prerequisites` (which throws what is missing). */
export function restoreGuestOnce(
  use: (guest: GuestMachine) => void,
  prerequisites: () => void = () => undefined,
): void {
  setUpOnce(
    async () => {
      prerequisites();
      const guest = await GuestMachine.restore();
      console.log(`guest restored in ${Math.round(guest.restoreMs)} ms (kernel ${guest.kernelRelease})`);
      return guest;
    },
    (guest) => guest.stop(),
    use,
  );
}

/** startEmuEngine(tag) once for the file, stopped after it; unpacking busybox in the guest can take minutes under load. */
export function startEmuEngineOnce(tag: string, use: (f: EmuFixture) => void): void {
  setUpOnce(() => startEmuEngine(tag), stopEmuEngine, use, 300_000);
}

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
