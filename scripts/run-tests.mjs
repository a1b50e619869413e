// README's test command after set-up: type check, lint, then the whole vitest suite, closing with
// the plain "N passed, N failed" line CI reads.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);
const step = (name, cmd, args) => {
  console.log(`\n== ${name}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  return r.status ?? 1;
};

let failedSteps = 0;
failedSteps += step('typecheck', bin('tsc'), ['-p', 'tsconfig.json', '--noEmit']) === 0 ? 0 : 1;
failedSteps += step('lint', bin('eslint'), ['.']) === 0 ? 0 : 1;
failedSteps += step('format', bin('prettier'), ['--check', '--log-level', 'warn', '.']) === 0 ? 0 : 1;

const report = path.join(root, 'test-results', 'vitest.json');
fs.mkdirSync(path.dirname(report), { recursive: true });
fs.rmSync(report, { force: true });
const vitestStatus = step('tests', bin('vitest'), [
  'run',
  '--reporter=default',
  '--reporter=json',
  `--outputFile.json=${report}`,
  ...process.argv.slice(2),
]);

let passed = 0;
let failed = 0;
let skipped = 0;
if (fs.existsSync(report)) {
  const r = JSON.parse(fs.readFileSync(report, 'utf8'));
  passed = r.numPassedTests;
  failed = r.numFailedTests;
  skipped = r.numPendingTests + r.numTodoTests;
  // A file that fails to load has no tests but must still fail the run.
  failed += r.testResults.filter((f) => f.status === 'failed' && f.assertionResults.length === 0).length;
}
if (vitestStatus !== 0 && failed === 0) failed = 1;
failed += failedSteps;
console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
