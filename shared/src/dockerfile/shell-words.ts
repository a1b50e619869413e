// Docker's word expansion for Dockerfile arguments (BuildKit's shell lexer): quotes, the escape
// token, and POSIX-style parameter expansion ($VAR, ${VAR}, ${VAR:-w}, ${VAR:+w}, ${VAR:?w}, their
// colon-less forms, ${VAR#p} ${VAR##p} ${VAR%p} ${VAR%%p} pattern removal and ${VAR/p/r}
// ${VAR//p/r} replacement). No command
// substitution, arithmetic or globbing: those stay literal for the shell inside the container.

import { ShellExpansionError } from './errors.js';

/** Variables for expansion: `K=V` strings (the first entry for a name wins, as in BuildKit) or a map. */
export type ShellEnv = readonly string[] | ReadonlyMap<string, string>;

export interface ShellWordOptions {
  /** The escape character (the Dockerfile's `# escape=`). Default `\`. */
  escapeToken?: '\\' | '`';
}

const SPACE_CHAR = /^\p{White_Space}$/u;
const LETTER_OR_DIGIT = /^[\p{L}\p{Nd}_]$/u;
const DIGIT = /^\p{Nd}$/u;
const SPECIAL_PARAMS = new Set(['@', '*', '#', '?', '-', '$', '!', '0']);

function toMap(env: ShellEnv): ReadonlyMap<string, string> {
  if (!Array.isArray(env)) return env as ReadonlyMap<string, string>;
  const map = new Map<string, string>();
  for (const entry of env as readonly string[]) {
    const eq = entry.indexOf('=');
    const key = eq < 0 ? entry : entry.slice(0, eq);
    // As in BuildKit, the first definition of a name wins.
    if (!map.has(key)) map.set(key, eq < 0 ? '' : entry.slice(eq + 1));
  }
  return map;
}

/** Collects the expansion both as one string and as blank-separated words. */
class Output {
  text = '';
  readonly words: string[] = [];
  private current = '';

  /** Unquoted text: blanks separate words. */
  split(s: string): void {
    this.text += s;
    for (const ch of s) {
      if (SPACE_CHAR.test(ch)) this.endWord();
      else this.current += ch;
    }
  }

  /** Quoted or escaped text: kept inside the current word. */
  raw(s: string): void {
    this.text += s;
    this.current += s;
  }

  endWord(): void {
    if (this.current !== '') this.words.push(this.current);
    this.current = '';
  }
}

/** Shell-style glob (`*`, `?`, `[...]`, `\x`) to an anchored-by-caller regex source. */
function globToRegex(pattern: string): string {
  let out = '';
  const chars = Array.from(pattern);
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i] ?? '';
    if (ch === '*') out += '[^]*';
    else if (ch === '?') out += '[^]';
    else if (ch === '\\' && i + 1 < chars.length) out += escapeRegex(chars[++i] ?? '');
    else if (ch === '[') {
      const close = chars.indexOf(']', i + 2);
      if (close < 0) {
        out += '\\[';
        continue;
      }
      let body = chars.slice(i + 1, close).join('');
      if (body.startsWith('!')) body = '^' + body.slice(1);
      out += '[' + body.replace(/\\/g, '\\\\') + ']';
      i = close;
    } else out += escapeRegex(ch);
  }
  return out;
}

function escapeRegex(ch: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(ch) ? '\\' + ch : ch;
}

/** Remove the shortest/longest prefix or suffix of `value` matching the glob `pattern`. */
function removePattern(value: string, pattern: string, suffix: boolean, longest: boolean): string {
  let re: RegExp;
  try {
    re = new RegExp(`^(?:${globToRegex(pattern)})$`, 'u');
  } catch {
    return value; // a malformed bracket expression matches nothing
  }
  const chars = Array.from(value);
  const n = chars.length;
  if (!suffix) {
    for (let k = 0; k <= n; k++) {
      const len = longest ? n - k : k;
      if (re.test(chars.slice(0, len).join(''))) return chars.slice(len).join('');
    }
  } else {
    for (let k = 0; k <= n; k++) {
      const start = longest ? k : n - k;
      if (re.test(chars.slice(start).join(''))) return chars.slice(0, start).join('');
    }
  }
  return value;
}

/** `${VAR/pattern/replacement}` (first, longest match) and `${VAR//pattern/replacement}` (all). */
function replacePattern(value: string, pattern: string, replacement: string, all: boolean): string {
  if (pattern === '') return value;
  let re: RegExp;
  try {
    re = new RegExp(globToRegex(pattern), all ? 'gu' : 'u');
  } catch {
    return value;
  }
  return value.replace(re, () => replacement);
}

class Lexer {
  private readonly chars: string[];
  private pos = 0;

  constructor(
    private readonly source: string,
    private readonly env: ReadonlyMap<string, string>,
    private readonly escape: string,
  ) {
    this.chars = Array.from(source);
  }

  private peek(): string | undefined {
    return this.chars[this.pos];
  }

  private next(): string | undefined {
    const ch = this.chars[this.pos];
    if (ch !== undefined) this.pos++;
    return ch;
  }

  private fail(message: string): never {
    throw new ShellExpansionError(message, this.source);
  }

  run(): Output {
    const out = new Output();
    this.processUntil(out, '');
    out.endWord();
    return out;
  }

  /**
   * Process input until one of the `stops` characters (consumed and returned) or the end of input;
   * when `stops` is non-empty a missing stop character is an error.
   */
  private processUntil(out: Output, stops: string): string {
    for (;;) {
      const ch = this.peek();
      if (ch === undefined) break;
      if (stops.includes(ch)) {
        this.next();
        return ch;
      }
      if (ch === "'") out.raw(this.singleQuoted());
      else if (ch === '"') out.raw(this.doubleQuoted());
      else if (ch === '$') out.split(this.dollar());
      else {
        this.next();
        if (ch === this.escape) {
          const escaped = this.next();
          if (escaped === undefined) break; // a trailing escape is dropped
          out.raw(escaped);
        } else {
          out.split(ch);
        }
      }
    }
    if (stops !== '') this.fail(`unexpected end of statement while looking for matching ${stops.slice(-1)}`);
    return '';
  }

  private singleQuoted(): string {
    this.next();
    let s = '';
    for (;;) {
      const ch = this.next();
      if (ch === undefined) this.fail('unexpected end of statement while looking for matching single-quote');
      if (ch === "'") return s;
      s += ch;
    }
  }

  private doubleQuoted(): string {
    this.next();
    let s = '';
    for (;;) {
      const ch = this.peek();
      if (ch === undefined) this.fail('unexpected end of statement while looking for matching double-quote');
      if (ch === '"') {
        this.next();
        return s;
      }
      if (ch === '$') {
        s += this.dollar();
        continue;
      }
      this.next();
      if (ch === this.escape) {
        // Inside double quotes only ", $ and the escape token itself can be escaped.
        const after = this.peek();
        if (after === '"' || after === '$' || after === this.escape) {
          s += after;
          this.next();
          continue;
        }
      }
      s += ch;
    }
  }

  /** A name after `$`: digits (positional), one special character, or letters/digits/_. */
  private name(): string {
    const first = this.peek();
    if (first === undefined) return '';
    if (DIGIT.test(first)) {
      let digits = '';
      for (let ch = this.peek(); ch !== undefined && DIGIT.test(ch); ch = this.peek()) digits += this.next();
      return digits;
    }
    if (SPECIAL_PARAMS.has(first)) {
      this.next();
      return first;
    }
    let name = '';
    for (let ch = this.peek(); ch !== undefined && LETTER_OR_DIGIT.test(ch); ch = this.peek()) {
      name += this.next();
    }
    return name;
  }

  /** The word of `${name<op>word}`, up to the matching `}`, expanded (not split). */
  private operand(stops = '}'): { text: string; stop: string } {
    const inner = new Output();
    const stop = this.processUntil(inner, stops);
    return { text: inner.text, stop };
  }

  private dollar(): string {
    this.next(); // $
    if (this.peek() !== '{') {
      const name = this.name();
      if (name === '') return '$';
      return this.env.get(name) ?? '';
    }
    this.next(); // {
    const name = this.name();
    if (name === '') {
      const ch = this.peek();
      this.fail(
        ch === undefined ? 'missing closing } in substitution' : `bad substitution: invalid name at '${ch}'`,
      );
    }
    const value = this.env.get(name);
    const op = this.next();
    switch (op) {
      case undefined:
        return this.fail(`missing closing } for \${${name}`);
      case '}':
        return value ?? '';
      case ':': {
        const op2 = this.next();
        if (op2 !== '-' && op2 !== '+' && op2 !== '?') {
          return this.fail(`unsupported modifier (:${op2 ?? ''}) in substitution of ${name}`);
        }
        return this.apply(name, value, op2, this.operand().text, true);
      }
      case '-':
      case '+':
      case '?': {
        return this.apply(name, value, op, this.operand().text, false);
      }
      case '#':
      case '%': {
        const longest = this.peek() === op;
        if (longest) this.next();
        const pattern = this.operand().text;
        return removePattern(value ?? '', pattern, op === '%', longest);
      }
      case '/': {
        const all = this.peek() === '/';
        if (all) this.next();
        const pattern = this.operand('/}');
        const replacement = pattern.stop === '/' ? this.operand().text : '';
        return replacePattern(value ?? '', pattern.text, replacement, all);
      }
      default:
        return this.fail(`unsupported modifier (${op}) in substitution of ${name}`);
    }
  }

  private apply(
    name: string,
    value: string | undefined,
    op: '-' | '+' | '?',
    word: string,
    colon: boolean,
  ): string {
    // With a colon an empty value counts as unset.
    const isSet = value !== undefined && (!colon || value !== '');
    switch (op) {
      case '-':
        return isSet ? (value ?? '') : word;
      case '+':
        return isSet ? word : '';
      case '?':
        if (!isSet)
          this.fail(
            word !== ''
              ? `${name}: ${word}`
              : `${name}: is not allowed to be ${value === undefined ? 'unset' : 'empty'}`,
          );
        return value ?? '';
    }
  }
}

/** Expand one word (quotes removed, variables substituted); blanks are kept. */
export function processWord(word: string, env: ShellEnv, options: ShellWordOptions = {}): string {
  return new Lexer(word, toMap(env), options.escapeToken ?? '\\').run().text;
}

/** Expand and split into words on unquoted blanks (including blanks from unquoted variables). */
export function processWords(word: string, env: ShellEnv, options: ShellWordOptions = {}): string[] {
  return new Lexer(word, toMap(env), options.escapeToken ?? '\\').run().words;
}
