// Strata's own word-expansion tests beyond BuildKit's data files.
import { describe, expect, it } from 'vitest';
import { ShellExpansionError, processWord, processWords } from '../../shared/src/dockerfile/index.js';

describe('processWord / processWords', () => {
  it('accepts a Map environment', () => {
    const env = new Map([
      ['A', 'x y'],
      ['E', ''],
    ]);
    expect(processWord('${A}-${E:-d}-${B-u}', env)).toBe('x y-d-u');
    expect(processWords('pre$A "$A"', env)).toEqual(['prex', 'y', 'x y']);
  });

  it('uses the first definition of a variable in a K=V list, as BuildKit does', () => {
    expect(processWord('$A', ['A=1', 'A=2'])).toBe('1');
  });

  it('supports the backtick escape token', () => {
    expect(processWord('a`$B`\\c', ['B=no'], { escapeToken: '`' })).toBe('a$B\\c');
    expect(processWord('"`"x"', [], { escapeToken: '`' })).toBe('"x');
  });

  it('reports ${VAR:?message} and unterminated quotes', () => {
    expect(() => processWord('${NOPE:?must be set}', [])).toThrow('NOPE: must be set');
    expect(() => processWord('"abc', [])).toThrow(/matching double-quote/);
    expect(() => processWord('${A', ['A=1'])).toThrow(ShellExpansionError);
  });

  it('removes prefix and suffix patterns', () => {
    const env = ['P=linux/arm/v7', 'F=archive.tar.gz'];
    expect(processWord('${P%/*}', env)).toBe('linux/arm');
    expect(processWord('${P%%/*}', env)).toBe('linux');
    expect(processWord('${P#*/}', env)).toBe('arm/v7');
    expect(processWord('${P##*/}', env)).toBe('v7');
    expect(processWord('${F%.tar.gz}', env)).toBe('archive');
    expect(processWord('${F#nomatch}', env)).toBe('archive.tar.gz');
    expect(processWord('${P/\\//-}', env)).toBe('linux-arm/v7');
    expect(processWord('${P//\\//-}', env)).toBe('linux-arm-v7');
    expect(processWord('${F/.*}', env)).toBe('archive');
    expect(processWord('${F//a/A}', env)).toBe('Archive.tAr.gz');
  });

  it('drops empty words and keeps quoted blanks', () => {
    expect(processWords('  a  ""  b\\ c  ', [])).toEqual(['a', 'b c']);
    expect(processWords('', [])).toEqual([]);
  });
});
