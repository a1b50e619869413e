// BuildKit's word-expansion conformance data (envVarTest, wordsTest), one test per line.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ShellExpansionError, processWord, processWords } from '../../shared/src/dockerfile/index.js';
import { testdataPath } from './testdata.js';

function dataLines(file: string): { text: string; lineNo: number }[] {
  return readFileSync(testdataPath(file), 'utf8')
    .split('\n')
    .map((text, i) => ({ text: text.replace(/\r$/, ''), lineNo: i + 1 }))
    .filter(({ text }) => text.trim() !== '' && !text.startsWith('#'));
}

describe('envVarTest (processWord)', () => {
  const env = ['PWD=/home', 'SHELL=bash', 'KOREAN=한국어', 'NULL='];
  const lines = dataLines('envVarTest');
  it('has the data', () => {
    expect(lines.length).toBeGreaterThan(100);
  });
  for (const { text, lineNo } of lines) {
    const fields = text.split('|');
    if (fields.length !== 3) throw new Error(`envVarTest:${lineNo}: malformed line ${JSON.stringify(text)}`);
    const [platform = '', rawInput = '', rawExpected = ''] = fields;
    if (platform !== 'A' && platform !== 'U') continue;
    const input = rawInput.trim();
    const expected = rawExpected.trim();
    it(`line ${lineNo}: ${input} -> ${expected}`, () => {
      if (expected === 'error') {
        expect(() => processWord(input, env)).toThrow(ShellExpansionError);
      } else {
        expect(processWord(input, env)).toBe(expected);
      }
    });
  }
});

describe('wordsTest (processWords)', () => {
  const env: string[] = [];
  const lines = dataLines('wordsTest');
  it('has the data', () => {
    expect(lines.filter(({ text }) => !text.startsWith('ENV ')).length).toBeGreaterThan(20);
  });
  for (const { text, lineNo } of lines) {
    if (text.startsWith('ENV ')) {
      env.push(text.slice(4).replace(/^ +/, ''));
      continue;
    }
    const fields = text.split('|');
    if (fields.length !== 2) throw new Error(`wordsTest:${lineNo}: malformed line ${JSON.stringify(text)}`);
    const [rawInput = '', rawExpected = ''] = fields;
    const input = rawInput.trim();
    const expected = rawExpected.replace(/^ +/, '').split(',');
    const snapshot = [...env];
    it(`line ${lineNo}: ${input} -> ${expected.join(',')}`, () => {
      if (expected.length === 1 && expected[0] === 'error') {
        expect(() => processWords(input, snapshot)).toThrow(ShellExpansionError);
      } else {
        expect(processWords(input, snapshot)).toEqual(expected);
      }
    });
  }
});
