// Dump a parse tree in BuildKit's test format: one `(name ["flags"...] "arg"...)` line per
// instruction, every string written as Go's strconv.Quote would.

import type { DockerfileAST, Instruction } from './ast.js';

// Go's unicode.IsPrint: categories L, M, N, P, S, plus the ASCII space.
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/**
 * Go's strconv.Quote: a double-quoted string with `\"`, `\\`, `\a\b\f\n\r\t\v`, `\xNN` for other
 * control characters, `\uXXXX` / `\UXXXXXXXX` for other non-printable runes, printable Unicode kept
 * as is. A lone UTF-16 surrogate cannot come from valid UTF-8; it is written as U+FFFD, as Go's
 * decoders would have produced.
 */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    if (ch === '"' || ch === '\\') {
      out += '\\' + ch;
      continue;
    }
    if (cp >= 0xd800 && cp <= 0xdfff) {
      out += '\uFFFD';
      continue;
    }
    if (PRINTABLE.test(ch)) {
      out += ch;
      continue;
    }
    switch (ch) {
      case '\x07':
        out += '\\a';
        break;
      case '\b':
        out += '\\b';
        break;
      case '\f':
        out += '\\f';
        break;
      case '\n':
        out += '\\n';
        break;
      case '\r':
        out += '\\r';
        break;
      case '\t':
        out += '\\t';
        break;
      case '\v':
        out += '\\v';
        break;
      default:
        if (cp < 0x20 || cp === 0x7f) out += '\\x' + hex(cp, 2);
        else if (cp < 0x10000) out += '\\u' + hex(cp, 4);
        else out += '\\U' + hex(cp, 8);
    }
  }
  return out + '"';
}

/** One instruction without the surrounding parentheses, e.g. `copy ["--from=a"] "x" "/y"`. */
export function dumpInstruction(node: Instruction): string {
  let out = node.name;
  if (node.flags.length > 0) out += ' [' + node.flags.map(goQuote).join(' ') + ']';
  if (node.name === 'onbuild') out += ` (${dumpInstruction(node.trigger)})`;
  for (const arg of node.args) out += ' ' + goQuote(arg);
  return out;
}

/** The whole tree, one `(...)` line per instruction, joined by `\n` (no trailing newline). */
export function dumpDockerfile(ast: DockerfileAST): string {
  return ast.instructions.map((node) => `(${dumpInstruction(node)})`).join('\n');
}
