// `strata pull` without the CLI bundle: bin/strata.js requires this module (dist/BUILD/pull.cjs,
// CommonJS in one file) for a pull as root on the native backend, the common case. The bundle's
// ESM graph (the CLI's core chunk and a dozen more before the registry code) took about 30 ms to
// load before the manifest request could go out, a tenth of a 100 MB pull on loopback; one
// CommonJS file with only what a pull needs (flags, the store, the registry code) loads in less
// than half of that.
//
// The same command object, flags, output and error reports as through main.ts: null from
// pullDirect means "not this path": anything but plain global options, --help, another backend,
// or not root (rootless mode), which main.ts handles.
import path from 'node:path';
import { Store } from '../../shared/src/store/index.js';
import { DEFAULT_ROOT } from '../../shared/src/store/default-root.js';
import { StrataError } from '../../shared/src/errors.js';
import { trace } from '../../shared/src/trace.js';
import { pullCommand } from './commands/registry.js';
import type { Context } from './context.js';
import { debugRequested, errorReport } from './error-report.js';
import { parseFlags } from './flags.js';

/** The store root and the pull's own arguments, when this path serves the command line. */
function pullArguments(argv: string[]): { root: string; debug: boolean; rest: string[] } | null {
  let root = process.env.STRATA_ROOT;
  let backend = process.env.STRATA_BACKEND ?? 'native';
  let debug = false;
  let i = 0;
  for (; i < argv.length && argv[i]!.startsWith('-'); i++) {
    const a = argv[i]!;
    const eq = a.indexOf('=');
    const [flag, value] = eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a, undefined];
    if (flag === '--debug' || flag === '-D') debug = true;
    else if (flag === '--root' || flag === '--backend') {
      const v = value ?? argv[++i];
      if (v === undefined) return null;
      if (flag === '--root') root = v;
      else backend = v;
    } else return null; // --help, --version, or an error main() reports
  }
  const [name, ...rest] = argv.slice(i);
  if (name !== 'pull' || rest.includes('--help')) return null;
  if (backend !== 'native' || process.getuid?.() !== 0 || process.env.STRATA_ROOTLESS === '1') return null;
  return { root: path.resolve(root ?? DEFAULT_ROOT), debug, rest };
}

/** Runs `strata ... pull ...` here; resolves its exit code, or null for main.ts to run it. */
export async function pullDirect(argv: string[]): Promise<number | null> {
  trace('cli: pull entry loaded');
  const a = pullArguments(argv);
  if (!a) return null;
  let store: Store | null = null;
  const ctx: Context = {
    root: a.root,
    debug: a.debug,
    backendName: 'native',
    store: () => (store ??= new Store(a.root)),
    // A pull needs the store only (pull.ts): no engine, no backend, no containers.
    engine: () => Promise.reject(new StrataError('pull-direct: no engine here')),
    removeOnExit: () => {
      throw new StrataError('pull-direct: no containers here');
    },
    out: (t) => void process.stdout.write(t),
    err: (t) => void process.stderr.write(t),
    forwardSignals: () => () => undefined,
  };
  try {
    return await pullCommand.run(ctx, parseFlags(pullCommand.name, pullCommand.flags, a.rest, true));
  } catch (e) {
    const r = errorReport(e, debugRequested());
    process.stderr.write(r.text);
    return r.code;
  }
}
