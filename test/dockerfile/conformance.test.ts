// BuildKit's parser conformance data: every case must dump byte for byte like BuildKit, every
// negative case must be rejected.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DockerfileSyntaxError, dumpDockerfile, parseDockerfile } from '../../shared/src/dockerfile/index.js';
import { listCases, testdataPath } from './testdata.js';

describe('Dockerfile parser conformance (cases/)', () => {
  const cases = listCases('cases');
  it('has the conformance cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(20);
  });
  for (const name of cases) {
    it(name, () => {
      const dir = testdataPath('cases', name);
      const source = readFileSync(path.join(dir, 'Dockerfile'), 'utf8');
      const expected = readFileSync(path.join(dir, 'result'), 'utf8');
      expect(dumpDockerfile(parseDockerfile(source)) + '\n').toBe(expected);
    });
  }
});

describe('Dockerfile parser conformance (negative/)', () => {
  const cases = listCases('negative');
  for (const name of cases) {
    it(`rejects ${name}`, () => {
      const source = readFileSync(path.join(testdataPath('negative', name), 'Dockerfile'), 'utf8');
      expect(() => parseDockerfile(source)).toThrow(DockerfileSyntaxError);
    });
  }
});
