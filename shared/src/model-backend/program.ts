// What a container's program does, on the kernel model. The model executes no machine code: it knows
// a small set of commands by their effect on files (the scenario file operations), and a program is
// one of them or `sh -c SCRIPT` made of them. Anything else is reported as not runnable (exit 127),
// never imitated. The set and the shell subset are documented in docs/kernel-model.md.

import type { Errno, Process } from '../model/index.js';
import { isModelError } from '../model/index.js';
import { modelToText, removeAll, textToModel } from './layer.js';

/** Commands the model runs (as busybox applets would), by what they do to files. */
export const MODEL_COMMANDS = [
  'sh',
  'true',
  'false',
  ':',
  'echo',
  'cat',
  'touch',
  'mkdir',
  'rmdir',
  'rm',
  'mv',
  'cp',
  'ln',
  'chmod',
  'ls',
  'hostname',
  'exit',
] as const;

const KNOWN = new Set<string>(MODEL_COMMANDS);

export interface ProgramIO {
  stdout(text: string): void;
  stderr(text: string): void;
}

const STRERROR: Partial<Record<Errno, string>> = {
  ENOENT: 'No such file or directory',
  EEXIST: 'File exists',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  ENOTEMPTY: 'Directory not empty',
  EXDEV: 'Invalid cross-device link',
  EROFS: 'Read-only file system',
  EBUSY: 'Resource busy',
  EINVAL: 'Invalid argument',
  EPERM: 'Operation not permitted',
  ELOOP: 'Symbolic link loop',
};

class CommandFailed extends Error {}
class ExitRequest extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

function basenameOf(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}

function envValue(env: readonly string[], name: string): string | null {
  const hit = env.find((e) => e.startsWith(`${name}=`));
  return hit === undefined ? null : hit.slice(name.length + 1);
}

/**
 * Where argv0 is in the container (through $PATH when it has no slash), or null: the rootfs must hold
 * the program, as for a real exec.
 */
export function findProgram(p: Process, argv0: string, env: readonly string[]): string | null {
  const candidates = argv0.includes('/')
    ? [argv0]
    : (envValue(env, 'PATH') ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin')
        .split(':')
        .filter(Boolean)
        .map((d) => `${d}/${argv0}`);
  for (const c of candidates) {
    try {
      if (p.stat(c).kind === 'file') return c;
    } catch (err) {
      if (!isModelError(err)) throw err;
    }
  }
  return null;
}

/** Whether the model can run this program (its applet name is in MODEL_COMMANDS). */
export function modelRuns(argv0: string): boolean {
  return KNOWN.has(basenameOf(argv0));
}

type Token = { word: string } | { op: ';' | '&&' | '||' | '>' | '>>' };

/** sh's word splitting for the subset: quotes, backslash, $NAME and ${NAME}, ; && || newline > >>. */
export function tokenize(script: string, env: readonly string[]): Token[] {
  const out: Token[] = [];
  let word = '';
  let inWord = false;
  const flush = (): void => {
    if (inWord) out.push({ word });
    word = '';
    inWord = false;
  };
  const expand = (i: number): number => {
    const braced = script[i + 1] === '{';
    const re = braced ? /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}/ : /^\$([A-Za-z_][A-Za-z0-9_]*)/;
    const m = re.exec(script.slice(i));
    if (!m) {
      word += '$';
      inWord = true;
      return i + 1;
    }
    word += envValue(env, m[1]!) ?? '';
    inWord = true;
    return i + m[0].length;
  };
  let i = 0;
  while (i < script.length) {
    const c = script[i]!;
    if (c === "'") {
      const end = script.indexOf("'", i + 1);
      if (end < 0) throw new SyntaxError('unterminated quoted string');
      word += script.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      i++;
      inWord = true;
      while (i < script.length && script[i] !== '"') {
        if (script[i] === '\\' && i + 1 < script.length && '"\\$'.includes(script[i + 1]!)) {
          word += script[i + 1];
          i += 2;
        } else if (script[i] === '$') i = expand(i);
        else word += script[i++];
      }
      if (i >= script.length) throw new SyntaxError('unterminated quoted string');
      i++;
    } else if (c === '\\' && i + 1 < script.length) {
      word += script[i + 1];
      inWord = true;
      i += 2;
    } else if (c === '$') {
      i = expand(i);
    } else if (c === ' ' || c === '\t') {
      flush();
      i++;
    } else if (c === ';' || c === '\n') {
      flush();
      out.push({ op: ';' });
      i++;
    } else if (script.startsWith('&&', i) || script.startsWith('||', i)) {
      flush();
      out.push({ op: script.slice(i, i + 2) as '&&' | '||' });
      i += 2;
    } else if (c === '>') {
      flush();
      const append = script[i + 1] === '>';
      out.push({ op: append ? '>>' : '>' });
      i += append ? 2 : 1;
    } else if ('|&<`()'.includes(c)) {
      throw new SyntaxError(`'${c}' is not in the model's shell subset`);
    } else {
      word += c;
      inWord = true;
      i++;
    }
  }
  flush();
  return out;
}

/** Runs commands of MODEL_COMMANDS as process `p`, writing output through `io`. */
export class ModelShell {
  constructor(
    private readonly p: Process,
    private readonly env: readonly string[],
    private readonly io: ProgramIO,
  ) {}

  private fail(cmd: string, what: string, err: unknown): never {
    if (!isModelError(err)) throw err;
    this.io.stderr(`${cmd}: ${what}: ${STRERROR[err.code] ?? err.code}\n`);
    throw new CommandFailed();
  }

  /** Run a program's argv; returns its exit status. */
  run(argv: readonly string[]): number {
    try {
      return this.command(argv, this.io);
    } catch (err) {
      if (err instanceof ExitRequest) return err.code;
      throw err;
    }
  }

  private script(text: string): number {
    let tokens: Token[];
    try {
      tokens = tokenize(text, this.env);
    } catch (err) {
      this.io.stderr(`sh: syntax error: ${(err as Error).message}\n`);
      return 2;
    }
    let status = 0;
    let skip = false;
    let words: string[] = [];
    let redirect: { path: string; append: boolean } | null = null;
    const finish = (): void => {
      if (!skip && words.length > 0) status = this.simple(words, redirect);
      words = [];
      redirect = null;
    };
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i]!;
      if ('word' in t) {
        words.push(t.word);
      } else if (t.op === '>' || t.op === '>>') {
        const target = tokens[i + 1];
        if (!target || !('word' in target)) {
          this.io.stderr('sh: syntax error: redirection without a file\n');
          return 2;
        }
        redirect = { path: target.word, append: t.op === '>>' };
        i++;
      } else {
        finish();
        skip = t.op === '&&' ? status !== 0 : t.op === '||' ? status === 0 : false;
      }
    }
    finish();
    return status;
  }

  /** One command with an optional > or >> redirection of its standard output. */
  private simple(words: string[], redirect: { path: string; append: boolean } | null): number {
    if (!redirect) return this.command(words, this.io);
    let text = '';
    const io: ProgramIO = { stdout: (t) => void (text += t), stderr: (t) => this.io.stderr(t) };
    try {
      this.p.writeFile(redirect.path, '', { mode: 0o644, append: true });
      const status = this.command(words, io);
      this.p.writeFile(redirect.path, textToModel(text), { mode: 0o644, append: redirect.append });
      return status;
    } catch (err) {
      if (err instanceof ExitRequest) throw err;
      if (!isModelError(err)) throw err;
      this.io.stderr(`sh: can't create ${redirect.path}: ${STRERROR[err.code] ?? err.code}\n`);
      return 1;
    }
  }

  private command(argv: readonly string[], io: ProgramIO): number {
    const [cmd0 = '', ...rest] = argv;
    const cmd = basenameOf(cmd0);
    if (!KNOWN.has(cmd)) {
      // A program the image has is not run either: the model says so instead of imitating it.
      const found = findProgram(this.p, cmd0, this.env) !== null;
      io.stderr(`sh: ${cmd0}: ${found ? 'not run: the kernel model runs no programs' : 'not found'}\n`);
      return 127;
    }
    const p = this.p;
    const flags = new Set<string>();
    const args: string[] = [];
    for (const a of rest) {
      if (a.startsWith('-') && a.length > 1 && cmd !== 'echo' && cmd !== 'sh') {
        for (const f of a.slice(1)) flags.add(f);
      } else args.push(a);
    }
    try {
      switch (cmd) {
        case 'sh': {
          if (rest[0] !== '-c' || rest[1] === undefined) {
            io.stderr('sh: the kernel model runs only sh -c SCRIPT\n');
            return 2;
          }
          return this.script(rest[1]);
        }
        case 'true':
        case ':':
          return 0;
        case 'false':
          return 1;
        case 'exit':
          throw new ExitRequest(Number(args[0] ?? '0') & 0xff);
        case 'echo': {
          const noNewline = rest[0] === '-n';
          io.stdout((noNewline ? rest.slice(1) : rest).join(' ') + (noNewline ? '' : '\n'));
          return 0;
        }
        case 'hostname':
          io.stdout(`${p.hostname}\n`);
          return 0;
        case 'cat':
          for (const a of args) {
            try {
              io.stdout(modelToText(p.readFile(a)));
            } catch (err) {
              this.fail(cmd, a, err);
            }
          }
          return 0;
        case 'touch':
          for (const a of args) {
            try {
              // Setting the times of an existing file is a metadata change: overlayfs copies it up.
              if (!p.exists(a)) p.writeFile(a, '', { mode: 0o644 });
              else p.chmod(a, p.stat(a).mode);
            } catch (err) {
              this.fail(cmd, a, err);
            }
          }
          return 0;
        case 'mkdir':
          for (const a of args) {
            try {
              if (flags.has('p')) p.mkdirp(a, { mode: 0o755 });
              else p.mkdir(a, { mode: 0o755 });
            } catch (err) {
              this.fail(cmd, `can't create directory '${a}'`, err);
            }
          }
          return 0;
        case 'rmdir':
          for (const a of args) {
            try {
              p.rmdir(a);
            } catch (err) {
              this.fail(cmd, `'${a}'`, err);
            }
          }
          return 0;
        case 'rm':
          for (const a of args) {
            try {
              const st = p.lstat(a);
              if (st.kind === 'dir' && !flags.has('r') && !flags.has('R')) {
                io.stderr(`rm: '${a}' is a directory\n`);
                return 1;
              }
              removeAll(p, a);
            } catch (err) {
              if (flags.has('f') && isModelError(err, 'ENOENT')) continue;
              this.fail(cmd, `can't remove '${a}'`, err);
            }
          }
          return 0;
        case 'mv':
          try {
            p.rename(args[0] ?? '', args[1] ?? '');
          } catch (err) {
            this.fail(cmd, `can't rename '${args[0]}'`, err);
          }
          return 0;
        case 'cp':
          try {
            const st = p.stat(args[0] ?? '');
            p.writeFile(args[1] ?? '', p.readFile(args[0] ?? ''), { mode: st.mode });
          } catch (err) {
            this.fail(cmd, `can't copy '${args[0]}'`, err);
          }
          return 0;
        case 'ln':
          if (!flags.has('s')) {
            io.stderr('ln: the kernel model has no hard links (use ln -s)\n');
            return 1;
          }
          try {
            p.symlink(args[0] ?? '', args[1] ?? '');
          } catch (err) {
            this.fail(cmd, `${args[1]}`, err);
          }
          return 0;
        case 'chmod': {
          const mode = parseInt(args[0] ?? '', 8);
          if (!/^[0-7]{1,4}$/.test(args[0] ?? '')) {
            io.stderr(`chmod: invalid mode '${args[0]}' (the model takes octal modes)\n`);
            return 1;
          }
          for (const a of args.slice(1)) {
            try {
              p.chmod(a, mode);
            } catch (err) {
              this.fail(cmd, a, err);
            }
          }
          return 0;
        }
        case 'ls':
          for (const a of args.length > 0 ? args : ['.']) {
            try {
              const names = p.stat(a).kind === 'dir' ? p.readdir(a) : [a];
              if (names.length > 0) io.stdout(names.join('\n') + '\n');
            } catch (err) {
              this.fail(cmd, a, err);
            }
          }
          return 0;
        default:
          return 127;
      }
    } catch (err) {
      if (err instanceof CommandFailed) return 1;
      throw err;
    }
  }
}
