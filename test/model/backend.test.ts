// The kernel model as a backend (shared/src/model-backend), driven by the core's Engine in-process,
// against the native backend on the real kernel (through the CLI): the same container flow (create,
// start a program made of file operations, diff, commit) must give the same `docker diff` and the same
// committed layer (paths, types, modes, contents, whiteouts, opaque markers). Needs root, overlayfs and
// the built CLI for the native side: fails, never skips, without them.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StdioSpec } from '../../shared/src/backend.js';
import { Engine } from '../../shared/src/engine/engine.js';
import { commitContainer } from '../../shared/src/engine/image-ops.js';
import { runOptions, type RunOptions } from '../../shared/src/engine/run-options.js';
import { StrataError } from '../../shared/src/errors.js';
import { ModelBackend, renderDump } from '../../shared/src/model-backend/index.js';
import { MODEL_DUMP_FILE, nodeLayerCodec, nodeModelHost } from '../../shared/src/model-backend/node.js';
import { Store } from '../../shared/src/store/index.js';
import { readTar } from '../../shared/src/tar/index.js';
import { buildBusyboxImage } from '../../images/busybox/build.js';
import { destroyRoot, ok, requireNativePrerequisites, strata, tempRoot } from '../helpers/strata.js';

// Copy-up of a file and of a directory chain, appends, a new tree, a deleted lower file (whiteout),
// a deleted and re-made lower directory (opaque), chmod, a symlink, a rename, touch of a lower file.
const SCRIPT = [
  'echo new > /new.txt',
  'mkdir -p /d/e && echo deep > /d/e/f',
  'rm /bin/ls',
  'chmod 600 /etc/passwd',
  'echo more >> /etc/group',
  'rm -r /root && mkdir /root && echo r > /root/r.txt',
  'ln -s /new.txt /link',
  'mv /new.txt /renamed.txt',
  'touch /etc/shadow',
  'echo done',
].join('; ');

function opts(args: string[]): RunOptions {
  return runOptions('busybox', args, { network: 'none' });
}

/** A committed layer as comparable lines: type, mode, path, size and content hash or link target. */
async function layerLines(root: string, ref: string): Promise<string[]> {
  const store = new Store(root);
  const image = store.images.getImage(store.images.resolve(ref)!);
  const top = store.images.layersOf(image).at(-1)!;
  const out: string[] = [];
  for await (const e of readTar(store.blobs.stream(top.diffId))) {
    const body = await e.buffer();
    const what =
      e.type === 'file'
        ? `${body.length} ${crypto.createHash('sha256').update(body).digest('hex').slice(0, 16)}`
        : e.type === 'symlink'
          ? `-> ${e.linkpath}`
          : '';
    out.push(`${e.type} ${e.mode.toString(8)} ${e.uid}:${e.gid} ${e.path.replace(/\/$/, '')} ${what}`);
  }
  return out.sort();
}

let modelRoot: string;
let nativeRoot: string;
let engine: Engine;
let backend: ModelBackend;
let output = '';
const host = {
  ...nodeModelHost(),
  output: (_s: StdioSpec, stream: 'stdout' | 'stderr', text: string) => void (output += `${stream}:${text}`),
};

beforeAll(async () => {
  modelRoot = tempRoot('model-backend');
  nativeRoot = tempRoot('model-native');
  backend = new ModelBackend({ codec: nodeLayerCodec, host });
  engine = new Engine(new Store(modelRoot), backend);
  await buildBusyboxImage(engine.store, backend);
}, 120_000);

afterAll(() => {
  if (modelRoot) destroyRoot(modelRoot);
  if (nativeRoot) destroyRoot(nativeRoot);
});

async function runOnModel(args: string[]) {
  output = '';
  const rec = await engine.create(opts(args));
  const { exit } = await engine.start(rec, { kind: 'attach', tty: false, stdin: false });
  return { rec, code: (await exit!).exitCode, output };
}

describe('--backend model: the core flow on the kernel model', () => {
  it('create, start, diff and commit agree with the native backend on the real kernel', async () => {
    requireNativePrerequisites();
    const m = await runOnModel(['sh', '-c', SCRIPT]);
    expect(m.code).toBe(0);
    expect(m.output).toBe('stdout:done\n');
    const modelDiff = (await backend.snapshots.changes(m.rec.Strata.layerId)).map(
      (c) => `${c.kind} ${c.path}`,
    );
    await commitContainer(engine, m.rec, { reference: 'committed:model', message: '', author: '' });

    const run = strata(
      nativeRoot,
      ['run', '--name', 'mdiff', '--net', 'none', 'busybox', 'sh', '-c', SCRIPT],
      {
        timeout: 120_000,
      },
    );
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe('done\n');
    expect(run.code).toBe(0);
    const nativeDiff = ok(nativeRoot, ['diff', 'mdiff']).trim().split('\n');
    ok(nativeRoot, ['commit', 'mdiff', 'committed:native']);

    expect(modelDiff).toEqual(nativeDiff);
    // What the script did shows in the diff: whiteout, opaque directory's lost content, copy-ups.
    expect(modelDiff).toEqual(expect.arrayContaining(['D /bin/ls', 'C /etc/passwd', 'A /renamed.txt']));
    expect(modelDiff).toEqual(expect.arrayContaining(['C /root', 'A /root/r.txt']));
    const modelLayer = await layerLines(modelRoot, 'committed:model');
    const nativeLayer = await layerLines(nativeRoot, 'committed:native');
    expect(modelLayer).toEqual(nativeLayer);
    expect(modelLayer.some((l) => l.includes(' bin/.wh.ls '))).toBe(true);
    expect(modelLayer.some((l) => l.includes(' root/.wh..wh..opq '))).toBe(true);
  }, 240_000);

  it('strata --backend model: create, start, diff, commit and run share one model across commands', () => {
    const cliRoot = tempRoot('model-cli');
    try {
      const m = (args: string[]) => strata(cliRoot, ['--backend', 'model', ...args], { timeout: 120_000 });
      const id = m([
        'create',
        '--name',
        'm1',
        'busybox',
        'sh',
        '-c',
        'echo hi > /x; rm /bin/ls',
      ]).stdout.trim();
      expect(id).toMatch(/^[0-9a-f]{64}$/);
      const start = m(['start', '-a', 'm1']);
      expect([start.code, start.stderr]).toEqual([0, '']);
      expect(m(['diff', 'm1']).stdout).toBe('C /bin\nD /bin/ls\nA /x\n');
      expect(fs.readFileSync(path.join(cliRoot, 'containers', id, MODEL_DUMP_FILE), 'utf8')).toContain(
        '    whiteout /bin/ls\n',
      );
      expect(m(['commit', 'm1', 'mine:1']).code).toBe(0);
      const run = m(['run', '--rm', 'mine:1', 'sh', '-c', 'cat /x; ls /bin/ls']);
      expect(run.stdout).toBe('hi\n');
      expect(run.stderr).toBe('ls: /bin/ls: No such file or directory\n');
      expect(run.code).toBe(1);
      expect(m(['rm', 'm1']).code).toBe(0);
      expect(fs.existsSync(path.join(cliRoot, 'model', 'overlay2.json'))).toBe(true);
    } finally {
      fs.rmSync(cliRoot, { recursive: true, force: true });
    }
  }, 240_000);

  it('the dump shows the mount table and each visible file with its layer, whiteouts and opaque dirs', async () => {
    const m = await runOnModel(['sh', '-c', 'rm /bin/ls; rm -r /root; mkdir /root; echo x > /x']);
    const dump = backend.dump(m.rec.Id);
    expect(dump).not.toBeNull();
    const text = renderDump(dump!);
    expect(text).toMatch(/ \/ rw,relatime - overlay overlay rw,lowerdir=\/var\/lib\/strata\/overlay2\/l\//);
    expect(text).toContain(' /proc rw,nosuid,nodev,noexec,relatime - proc proc rw\n');
    const [upper] = dump!.overlays[0]!.layers;
    expect(upper!.whiteouts).toEqual(['/bin/ls']);
    expect(upper!.opaque).toEqual(['/root']);
    const files = new Map(dump!.overlays[0]!.files.map((f) => [f.path, f.origin]));
    expect(files.get('/x')).toBe(0); // the upper layer
    expect(files.get('/etc/hostname')).toBe(1); // the init layer
    expect(files.get('/bin/busybox')).toBe(2); // the image layer
    expect(files.has('/bin/ls')).toBe(false);
    // Node's host keeps the same text in the container's state dir for other processes.
    const saved = fs.readFileSync(path.join(engine.stateDir(m.rec), MODEL_DUMP_FILE), 'utf8');
    expect(saved).toBe(text);
  });

  it('runs no program it does not know: exit 127 with the native messages, or saying so', async () => {
    await expect(runOnModel(['nosuch'])).rejects.toMatchObject({
      message: 'failed to start container: exec: "nosuch": executable file not found in $PATH',
      exitCode: 127,
    });
    const err = await runOnModel(['vi']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StrataError);
    expect((err as StrataError).exitCode).toBe(127);
    expect((err as StrataError).message).toContain('"vi": the kernel model runs no programs');
    const inScript = await runOnModel(['sh', '-c', 'wget -q x; nosuch']);
    expect(inScript.code).toBe(127);
    expect(inScript.output).toBe(
      'stderr:sh: wget: not run: the kernel model runs no programs\nstderr:sh: nosuch: not found\n',
    );
  });

  it('a failing command reports the errno as busybox does and the script goes on; exit sets the code', async () => {
    const m = await runOnModel(['sh', '-c', 'rm /etc/hosts; rmdir /bin; cat /etc/hostname; exit 3']);
    expect(m.code).toBe(3);
    expect(m.output).toBe(
      "stderr:rm: can't remove '/etc/hosts': Resource busy\n" +
        "stderr:rmdir: '/bin': Directory not empty\n" +
        `stdout:${m.rec.Config.Hostname}\n`,
    );
  });
});
