// strata run / create / start: create a container from an image and run it, as `docker run`.
import fs from 'node:fs';
import type { ContainerRecord } from '../../../shared/src/container/types.js';
import type { Engine } from '../../../shared/src/engine/engine.js';
import {
  parseNetworkMode,
  parsePublishSpec,
  parseVolumeSpec,
  type RunOptions,
} from '../../../shared/src/engine/run-options.js';
import { UsageError } from '../../../shared/src/errors.js';
import type { Command, Context } from '../context.js';
import { bool, int, list, parseBytes, str, type FlagSpec, type Parsed } from '../flags.js';

const CREATE_FLAGS: FlagSpec[] = [
  { name: 'name', type: 'string', help: 'Assign a name to the container' },
  { name: 'env', short: 'e', type: 'list', help: 'Set environment variables' },
  { name: 'workdir', short: 'w', type: 'string', help: 'Working directory inside the container' },
  { name: 'volume', short: 'v', type: 'list', help: 'Bind mount a volume' },
  { name: 'hostname', short: 'h', type: 'string', help: 'Container host name' },
  { name: 'entrypoint', type: 'string', help: 'Overwrite the default ENTRYPOINT of the image' },
  { name: 'interactive', short: 'i', type: 'bool', help: 'Keep STDIN open even if not attached' },
  { name: 'tty', short: 't', type: 'bool', help: 'Allocate a pseudo-TTY' },
  { name: 'rm', type: 'bool', help: 'Automatically remove the container when it exits' },
  {
    name: 'init',
    type: 'bool',
    help: 'Run an init inside the container that forwards signals and reaps processes',
  },
  { name: 'user', short: 'u', type: 'string', help: 'Username or UID (format: <name|uid>[:<group|gid>])' },
  { name: 'read-only', type: 'bool', help: "Mount the container's root filesystem as read only" },
  { name: 'memory', short: 'm', type: 'string', help: 'Memory limit' },
  {
    name: 'memory-swap',
    type: 'string',
    help: "Swap limit equal to memory plus swap: '-1' to enable unlimited swap",
  },
  { name: 'pids-limit', type: 'int', help: 'Tune container pids limit (set -1 for unlimited)' },
  { name: 'cpus', type: 'string', help: 'Number of CPUs' },
  { name: 'cpu-shares', short: 'c', type: 'int', help: 'CPU shares (relative weight)' },
  { name: 'cap-add', type: 'list', help: 'Add Linux capabilities' },
  { name: 'cap-drop', type: 'list', help: 'Drop Linux capabilities' },
  { name: 'privileged', type: 'bool', help: 'Give extended privileges to this container' },
  { name: 'security-opt', type: 'list', help: 'Security Options' },
  { name: 'tmpfs', type: 'list', help: 'Mount a tmpfs directory' },
  {
    name: 'network',
    type: 'string',
    help: 'Connect a container to a network (bridge, none, host, container:NAME|ID)',
  },
  { name: 'net', type: 'string', help: 'Alias of --network' },
  { name: 'publish', short: 'p', type: 'list', help: "Publish a container's port(s) to the host" },
  { name: 'publish-all', short: 'P', type: 'bool', help: 'Publish all exposed ports to random ports' },
];

const RUN_FLAGS: FlagSpec[] = [
  { name: 'detach', short: 'd', type: 'bool', help: 'Run container in background and print container ID' },
  ...CREATE_FLAGS,
];

/** Docker's CLI reads `seccomp=FILE` and stores the profile itself, so a later start needs no file. */
function readSeccompFile(opt: string): string {
  const m = /^seccomp[=:](.+)$/s.exec(opt);
  if (!m || m[1] === 'unconfined' || m[1] === 'builtin' || m[1]!.trimStart().startsWith('{')) return opt;
  try {
    return `seccomp=${fs.readFileSync(m[1]!, 'utf8')}`;
  } catch (e) {
    throw new UsageError(`opening seccomp profile (${m[1]}) failed: ${(e as Error).message}`);
  }
}

export function runOptions(p: Parsed, detach: boolean): RunOptions {
  const [image, ...args] = p.args;
  if (image === undefined)
    throw new UsageError(`"strata run" requires at least 1 argument.\nSee 'strata run --help'.`);
  const opts: RunOptions = {
    image,
    args,
    entrypoint: str(p, 'entrypoint'),
    env: list(p, 'env'),
    workdir: str(p, 'workdir'),
    name: str(p, 'name'),
    hostname: str(p, 'hostname'),
    volumes: list(p, 'volume').map(parseVolumeSpec),
    tty: bool(p, 'tty'),
    interactive: bool(p, 'interactive'),
    autoRemove: bool(p, 'rm'),
    detach,
    init: bool(p, 'init'),
    user: str(p, 'user'),
    readonly: bool(p, 'read-only'),
  };
  const wd = opts.workdir;
  if (wd !== null && !wd.startsWith('/'))
    throw new UsageError(`the working directory '${wd}' is invalid, it needs to be an absolute path`);
  const mem = str(p, 'memory');
  if (mem !== null) opts.memory = parseBytes(mem, '--memory');
  const swap = str(p, 'memory-swap');
  if (swap !== null) opts.memorySwap = swap === '-1' ? -1 : parseBytes(swap, '--memory-swap');
  const pids = int(p, 'pids-limit');
  if (pids !== null) opts.pidsLimit = pids;
  const cpus = str(p, 'cpus');
  if (cpus !== null) {
    if (!/^\d+(\.\d+)?$/.test(cpus) || Number(cpus) <= 0)
      throw new UsageError(
        `invalid argument "${cpus}" for "--cpus" flag: failed to parse ${cpus} as a rational number`,
      );
    opts.cpus = Number(cpus);
  }
  const shares = int(p, 'cpu-shares');
  if (shares !== null) opts.cpuShares = shares;
  opts.capAdd = list(p, 'cap-add');
  opts.capDrop = list(p, 'cap-drop');
  opts.privileged = bool(p, 'privileged');
  opts.securityOpt = list(p, 'security-opt').map(readSeccompFile);
  opts.tmpfs = list(p, 'tmpfs');
  // Below this the kernel may not even hold the container's first process (Docker's minimum too).
  if (opts.memory !== undefined && opts.memory < 6 * 1024 * 1024) {
    throw new UsageError('Minimum memory limit allowed is 6MB');
  }
  const network = str(p, 'network') ?? str(p, 'net');
  if (network !== null) opts.network = parseNetworkMode(network);
  opts.publish = list(p, 'publish').map(parsePublishSpec);
  opts.publishAll = bool(p, 'publish-all');
  return opts;
}

/** Run in the foreground: stream attached, signals proxied, exit code passed through. */
async function runAttached(
  ctx: Context,
  engine: Engine,
  rec: ContainerRecord,
  opts: RunOptions,
): Promise<number> {
  let started;
  try {
    started = await engine.start(rec, { kind: 'attach', tty: opts.tty, stdin: opts.interactive });
  } catch (e) {
    if (opts.autoRemove) await engine.remove(rec, { force: true, volumes: true });
    throw e;
  }
  // docker run's --sig-proxy: what the CLI receives goes to the container (a tty carries ^C itself).
  const pid = rec.State.Pid;
  const stopProxy = ctx.forwardSignals(pid, (sig) => void engine.backend.runtime.kill(pid, sig));
  try {
    const status = await started.exit!;
    return status.exitCode;
  } finally {
    stopProxy();
    if (opts.autoRemove) await engine.remove(rec, { force: true, volumes: true });
  }
}

export const runCommand: Command = {
  name: 'run',
  usage: 'run [OPTIONS] IMAGE [COMMAND] [ARG...]',
  description: 'Create and run a new container from an image',
  flags: RUN_FLAGS,
  interspersed: false,
  async run(ctx: Context, p: Parsed): Promise<number> {
    const opts = runOptions(p, bool(p, 'detach'));
    const engine = await ctx.engine();
    const rec = await engine.create(opts, { startsNow: true });
    if (!opts.detach) return runAttached(ctx, engine, rec, opts);
    try {
      await engine.start(
        rec,
        { kind: 'log', path: engine.logPath(rec), tty: opts.tty },
        opts.autoRemove ? ctx.removeOnExit(rec.Id) : [],
      );
    } catch (e) {
      if (opts.autoRemove) await engine.remove(rec, { force: true, volumes: true });
      throw e;
    }
    ctx.out(`${rec.Id}\n`);
    return 0;
  },
};

export const createCommand: Command = {
  name: 'create',
  usage: 'create [OPTIONS] IMAGE [COMMAND] [ARG...]',
  description: 'Create a new container',
  flags: CREATE_FLAGS,
  interspersed: false,
  async run(ctx, p) {
    const opts = runOptions(p, true);
    const rec = await (await ctx.engine()).create(opts);
    ctx.out(`${rec.Id}\n`);
    return 0;
  },
};

export const startCommand: Command = {
  name: 'start',
  usage: 'start [OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Start one or more stopped containers',
  flags: [{ name: 'attach', short: 'a', type: 'bool', help: 'Attach STDOUT/STDERR and forward signals' }],
  async run(ctx, p) {
    if (p.args.length === 0)
      throw new UsageError(`"strata start" requires at least 1 argument.\nSee 'strata start --help'.`);
    const engine = await ctx.engine();
    let code = 0;
    for (const ref of p.args) {
      const rec = await engine.find(ref);
      if (bool(p, 'attach')) {
        const { exit } = await engine.start(rec, { kind: 'attach', tty: rec.Config.Tty, stdin: false });
        code = (await exit!).exitCode;
      } else {
        await engine.start(
          rec,
          { kind: 'log', path: engine.logPath(rec), tty: rec.Config.Tty },
          rec.HostConfig.AutoRemove ? ctx.removeOnExit(rec.Id) : [],
        );
        ctx.out(`${ref}\n`);
      }
    }
    return code;
  },
};
