// The container engine: Docker's flows (create, start, exec, stop, rm, inspect) over the store and
// one Backend. Everything a backend does goes through shared/src/backend.ts.
import fs from 'node:fs';
import path from 'node:path';
import type { Backend, ExitStatus, StdioSpec } from '../backend.js';
import { ALL_CONTAINER_NAMESPACES, defaultDevices, defaultMounts } from '../spec.js';
import type { ContainerSpec, MountSpec } from '../spec.js';
import type { ContainerRecord, MountPoint } from '../container/types.js';
import { initialState } from '../container/types.js';
import { NotFoundError, StrataError, UsageError } from '../errors.js';
import { newId, randomName, shortId, VALID_NAME } from '../ids.js';
import type { Store } from '../store/index.js';
import type { ImageRecord } from '../store/images.js';
import { atomicWrite, removeTree } from '../store/fsutil.js';
import { commandLine, mergeEnv, type RunOptions } from './run-options.js';
import { initLayerEntries, hostNetworkFiles, hostsFile, resolvConf } from './init-layer.js';
import { parseTmpfsSpec, securitySpec, tmpfsMountOptions } from '../security.js';
import { joinedContainer, networkConfig, networkSettings, networkSpec } from './network-config.js';
import { trace } from '../trace.js';

function limitsOf(h: ContainerRecord['HostConfig']): ContainerSpec['cgroup']['limits'] {
  return {
    ...(h.Memory > 0 ? { memoryBytes: h.Memory } : {}),
    ...(h.MemorySwap !== 0 ? { memorySwapBytes: h.MemorySwap } : {}),
    ...(h.PidsLimit !== 0 ? { pidsLimit: h.PidsLimit } : {}),
    ...(h.NanoCpus > 0 ? { cpuQuotaMicros: Math.round(h.NanoCpus / 1e4), cpuPeriodMicros: 100000 } : {}),
    ...(h.CpuShares > 0 ? { cpuShares: h.CpuShares } : {}),
  };
}

export type ImageProvider = (reference: string) => Promise<string | null>;

/** Where containers' cgroups live, in each hierarchy: `strata/<id>`. */
export const CGROUP_PARENT = 'strata';
const LOG_FILE = 'container.log';

export class Engine {
  /** Builds embedded images (busybox) on first use; set by the CLI. */
  imageProvider: ImageProvider | null = null;
  /** Where `-e NAME` finds NAME's value: the user's environment (the daemon's client's, there). */
  hostEnv: NodeJS.ProcessEnv = process.env;

  constructor(
    readonly store: Store,
    readonly backend: Backend,
  ) {}

  // --- images ---------------------------------------------------------------------------------

  async resolveImage(reference: string): Promise<ImageRecord> {
    let id = this.store.images.resolve(reference);
    if (id === null && this.imageProvider) {
      const built = await this.imageProvider(reference);
      if (built !== null) id = this.store.images.resolve(built);
    }
    if (id === null) {
      throw new NotFoundError(`Unable to find image '${reference}' locally: No such image: ${reference}`);
    }
    return this.store.images.getImage(id);
  }

  /** Make sure every layer of the image is unpacked on the backend; returns the top snapshot id. */
  async materialise(image: ImageRecord): Promise<string | null> {
    let parent: string | null = null;
    for (const layer of this.store.images.layersOf(image)) {
      if (!(await this.backend.snapshots.exists(layer.cacheId))) {
        await this.backend.snapshots.apply(layer.cacheId, parent, this.store.blobs.stream(layer.diffId));
      }
      parent = layer.cacheId;
    }
    return parent;
  }

  // --- containers -----------------------------------------------------------------------------

  stateDir(rec: ContainerRecord): string {
    return this.store.containers.dir(rec.Id);
  }

  logPath(rec: ContainerRecord): string {
    return path.join(this.stateDir(rec), LOG_FILE);
  }

  /** `startsNow`: a start follows at once (`run`), which the runtime may begin ahead. */
  async create(
    opts: RunOptions,
    { startsNow = false }: { startsNow?: boolean } = {},
  ): Promise<ContainerRecord> {
    if (opts.name !== null && !VALID_NAME.test(opts.name)) {
      throw new UsageError(
        `Invalid container name (${opts.name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`,
      );
    }
    for (const v of opts.volumes) {
      if (v.kind === 'bind' && !fs.existsSync(v.source!)) {
        throw new StrataError(
          `invalid mount config for type "bind": bind source path does not exist: ${v.source}`,
        );
      }
    }
    trace('create: begin');
    // Bad capability names or profiles fail the create, as in Docker (not the later start).
    const security = {
      CapAdd: opts.capAdd && opts.capAdd.length > 0 ? opts.capAdd : null,
      CapDrop: opts.capDrop && opts.capDrop.length > 0 ? opts.capDrop : null,
      Privileged: opts.privileged === true,
      SecurityOpt: opts.securityOpt && opts.securityOpt.length > 0 ? opts.securityOpt : null,
      Tmpfs: Object.fromEntries((opts.tmpfs ?? []).map(parseTmpfsSpec)),
    };
    securitySpec(security);
    const image = await this.resolveImage(opts.image);
    trace('create: image resolved');
    const argv = commandLine(opts, image.config);
    const cfg = image.config.config ?? {};
    const withDefault =
      opts.network === undefined && this.backend.defaultNetwork
        ? { ...opts, network: this.backend.defaultNetwork }
        : opts;
    const net = networkConfig(withDefault, cfg.ExposedPorts, (ref) => this.store.containers.find(ref).Id);
    const joined = joinedContainer(net.mode);
    if (joined !== null && (opts.hostname ?? null) !== null)
      throw new StrataError('conflicting options: hostname and the network mode');
    // --net container:X takes X's hostname, as Docker: spec() gives it X's /etc/hosts, whose line
    // names X's address, this container's too (so a lookup of its own name stays local).
    // --net host takes the host's, with its files; on the native backend only: emu's "host" is
    // its guest, whose names this process does not know.
    const onHost = net.mode === 'host' && this.backend.kind === 'native' ? hostNetworkFiles() : null;
    const top = await this.materialise(image);
    trace('create: layers materialised');
    // A container whose snapshots were made ahead on this image (the warm daemon) takes their ID.
    const id = (top !== null ? this.backend.snapshots.takeAhead?.(top) : null) ?? newId();
    const name = opts.name ?? randomName() + '_' + id.slice(0, 4);
    const hostname =
      opts.hostname ??
      (joined !== null
        ? this.store.containers.find(joined).Config.Hostname
        : (onHost?.hostname ?? id.slice(0, 12)));
    const env = mergeEnv(cfg.Env ?? [], opts.env, hostname, opts.tty, this.hostEnv);
    this.store.containers.reserveName(name, id);
    const layerId = id;
    const initLayerId = `${id}-init`;
    const rec: ContainerRecord = {
      Id: id,
      Created: new Date().toISOString(),
      Path: argv[0]!,
      Args: argv.slice(1),
      State: initialState(),
      Image: image.id,
      Name: `/${name}`,
      Driver: 'overlay2',
      Config: {
        Hostname: hostname,
        Domainname: '',
        User: opts.user ?? cfg.User ?? '',
        AttachStdin: opts.interactive,
        AttachStdout: !opts.detach,
        AttachStderr: !opts.detach,
        Tty: opts.tty,
        OpenStdin: opts.interactive,
        Env: env,
        Cmd: opts.args.length > 0 ? opts.args : opts.entrypoint !== null ? null : (cfg.Cmd ?? null),
        Entrypoint:
          opts.entrypoint !== null
            ? opts.entrypoint === ''
              ? null
              : [opts.entrypoint]
            : (cfg.Entrypoint ?? null),
        Image: opts.image,
        WorkingDir: opts.workdir ?? cfg.WorkingDir ?? '',
        Labels: cfg.Labels ?? {},
        ...(Object.keys(net.exposedPorts).length > 0 ? { ExposedPorts: net.exposedPorts } : {}),
      },
      HostConfig: {
        Binds: opts.volumes
          .filter((v) => v.source !== null)
          .map((v) => `${v.source}:${v.destination}${v.readonly ? ':ro' : ''}`),
        AutoRemove: opts.autoRemove,
        Init: opts.init,
        NetworkMode: net.mode,
        PortBindings: net.portBindings,
        PublishAllPorts: net.publishAll,
        ReadonlyRootfs: opts.readonly,
        Memory: opts.memory ?? 0,
        MemorySwap: opts.memorySwap ?? (opts.memory !== undefined ? opts.memory * 2 : 0),
        PidsLimit: opts.pidsLimit ?? 0,
        NanoCpus: opts.cpus !== undefined ? Math.round(opts.cpus * 1e9) : 0,
        CpuShares: opts.cpuShares ?? 0,
        ...security,
      },
      Mounts: [],
      GraphDriver: { Name: 'overlay2', Data: { LowerDir: '', UpperDir: '', MergedDir: '', WorkDir: '' } },
      Strata: {
        backend: this.backend.kind,
        layerId,
        initLayerId,
        imageTopLayerId: top,
        monitorPid: 0,
        cgroupPath: `${CGROUP_PARENT}/${id}`,
      },
    };
    // The record exists before any snapshot, so `rm -f` can clean up after a crash from here on.
    this.store.containers.create(rec);
    let undoPrepared = (): void => undefined;
    try {
      if (startsNow) {
        const cgroup = { path: rec.Strata.cgroupPath, limits: limitsOf(rec.HostConfig) };
        undoPrepared = this.backend.runtime.prepareStart?.(cgroup) ?? undoPrepared;
      }
      const dir = this.stateDir(rec);
      atomicWrite(path.join(dir, 'hostname'), `${hostname}\n`);
      atomicWrite(path.join(dir, 'hosts'), onHost?.hosts ?? hostsFile());
      atomicWrite(path.join(dir, 'resolv.conf'), onHost?.resolvConf ?? resolvConf());
      await this.backend.snapshots.prepare(initLayerId, top, { entries: initLayerEntries(), commit: true });
      const rw = await this.backend.snapshots.prepare(layerId, initLayerId);
      rec.GraphDriver.Data = {
        LowerDir: rw.lowerDirs.join(':'),
        UpperDir: rw.diffDir,
        MergedDir: rw.mergedDir ?? '',
        WorkDir: rw.workDir ?? '',
      };
      rec.Mounts = this.mountPoints(rec, opts);
      this.store.containers.save(rec);
      trace('create: snapshots prepared, record saved');
    } catch (e) {
      undoPrepared(); // without its snapshots, the record's spec (which cleanup takes) may not be made
      await this.removeArtifacts(rec);
      throw e;
    }
    return rec;
  }

  private mountPoints(rec: ContainerRecord, opts: RunOptions): MountPoint[] {
    return opts.volumes.map((v): MountPoint => {
      if (v.kind === 'bind') {
        return {
          Type: 'bind',
          Source: v.source!,
          Destination: v.destination,
          Mode: v.readonly ? 'ro' : '',
          RW: !v.readonly,
          Propagation: 'rprivate',
        };
      }
      const anonymous = v.source === null;
      const vol = this.store.volumes.create(v.source ?? newId(), { anonymous });
      return {
        Type: 'volume',
        Name: vol.Name,
        Source: vol.Mountpoint,
        Destination: v.destination,
        Mode: v.readonly ? 'ro' : 'z',
        RW: !v.readonly,
        Propagation: '',
        Anonymous: anonymous,
      };
    });
  }

  /**
   * --net container:X shares X's /etc/hostname, /etc/hosts and /etc/resolv.conf, as Docker does;
   * null for other modes, or once X is gone (its own files then: `rm` still needs a spec).
   */
  private async joinedContainerDir(rec: ContainerRecord): Promise<string | null> {
    const joined = joinedContainer(rec.HostConfig.NetworkMode);
    if (joined === null) return null;
    const target = await this.find(joined).catch(() => null);
    return target ? this.stateDir(target) : null;
  }

  /** The runtime spec of a container, derived from its record and the backend's snapshot paths. */
  async spec(rec: ContainerRecord): Promise<ContainerSpec> {
    const rw = await this.backend.snapshots.paths(rec.Strata.layerId);
    const dir = this.stateDir(rec);
    const etcDir = (await this.joinedContainerDir(rec)) ?? dir;
    const etc: MountSpec[] = ['resolv.conf', 'hostname', 'hosts'].map((f) => ({
      destination: `/etc/${f}`,
      type: 'bind',
      source: path.join(etcDir, f),
      options: ['rbind', 'rprivate'],
    }));
    const security = securitySpec(rec.HostConfig);
    const tmpfs: MountSpec[] = Object.entries(rec.HostConfig.Tmpfs ?? {}).map(([destination, o]) => ({
      destination,
      type: 'tmpfs',
      source: 'tmpfs',
      options: tmpfsMountOptions(o),
    }));
    // --privileged: /sys read-write, as Docker.
    const system = defaultMounts().map((m) =>
      security.privileged && m.type === 'sysfs' ? { ...m, options: m.options.filter((o) => o !== 'ro') } : m,
    );
    const volumes: MountSpec[] = rec.Mounts.map((m) => ({
      destination: m.Destination,
      type: 'bind',
      source: m.Source,
      options: ['rbind', m.RW ? 'rw' : 'ro', 'rprivate'],
    }));
    return {
      id: rec.Id,
      hostname: rec.Config.Hostname,
      rootfs: {
        lowerDirs: rw.lowerLinks,
        upperDir: rw.diffDir,
        workDir: rw.workDir ?? '',
        mergedDir: rw.mergedDir ?? '',
        readonly: rec.HostConfig.ReadonlyRootfs,
      },
      process: {
        args: [rec.Path, ...rec.Args],
        env: rec.Config.Env ?? [],
        cwd: rec.Config.WorkingDir || '/',
        user: rec.Config.User ?? '',
        terminal: rec.Config.Tty,
      },
      namespaces: ALL_CONTAINER_NAMESPACES,
      mounts: [...system, ...etc, ...volumes, ...tmpfs],
      devices: defaultDevices(),
      init: rec.HostConfig.Init,
      cgroup: { path: rec.Strata.cgroupPath, limits: limitsOf(rec.HostConfig) },
      security,
      network: await networkSpec(rec, path.join(dir, 'hosts'), async (id) => {
        // A removed target must not stop this container's own cleanup (spec() serves rm too).
        const target = await this.find(id).catch(() => null);
        return target?.State.Running ? target.State.Pid : null;
      }),
    };
  }

  /** Start a created or exited container. Attach mode resolves `exit` when it ends. */
  async start(
    rec: ContainerRecord,
    stdio: StdioSpec,
    onExit: string[] = [],
  ): Promise<{ rec: ContainerRecord; exit?: Promise<ExitStatus> }> {
    await this.refresh(rec);
    if (rec.State.Running) throw new StrataError(`container ${rec.Id.slice(0, 12)} is already running`);
    const dir = this.stateDir(rec);
    fs.rmSync(path.join(dir, 'exit'), { force: true });
    const spec = await this.spec(rec);
    if (spec.network?.mode === 'container' && spec.network.pid === 0) {
      const target = joinedContainer(rec.HostConfig.NetworkMode);
      throw new StrataError(`cannot join network of a non running container: ${target}`);
    }
    let started;
    trace('start: spec ready');
    try {
      started = await this.backend.runtime.start(spec, stdio, dir, onExit);
      trace('start: payload running');
    } catch (e) {
      await this.backend.runtime.cleanup(spec);
      rec.State = {
        ...rec.State,
        Status: 'exited',
        ExitCode: e instanceof StrataError ? e.exitCode : 125,
        Error: (e as Error).message,
        FinishedAt: new Date().toISOString(),
      };
      this.store.containers.save(rec);
      throw e;
    }
    rec.State = {
      ...initialState(),
      Status: 'running',
      Running: true,
      Pid: started.pid,
      StartedAt: new Date().toISOString(),
    };
    rec.Strata.monitorPid = started.monitorPid;
    rec.NetworkSettings = networkSettings(started.network);
    this.store.containers.save(rec);
    const exit = started.exit?.then(async (status) => {
      // An auto-removed container is removed next, cleanup included: writing its exit state and
      // releasing it here would be undone at once (bench/run-latency). Should nobody remove it,
      // the next refresh reads the exit file and does both.
      this.recordExit(rec, status, !rec.HostConfig.AutoRemove);
      if (!rec.HostConfig.AutoRemove) await this.release(rec);
      return status;
    });
    return exit ? { rec, exit } : { rec };
  }

  /**
   * Give back what a stopped container holds on the host (its network: address, NAT rules, netns
   * mount), as Docker does on stop; the monitor has already unmounted the rootfs. Failures are left
   * for rm, which runs the same idempotent cleanup: a listing must not fail because of them.
   */
  private async release(rec: ContainerRecord): Promise<void> {
    try {
      await this.backend.runtime.cleanup(await this.spec(rec));
    } catch {
      /* retried by rm */
    }
  }

  private recordExit(rec: ContainerRecord, status: ExitStatus, persist = true): void {
    rec.State = {
      ...rec.State,
      Status: 'exited',
      Running: false,
      Pid: 0,
      ExitCode: status.exitCode,
      OOMKilled: status.oomKilled,
      FinishedAt: status.finishedAt,
    };
    // Another command may have removed it meanwhile (rm -f from a second shell).
    if (persist && fs.existsSync(this.stateDir(rec))) this.store.containers.save(rec);
  }

  /** Bring the record's State up to date with what the runtime recorded. */
  async refresh(rec: ContainerRecord): Promise<ContainerRecord> {
    if (rec.State.Status !== 'running') return rec;
    const st = await this.backend.runtime.status(this.stateDir(rec), rec.State.Pid, rec.Strata.monitorPid);
    if (st.status === 'exited') {
      this.recordExit(rec, st.exit);
      await this.release(rec);
    } else if (st.status === 'unknown') {
      this.recordExit(rec, {
        exitCode: 255,
        signal: null,
        finishedAt: new Date().toISOString(),
        oomKilled: false,
      });
      rec.State.Error = st.reason;
      this.store.containers.save(rec);
      await this.backend.runtime.cleanup(await this.spec(rec));
    }
    return rec;
  }

  find(ref: string): Promise<ContainerRecord> {
    return this.refresh(this.store.containers.find(ref));
  }

  async list(all: boolean): Promise<ContainerRecord[]> {
    const out: ContainerRecord[] = [];
    for (const rec of this.store.containers.list()) {
      await this.refresh(rec);
      if (all || rec.State.Running) out.push(rec);
    }
    return out;
  }

  async kill(rec: ContainerRecord, signal: NodeJS.Signals | number = 'SIGKILL'): Promise<void> {
    await this.refresh(rec);
    if (!rec.State.Running)
      throw new StrataError(
        `Cannot kill container: ${rec.Id.slice(0, 12)}: container ${rec.Id} is not running`,
      );
    await this.backend.runtime.kill(rec.State.Pid, signal);
  }

  /** Wait until the container is no longer running; returns its exit code. */
  async wait(rec: ContainerRecord, timeoutMs = Infinity): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (let delay = 2; ; delay = Math.min(delay * 2, 100)) {
      await this.refresh(rec);
      if (!rec.State.Running) return rec.State.ExitCode;
      if (Date.now() > deadline) throw new StrataError(`timed out waiting for ${shortId(rec.Id)}`);
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  /** docker stop: SIGTERM (or the image's StopSignal), then SIGKILL after `timeoutSec`. */
  async stop(rec: ContainerRecord, timeoutSec = 10, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.refresh(rec);
    if (!rec.State.Running) return;
    await this.backend.runtime.kill(rec.State.Pid, signal);
    try {
      await this.wait(rec, timeoutSec * 1000);
    } catch {
      await this.backend.runtime.kill(rec.State.Pid, 'SIGKILL');
      await this.wait(rec, 10_000);
    }
  }

  /** docker rm: refuses a running container unless forced; -v also removes anonymous volumes. */
  async remove(rec: ContainerRecord, opts: { force: boolean; volumes: boolean }): Promise<void> {
    await this.refresh(rec);
    if (rec.State.Running) {
      if (!opts.force) {
        throw new StrataError(
          `cannot remove container "${rec.Name}": container is running: stop the container before removing or force remove`,
        );
      }
      await this.backend.runtime.kill(rec.State.Pid, 'SIGKILL');
      try {
        await this.wait(rec, 10_000);
      } catch {
        /* cleaned up below regardless */
      }
    }
    trace('remove: begin');
    await this.removeArtifacts(rec);
    trace('remove: done');
    if (opts.volumes) {
      for (const m of rec.Mounts) {
        if (m.Type === 'volume' && m.Anonymous && m.Name)
          this.store.volumes.remove(m.Name, this.volumeUsers(m.Name, rec.Id), true);
      }
    }
  }

  private async removeArtifacts(rec: ContainerRecord): Promise<void> {
    try {
      await this.backend.runtime.cleanup(await this.spec(rec));
    } catch (e) {
      // No snapshot yet (crash during create): nothing is mounted either.
      if (!(e instanceof StrataError)) throw e;
    }
    await this.backend.snapshots.remove(rec.Strata.layerId);
    await this.backend.snapshots.remove(rec.Strata.initLayerId);
    this.store.containers.remove(rec);
  }

  volumeUsers(name: string, except?: string): string[] {
    return this.store.containers
      .list()
      .filter((c) => c.Id !== except && c.Mounts.some((m) => m.Name === name))
      .map((c) => c.Id.slice(0, 12));
  }

  /** Remove what killed processes left: partial snapshots, temp files of dead writers. */
  sweep(): void {
    const tmp = this.store.layout.tmp;
    for (const f of fs.existsSync(tmp) ? fs.readdirSync(tmp) : []) {
      const st = fs.statSync(path.join(tmp, f));
      if (Date.now() - st.mtimeMs > 60_000) removeTree(path.join(tmp, f));
    }
  }
}
