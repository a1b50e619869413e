// The global options main.ts knows (--root, --backend, --debug), read without loading main.ts: the
// entries that serve one command themselves (client.ts for `run` through the daemon, pull-direct.ts
// for `pull`) take the command line only when it is that verb, on the native backend, as root.
import { resolve } from 'node:path';
import { DEFAULT_ROOT } from '../../shared/src/store/default-root.js';

export interface NativeCommandLine {
  root: string;
  debug: boolean;
  /** The verb and what follows it. */
  args: string[];
}

/** The command line when its verb is `verb` on the native backend as root (not rootless); else null. */
export function nativeCommandLine(argv: string[], verb: string): NativeCommandLine | null {
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
  const args = argv.slice(i);
  if (args[0] !== verb) return null;
  if (backend !== 'native' || process.getuid?.() !== 0 || process.env.STRATA_ROOTLESS === '1') return null;
  return { root: resolve(root ?? DEFAULT_ROOT), debug, args };
}
