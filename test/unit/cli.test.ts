// The CLI's pure parts: Docker's flag rules, the inspect template subset, output formats.
import { describe, expect, it } from 'vitest';
import { parseBytes, parseFlags, type FlagSpec } from '../../cli/src/flags.js';
import { renderTemplate } from '../../cli/src/template.js';
import { humanDuration, humanSize, table } from '../../cli/src/format.js';

const SPECS: FlagSpec[] = [
  { name: 'detach', short: 'd', type: 'bool', help: '' },
  { name: 'interactive', short: 'i', type: 'bool', help: '' },
  { name: 'tty', short: 't', type: 'bool', help: '' },
  { name: 'env', short: 'e', type: 'list', help: '' },
  { name: 'name', type: 'string', help: '' },
  { name: 'time', short: 'T', type: 'int', help: '' },
];

describe('flags', () => {
  it('bundles short booleans and takes values attached, after = or as the next word', () => {
    const p = parseFlags('run', SPECS, [
      '-dit',
      '-eA=1',
      '-e',
      'B=2',
      '--env=C=3',
      '--name',
      'x',
      'busybox',
      'sh',
    ]);
    expect(p.flags.get('detach')).toBe(true);
    expect(p.flags.get('interactive')).toBe(true);
    expect(p.flags.get('tty')).toBe(true);
    expect(p.flags.get('env')).toEqual(['A=1', 'B=2', 'C=3']);
    expect(p.flags.get('name')).toBe('x');
    expect(p.args).toEqual(['busybox', 'sh']);
  });

  it("stops at the first argument when flags belong to the container's command", () => {
    const p = parseFlags('run', SPECS, ['-d', 'busybox', 'ls', '-d', '--name', 'y'], false);
    expect(p.args).toEqual(['busybox', 'ls', '-d', '--name', 'y']);
    expect(p.flags.has('name')).toBe(false);
  });

  it('accepts --flag=false and rejects what Docker rejects, naming the command', () => {
    expect(parseFlags('run', SPECS, ['--detach=false']).flags.get('detach')).toBe(false);
    expect(() => parseFlags('run', SPECS, ['--nope'])).toThrow(
      "unknown flag: --nope\nSee 'strata run --help'.",
    );
    expect(() => parseFlags('run', SPECS, ['-x'])).toThrow("unknown shorthand flag: 'x' in -x");
    expect(() => parseFlags('run', SPECS, ['--name'])).toThrow('flag needs an argument: --name');
    expect(() => parseFlags('stop', SPECS, ['-T', 'soon'])).toThrow('invalid argument "soon"');
  });

  it('parses sizes as Docker does', () => {
    expect(parseBytes('32m', '--memory')).toBe(32 * 1024 * 1024);
    expect(parseBytes('1g', '--memory')).toBe(1024 ** 3);
    expect(parseBytes('512k', '--memory')).toBe(512 * 1024);
    expect(parseBytes('100', '--memory')).toBe(100);
    expect(() => parseBytes('1x', '--memory')).toThrow("invalid size: '1x'");
  });
});

describe('inspect --format templates', () => {
  const data = {
    Id: 'abc',
    State: { Pid: 42, Running: true },
    Config: { Env: ['A=1', 'B=2'], Labels: { k: 'v' } },
    Mounts: [{ Destination: '/a' }, { Destination: '/b' }],
  };
  it('renders paths, json, index, range and literal text', () => {
    expect(renderTemplate('{{.State.Pid}}', data)).toBe('42');
    expect(renderTemplate('pid={{ .State.Pid }} running={{.State.Running}}', data)).toBe(
      'pid=42 running=true',
    );
    expect(renderTemplate('{{json .Config.Env}}', data)).toBe('["A=1","B=2"]');
    expect(renderTemplate('{{index .Config.Labels "k"}}', data)).toBe('v');
    expect(renderTemplate('{{range .Mounts}}{{.Destination}} {{end}}', data)).toBe('/a /b ');
    expect(renderTemplate('{{.Missing}}', data)).toBe('<no value>');
    expect(renderTemplate('{{.Config.Labels}}', data)).toBe('map[k:v]');
  });
  it('rejects unknown functions and unbalanced blocks', () => {
    expect(() => renderTemplate('{{frob .Id}}', data)).toThrow('function "frob" not defined');
    expect(() => renderTemplate('{{range .Mounts}}x', data)).toThrow('missing {{end}}');
  });
});

describe('output formats', () => {
  it("matches Docker's wording for durations and sizes", () => {
    expect(humanDuration(500)).toBe('Less than a second');
    expect(humanDuration(5_000)).toBe('5 seconds');
    expect(humanDuration(90_000)).toBe('About a minute');
    expect(humanDuration(3 * 3600_000)).toBe('3 hours');
    expect(humanSize(2_140_000)).toBe('2.14MB');
    expect(humanSize(999)).toBe('999B');
  });
  it('aligns table columns three spaces apart', () => {
    expect(table(['A', 'LONGER'], [['xx', 'y']])).toBe('A    LONGER\nxx   y\n');
  });
});
