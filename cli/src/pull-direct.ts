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
import { Store } from '../../shared/src/store/index.js';
import { StrataError } from '../../shared/src/errors.js';
import { trace } from '../../shared/src/trace.js';
import { pullCommand } from './commands/registry.js';
import type { Context } from './context.js';
import { debugRequested, errorReport } from './error-report.js';
import { parseFlags } from './flags.js';
import { nativeCommandLine } from './native-command-line.js';

/** Runs `strata ... pull ...` here; resolves its exit code, or null for main.ts to run it. */
export async function pullDirect(argv: string[]): Promise<number | null> {
  trace('cli: pull entry loaded');
  const a = nativeCommandLine(argv, 'pull');
  if (!a || a.args.includes('--help')) return null;
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
    return await pullCommand.run(ctx, parseFlags(pullCommand.name, pullCommand.flags, a.args.slice(1), true));
  } catch (e) {
    const r = errorReport(e, debugRequested());
    process.stderr.write(r.text);
    return r.code;
  }
}
