// node images/guest/seccomp.mjs OUT|--text: the default seccomp profile (backend-native/seccomp/default.json)
// for the guest's default capabilities, compiled to an i386 BPF program by the host's libseccomp
// (build/strata-shim --export-bpf-fd). The guest has no libseccomp: its confinement stage loads
// this program as it is (docs/emulator.md). --text prints the profile's compiled text instead (what
// build.sh's cache stamp depends on).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const out = process.argv[2];
if (!out) throw new Error('usage: node images/guest/seccomp.mjs OUT|--text');
const shim = path.join(repo, 'build', 'strata-shim');
if (!fs.existsSync(shim)) throw new Error(`${shim} missing: run node scripts/build.mjs first`);

// The core's TypeScript, bundled on the fly (as scripts/build.mjs does for the CLI).
const esbuild = await import('esbuild');
const bundle = await esbuild.build({
  stdin: {
    contents: "export { guestSeccompText } from './backend-emu/src/emu-confine.ts';",
    resolveDir: repo,
    loader: 'ts',
  },
  bundle: true,
  platform: 'node',
  format: 'esm',
  write: false,
  logLevel: 'warning',
});
const mod = await import(
  `data:text/javascript;base64,${Buffer.from(bundle.outputFiles[0].text).toString('base64')}`
);
const text = mod.guestSeccompText();
if (out === '--text') {
  process.stdout.write(text);
  process.exit(0);
}

const tmp = `${out}.${process.pid}`;
const textFile = `${tmp}.txt`;
fs.writeFileSync(textFile, text);
const input = fs.openSync(textFile, 'r');
const output = fs.openSync(tmp, 'w');
const r = spawnSync(shim, ['exec', '--seccomp-fd', '3', '--export-bpf-fd', '4', '--', '-'], {
  stdio: ['ignore', 'inherit', 'inherit', input, output],
});
fs.closeSync(input);
fs.closeSync(output);
fs.rmSync(textFile);
if (r.status !== 0) throw new Error(`strata-shim --export-bpf-fd failed (status ${r.status})`);
fs.renameSync(tmp, out);
