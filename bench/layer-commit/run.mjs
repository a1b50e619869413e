// bench/layer-commit: `strata commit` of a container whose upper layer holds 200 MB in 5,000 files,
// against the baseline `tar -c | sha256sum` of the same tree, in one hyperfine run; then a fully
// cached rebuild of a 10-step Dockerfile. Writes RESULTS.md and results.json beside this file.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const bin = path.join(repo, 'bin', 'strata.js');
const runs = Number(process.env.BENCH_RUNS ?? 5);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bench-commit-'));
const root = path.join(work, 'store');
const strata = (...args) =>
  execFileSync(process.execPath, [bin, '--root', root, ...args], { encoding: 'utf8' }).trim();

try {
  // 5,000 files, 200 MB: 4,990 files of 20 KB and 10 of 10 MB, written inside the container.
  const id = strata(
    'create',
    '--name',
    'big',
    'busybox',
    'sh',
    '-c',
    'mkdir -p /data && cd /data && i=0; while [ $i -lt 4990 ]; do head -c 20480 /dev/urandom > f$i; i=$((i+1)); done; ' +
      'j=0; while [ $j -lt 10 ]; do head -c 10485760 /dev/urandom > big$j; j=$((j+1)); done',
  );
  strata('start', '-a', id);
  const upper = JSON.parse(strata('inspect', '-f', '{{json .GraphDriver.Data}}', 'big')).UpperDir;
  const du = execFileSync('du', ['-sb', upper], { encoding: 'utf8' }).split('\t')[0];
  const files = execFileSync('sh', ['-c', `find ${upper} -type f | wc -l`], { encoding: 'utf8' }).trim();
  console.log(`upper layer: ${(Number(du) / 1e6).toFixed(0)} MB in ${files} files`);

  const json = path.join(work, 'hyperfine.json');
  execFileSync(
    'hyperfine',
    [
      '-N',
      '--warmup',
      '1',
      '--runs',
      String(runs),
      '--export-json',
      json,
      '--prepare',
      'sync',
      '-n',
      'tar -c | sha256sum',
      `sh -c 'tar -C ${upper} -cf - . | sha256sum'`,
      '-n',
      'strata commit',
      `${process.execPath} ${bin} --root ${root} commit big`,
    ],
    { stdio: 'inherit' },
  );
  const results = JSON.parse(fs.readFileSync(json, 'utf8')).results.map((r) => ({
    name: r.command,
    median: r.median * 1000,
  }));
  const [tar, commit] = results;

  // A 10-step Dockerfile, built once, then rebuilt fully from cache.
  const ctx = path.join(work, 'ctx');
  fs.mkdirSync(ctx);
  fs.writeFileSync(path.join(ctx, 'app.txt'), 'app\n');
  fs.writeFileSync(
    path.join(ctx, 'Dockerfile'),
    [
      'FROM busybox',
      'WORKDIR /app',
      'COPY app.txt /app/',
      'RUN echo one > /one',
      'ENV A=1',
      'RUN echo two > /two',
      'LABEL x=y',
      'EXPOSE 80',
      'USER nobody',
      'CMD ["cat", "/app/app.txt"]',
      '',
    ].join('\n'),
  );
  strata('build', '-t', 'ten', ctx);
  const cachedJson = path.join(work, 'cached.json');
  execFileSync(
    'hyperfine',
    [
      '-N',
      '--warmup',
      '2',
      '--runs',
      '10',
      '--export-json',
      cachedJson,
      '-n',
      'cached 10-step build',
      `${process.execPath} ${bin} --root ${root} build -t ten ${ctx}`,
    ],
    { stdio: 'inherit' },
  );
  const cached = JSON.parse(fs.readFileSync(cachedJson, 'utf8')).results[0].median * 1000;

  const lines = [
    `# bench/layer-commit (${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores, medians)`,
    '',
    `Upper layer: ${(Number(du) / 1e6).toFixed(0)} MB in ${files} files.`,
    '',
    '| command | median ms | ratio to baseline |',
    '|---|---:|---:|',
    `| ${tar.name.replace('|', '\\|')} (baseline) | ${tar.median.toFixed(0)} | 1.00 |`,
    `| ${commit.name} | ${commit.median.toFixed(0)} | ${(commit.median / tar.median).toFixed(2)} |`,
    '',
    `Fully cached rebuild of a 10-step Dockerfile: ${cached.toFixed(0)} ms (goal: under 300 ms).`,
    '',
  ];
  console.log('\n' + lines.join('\n'));
  fs.writeFileSync(
    path.join(here, 'results.json'),
    JSON.stringify({ date: new Date().toISOString(), results, cachedBuildMs: cached }, null, 2) + '\n',
  );
  fs.writeFileSync(path.join(here, 'RESULTS.md'), lines.join('\n'));
} finally {
  spawnSync(process.execPath, [bin, '--root', root, 'rm', '-f', 'big'], { stdio: 'ignore' });
  spawnSync('sh', [
    '-c',
    `for m in $(grep -o "${work}[^ ]*" /proc/self/mounts | sort -r); do umount -l $m; done`,
  ]);
  fs.rmSync(work, { recursive: true, force: true });
}
