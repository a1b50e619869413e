// A small typed layer over v86's JavaScript API: the only module that imports 'v86'. Everything the
// rest of backend-emu needs from the emulator goes through the Emulator interface below, so that
// v86's loosely typed objects (and its internal 9p filesystem object) never leak out.

import { createRequire } from 'node:module';
import { V86 } from 'v86';
import { machineOptions } from './machine-options.ts';
import { onceEvent } from './v86-events.ts';

export interface EmulatorOptions {
  bios: ArrayBuffer;
  memoryBytes: number;
  /**
   * Saved machine state to resume from (V86 save_state()); the kernel options are then unused. A
   * promise lets the caller decompress it while v86 compiles its wasm and sets up the machine.
   */
  initialState?: ArrayBuffer | Promise<ArrayBuffer>;
  bzimage?: ArrayBuffer;
  initrd?: ArrayBuffer;
  cmdline?: string;
}

export interface Emulator {
  /** Subscribe to bytes the guest writes on its first serial port. Returns an unsubscribe function. */
  onSerialByte(listener: (byte: number) => void): () => void;
  /**
   * Subscribe to the guest's writes into the 9p share (the written file's name, without its
   * directory), called once each write is stored. Returns an unsubscribe function.
   */
  onShareWrite(listener: (name: string) => void): () => void;
  /** Send text (Latin-1, one byte per UTF-16 unit) to the guest's first serial port. */
  sendSerial(text: string): void;
  /** Write a file into v86's in-memory 9p filesystem, creating its parent directories. */
  writeFile(path: string, data: Uint8Array): Promise<void>;
  /** mkdir -p in the 9p share. */
  mkdir(path: string): Promise<void>;
  /** Remove a file from the 9p filesystem and free its data. Missing files are not an error. */
  removeFile(path: string): Promise<void>;
  /** Read a file from the 9p filesystem; rejects when it does not exist. */
  readFile(path: string): Promise<Uint8Array>;
  saveState(): Promise<ArrayBuffer>;
  /**
   * x86 instructions the emulated CPU has executed, modulo 2^32 (v86's counter): guest work that,
   * unlike wall time, does not grow with the host's load.
   */
  instructions(): number;
  /** Freeze the CPU (no host CPU used) until resume(). */
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** Stop the CPU and free the emulator. Idempotent. */
  destroy(): Promise<void>;
}

/** The parts of v86's internal 9p filesystem object (FS in lib/filesystem.js) used for mkdir -p. */
interface V86Filesystem {
  /** `name` in its answer is not reliable (undefined when found): use the path's last component. */
  SearchPath(path: string): { id: number; parentid: number };
  CreateDirectory(name: string, parentId: number): number;
  Unlink(parentId: number, name: string): number;
  DeleteData(id: number): Promise<void>;
}

function isV86Filesystem(value: unknown): value is V86Filesystem {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return ['SearchPath', 'CreateDirectory', 'Unlink', 'DeleteData'].every((f) => typeof v[f] === 'function');
}

export function wasmPath(): string {
  // createRequire rather than import.meta.resolve: the latter is missing under vitest's module runner.
  return createRequire(import.meta.url).resolve('v86/build/v86.wasm');
}

/** Normalises a 9p path: no leading slash, no empty, '.' or '..' components. */
export function fsPath(path: string): string {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.length === 0 || parts.includes('..')) {
    throw new Error(`invalid path in the shared filesystem: '${path}'`);
  }
  return parts.join('/');
}

let live = 0;

/** Emulators created and not yet destroyed in this process (the fault tests check for leaks). */
export function liveEmulators(): number {
  return live;
}

/** Creates the emulator and resolves once it runs (from `initialState` when given). */
export async function startEmulator(opts: EmulatorOptions): Promise<Emulator> {
  const emulator = new V86({
    ...machineOptions({
      wasmPath: wasmPath(),
      bios: opts.bios,
      memoryBytes: opts.memoryBytes,
      autostart: opts.initialState === undefined,
    }),
    ...(opts.bzimage ? { bzimage: { buffer: opts.bzimage } } : {}),
    ...(opts.initrd ? { initrd: { buffer: opts.initrd } } : {}),
    ...(opts.cmdline !== undefined ? { cmdline: opts.cmdline } : {}),
  });

  try {
    if (opts.initialState !== undefined) {
      const state = opts.initialState;
      // Not the initial_state option: this way the state can still be decompressing meanwhile.
      await onceEvent(emulator, 'emulator-loaded');
      await emulator.restore_state(await state);
      const started = onceEvent(emulator, 'emulator-started');
      await emulator.run();
      await started;
    } else {
      await onceEvent(emulator, 'emulator-started');
    }
  } catch (err) {
    await emulator.stop();
    await emulator.destroy();
    throw err;
  }

  live++;
  let destroyed = false;
  const fs = (): V86Filesystem => {
    const candidate: unknown = (emulator as unknown as { fs9p?: unknown }).fs9p;
    if (!isV86Filesystem(candidate)) throw new Error('v86 has no 9p filesystem (or its API changed)');
    return candidate;
  };

  const remove = async (p: string): Promise<void> => {
    const filesystem = fs();
    const found = filesystem.SearchPath(p);
    if (found.id === -1) return;
    const rc = filesystem.Unlink(found.parentid, p.split('/').pop() ?? '');
    if (rc !== 0) throw new Error(`cannot remove '${p}' from the shared filesystem (error ${-rc})`);
    await filesystem.DeleteData(found.id);
  };

  const mkdirs = (dirs: string[]): void => {
    const filesystem = fs();
    let parent = 0;
    for (let i = 0; i < dirs.length; i++) {
      const found = filesystem.SearchPath(dirs.slice(0, i + 1).join('/'));
      parent = found.id !== -1 ? found.id : filesystem.CreateDirectory(dirs[i] ?? '', parent);
    }
  };

  return {
    onSerialByte(listener) {
      emulator.add_listener('serial0-output-byte', listener);
      return () => emulator.remove_listener('serial0-output-byte', listener);
    },
    onShareWrite(listener) {
      const onWrite = ([name]: [string, number]) => listener(name);
      emulator.add_listener('9p-write-end', onWrite);
      return () => emulator.remove_listener('9p-write-end', onWrite);
    },
    sendSerial(text) {
      emulator.serial0_send(text);
    },
    async mkdir(path) {
      mkdirs(fsPath(path).split('/'));
    },
    async writeFile(path, data) {
      const p = fsPath(path);
      mkdirs(p.split('/').slice(0, -1));
      // create_file() over an existing name would leave the old file's data behind, unreachable.
      await remove(p);
      await emulator.create_file(p, data);
    },
    async removeFile(path) {
      await remove(fsPath(path));
    },
    async readFile(path) {
      return emulator.read_file(fsPath(path));
    },
    instructions() {
      return emulator.get_instruction_counter();
    },
    async saveState() {
      return emulator.save_state();
    },
    async pause() {
      await emulator.stop();
    },
    async resume() {
      await emulator.run();
    },
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      live--;
      await emulator.stop();
      await emulator.destroy();
    },
  };
}
