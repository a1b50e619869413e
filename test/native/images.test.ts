// Images made real: Dockerfile builds with cache, commit, diff, history, tag, rmi, prune.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTar } from '../../shared/src/tar/index.js';
import {
  destroyRoot,
  inspect,
  ok,
  requireNativePrerequisites,
  strata,
  tempRoot,
  listTree,
  type InspectedImage,
} from '../helpers/strata.js';

let root: string;
let ctxDir: string;
beforeAll(() => {
  requireNativePrerequisites();
  root = tempRoot('img');
  ctxDir = fs.mkdtempSync(path.join(root, 'ctx-'));
});
afterAll(() => destroyRoot(root));

function write(rel: string, text: string): void {
  fs.mkdirSync(path.dirname(path.join(ctxDir, rel)), { recursive: true });
  fs.writeFileSync(path.join(ctxDir, rel), text);
}

async function layerEntries(diffId: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of readTar(fs.createReadStream(path.join(root, 'blobs', 'sha256', diffId.slice(7)))))
    names.push(`${e.type}:${e.path}`);
  return names;
}

describe('strata build', () => {
  it("builds the write-ups' example; run sees its files, env and default command", () => {
    write(
      'Dockerfile',
      [
        'FROM busybox',
        'WORKDIR /app',
        'ADD . /app',
        'RUN echo "requirements installed" > /app/installed',
        'EXPOSE 80',
        'ENV NAME HEAVEN',
        'CMD ["sh", "-c", "echo Hello $NAME! && cat /app/app.txt /app/installed"]',
        '',
      ].join('\n'),
    );
    write('app.txt', 'the app\n');
    write('secret.txt', 'do not ship\n');
    write('.dockerignore', 'secret.txt\n');
    const out = ok(root, ['build', '-t', 'helloworld', ctxDir]);
    expect(out).toMatch(/^Step 1\/7 : FROM busybox$/m);
    expect(out).toMatch(/^Step 4\/7 : RUN echo "requirements installed" > \/app\/installed$/m);
    expect(out).toMatch(/^Successfully built [a-f0-9]{12}$/m);
    expect(out).toMatch(/^Successfully tagged helloworld:latest$/m);
    expect(ok(root, ['run', '--rm', 'helloworld'])).toBe('Hello HEAVEN!\nthe app\nrequirements installed\n');
    expect(ok(root, ['run', '--rm', 'helloworld', 'sh', '-c', 'pwd; ls -a /app'])).toBe(
      '/app\n.\n..\n.dockerignore\nDockerfile\napp.txt\ninstalled\n',
    );
    const img = inspect<InspectedImage>(root, 'helloworld');
    expect(img.Config.ExposedPorts).toEqual({ '80/tcp': {} });
    expect(img.Config.Env).toContain('NAME=HEAVEN');
    expect(img.RootFS.Layers).toHaveLength(3); // busybox + ADD + RUN
  });

  it('rebuilds fully from cache, and only from the changed ADD on', () => {
    const second = ok(root, ['build', '-t', 'helloworld', ctxDir]);
    expect(second.match(/CACHED/g)).toHaveLength(6);
    expect(second).not.toContain('Running in');
    write('app.txt', 'the app, changed\n');
    const third = ok(root, ['build', '-t', 'helloworld', ctxDir]);
    expect(third.match(/CACHED/g)).toHaveLength(1); // only WORKDIR, before the ADD
    expect(third).toContain('Running in');
    expect(ok(root, ['run', '--rm', 'helloworld'])).toContain('the app, changed\n');
    // Ignored files do not enter the cache key either.
    write('secret.txt', 'changed secret\n');
    expect(ok(root, ['build', '-t', 'helloworld', ctxDir]).match(/CACHED/g)).toHaveLength(6);
  });

  it('applies ARG/ENV expansion, COPY --chown, shell-form CMD, ENTRYPOINT with CMD', () => {
    write('sub/data.txt', 'data\n');
    write(
      'Dockerfile.args',
      [
        'ARG BASE=busybox',
        'FROM $BASE',
        'ARG GREETING=hi',
        'ARG EXPECT',
        'ENV TARGET=/opt/${GREETING}',
        'COPY --chown=nobody:nogroup sub/ $TARGET/',
        'RUN test "$GREETING" = "$EXPECT"',
        'ENTRYPOINT ["echo", "entry"]',
        'CMD ["default-arg"]',
        '',
      ].join('\n'),
    );
    const r = strata(root, [
      'build',
      '-f',
      path.join(ctxDir, 'Dockerfile.args'),
      '--build-arg',
      'GREETING=hello',
      '--build-arg',
      'EXPECT=hello',
      '-t',
      'args',
      ctxDir,
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(ok(root, ['run', '--rm', 'args'])).toBe('entry default-arg\n');
    expect(ok(root, ['run', '--rm', 'args', 'other'])).toBe('entry other\n');
    expect(
      ok(root, ['run', '--rm', '--entrypoint', 'stat', 'args', '-c', '%U:%G %n', '/opt/hello/data.txt']),
    ).toBe('nobody:nogroup /opt/hello/data.txt\n');
  });

  it('extracts a local tar archive with ADD, but copies it with COPY', () => {
    const src = fs.mkdtempSync(path.join(root, 'tarsrc-'));
    fs.writeFileSync(path.join(src, 'inside.txt'), 'from the archive\n');
    spawnTar(['-czf', path.join(ctxDir, 'bundle.tar.gz'), '-C', src, 'inside.txt']);
    write(
      'Dockerfile.add',
      ['FROM busybox', 'ADD bundle.tar.gz /unpacked/', 'COPY bundle.tar.gz /copied/', ''].join('\n'),
    );
    ok(root, ['build', '-f', path.join(ctxDir, 'Dockerfile.add'), '-t', 'adder', ctxDir]);
    expect(ok(root, ['run', '--rm', 'adder', 'sh', '-c', 'cat /unpacked/inside.txt; ls /copied'])).toBe(
      'from the archive\nbundle.tar.gz\n',
    );
  });

  const bad: Array<[string, string, RegExp]> = [
    ['unknown instruction', 'FROM busybox\nFROBNICATE x\n', /Dockerfile:2: unknown instruction: FROBNICATE/i],
    ['missing FROM', 'RUN true\n', /Dockerfile:1: .*FROM/],
    [
      'COPY source outside the context',
      'FROM busybox\nCOPY ../outside /x\n',
      /Dockerfile:2: COPY: forbidden path outside the build context: \.\.\/outside/,
    ],
    [
      'COPY source missing',
      'FROM busybox\n\nCOPY nothere /x\n',
      /Dockerfile:3: COPY: file not found in build context/,
    ],
    [
      'unterminated JSON runs as shell form and fails',
      'FROM busybox\nRUN ["false"\n',
      /Dockerfile:2: RUN: The command '\/bin\/sh -c \["false"' returned a non-zero code: 127/,
    ],
  ];
  for (const [what, text, message] of bad) {
    it(`rejects a Dockerfile with ${what}, naming file and line, storing no image`, () => {
      const dir = fs.mkdtempSync(path.join(root, 'bad-'));
      fs.writeFileSync(path.join(dir, 'Dockerfile'), text);
      const images = ok(root, ['images', '-a', '-q']);
      const r = strata(root, ['build', '-t', 'broken', dir]);
      expect(r.stderr).toMatch(message);
      expect(r.code).toBe(1);
      expect(ok(root, ['images', '-a', '-q'])).toBe(images);
      expect(strata(root, ['inspect', 'broken']).code).toBe(1);
    });
  }

  it('shows a failing RUN its output and exit code, and leaves no container behind', () => {
    const dir = fs.mkdtempSync(path.join(root, 'fail-'));
    fs.writeFileSync(path.join(dir, 'Dockerfile'), 'FROM busybox\nRUN echo about to fail && exit 3\n');
    const r = strata(root, ['build', dir]);
    expect(r.stdout).toContain('about to fail');
    expect(r.stderr).toContain('returned a non-zero code: 3');
    expect(ok(root, ['ps', '-aq'])).toBe('');
  });
});

describe('commit, diff, history, tag, rmi', () => {
  it('commits touch + rm of a lower file + a volume write: the layer has the file, a .wh. entry, nothing from the volume', async () => {
    const id = ok(root, [
      'create',
      '-v',
      '/vol',
      'busybox',
      'sh',
      '-c',
      'touch /newfile; rm /bin/vi; echo v > /vol/in-volume',
    ]).trim();
    expect(strata(root, ['start', '-a', id]).code).toBe(0);
    expect(ok(root, ['diff', id])).toBe('C /bin\nD /bin/vi\nA /newfile\nA /vol\n');
    const imageId = ok(root, [
      'commit',
      '-m',
      'my change',
      '-c',
      'CMD ["echo", "committed"]',
      id,
      'committed:v1',
    ]).trim();
    expect(imageId).toMatch(/^sha256:[a-f0-9]{64}$/);
    const img = inspect<InspectedImage>(root, 'committed:v1');
    const top = img.RootFS.Layers[img.RootFS.Layers.length - 1]!;
    const entries = await layerEntries(top);
    expect(entries).toContain('file:newfile');
    expect(entries).toContain('file:bin/.wh.vi');
    expect(entries.some((e) => e.includes('in-volume'))).toBe(false);
    expect(ok(root, ['run', '--rm', 'committed:v1'])).toBe('committed\n');
    expect(
      ok(root, ['run', '--rm', 'committed:v1', 'sh', '-c', 'ls /newfile; test -e /bin/vi || echo no-vi']),
    ).toBe('/newfile\nno-vi\n');
    const hist = ok(root, ['history', 'committed:v1']).split('\n');
    expect(hist[1]).toMatch(/^[a-f0-9]{12}\s+.*my change$/);
    ok(root, ['rm', '-v', id]);
  });

  it('counts references: a tag goes first, a used image stays, shared layers stay', () => {
    ok(root, ['tag', 'committed:v1', 'committed:v2']);
    expect(ok(root, ['rmi', 'committed:v2'])).toBe('Untagged: committed:v2\n');
    const c = ok(root, ['create', 'committed:v1']).trim();
    const refused = strata(root, ['rmi', 'committed:v1']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`container ${c.slice(0, 12)} is using its referenced image`);
    ok(root, ['rm', c]);
    const before = listTree(path.join(root, 'image', 'overlay2', 'layerdb'));
    const out = ok(root, ['rmi', 'committed:v1']);
    expect(out).toMatch(
      /^Untagged: committed:v1\nDeleted: sha256:[a-f0-9]{64}\nDeleted: sha256:[a-f0-9]{64}\n$/,
    );
    const after = listTree(path.join(root, 'image', 'overlay2', 'layerdb'));
    expect(before.length - after.length).toBe(4 + 1); // one layer dir and its four files went
    // busybox's own layer is still there and runs.
    expect(ok(root, ['run', '--rm', 'busybox', 'echo', 'still here'])).toBe('still here\n');
  });

  it('prunes dangling images but not tagged ones', () => {
    const id = ok(root, ['create', 'busybox', 'touch', '/x']).trim();
    strata(root, ['start', '-a', id]);
    const dangling = ok(root, ['commit', id]).trim();
    ok(root, ['rm', id]);
    expect(ok(root, ['images', '-q'])).toContain(dangling.slice(7, 19));
    expect(ok(root, ['image', 'prune', '-f'])).toContain(`deleted: ${dangling}`);
    expect(ok(root, ['images', '-q'])).not.toContain(dangling.slice(7, 19));
    expect(ok(root, ['images'])).toContain('busybox');
  });
});

function spawnTar(args: string[]): void {
  const r = spawnSync('tar', args);
  if (r.status !== 0) throw new Error(`tar ${args.join(' ')} failed: ${r.stderr}`);
}
