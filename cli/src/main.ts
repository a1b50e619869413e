// The strata CLI: global options (before the command, as podman's), then Docker's verbs.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from '../../shared/src/engine/engine.js';
import { trace } from '../../shared/src/trace.js';
import { UsageError } from '../../shared/src/errors.js';
import { DEFAULT_ROOT, Store } from '../../shared/src/store/index.js';
import type { Backend } from '../../shared/src/backend.js';
import { defaultRootlessRoot, isRootless, runRootless } from '../../backend-native/src/rootless.js';
import type { ShimLauncher } from '../../backend-native/src/runtime.js';
import { familiarString, parseReference } from '../../shared/src/reference.js';
import type { Command, Context } from './context.js';
import { helpText, parseFlags } from './flags.js';
import { proxySignals } from './daemon-protocol.js';
import { debugRequested, errorReport } from './error-report.js';
// Command modules load on demand: a `run` should not pay for parsing the Dockerfile builder, the
// archive code or the tar writer (bench/run-latency).
const MODULES: Array<[string[], () => Promise<Record<string, unknown>>]> = [
  [['run', 'create', 'start'], () => import('./commands/run.js')],
  [['ps', 'inspect', 'exec', 'logs', 'stop', 'kill', 'rm', 'wait'], () => import('./commands/containers.js')],
  [['stats'], () => import('./commands/stats.js')],
  [['images'], () => import('./commands/images.js')],
  [['volume'], () => import('./commands/volumes.js')],
  [['build', 'commit', 'diff', 'history', 'tag', 'rmi', 'image'], () => import('./commands/image-ops.js')],
  [['save', 'load', 'import'], () => import('./commands/archive.js')],
  [['scenario'], () => import('./commands/scenario.js')],
  [['push', 'pull', 'login', 'logout'], () => import('./commands/registry.js')],
];

function isCommand(v: unknown): v is Command {
  return typeof v === 'object' && v !== null && 'name' in v && 'run' in v;
}

async function loadCommand(name: string): Promise<Command | null> {
  const entry = MODULES.find(([names]) => names.includes(name));
  if (!entry) return null;
  return (
    Object.values(await entry[1]())
      .filter(isCommand)
      .find((c) => c.name === name) ?? null
  );
}

async function allCommands(): Promise<Command[]> {
  const out: Command[] = [];
  for (const [names] of MODULES) for (const n of names) out.push((await loadCommand(n))!);
  return out;
}

const VERSION = '0.1.0';

async function usage(): Promise<string> {
  const rows = (await allCommands()).map((c) => `  ${c.name.padEnd(10)} ${c.description.split('\n')[0]}`);
  return `
Usage:  strata [OPTIONS] COMMAND

A container toolkit: namespaces, cgroups and union mounts, for real and visible

Options:
      --root string      Store root (default ${DEFAULT_ROOT}, or $STRATA_ROOT)
      --backend string   native or emu (default native, or $STRATA_BACKEND)
      --debug            Show stack traces on errors
  -v, --version          Print version information and quit

Commands:
${rows.join('\n')}

Run 'strata COMMAND --help' for more information on a command.
`;
}

/** The path of this CLI's entry script, for commands the shim runs later (detached --rm). */
function selfScript(): string {
  return process.argv[1] ? path.resolve(process.argv[1]) : fileURLToPath(import.meta.url);
}

/** Backends load on demand too (the native one brings koffi). */
async function makeBackend(name: string, root: string, launcher: ShimLauncher | null): Promise<Backend> {
  if (name === 'native')
    return new (await import('../../backend-native/src/index.js')).NativeBackend(root, launcher);
  if (name === 'emu') {
    // In the per-store daemon, every command shares its guest; otherwise (STRATA_EMU_DAEMON=0) the
    // guest lives as long as this process: single-command flows only (docs/emulator.md).
    const shared = (await import('./emu-daemon.js')).daemonBackend();
    if (shared) return shared;
    return new (await import('../../backend-emu/src/backend.js')).EmuBackend({ ephemeral: true });
  }
  // The kernel model's snapshots are saved in the store (<root>/model), so commands share one model.
  if (name === 'model')
    return (await import('../../shared/src/model-backend/node.js')).nodeModelBackend(root);
  throw new UsageError(`unknown backend '${name}': expected native, emu or model`);
}

export async function main(argv: string[]): Promise<number> {
  trace('cli: bundle loaded');
  const globals = parseFlags(
    '',
    [
      { name: 'root', type: 'string', help: '' },
      { name: 'backend', type: 'string', help: '' },
      { name: 'debug', short: 'D', type: 'bool', help: '' },
      { name: 'version', short: 'v', type: 'bool', help: '' },
      { name: 'help', type: 'bool', help: '' },
    ],
    argv,
    false,
  );
  const debug = globals.flags.get('debug') === true;
  const unprivileged = process.getuid?.() !== 0 && !isRootless();
  const root = path.resolve(
    (globals.flags.get('root') as string | undefined) ??
      process.env.STRATA_ROOT ??
      (unprivileged ? defaultRootlessRoot() : DEFAULT_ROOT),
  );
  const backendName =
    (globals.flags.get('backend') as string | undefined) ?? process.env.STRATA_BACKEND ?? 'native';
  const [name, ...rest] = globals.args;
  if (globals.flags.get('version') === true || name === 'version') {
    process.stdout.write(`strata version ${VERSION}\n`);
    return 0;
  }
  if (name === undefined || name === 'help' || globals.flags.get('help') === true) {
    process.stdout.write(await usage());
    return name === undefined && globals.flags.get('help') !== true ? 0 : 0;
  }
  // The warm native daemon (cli/src/native-daemon.ts), which the thin client starts.
  if (name === 'native-daemon') return (await import('./native-daemon.js')).serve(root);
  if (backendName === 'emu' && name !== 'scenario' && process.env.STRATA_EMU_DAEMON !== '0') {
    const daemon = await import('./emu-daemon.js');
    const start = daemon.serveArgv(root);
    if (name === 'emu-daemon') return daemon.daemonCommand(root, rest, start, runCli);
    if (!daemon.daemonBackend()) {
      const globalsOut = ['--root', root, '--backend', 'emu', ...(debug ? ['--debug'] : [])];
      return daemon.forward(root, [...globalsOut, ...globals.args], start);
    }
  }
  const command = await loadCommand(name);
  if (!command) throw new UsageError(`'${name}' is not a strata command.\nSee 'strata --help'`);
  if (rest[0] === '--help' || (rest.includes('--help') && command.interspersed !== false)) {
    process.stdout.write(helpText(command.usage, command.description, command.flags));
    return 0;
  }
  const parsed = parseFlags(command.name, command.flags, rest, command.interspersed ?? true);
  // scenario picks its own backend per run (--backend model needs no privileges).
  if (unprivileged && backendName === 'native' && name !== 'scenario') {
    // Rootless mode: the same command again, as root of a user namespace (docs/rootless.md).
    return runRootless([name, ...rest], root, ['--backend', backendName, ...(debug ? ['--debug'] : [])]);
  }

  const ctx = commandContext({
    root,
    debug,
    backendName,
    out: (t) => void process.stdout.write(t),
    err: (t) => void process.stderr.write(t),
  });
  return command.run(ctx, parsed);
}

export interface ContextOptions {
  root: string;
  debug: boolean;
  backendName: string;
  out(text: string): void;
  err(text: string): void;
  /** Who starts attached runs' shims on the native backend (the warm daemon's client). */
  launcher?: ShimLauncher;
  /** The user's environment, for `-e NAME` (default this process's). */
  hostEnv?: NodeJS.ProcessEnv;
  forwardSignals?: Context['forwardSignals'];
  /** Adjusts the backend once made (the warm daemon's deferred removals). */
  configureBackend?(backend: Backend): void;
}

/** What a command runs with: the store and engine opened lazily, output and signals. */
export function commandContext(o: ContextOptions): Context {
  const { root, debug, backendName } = o;
  let store: Store | null = null;
  let engine: Engine | null = null;
  const ctx: Context = {
    root,
    debug,
    backendName,
    store() {
      store ??= new Store(root);
      return store;
    },
    async engine() {
      if (engine) return engine;
      const backend = await makeBackend(backendName, root, o.launcher ?? null);
      o.configureBackend?.(backend);
      await backend.checkPrerequisites();
      engine = new Engine(ctx.store(), backend);
      if (o.hostEnv) engine.hostEnv = o.hostEnv;
      trace('cli: engine ready');
      engine.imageProvider = async (ref) => {
        // The embedded default image is built from Debian's busybox-static on first use.
        let full: string;
        try {
          full = familiarString(parseReference(ref));
        } catch {
          return null;
        }
        if (full !== 'busybox:latest') return null;
        const { buildBusyboxImage } = await import('../../images/busybox/build.js');
        await buildBusyboxImage(engine!.store, backend);
        return full;
      };
      return engine;
    },
    removeOnExit(id) {
      return [process.execPath, selfScript(), '--root', root, '--backend', backendName, 'rm', '-f', '-v', id];
    },
    out: o.out,
    err: o.err,
    forwardSignals: o.forwardSignals ?? ((_pid, kill) => proxySignals(kill)),
  };
  return ctx;
}

export async function cli(argv: string[]): Promise<void> {
  const code = await runCli(argv);
  // Flush before exiting: stdout may be a pipe.
  process.stdout.write('', () => process.exit(code));
}

export { errorReport } from './error-report.js';

/** main() with errors printed as the CLI prints them; resolves the exit code (the emu daemon's entry). */
export async function runCli(argv: string[]): Promise<number> {
  try {
    return await main(argv);
  } catch (e) {
    const r = errorReport(e, debugRequested());
    process.stderr.write(r.text);
    return r.code;
  }
}
