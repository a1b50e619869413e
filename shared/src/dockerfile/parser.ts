// Dockerfile text -> syntax tree, with BuildKit's parser semantics (frontend/dockerfile/parser):
// parser directives, comments, line continuations, flags, exec vs shell form, ENV/LABEL pairs and
// ONBUILD nesting. Values are kept as written; variable expansion happens later (shell-words.ts).
// Pure TypeScript: no Node.js APIs, so the web UI can use it too.

import {
  INSTRUCTION_NAMES,
  type DockerfileAST,
  type HealthcheckInstruction,
  type Instruction,
  type InstructionName,
  type KeyValueInstruction,
  type KeyValuePair,
  type OnbuildInstruction,
  type ParseWarning,
  type ParserDirective,
  type SimpleInstruction,
} from './ast.js';
import { DockerfileSyntaxError } from './errors.js';

export interface ParseOptions {
  /** Name used in error messages (`<file>:<line>: ...`). Default `Dockerfile`. */
  file?: string;
}

type EscapeToken = '\\' | '`';

const KNOWN_DIRECTIVES = new Set(['escape', 'syntax', 'check']);
// Go's RE2 `\s` is [\t\n\f\r ], which is what BuildKit's directive pattern uses.
const DIRECTIVE_RE = /^#[\t\n\f\r ]*([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*$/;
const ASCII_SPACE_RUN = /[\t\v\f\r ]+/;
const ASCII_SPACE_RUN_G = /[\t\v\f\r ]+/g;
const LEADING_SPACE = /^\p{White_Space}+/u;
const TRAILING_SPACE = /\p{White_Space}+$/u;
const SPACE_CHAR = /^\p{White_Space}$/u;
const INSTRUCTIONS: ReadonlySet<string> = new Set(INSTRUCTION_NAMES);

/** Go's unicode.IsSpace. */
function isSpace(ch: string): boolean {
  return SPACE_CHAR.test(ch);
}

/** Go's strings.TrimSpace (Unicode White_Space; unlike String#trim it keeps U+FEFF). */
function trimSpace(s: string): string {
  return s.replace(LEADING_SPACE, '').replace(TRAILING_SPACE, '');
}

function trimLeft(s: string): string {
  return s.replace(LEADING_SPACE, '');
}

function isComment(rawLine: string): boolean {
  return trimLeft(rawLine.replace(/[\r\n]+$/, '')).startsWith('#');
}

/** Split `s` at the first run of ASCII blanks: [before, after] or [s]. */
function splitOnce(s: string): [string] | [string, string] {
  const m = ASCII_SPACE_RUN.exec(s);
  if (!m) return [s];
  return [s.slice(0, m.index), s.slice(m.index + m[0].length)];
}

function splitBlanks(s: string): string[] {
  return s === '' ? [] : s.split(ASCII_SPACE_RUN_G);
}

class ParseFailure extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

/** Tracks parser directives: only lines before the first non-directive line can be directives. */
class Directives {
  escapeToken: EscapeToken = '\\';
  readonly found: ParserDirective[] = [];
  private done = false;
  // A trailing escape token continues the line, unless it is itself escaped (`\\` at the end).
  private continuationRe = /(^|[^\\])\\[ \t]*$/;

  /** Feed a (left-trimmed) physical line; returns true when the line was a directive. */
  consider(line: string, lineNo: number): boolean {
    if (this.done) return false;
    const m = DIRECTIVE_RE.exec(line);
    const name = m?.[1]?.toLowerCase();
    if (!m || name === undefined || !KNOWN_DIRECTIVES.has(name)) {
      this.done = true;
      return false;
    }
    if (this.found.some((d) => d.name === name)) {
      throw new ParseFailure(`only one ${name} parser directive can be used`);
    }
    const value = m[2] ?? '';
    if (name === 'escape') {
      if (value !== '`' && value !== '\\') {
        throw new ParseFailure(`invalid escape token '${value}' does not match \` or \\`);
      }
      this.escapeToken = value;
      this.continuationRe = value === '`' ? /(^|[^`])`[ \t]*$/ : /(^|[^\\])\\[ \t]*$/;
    }
    this.found.push({ name, value, line: lineNo });
    return true;
  }

  /** Strip a trailing continuation character; returns [line, isEndOfLine]. */
  trimContinuation(line: string): [string, boolean] {
    const m = this.continuationRe.exec(line);
    if (!m) return [line, true];
    return [line.slice(0, m.index) + (m[1] ?? ''), false];
  }
}

/**
 * Leading `--flag` words of an instruction's arguments (BuildKit's extractBuilderFlags): quotes are
 * removed from flag words, `\` escapes the next character, and a bare `--` ends the flags.
 */
function extractFlags(line: string): { rest: string; flags: string[] } {
  const flags: string[] = [];
  let state: 'space' | 'word' | 'quote' = 'space';
  let word = '';
  let quote = '';
  let blankOK = false;
  const n = line.length;
  for (let pos = 0; pos <= n; pos++) {
    let ch = pos < n ? line.charAt(pos) : '';
    if (state === 'space') {
      if (pos === n) break;
      if (isSpace(ch)) continue;
      if (ch !== '-' || pos + 1 === n || line.charAt(pos + 1) !== '-') {
        return { rest: line.slice(pos), flags };
      }
      state = 'word';
    }
    if (pos === n) {
      if (word !== '--' && (blankOK || word.length > 0)) flags.push(word);
      break;
    }
    if (state === 'word') {
      if (isSpace(ch)) {
        if (word === '--') return { rest: line.slice(pos), flags };
        if (blankOK || word.length > 0) flags.push(word);
        state = 'space';
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        state = 'quote';
        continue;
      }
      if (ch === '\\') {
        if (pos + 1 === n) continue;
        pos++;
        ch = line.charAt(pos);
      }
      word += ch;
      continue;
    }
    // state === 'quote'
    if (ch === quote) {
      state = 'word';
      continue;
    }
    if (ch === '\\') {
      if (pos + 1 === n) {
        state = 'word';
        continue;
      }
      pos++;
      ch = line.charAt(pos);
    }
    word += ch;
  }
  return { rest: '', flags };
}

/**
 * Split ENV/LABEL/ARG arguments into words on blanks, honouring quotes and the escape token but
 * keeping them in the words (BuildKit's parseWords).
 */
function parseWords(rest: string, escapeToken: EscapeToken): string[] {
  const chars = Array.from(rest);
  const n = chars.length;
  const words: string[] = [];
  let state: 'space' | 'word' | 'quote' = 'space';
  let word = '';
  let quote = '';
  let blankOK = false;
  for (let i = 0; i <= n; i++) {
    let ch = chars[i] ?? '';
    if (state === 'space') {
      if (i === n) break;
      if (isSpace(ch)) continue;
      state = 'word';
    }
    if (i === n) {
      if (blankOK || word.length > 0) words.push(word);
      break;
    }
    if (state === 'word') {
      if (isSpace(ch)) {
        if (blankOK || word.length > 0) words.push(word);
        state = 'space';
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        state = 'quote';
      }
      if (ch === escapeToken) {
        if (i + 1 === n) continue; // a trailing escape token is dropped
        word += ch; // outside quotes the escape and the escaped character are both kept
        i++;
        ch = chars[i] ?? '';
      }
      word += ch;
      continue;
    }
    // state === 'quote'
    if (ch === quote) state = 'word';
    if (ch === escapeToken && quote !== "'") {
      if (i + 1 === n) {
        state = 'word';
        continue;
      }
      word += ch;
      i++;
      ch = chars[i] ?? '';
    }
    word += ch;
  }
  return words;
}

const NOT_STRING_ARRAY = 'when using JSON array syntax, arrays must be comprised of strings only';

/** Exec form: a JSON array of strings, or null when `rest` is not valid JSON (shell form then). */
function parseJSONArray(rest: string): string[] | null {
  const text = trimLeft(rest);
  if (!text.startsWith('[')) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (!Array.isArray(value)) return null;
  const out: string[] = [];
  for (const item of value as unknown[]) {
    if (typeof item !== 'string') throw new ParseFailure(NOT_STRING_ARRAY);
    out.push(item);
  }
  return out;
}

interface ParsedArgs {
  args: string[];
  json: boolean;
}

/** RUN, CMD, ENTRYPOINT, SHELL: JSON array, else the whole rest as one string. */
function parseMaybeJSON(rest: string): ParsedArgs {
  if (rest === '') return { args: [], json: false };
  const json = parseJSONArray(rest);
  if (json) return { args: json, json: true };
  return { args: [rest], json: false };
}

/** ADD, COPY, VOLUME: JSON array, else blank-separated words. */
function parseMaybeJSONToList(rest: string): ParsedArgs {
  const json = parseJSONArray(rest);
  if (json) return { args: json, json: true };
  return { args: splitBlanks(rest), json: false };
}

function parseNameVal(rest: string, keyword: string, escapeToken: EscapeToken): KeyValuePair[] {
  const words = parseWords(rest, escapeToken);
  const first = words[0];
  if (first === undefined) throw new ParseFailure(`${keyword} requires at least one argument`);
  if (!first.includes('=')) {
    // Legacy form: `ENV key value with spaces` (the value is the rest of the line, as written).
    const parts = splitOnce(rest);
    if (parts.length !== 2) throw new ParseFailure(`${keyword} must have two arguments`);
    return [{ key: parts[0], value: parts[1], form: 'legacy' }];
  }
  return words.map((word) => {
    const eq = word.indexOf('=');
    if (eq < 0) {
      throw new ParseFailure(
        `Syntax error - can't find = in ${JSON.stringify(word)}. Must be of the form: name=value`,
      );
    }
    return { key: word.slice(0, eq), value: word.slice(eq + 1), form: 'equals' as const };
  });
}

interface Location {
  startLine: number;
  endLine: number;
  comments: string[];
}

const NOT_ONBUILD_TRIGGERS: ReadonlySet<string> = new Set(['onbuild', 'from', 'maintainer']);

function requireArgs(keyword: string, args: string[], min: number, what = 'at least one argument'): void {
  if (args.length < min) throw new ParseFailure(`${keyword.toUpperCase()} requires ${what}`);
}

function newInstruction(line: string, d: Directives, loc: Location): Instruction {
  const trimmed = trimSpace(line);
  const split = splitOnce(trimmed);
  const keyword = split[0];
  let flags: string[] = [];
  let rest = '';
  if (split.length === 2) {
    const extracted = extractFlags(split[1]);
    flags = extracted.flags;
    rest = trimSpace(extracted.rest);
  }
  const lower = keyword.toLowerCase();
  if (!INSTRUCTIONS.has(lower)) throw new ParseFailure(`unknown instruction: ${keyword}`);
  const name = lower as InstructionName;
  const base = { keyword, flags, original: line, ...loc, comments: [...loc.comments] };
  const upper = keyword.toUpperCase();

  switch (name) {
    case 'env':
    case 'label': {
      const pairs = parseNameVal(rest, upper, d.escapeToken);
      for (const p of pairs) if (p.key === '') throw new ParseFailure(`${upper} names can not be blank`);
      const args = pairs.flatMap((p) => [p.key, p.value, p.form === 'equals' ? '=' : '']);
      const node: KeyValueInstruction = { ...base, name, args, json: false, pairs };
      return node;
    }
    case 'onbuild': {
      if (rest === '') throw new ParseFailure('ONBUILD requires at least one argument');
      const trigger = newInstruction(rest, d, { ...loc, comments: [] });
      if (NOT_ONBUILD_TRIGGERS.has(trigger.name)) {
        throw new ParseFailure(
          trigger.name === 'onbuild'
            ? "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"
            : `${trigger.keyword.toUpperCase()} isn't allowed as an ONBUILD trigger`,
        );
      }
      const node: OnbuildInstruction = { ...base, name, args: [], json: false, trigger };
      return node;
    }
    case 'healthcheck': {
      // HEALTHCHECK [flags] TYPE [command]: the type is the first word, the command may be JSON.
      const m = /\p{White_Space}/u.exec(rest);
      const type = m ? rest.slice(0, m.index) : rest;
      if (type === '') {
        const node: HealthcheckInstruction = { ...base, name, args: [], json: false, type: null };
        return node;
      }
      const cmd = parseMaybeJSON(m ? trimLeft(rest.slice(m.index)) : '');
      const node: HealthcheckInstruction = { ...base, name, args: [type, ...cmd.args], json: cmd.json, type };
      return node;
    }
    default: {
      let parsed: ParsedArgs;
      switch (name) {
        case 'run':
        case 'cmd':
        case 'entrypoint':
        case 'shell':
          parsed = parseMaybeJSON(rest);
          break;
        case 'add':
        case 'copy':
        case 'volume':
          parsed = parseMaybeJSONToList(rest);
          break;
        case 'from':
        case 'expose':
          parsed = { args: splitBlanks(rest), json: false };
          break;
        case 'arg':
          parsed = { args: parseWords(rest, d.escapeToken), json: false };
          break;
        default: // maintainer, stopsignal, user, workdir: the rest of the line as one string
          parsed = { args: rest === '' ? [] : [rest], json: false };
      }
      switch (name) {
        case 'add':
        case 'copy':
          if (parsed.args.length === 1) {
            throw new ParseFailure(
              `${upper} requires at least two arguments, but only one was provided. Destination could not be determined.`,
            );
          }
          requireArgs(keyword, parsed.args, 2, 'at least two arguments');
          break;
        case 'shell':
          if (rest !== '' && !parsed.json)
            throw new ParseFailure('SHELL requires the arguments to be in JSON form');
          requireArgs(keyword, parsed.args, 1);
          break;
        case 'from':
        case 'arg':
        case 'expose':
        case 'volume':
        case 'maintainer':
        case 'stopsignal':
        case 'user':
        case 'workdir':
          requireArgs(keyword, parsed.args, 1);
          break;
        default:
          break; // RUN, CMD, ENTRYPOINT may be empty (`CMD []`)
      }
      const node: SimpleInstruction = { ...base, name, ...parsed };
      return node;
    }
  }
}

/** Split into physical lines like Go's bufio.ScanLines: no empty last line, trailing CRs dropped. */
function physicalLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => l.replace(/\r+$/, ''));
}

/**
 * Parse Dockerfile text. Throws DockerfileSyntaxError (with the 1-based line) for unknown
 * instructions, malformed arguments, bad parser directives and files without instructions.
 */
export function parseDockerfile(text: string, options: ParseOptions = {}): DockerfileAST {
  const file = options.file ?? 'Dockerfile';
  const lines = physicalLines(text);
  const d = new Directives();
  const instructions: Instruction[] = [];
  const warnings: ParseWarning[] = [];
  let comments: string[] = [];
  let current = 0; // number of physical lines consumed so far
  let i = 0;

  const fail = (err: unknown, line: number): never => {
    if (err instanceof ParseFailure) throw new DockerfileSyntaxError(err.reason, line, file);
    throw err;
  };

  while (i < lines.length) {
    let raw = lines[i++] ?? '';
    if (current === 0 && raw.startsWith('\uFEFF')) raw = raw.slice(1);
    const left = trimLeft(raw);
    let isDirective = false;
    try {
      isDirective = d.consider(left, current + 1);
    } catch (err) {
      fail(err, current + 1);
    }
    current++;
    const startLine = current;
    if (left.startsWith('#')) {
      if (!isDirective) {
        const comment = trimSpace(left.slice(1));
        if (comment === '') comments = [];
        else comments.push(comment);
      }
      continue;
    }
    let [line, eol] = d.trimContinuation(left);
    if (eol && line === '') continue;
    let emptyContinuation = false;
    while (!eol && i < lines.length) {
      const next = lines[i++] ?? '';
      current++;
      if (isComment(next)) continue;
      if (trimLeft(next) === '') {
        emptyContinuation = true;
        continue;
      }
      const [part, end] = d.trimContinuation(next);
      line += part;
      eol = end;
    }
    if (emptyContinuation) {
      warnings.push({ line: startLine, message: `Empty continuation line found in: ${line}` });
    }
    if (trimSpace(line) === '') continue; // only continuation characters
    try {
      instructions.push(newInstruction(line, d, { startLine, endLine: current, comments }));
    } catch (err) {
      fail(err, startLine);
    }
    comments = [];
  }

  if (instructions.length === 0) {
    const reason =
      trimSpace(text.replace(/^\uFEFF/, '')) === ''
        ? 'file is empty'
        : 'file with no instructions (only comments, parser directives or blank lines)';
    throw new DockerfileSyntaxError(reason, Math.max(current, 1), file);
  }

  return { directives: d.found, escapeToken: d.escapeToken, instructions, warnings };
}
