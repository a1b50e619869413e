// The runtime of the kernel model backend: a container start made of the same calls as the native
// runtime's (clone into new namespaces, make / rprivate, mount the overlay rootfs and the spec's
// mounts, create devices, pivot_root(".", ".") and detach the old root, sethostname, chdir), then the
// program's effect as file operations (program.ts). The program ends at once, so start() returns an
// exited container; the state it left (mounts per namespace, layer stack) is kept for dump().

import type { ExitStatus, Runtime, RuntimeStatus, StartedProcess, StdioSpec } from '../backend.js';
import { EXIT, StrataError } from '../errors.js';
import type { Kernel, MountFlag, NsKind, Process } from '../model/index.js';
import { isModelError } from '../model/index.js';
import { parseMountOptions } from '../mount/options.js';
import type { ContainerSpec, NamespaceKind, ProcessSpec } from '../spec.js';
import { bytesToModel } from './layer.js';
import { findProgram, MODEL_COMMANDS, ModelShell, modelRuns } from './program.js';
import type { ModelDump } from './dump.js';
import { dumpContainer, renderDump } from './dump.js';

/** What the model needs from the machine the core runs on (Node gives files and streams; a page may not). */
export interface ModelHost {
  /** A program's output: the caller's streams in attach mode, the log file in log mode. */
  output(stdio: StdioSpec, stream: 'stdout' | 'stderr', text: string): void;
  /** Bytes of a host file that a bind mount names (the container's /etc/hosts...), or null. */
  readFile?(path: string): Uint8Array | null;
  /** Record an exit status in the container's state dir (`exit` file), so other processes see it. */
  writeExit?(stateDir: string, status: ExitStatus): void;
  readExit?(stateDir: string): ExitStatus | null;
  /** Keep the dump (renderDump's text) in the container's state dir, for other processes to read. */
  saveDump?(stateDir: string, text: string): void;
  /** The model's saved state (persist.ts text), or null: lets several processes share one model. */
  loadState?(): string | null;
  saveState?(text: string): void;
  /** Run the engine's on-exit command (a detached --rm removes itself). */
  onExit?(argv: string[]): void;
}

const NS_OF: Partial<Record<NamespaceKind, NsKind>> = {
  mount: 'mnt',
  uts: 'uts',
  ipc: 'ipc',
  network: 'net',
  pid: 'pid',
  cgroup: 'cgroup',
  // user: not modelled (no uid mapping in the model); the container stays in the host's.
};

function modelFail(what: string, err: unknown): never {
  if (isModelError(err)) throw new StrataError(`failed to start container: ${what}: ${err.message}`);
  throw err;
}

export class ModelRuntime implements Runtime {
  private readonly exits = new Map<string, ExitStatus>();
  /** The state each container left when its program ended, by container id. */
  readonly dumps = new Map<string, ModelDump>();

  constructor(
    private readonly kernel: Kernel,
    private readonly host: ModelHost,
    /** Called once a program has changed the container's layer. */
    private readonly changed: () => void = () => {},
  ) {}

  /**
   * Make a bind mount's source exist in the model host's filesystem: a host file is copied in (when
   * the host can read files); otherwise an empty file or directory of the destination's kind.
   */
  private bindSource(source: string, destIsFile: boolean): void {
    const init = this.kernel.init;
    if (init.exists(source)) return;
    const bytes = this.host.readFile?.(source) ?? null;
    const parent = source.slice(0, source.lastIndexOf('/')) || '/';
    init.mkdirp(parent, { mode: 0o755 });
    if (bytes !== null) init.writeFile(source, bytesToModel(bytes), { mode: 0o644 });
    else if (destIsFile) init.writeFile(source, '', { mode: 0o644 });
    else init.mkdir(source, { mode: 0o755 });
  }

  /** Mount the rootfs and everything of the spec, as runc does before pivot_root. */
  private setUp(c: Process, spec: ContainerSpec): void {
    const r = spec.rootfs;
    const merged = r.mergedDir;
    try {
      c.mount('', '/', null, { flags: ['MS_PRIVATE', 'MS_REC'] });
      const data = `lowerdir=${r.lowerDirs.join(':')},upperdir=${r.upperDir},workdir=${r.workDir}`;
      c.mount('overlay', merged, 'overlay', { data });
    } catch (err) {
      modelFail('mounting the rootfs overlay', err);
    }
    for (const m of spec.mounts) {
      const dest = `${merged}${m.destination}`;
      try {
        const { flags, data, propagation } = parseMountOptions(m.options);
        const bind = m.type === 'bind';
        if (bind) this.bindSource(m.source, c.exists(dest) && c.stat(dest).kind !== 'dir');
        if (!c.exists(dest)) {
          if (bind && c.stat(m.source).kind !== 'dir') {
            c.mkdirp(dest.slice(0, dest.lastIndexOf('/')), { mode: 0o755 });
            c.writeFile(dest, '', { mode: 0o644 });
          } else c.mkdirp(dest, { mode: 0o755 });
        }
        c.mount(m.source, dest, bind ? null : m.type, { flags, data });
        // The kernel ignores MS_RDONLY on a new bind mount: runc remounts it.
        if (bind && flags.includes('MS_RDONLY')) {
          const ro: MountFlag[] = ['MS_REMOUNT', 'MS_BIND', 'MS_RDONLY'];
          c.mount('', dest, null, { flags: ro });
        }
        for (const pg of propagation) c.mount('', dest, null, { flags: pg });
      } catch (err) {
        modelFail(`mounting ${m.type} on ${m.destination}`, err);
      }
    }
    for (const d of spec.devices) {
      const at = `${merged}${d.path}`;
      try {
        if (c.exists(at)) c.unlink(at);
        c.mknod(at, d.major, d.minor, { mode: d.mode });
      } catch (err) {
        modelFail(`creating device ${d.path}`, err);
      }
    }
    try {
      c.chdir(merged);
      c.pivotRoot('.', '.');
      c.umount('.', { detach: true });
      c.chdir('/');
      if (r.readonly) c.mount('', '/', null, { flags: ['MS_REMOUNT', 'MS_BIND', 'MS_RDONLY'] });
      if (spec.namespaces.includes('uts')) c.sethostname(spec.hostname);
    } catch (err) {
      modelFail('pivot_root', err);
    }
  }

  /** The checks exec(2) makes, with the native runtime's messages and exit codes. */
  private checkProgram(c: Process, proc: ProcessSpec): void {
    try {
      c.chdir(proc.cwd || '/');
    } catch {
      throw new StrataError(
        `failed to start container: chdir to cwd ("${proc.cwd}") set in config.json failed: no such file or directory`,
        EXIT.CANNOT_INVOKE,
      );
    }
    const argv0 = proc.args[0] ?? '';
    if (findProgram(c, argv0, proc.env) === null) {
      const what = argv0.includes('/')
        ? `stat ${argv0}: no such file or directory`
        : `exec: "${argv0}": executable file not found in $PATH`;
      throw new StrataError(`failed to start container: ${what}`, EXIT.NOT_FOUND);
    }
    if (!modelRuns(argv0)) {
      throw new StrataError(
        `failed to start container: exec: "${argv0}": the kernel model runs no programs; it knows only ` +
          `${MODEL_COMMANDS.join(', ')} by their effect on files (docs/kernel-model.md)`,
        EXIT.NOT_FOUND,
      );
    }
  }

  async start(
    spec: ContainerSpec,
    stdio: StdioSpec,
    stateDir: string,
    onExit: string[] = [],
  ): Promise<StartedProcess> {
    const kinds = spec.namespaces.map((k) => NS_OF[k]).filter((k): k is NsKind => k !== undefined);
    const c = this.kernel.init.clone({ namespaces: kinds });
    let exitCode: number;
    try {
      this.setUp(c, spec);
      this.checkProgram(c, spec.process);
      const io = {
        stdout: (t: string) => this.host.output(stdio, 'stdout', t),
        stderr: (t: string) => this.host.output(stdio, 'stderr', t),
      };
      exitCode = new ModelShell(c, spec.process.env, io).run(spec.process.args);
      const dump = dumpContainer(c);
      this.dumps.set(spec.id, dump);
      this.host.saveDump?.(stateDir, renderDump(dump));
    } finally {
      c.exit();
      this.changed();
    }
    const status: ExitStatus = {
      exitCode,
      signal: null,
      finishedAt: new Date().toISOString(),
      oomKilled: false,
    };
    this.exits.set(stateDir, status);
    this.host.writeExit?.(stateDir, status);
    if (onExit.length > 0) this.host.onExit?.(onExit);
    const pid = c.pid;
    return stdio.kind === 'attach'
      ? { pid, monitorPid: 0, exit: Promise.resolve(status) }
      : { pid, monitorPid: 0 };
  }

  async exec(): Promise<number> {
    throw new StrataError('the kernel model keeps no container running: there is nothing to exec in');
  }

  async status(stateDir: string): Promise<RuntimeStatus> {
    const exit = this.exits.get(stateDir) ?? this.host.readExit?.(stateDir) ?? null;
    if (exit) return { status: 'exited', exit };
    return { status: 'unknown', reason: 'the kernel model has no record of this container' };
  }

  async kill(): Promise<void> {
    // Model containers have ended by the time start() returns: nothing to signal.
  }

  async cleanup(): Promise<void> {
    // The container's mount namespace went away with its last process, and its mounts with it.
  }
}
