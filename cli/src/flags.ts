// Command-line parsing with Docker's (pflag's) rules: -abc bundles, -e K=V and -eK=V, --name value
// and --name=value, --flag=false for booleans, repeated list flags, and parsing stops at the first
// positional argument for commands whose arguments belong to the container (run, exec).
import { UsageError } from '../../shared/src/errors.js';

export type FlagType = 'bool' | 'string' | 'list' | 'int';

export interface FlagSpec {
  name: string;
  short?: string;
  type: FlagType;
  help: string;
  default?: string | boolean | number;
}

export type FlagValues = Map<string, string | boolean | number | string[]>;

export interface Parsed {
  flags: FlagValues;
  args: string[];
}

export function parseFlags(command: string, specs: FlagSpec[], argv: string[], interspersed = true): Parsed {
  const byLong = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  const flags: FlagValues = new Map();
  const args: string[] = [];
  const unknown = (f: string) =>
    new UsageError(
      `unknown ${f.startsWith('--') ? 'flag' : 'shorthand flag'}: ${f.startsWith('--') ? f : `'${f.slice(1, 2)}' in ${f}`}\nSee 'strata ${command} --help'.`,
    );
  const set = (spec: FlagSpec, value: string | true, shown: string) => {
    if (spec.type === 'bool') {
      if (value !== true && !['true', 'false', '1', '0'].includes(value)) {
        throw new UsageError(
          `invalid argument "${value}" for "${shown}" flag: parse error\nSee 'strata ${command} --help'.`,
        );
      }
      flags.set(spec.name, value === true || value === 'true' || value === '1');
    } else if (value === true) {
      throw new UsageError(`flag needs an argument: ${shown}\nSee 'strata ${command} --help'.`);
    } else if (spec.type === 'list') {
      const cur = flags.get(spec.name);
      flags.set(spec.name, [...(Array.isArray(cur) ? cur : []), value]);
    } else if (spec.type === 'int') {
      if (!/^-?\d+$/.test(value))
        throw new UsageError(
          `invalid argument "${value}" for "${shown}" flag: strconv.ParseInt: parsing "${value}": invalid syntax`,
        );
      flags.set(spec.name, Number(value));
    } else flags.set(spec.name, value);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      const spec = byLong.get(name);
      if (!spec) throw unknown(a);
      if (eq >= 0) set(spec, a.slice(eq + 1), `--${name}`);
      else if (spec.type === 'bool') set(spec, true, `--${name}`);
      else {
        if (i + 1 >= argv.length)
          throw new UsageError(`flag needs an argument: --${name}\nSee 'strata ${command} --help'.`);
        set(spec, argv[++i]!, `--${name}`);
      }
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const spec = byShort.get(a[j]!);
        if (!spec) throw unknown(a.slice(0, 1) + a.slice(j));
        if (spec.type === 'bool') {
          set(spec, true, `-${a[j]}`);
          continue;
        }
        let value = a.slice(j + 1);
        if (value.startsWith('=')) value = value.slice(1);
        if (value === '') {
          if (i + 1 >= argv.length)
            throw new UsageError(
              `flag needs an argument: '${a[j]}' in -${a[j]}\nSee 'strata ${command} --help'.`,
            );
          value = argv[++i]!;
        }
        set(spec, value, `-${a[j]}`);
        break;
      }
      continue;
    }
    if (!interspersed) {
      args.push(...argv.slice(i));
      break;
    }
    args.push(a);
  }
  for (const s of specs) if (s.default !== undefined && !flags.has(s.name)) flags.set(s.name, s.default);
  return { flags, args };
}

export function str(p: Parsed, name: string): string | null {
  const v = p.flags.get(name);
  return typeof v === 'string' ? v : null;
}
export function bool(p: Parsed, name: string): boolean {
  return p.flags.get(name) === true;
}
export function list(p: Parsed, name: string): string[] {
  const v = p.flags.get(name);
  return Array.isArray(v) ? v : [];
}
export function int(p: Parsed, name: string): number | null {
  const v = p.flags.get(name);
  return typeof v === 'number' ? v : null;
}

export function helpText(usage: string, description: string, specs: FlagSpec[]): string {
  const rows = specs.map((s) => {
    const left = `${s.short ? `-${s.short}, ` : '    '}--${s.name}${s.type === 'bool' ? '' : ` ${s.type}`}`;
    return `  ${left.padEnd(28)} ${s.help}`;
  });
  return `\nUsage:  strata ${usage}\n\n${description}\n${rows.length ? `\nOptions:\n${rows.join('\n')}\n` : ''}`;
}

/** Docker's byte sizes: 32m, 1g, 512k, plain bytes. */
export function parseBytes(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([bkmg]?)b?$/i.exec(text.trim());
  if (!m) throw new UsageError(`invalid argument "${text}" for "${flag}" flag: invalid size: '${text}'`);
  const mult = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase()] ?? 1;
  return Math.floor(Number(m[1]) * mult);
}
