// The emu runtime: containers started inside the guest by its static stage (emu-scripts.ts).
// The guest's agent answers one request at a time, so nothing long-running happens inside a request:
// a start returns once the payload is exec'd, and the monitor left in the guest writes the payload's
// output and exit status into the 9p share, which the host reads directly (no guest round trip) to
// stream attached output, copy a detached container's log and answer status().
//
// Host paths in the spec (the engine's /etc files, volumes, bind sources) are mapped into the share:
// host path P is `hostfs/P` in the share, `/mnt/host/.strata-emu/hostfs/P` in the guest.
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import type {
  ExitStatus,
  Runtime,
  RuntimeStatus,
  StartedProcess,
  StdioSpec,
} from '../../shared/src/backend.js';
import type { ContainerSpec, ProcessSpec } from '../../shared/src/spec.js';
import { StrataError } from '../../shared/src/errors.js';
import { shellQuote as q } from './protocol.ts';
import { GUEST_HOST_MOUNT as GUEST_MOUNT_ROOT } from './guest.ts';
import { EmuSession, GUEST_SHARE, SHARE_DIR, TIMEOUTS } from './emu-session.ts';
import { parseExitFile } from '../../shared/src/exit-file.js';
import { trace } from '../../shared/src/trace.js';
import { execScript, guestCgroup, startRequest, type GuestSource, type StartPaths } from './emu-scripts.ts';

/** Where a host path lands in the guest (through the 9p share). */
export function hostToShare(hostPath: string): string {
  return `${SHARE_DIR}/hostfs${path.resolve(hostPath)}`;
}

function parseExit(text: string): ExitStatus | null {
  if (!/^end=1$/m.test(text)) return null; // still being written
  return parseExitFile(text);
}

interface Tracked {
  id: string;
  share: string;
  /** Bytes of the guest log already appended to the host's log file (detached). */
  logPath: string | null;
  logOffset: number;
  exit: ExitStatus | null;
  onExit: string[];
  timer: NodeJS.Timeout | null;
}

const TRACING = process.env.STRATA_TRACE === '1';
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class EmuRuntime implements Runtime {
  private readonly containers = new Map<string, Tracked>();
  /** Host directories already copied into the share (volumes are seeded once per guest). */
  private readonly seeded = new Set<string>();
  private execCount = 0;

  constructor(
    private readonly session: EmuSession,
    private readonly ephemeral = false,
  ) {
    // A dead guest took its containers and the share's copies of host directories with it.
    session.onReset(() => {
      for (const t of this.containers.values()) if (t.timer) clearTimeout(t.timer);
      this.containers.clear();
      this.seeded.clear();
    });
  }

  /** Copy a host directory's files into the share once; files are copied on every start. */
  private async mapSource(hostPath: string): Promise<GuestSource> {
    const st = fs.statSync(hostPath, { throwIfNoEntry: false });
    if (!st) throw new StrataError(`bind source path does not exist: ${hostPath}`);
    const share = hostToShare(hostPath);
    if (st.isFile()) {
      await this.session.writeFile(share, fs.readFileSync(hostPath));
      return { guestPath: `${GUEST_MOUNT_ROOT}/${share}`, isFile: true };
    }
    if (!this.seeded.has(share)) {
      this.seeded.add(share);
      // Directories too (an empty volume is a bind source like any other).
      const walk = async (dir: string): Promise<void> => {
        await this.session.mkdir(hostToShare(dir));
        for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
          const p = path.join(dir, e.name);
          if (e.isDirectory()) await walk(p);
          else if (e.isFile()) await this.session.writeFile(hostToShare(p), fs.readFileSync(p));
        }
      };
      await walk(hostPath);
    }
    return { guestPath: `${GUEST_MOUNT_ROOT}/${share}`, isFile: false };
  }

  async start(
    spec: ContainerSpec,
    stdio: StdioSpec,
    stateDir: string,
    onExit: string[] = [],
  ): Promise<StartedProcess> {
    // The guest has no network device: 'none' and 'host' (the guest's namespace) are what it can do;
    // a bridge container gets its own namespace with loopback only (docs/emulator.md).
    if (spec.network?.mode === 'container') {
      throw new StrataError("the emu backend cannot join another container's network namespace yet");
    }
    if (stdio.kind === 'log' && this.ephemeral) {
      throw new StrataError(
        'the emu backend runs its guest inside this strata process, so a detached container would end ' +
          'with the command: run it in the foreground (without -d)',
      );
    }
    const shareRel = `${SHARE_DIR}/c/${spec.id}`;
    const share = `${GUEST_SHARE}/c/${spec.id}`;
    const sources = new Map<number, GuestSource>();
    for (const [i, m] of spec.mounts.entries()) {
      if (m.type === 'bind') sources.set(i, await this.mapSource(m.source));
    }
    let stdin = false;
    if (stdio.kind === 'attach' && stdio.stdin && !process.stdin.isTTY) {
      // No interactive input through the agent: a piped stdin is read whole and given as a file.
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      await this.session.writeFile(`${shareRel}/stdin`, Buffer.concat(chunks));
      stdin = true;
    }
    const paths: StartPaths = {
      share,
      sources,
      stdout: stdio.kind === 'log' ? 'log' : 'split',
      stdin,
      trace: TRACING,
    };
    for (const f of ['exit', 'out', 'err', 'log', 'report'])
      await this.session.removeFile(`${shareRel}/${f}`);
    // An empty file makes the directory exist for the stage's opens (v86 creates parents on write).
    await this.session.writeFile(`${shareRel}/out`, '');
    await this.session.writeFile(`${shareRel}/err`, '');
    if (stdio.kind === 'log') await this.session.writeFile(`${shareRel}/log`, '');

    const r = await this.session.run(
      `starting container ${spec.id.slice(0, 12)}`,
      startRequest(spec, paths),
      TIMEOUTS.start,
    );
    for (const line of TRACING ? r.stderr.split('\n') : [])
      if (line.startsWith('stage ')) trace(`guest ${line}`);
    const reportBytes = await this.session.readFile(`${shareRel}/report`);
    await this.session.removeFile(`${shareRel}/report`);
    const report = reportBytes ? new TextDecoder().decode(reportBytes) : '';
    let pid = 0;
    let monitorPid = 0;
    let failure: StrataError | null = null;
    for (const line of report.split('\n')) {
      if (line.startsWith('monitor ')) monitorPid = Number(line.slice(8));
      else if (line.startsWith('pid ')) pid = Number(line.slice(4));
      else if (line.startsWith('error ')) {
        const m = /^error (\d+) (.*)$/.exec(line);
        failure = new StrataError(`failed to start container: ${m?.[2] ?? line}`, Number(m?.[1] ?? 125));
      }
    }
    if (!failure && !report.split('\n').includes('ok')) {
      failure = new StrataError(
        `failed to start container: the guest monitor ended before starting it (${r.stderr.trim() || `exit ${r.exitCode}`})`,
      );
    }
    if (failure) throw failure;

    const t: Tracked = {
      id: spec.id,
      share: shareRel,
      logPath: stdio.kind === 'log' ? stdio.path : null,
      logOffset: 0,
      exit: null,
      onExit,
      timer: null,
    };
    this.containers.set(spec.id, t);
    this.containers.set(path.resolve(stateDir), t);
    if (stdio.kind === 'log') {
      // The host side of the monitor: copies the log and runs onExit (a detached --rm) at the end.
      const tick = async () => {
        t.timer = null;
        const st = await this.poll(t);
        if (st) {
          if (t.onExit.length > 0)
            spawn(t.onExit[0]!, t.onExit.slice(1), { stdio: 'ignore', detached: true }).unref();
          return;
        }
        t.timer = setTimeout(() => void tick(), 250);
        t.timer.unref();
      };
      t.timer = setTimeout(() => void tick(), 100);
      t.timer.unref();
      return { pid, monitorPid };
    }
    const exit = this.pump(shareRel, process.stdout, process.stderr).then((text) => {
      const st = parseExit(text);
      if (!st) throw new StrataError('container monitor ended without recording an exit status');
      t.exit = st;
      return st;
    });
    return { pid, monitorPid, exit };
  }

  /**
   * Streams `<base>out` and `<base>err` from the share to the given streams until `<base>exit` is
   * complete; resolves with the exit file's text. Polls the share, which costs the guest nothing.
   */
  private async pump(
    base: string,
    out: NodeJS.WritableStream,
    err: NodeJS.WritableStream,
    sep = '/',
  ): Promise<string> {
    const offsets = { out: 0, err: 0 };
    const generation = this.session.generation;
    const flush = async () => {
      for (const [name, stream] of [
        ['out', out],
        ['err', err],
      ] as const) {
        const bytes = await this.session.readFile(`${base}${sep}${name}`);
        if (bytes && bytes.length > offsets[name]) {
          stream.write(Buffer.from(bytes.subarray(offsets[name])));
          offsets[name] = bytes.length;
        }
      }
    };
    const t0 = performance.now();
    // The guest's write of one of these files into the share wakes the loop at once (v86 reports
    // each 9p write); else every 20 ms for the first 2 s, then every 100 ms. At most one read per
    // 5 ms: each read copies the whole output file.
    const last = base.slice(base.lastIndexOf('/') + 1);
    const names = new Set(
      sep === '/' ? ['out', 'err', 'exit'] : ['out', 'err', 'exit'].map((n) => `${last}.${n}`),
    );
    for (let delay = 5; ; delay = Math.min(delay * 2, performance.now() - t0 < 2_000 ? 20 : 100)) {
      const exit = await this.session.readFile(`${base}${sep}exit`);
      if (this.session.generation !== generation) {
        throw new StrataError(
          `emu backend: the guest died while the container ran: ${this.session.lastDeath}`,
        );
      }
      const text = exit ? new TextDecoder().decode(exit) : '';
      await flush();
      if (sep === '.' ? /^code=/.test(text) : parseExit(text)) return text;
      const polled = performance.now();
      await this.session.shareWrite(delay, (n) => names.has(n));
      const since = performance.now() - polled;
      if (since < 5) await sleep(5 - since);
    }
  }

  /** Copies new log bytes to the host's log file; returns the exit status once there is one. */
  private async poll(t: Tracked): Promise<ExitStatus | null> {
    if (t.exit) return t.exit;
    // Exit first, then the log: everything the payload wrote is in the log once `exit` exists.
    const exit = await this.session.readFile(`${t.share}/exit`);
    if (t.logPath) {
      const log = await this.session.readFile(`${t.share}/log`);
      if (log && log.length > t.logOffset) {
        fs.appendFileSync(t.logPath, log.subarray(t.logOffset));
        t.logOffset = log.length;
      }
    }
    t.exit = exit ? parseExit(new TextDecoder().decode(exit)) : null;
    return t.exit;
  }

  async exec(
    spec: ContainerSpec,
    pid: number,
    proc: ProcessSpec,
    stdio: Extract<StdioSpec, { kind: 'attach' }>,
  ): Promise<number> {
    void stdio; // no terminal and no interactive input through the agent (docs/emulator.md)
    if (!this.containers.has(spec.id))
      throw new StrataError(`container ${spec.id.slice(0, 12)} is not running`);
    const n = ++this.execCount;
    const base = `${SHARE_DIR}/c/${spec.id}/exec-${n}`;
    for (const f of ['out', 'err', 'exit']) await this.session.removeFile(`${base}.${f}`);
    await this.session.writeFile(`${base}.out`, '');
    await this.session.writeFile(`${base}.err`, '');
    await this.session.writeFile(
      `${base}.sh`,
      execScript(spec, pid, proc, `${GUEST_SHARE}/c/${spec.id}/exec-${n}`),
    );
    await this.session.check(
      `exec in ${spec.id.slice(0, 12)}`,
      `[ -d /proc/${pid} ] || { echo 'container ${spec.id.slice(0, 12)} is not running' >&2; exit 1; }\n` +
        `setsid sh ${q(`${GUEST_SHARE}/c/${spec.id}/exec-${n}.sh`)} < /dev/null > /dev/null 2>&1 &`,
    );
    const text = await this.pump(base, process.stdout, process.stderr, '.');
    for (const f of ['out', 'err', 'exit', 'sh']) await this.session.removeFile(`${base}.${f}`);
    return Number(/^code=(\d+)/.exec(text)?.[1] ?? '255');
  }

  async status(stateDir: string, pid: number | null, monitorPid: number | null): Promise<RuntimeStatus> {
    void monitorPid;
    const t = this.containers.get(path.resolve(stateDir));
    if (!t || !this.session.restored) {
      const death = this.session.lastDeath;
      return {
        status: 'unknown',
        reason: death
          ? `the emu guest that ran this container died (${death}) and was replaced by a fresh one`
          : 'the emu guest that ran this container is gone (each strata command restores its own guest; ' +
            'an emu container lives as long as the command that started it)',
      };
    }
    const exit = await this.poll(t);
    if (exit) return { status: 'exited', exit };
    return { status: 'running', pid: pid ?? 0 };
  }

  async kill(pid: number, signal: NodeJS.Signals | number): Promise<void> {
    if (!this.session.restored) return;
    const sig = typeof signal === 'number' ? String(signal) : signal.replace(/^SIG/, '');
    if (!/^[A-Z0-9]+$/.test(sig)) throw new StrataError(`invalid signal '${String(signal)}'`);
    // A process that is gone already is not an error (ESRCH), as with the native backend.
    await this.session.run(`kill ${pid}`, `kill -${sig} ${pid} 2>/dev/null; true`);
  }

  async cleanup(spec: ContainerSpec): Promise<void> {
    const t = this.containers.get(spec.id);
    if (t?.timer) clearTimeout(t.timer);
    if (!this.session.restored) return;
    // The stage's monitor unmounts the rootfs and removes the cgroup before it writes `exit`: once
    // that is there, the guest has nothing left to do (no request, no fork).
    if (t && (t.exit ?? (await this.poll(t)))) {
      // The share is v86's memory: drop what the finished container left there (a detached log has
      // been copied to the host by poll()).
      for (const n of ['out', 'err', 'log', 'exit', 'stdin'])
        await this.session.removeFile(`${t.share}/${n}`);
      return;
    }
    await this.session.run(
      `cleaning up ${spec.id.slice(0, 12)}`,
      [
        `umount -l ${q(spec.rootfs.mergedDir)} 2>/dev/null`,
        `rmdir ${guestCgroup(spec)} 2>/dev/null`,
        'true',
      ].join('; '),
    );
  }
}
