// Strata's own parser tests: error messages with line numbers, line ranges, directives, ONBUILD.
import { describe, expect, it } from 'vitest';
import {
  DockerfileSyntaxError,
  dumpDockerfile,
  goQuote,
  parseDockerfile,
  type Instruction,
  type ParseOptions,
} from '../../shared/src/dockerfile/index.js';

function syntaxError(source: string, options: ParseOptions = {}): DockerfileSyntaxError {
  try {
    parseDockerfile(source, options);
  } catch (err) {
    if (err instanceof DockerfileSyntaxError) return err;
    throw err;
  }
  throw new Error('expected a DockerfileSyntaxError');
}

function only(source: string): Instruction {
  const [first, ...rest] = parseDockerfile(source).instructions;
  if (!first || rest.length > 0) throw new Error('expected exactly one instruction');
  return first;
}

describe('parser errors', () => {
  it('rejects an unknown instruction with its line number', () => {
    const err = syntaxError('FROM alpine\n\nFOO bar\n');
    expect(err.message).toBe('Dockerfile:3: unknown instruction: FOO');
    expect(err.line).toBe(3);
    expect(err.reason).toBe('unknown instruction: FOO');
  });

  it('reports the first line of a continued instruction and uses the given file name', () => {
    const err = syntaxError('FROM alpine\n# c\nBOGUS a \\\n  b \\\n  c\n', { file: 'build/Dockerfile.dev' });
    expect(err.message).toBe('build/Dockerfile.dev:3: unknown instruction: BOGUS');
  });

  it('rejects ENV without a value', () => {
    expect(syntaxError('FROM busybox\n\nENV PATH\n').message).toBe(
      'Dockerfile:3: ENV must have two arguments',
    );
    expect(syntaxError('FROM busybox\nENV\n').message).toBe(
      'Dockerfile:2: ENV requires at least one argument',
    );
    expect(syntaxError('FROM busybox\nLABEL a=b c\n').message).toMatch(
      /^Dockerfile:2: Syntax error - can't find = in "c"/,
    );
  });

  it('rejects empty files and files with only comments', () => {
    expect(syntaxError('').message).toBe('Dockerfile:1: file is empty');
    expect(syntaxError('\n  \n').reason).toBe('file is empty');
    const err = syntaxError('# escape=`\n# just a comment\n\n');
    expect(err.reason).toMatch(/^file with no instructions/);
    expect(err.line).toBe(3);
  });

  it('rejects JSON arrays of non-strings', () => {
    expect(syntaxError('FROM a\nCMD ["a", 1]\n').message).toBe(
      'Dockerfile:2: when using JSON array syntax, arrays must be comprised of strings only',
    );
  });

  it('rejects bad and repeated parser directives', () => {
    expect(syntaxError('# escape=x\nFROM a\n').message).toBe(
      "Dockerfile:1: invalid escape token 'x' does not match ` or \\",
    );
    expect(syntaxError('# escape=`\n# escape=\\\nFROM a\n').message).toBe(
      'Dockerfile:2: only one escape parser directive can be used',
    );
  });

  it('rejects forbidden ONBUILD triggers and missing arguments', () => {
    expect(syntaxError('FROM a\nONBUILD ONBUILD RUN x\n').message).toBe(
      "Dockerfile:2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
    );
    expect(syntaxError('FROM a\nonbuild from b\n').reason).toBe("FROM isn't allowed as an ONBUILD trigger");
    expect(syntaxError('FROM a\nONBUILD NOPE x\n').message).toBe('Dockerfile:2: unknown instruction: NOPE');
    expect(syntaxError('FROM\n').message).toBe('Dockerfile:1: FROM requires at least one argument');
    expect(syntaxError('FROM a\nCOPY onlyone\n').reason).toMatch(/^COPY requires at least two arguments/);
    expect(syntaxError('FROM a\nSHELL /bin/sh -c\n').reason).toBe(
      'SHELL requires the arguments to be in JSON form',
    );
  });
});

describe('parser behaviour', () => {
  it('falls back to shell form when the JSON is unterminated, as BuildKit does', () => {
    const node = only('CMD ["echo", "hi"\n');
    expect(node.json).toBe(false);
    expect(node.args).toEqual(['["echo", "hi"']);
    const exec = only('ENTRYPOINT ["echo", "hi"]');
    expect(exec.json).toBe(true);
    expect(exec.args).toEqual(['echo', 'hi']);
  });

  it('keeps start and end lines across continuations, comments and blank lines', () => {
    const ast = parseDockerfile('# syntax=docker/dockerfile:1\nFROM a\nRUN one \\\n# note\n\n  two\nCMD x\n');
    expect(ast.directives).toEqual([{ name: 'syntax', value: 'docker/dockerfile:1', line: 1 }]);
    expect(ast.instructions.map((n) => [n.name, n.startLine, n.endLine])).toEqual([
      ['from', 2, 2],
      ['run', 3, 6],
      ['cmd', 7, 7],
    ]);
    expect(ast.instructions[1]?.args).toEqual(['one   two']);
    expect(ast.warnings).toEqual([{ line: 3, message: 'Empty continuation line found in: RUN one   two' }]);
  });

  it('treats instruction names case-insensitively and keeps the keyword as written', () => {
    const node = only('copy --from=build --chown="a b" src dst');
    expect(node.name).toBe('copy');
    expect(node.keyword).toBe('copy');
    expect(node.flags).toEqual(['--from=build', '--chown=a b']);
    expect(node.args).toEqual(['src', 'dst']);
  });

  it('honours the backtick escape directive and only at the top', () => {
    const ast = parseDockerfile('# escape=`\nFROM a\nRUN dir c:\\ `\n  /w\n');
    expect(ast.escapeToken).toBe('`');
    expect(dumpDockerfile(ast)).toBe('(from "a")\n(run "dir c:\\\\   /w")');
    const late = parseDockerfile('FROM a\n# escape=`\nRUN x \\\n y\n');
    expect(late.escapeToken).toBe('\\');
    expect(late.directives).toEqual([]);
  });

  it('parses ENV and LABEL pairs without expanding them', () => {
    const node = only('ENV A=1 B="two words" C=$A\\ x');
    if (node.name !== 'env') throw new Error('expected ENV');
    expect(node.pairs).toEqual([
      { key: 'A', value: '1', form: 'equals' },
      { key: 'B', value: '"two words"', form: 'equals' },
      { key: 'C', value: '$A\\ x', form: 'equals' },
    ]);
    const legacy = only('LABEL maintainer  Jane Doe <j@d>');
    if (legacy.name !== 'label') throw new Error('expected LABEL');
    expect(legacy.pairs).toEqual([{ key: 'maintainer', value: 'Jane Doe <j@d>', form: 'legacy' }]);
  });

  it('nests ONBUILD triggers with their own flags', () => {
    const node = only('ONBUILD COPY --from=x a /b');
    if (node.name !== 'onbuild') throw new Error('expected ONBUILD');
    expect(node.trigger.name).toBe('copy');
    expect(node.trigger.flags).toEqual(['--from=x']);
    expect(dumpDockerfile(parseDockerfile('ONBUILD COPY --from=x a /b\nONBUILD RUN ["a"]'))).toBe(
      '(onbuild (copy ["--from=x"] "a" "/b"))\n(onbuild (run "a"))',
    );
  });

  it('splits HEALTHCHECK into type and command', () => {
    const node = only('HEALTHCHECK --interval=5s CMD ["curl", "-f", "http://x/"]');
    if (node.name !== 'healthcheck') throw new Error('expected HEALTHCHECK');
    expect(node.type).toBe('CMD');
    expect(node.json).toBe(true);
    expect(node.args).toEqual(['CMD', 'curl', '-f', 'http://x/']);
  });

  it('handles CRLF line endings, a BOM and preceding comments', () => {
    const ast = parseDockerfile('\uFEFF# escape=`\r\n# the base\r\nFROM a\r\nRUN x `\r\n y\r\n');
    expect(ast.escapeToken).toBe('`');
    expect(dumpDockerfile(ast)).toBe('(from "a")\n(run "x  y")');
    expect(ast.instructions[0]?.comments).toEqual(['the base']);
  });
});

describe('goQuote', () => {
  it('quotes like Go strconv.Quote', () => {
    expect(goQuote('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(goQuote('\x07\b\f\n\r\t\v\x00\x1b\x7f')).toBe('"\\a\\b\\f\\n\\r\\t\\v\\x00\\x1b\\x7f"');
    expect(goQuote('한국어 ♥ ☃ é')).toBe('"한국어 ♥ ☃ é"');
    expect(goQuote('\u00a0\u200b\u2028')).toBe('"\\u00a0\\u200b\\u2028"');
    expect(goQuote('\u{1F600}\u{E0001}')).toBe('"\u{1F600}\\U000e0001"');
  });
});
