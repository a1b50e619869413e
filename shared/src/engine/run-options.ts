// `docker run`'s options and how they combine with the image config, as Docker combines them.
import { StrataError, UsageError } from '../errors.js';
import type { ImageConfig } from '../oci/types.js';

export interface VolumeOption {
  /** Absolute host path (bind), a named volume, or null for an anonymous volume. */
  source: string | null;
  destination: string;
  readonly: boolean;
  kind: 'bind' | 'volume';
}

export interface RunOptions {
  image: string;
  /** Arguments after the image name (replace CMD). */
  args: string[];
  /** --entrypoint: null keeps the image's; '' clears it. */
  entrypoint: string | null;
  env: string[];
  workdir: string | null;
  name: string | null;
  hostname: string | null;
  volumes: VolumeOption[];
  tty: boolean;
  interactive: boolean;
  autoRemove: boolean;
  detach: boolean;
  init: boolean;
  user: string | null;
  readonly: boolean;
  memory?: number;
  memorySwap?: number;
  pidsLimit?: number;
  cpus?: number;
  cpuShares?: number;
  /** --cap-add, --cap-drop, --privileged, --security-opt, --tmpfs (shared/src/security.ts). */
  capAdd?: string[];
  capDrop?: string[];
  privileged?: boolean;
  securityOpt?: string[];
  tmpfs?: string[];
  /** --network: bridge (default), none, host, container:NAME|ID. */
  network?: string;
  /** -p */
  publish?: PublishOption[];
  /** -P: every exposed port on a host port the backend picks. */
  publishAll?: boolean;
}

/** `run` options as the CLI's defaults for IMAGE ARGS (Docker's: nothing set), with `overrides` on top. */
export function runOptions(image: string, args: string[], overrides: Partial<RunOptions> = {}): RunOptions {
  return {
    image,
    args,
    entrypoint: null,
    env: [],
    workdir: null,
    name: null,
    hostname: null,
    volumes: [],
    tty: false,
    interactive: false,
    autoRemove: false,
    detach: false,
    init: false,
    user: null,
    readonly: false,
    ...overrides,
  };
}

/** One -p: connections to hostIp:hostPort ('' and 0: any address, a free port) reach containerPort. */
export interface PublishOption {
  hostIp: string;
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp';
}

/** Parse -p [IP:][HOSTPORT:]CONTAINERPORT[/tcp|/udp] (Docker's forms, single ports only). */
export function parsePublishSpec(spec: string): PublishOption {
  const slash = spec.lastIndexOf('/');
  const protocol = slash >= 0 ? spec.slice(slash + 1) : 'tcp';
  if (protocol !== 'tcp' && protocol !== 'udp') throw new UsageError(`invalid proto: ${protocol}`);
  const parts = (slash >= 0 ? spec.slice(0, slash) : spec).split(':');
  if (parts.length > 3) throw new UsageError(`invalid port format for --publish: ${spec}`);
  const [hostIp, hostText, ctrText] =
    parts.length === 3 ? parts : parts.length === 2 ? ['', ...parts] : ['', '', ...parts];
  const port = (text: string, what: string, optional: boolean): number => {
    if (optional && text === '') return 0;
    if (/^\d+-\d+$/.test(text)) throw new UsageError(`port ranges are not supported yet: ${text}`);
    const n = Number(text);
    if (!/^\d+$/.test(text) || n < 1 || n > 65535) throw new UsageError(`invalid ${what}: ${text}`);
    return n;
  };
  if (hostIp !== '' && !/^(\d{1,3})(\.\d{1,3}){3}$/.test(hostIp!))
    throw new UsageError(`invalid IP address: ${hostIp}`);
  return {
    hostIp: hostIp!,
    hostPort: port(hostText!, 'hostPort', true),
    containerPort: port(ctrText!, 'containerPort', false),
    protocol,
  };
}

/** Validate --network; returns the mode as Docker records it ('default' is 'bridge'). */
export function parseNetworkMode(mode: string): string {
  if (mode === 'default' || mode === '') return 'bridge';
  if (['bridge', 'none', 'host'].includes(mode)) return mode;
  if (mode.startsWith('container:') && mode.length > 'container:'.length) return mode;
  throw new UsageError(`network ${mode} not found`);
}

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const MODES = ['ro', 'rw', 'z', 'Z', 'private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave', 'nocopy'];

/** Parse one -v/--volume spec: HOST:CTR[:ro|rw], NAME:CTR[:opts], or CTR alone (anonymous). */
export function parseVolumeSpec(spec: string): VolumeOption {
  const parts = spec.split(':');
  const bad = (why: string) => new UsageError(`invalid volume specification: '${spec}': ${why}`);
  if (parts.some((p) => p === '') || parts.length > 3) throw bad('invalid format');
  let source: string | null = null;
  let destination: string;
  let mode = 'rw';
  if (parts.length === 1) {
    destination = parts[0]!;
  } else if (parts.length === 2) {
    if (parts[1]!.split(',').every((m) => MODES.includes(m))) [destination, mode] = [parts[0]!, parts[1]!];
    else [source, destination] = [parts[0]!, parts[1]!];
  } else {
    [source, destination, mode] = [parts[0]!, parts[1]!, parts[2]!];
  }
  if (!destination.startsWith('/'))
    throw bad(`invalid mount path: '${destination}' mount path must be absolute`);
  if (destination === '/') throw bad("invalid mount path: destination can't be '/'");
  const modes = mode.split(',');
  for (const m of modes) {
    if (!MODES.includes(m)) {
      throw bad(`invalid mode: ${m}`);
    }
  }
  const kind = source !== null && source.startsWith('/') ? 'bind' : 'volume';
  if (source !== null && kind === 'volume' && !/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(source)) {
    throw bad(
      `"${source}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
    );
  }
  return { source, destination, readonly: modes.includes('ro'), kind };
}

/** Path and Args as Docker derives them from --entrypoint, the command line and the image. */
export function commandLine(opts: RunOptions, image: ImageConfig): string[] {
  const cfg = image.config ?? {};
  let entrypoint: string[];
  let cmd: string[];
  if (opts.entrypoint !== null) {
    entrypoint = opts.entrypoint === '' ? [] : [opts.entrypoint];
    cmd = opts.args; // an overridden entrypoint drops the image's CMD
  } else {
    entrypoint = cfg.Entrypoint ?? [];
    cmd = opts.args.length > 0 ? opts.args : (cfg.Cmd ?? []);
  }
  const argv = [...entrypoint, ...cmd];
  if (argv.length === 0) throw new StrataError('No command specified');
  return argv;
}

/** The environment: image Env, then -e (KEY=VALUE sets, bare KEY copies the caller's value). */
export function mergeEnv(
  imageEnv: string[],
  overrides: string[],
  hostname: string,
  tty: boolean,
  callerEnv: NodeJS.ProcessEnv | Record<string, string | undefined>,
): string[] {
  const env = new Map<string, string>();
  const set = (kv: string) => {
    const i = kv.indexOf('=');
    if (i === 0) throw new UsageError(`invalid environment variable: ${kv}`);
    if (i < 0) {
      const v = callerEnv[kv];
      if (v !== undefined) env.set(kv, v);
      return;
    }
    env.set(kv.slice(0, i), kv.slice(i + 1));
  };
  if (!imageEnv.some((e) => e.startsWith('PATH='))) env.set('PATH', DEFAULT_PATH);
  env.set('HOSTNAME', hostname);
  imageEnv.forEach(set);
  overrides.forEach(set);
  if (tty && !env.has('TERM')) env.set('TERM', 'xterm');
  return [...env].map(([k, v]) => `${k}=${v}`);
}
