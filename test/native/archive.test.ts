// save / load / import against the rest of the container world: the OCI schemas, skopeo and umoci
// (Debian packages, installed by scripts/setup.mjs: a missing tool fails the suite, never skips it),
// GNU tar, round trips between stores, and refusal of corrupted archives with the store untouched.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BIN,
  destroyRoot,
  listTree,
  ok,
  requireNativePrerequisites,
  strata,
  strataAsync,
  tempRoot,
} from '../helpers/strata.js';
import { assertValidOci } from '../helpers/oci-schema.js';
import { makeRootfs } from '../../images/busybox/build.js';

const TOOLS = ['skopeo', 'umoci', 'tar'];

/** Runs a host tool and insists on success. */
function sh(cmd: string, args: string[], opts: { input?: Buffer } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000, input: opts.input });
  if (r.error) throw r.error;
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const hexOf = (d: string): string => d.replace(/^sha256:/, '');
const readJson = <T>(file: string): T => JSON.parse(fs.readFileSync(file, 'utf8')) as T;

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}
interface Manifest {
  config: Descriptor;
  layers: Descriptor[];
}
interface Config {
  rootfs: { diff_ids: string[] };
  history?: Array<{ comment?: string }>;
  config?: { Env?: string[] };
}

let root: string;
let work: string;
let archive: string;
let imageId: string;
const stores: string[] = [];

function newStore(tag: string): string {
  const r = tempRoot(tag);
  stores.push(r);
  ok(r, ['images']); // creates the store layout, so before/after listings compare like with like
  return r;
}

function untar(file: string, tag: string): string {
  const dir = fs.mkdtempSync(path.join(work, `${tag}-`));
  sh('tar', ['-C', dir, '-xf', file]);
  return dir;
}

/** Paths of a tree as absolute container paths, without what the runtime adds (mount points, /etc binds). */
function comparable(paths: string[]): string[] {
  const runtime = new Set(['/etc/hostname', '/etc/hosts', '/etc/resolv.conf', '/etc/mtab']);
  return paths.filter((p) => p !== '' && !/^\/(proc|sys|dev)(\/|$)/.test(p) && !runtime.has(p)).sort();
}

beforeAll(() => {
  requireNativePrerequisites();
  for (const t of TOOLS) {
    if (spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0)
      throw new Error(`${t} is missing: run 'npm run setup' (installs Debian's ${t})`);
  }
  root = tempRoot('archive');
  work = fs.mkdtempSync(path.join(path.dirname(root), 'strata-archive-work-'));
  ok(root, ['run', '--rm', 'busybox', 'true']);
  imageId = ok(root, ['images', '-q', '--no-trunc']).trim();
  archive = path.join(work, 'busybox.tar');
  ok(root, ['save', '-o', archive, 'busybox']);
});

afterAll(() => {
  for (const r of [root, ...stores]) if (r) destroyRoot(r);
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('save', () => {
  it('writes an OCI image layout whose every JSON document validates and every blob matches its name', () => {
    const dir = untar(archive, 'schema');
    expect(fs.readdirSync(dir).sort()).toEqual(['blobs', 'index.json', 'manifest.json', 'oci-layout']);
    assertValidOci('layout', readJson(path.join(dir, 'oci-layout')));
    const index = readJson<{ manifests: Descriptor[] }>(path.join(dir, 'index.json'));
    assertValidOci('index', index);
    expect(index.manifests).toHaveLength(1);
    expect(index.manifests[0]!.annotations).toEqual({
      'io.containerd.image.name': 'docker.io/library/busybox:latest',
      'org.opencontainers.image.ref.name': 'busybox:latest',
    });
    const blob = (d: string) => fs.readFileSync(path.join(dir, 'blobs', 'sha256', hexOf(d)));
    for (const name of fs.readdirSync(path.join(dir, 'blobs', 'sha256'))) {
      expect(sha256(fs.readFileSync(path.join(dir, 'blobs', 'sha256', name)))).toBe(`sha256:${name}`);
    }
    const manifest = JSON.parse(blob(index.manifests[0]!.digest).toString()) as Manifest;
    assertValidOci('manifest', manifest);
    expect(manifest.config.digest).toBe(imageId); // the image ID is the config digest, kept as is
    const config = JSON.parse(blob(manifest.config.digest).toString()) as Config;
    assertValidOci('config', config);
    expect(manifest.layers.map((l) => l.mediaType)).toEqual(['application/vnd.oci.image.layer.v1.tar']);
    // Uncompressed layers: each blob digest is the layer's diff ID.
    expect(manifest.layers.map((l) => l.digest)).toEqual(config.rootfs.diff_ids);
    // docker's manifest.json points at the same blobs.
    expect(readJson(path.join(dir, 'manifest.json'))).toEqual([
      {
        Config: `blobs/sha256/${hexOf(imageId)}`,
        RepoTags: ['busybox:latest'],
        Layers: manifest.layers.map((l) => `blobs/sha256/${hexOf(l.digest)}`),
      },
    ]);
  });

  it('is read by skopeo as the same image with the same layers', () => {
    const info = JSON.parse(sh('skopeo', ['inspect', `oci-archive:${archive}:busybox:latest`])) as {
      Layers: string[];
      Digest: string;
    };
    const dir = untar(archive, 'skopeo');
    const index = readJson<{ manifests: Descriptor[] }>(path.join(dir, 'index.json'));
    const manifest = readJson<Manifest>(path.join(dir, 'blobs', 'sha256', hexOf(index.manifests[0]!.digest)));
    expect(info.Digest).toBe(index.manifests[0]!.digest);
    expect(info.Layers).toEqual(manifest.layers.map((l) => l.digest));
    const raw = JSON.parse(
      sh('skopeo', ['inspect', '--config', `oci-archive:${archive}:busybox:latest`]),
    ) as Config;
    expect(raw.rootfs.diff_ids).toEqual(
      JSON.parse(ok(root, ['inspect', '-f', '{{json .RootFS.Layers}}', 'busybox'])),
    );
  });

  it('unpacks with umoci to the same file tree a container from the image sees', () => {
    const dir = untar(archive, 'umoci');
    const bundle = path.join(work, 'bundle');
    sh('umoci', ['unpack', '--image', `${dir}:busybox:latest`, bundle]);
    const rootfs = path.join(bundle, 'rootfs');
    const unpacked = comparable(['/', ...listTree(rootfs).map((p) => `/${p}`)]);
    const seen = comparable(ok(root, ['run', '--rm', 'busybox', 'find', '/', '-xdev']).split('\n'));
    expect(unpacked.length).toBeGreaterThan(50);
    expect(unpacked).toEqual(seen);
  });

  it('gives the same bytes for the same image, and refuses to write a tar to a terminal', () => {
    const again = path.join(work, 'again.tar');
    ok(root, ['save', '-o', again, imageId.slice(7, 19), 'busybox:latest']);
    expect(sha256(fs.readFileSync(again))).toBe(sha256(fs.readFileSync(archive)));
    const nowhere = strata(root, ['save', '-o', path.join(work, 'no', 'such', 'x.tar'), 'busybox']);
    expect(nowhere.code).toBe(125);
    expect(nowhere.stderr).toContain(
      `invalid output path: directory "${path.join(work, 'no', 'such')}" does not exist`,
    );
    // To stdout when it is not a terminal (a pipe here): the same bytes again.
    const piped = spawnSync(process.execPath, [BIN, '--root', root, 'save', '-q', 'busybox'], {
      maxBuffer: 1 << 26,
    });
    expect(piped.status).toBe(0);
    expect(sha256(piped.stdout)).toBe(sha256(fs.readFileSync(archive)));
    const tty = spawnSync(
      'script',
      ['-qec', `${process.execPath} ${BIN} --root ${root} save busybox`, '/dev/null'],
      { encoding: 'utf8', timeout: 30_000 },
    );
    expect(tty.stdout).toContain('cowardly refusing to save to a terminal');
    // On a terminal, load draws a bar per layer (docker's shape) and ends it with a newline.
    const bar = spawnSync(
      'script',
      [
        '-qec',
        `${process.execPath} ${BIN} --root ${newStore('archive-tty')} load -i ${archive}`,
        '/dev/null',
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    expect(bar.stdout).toMatch(/\r\x1b\[2K[a-f0-9]{12}: Loading layer \[=+>\]  \S+MB\/\S+MB\r?\n/);
    expect(bar.stdout).toContain('Loaded image: busybox:latest');
  });
});

describe('load', () => {
  it('round-trips into another store: same image ID, same layer digests, a working image, and the same archive again', () => {
    const other = newStore('archive-rt');
    const first = strata(other, ['load', '-i', archive]);
    expect(first.stdout).toBe('Loaded image: busybox:latest\n');
    // Off a terminal, progress is one plain line per layer on stderr.
    expect(first.stderr).toMatch(/^Loading layer sha256:[a-f0-9]{64} \d+(\.\d+)?MB\n$/);
    expect(ok(other, ['images', '-q', '--no-trunc']).trim()).toBe(imageId);
    expect(ok(other, ['inspect', '-f', '{{json .RootFS.Layers}}', 'busybox'])).toBe(
      ok(root, ['inspect', '-f', '{{json .RootFS.Layers}}', 'busybox']),
    );
    expect(ok(other, ['run', '--rm', 'busybox', 'sh', '-c', 'echo loaded'])).toBe('loaded\n');
    // From stdin, gzipped, and from the layout as a directory: the same image.
    const gz = spawnSync(process.execPath, [BIN, '--root', other, 'load'], {
      input: gzipSync(fs.readFileSync(archive)),
      encoding: 'utf8',
    });
    expect(gz.stdout).toBe('Loaded image: busybox:latest\n');
    expect(ok(other, ['load', '-q', '-i', untar(archive, 'dir')])).toBe('Loaded image: busybox:latest\n');
    expect(ok(other, ['images', '-q', '--no-trunc']).trim()).toBe(imageId);
    const resaved = path.join(work, 'resaved.tar');
    ok(other, ['save', '-o', resaved, 'busybox']);
    expect(sha256(fs.readFileSync(resaved))).toBe(sha256(fs.readFileSync(archive)));
  });

  it('runs three loads of one archive into one store at once: all succeed, one layer, one snapshot', async () => {
    const other = newStore('archive-concurrent');
    const runs = await Promise.all([0, 1, 2].map(() => strataAsync(other, ['load', '-q', '-i', archive])));
    for (const r of runs) {
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('Loaded image: busybox:latest\n');
    }
    expect(fs.readdirSync(path.join(other, 'image', 'overlay2', 'layerdb', 'sha256'))).toHaveLength(1);
    const snapshots = fs.readdirSync(path.join(other, 'overlay2')).filter((d) => d !== 'l');
    expect(snapshots).toHaveLength(1);
    expect(fs.readdirSync(path.join(other, 'tmp'))).toEqual([]);
    expect(ok(other, ['run', '--rm', 'busybox', 'true'])).toBe('');
  });

  it('loads a layout umoci built (init, new, insert, a whiteout): the deleted file is gone in a container', () => {
    const rootfs = path.join(work, 'umoci-src');
    sh('umoci', ['unpack', '--image', `${untar(archive, 'umoci-src')}:busybox:latest`, rootfs]);
    const layout = path.join(work, 'umoci-layout');
    sh('umoci', ['init', '--layout', layout]);
    sh('umoci', ['new', '--image', `${layout}:t`]);
    sh('umoci', ['insert', '--image', `${layout}:t`, path.join(rootfs, 'rootfs'), '/']);
    sh('umoci', ['insert', '--image', `${layout}:t`, '--whiteout', '/bin/ls']);
    // umoci compresses its layers (tar+gzip): load verifies both the blob digests and the diff IDs.
    const index = readJson<{ manifests: Descriptor[] }>(path.join(layout, 'index.json'));
    const manifest = readJson<Manifest>(
      path.join(layout, 'blobs', 'sha256', hexOf(index.manifests[0]!.digest)),
    );
    expect(manifest.layers.map((l) => l.mediaType)).toEqual(
      Array(2).fill('application/vnd.oci.image.layer.v1.tar+gzip'),
    );
    const other = newStore('archive-umoci');
    // Its ref.name is a bare tag ("t"): no repository to name the image after, so docker's ID line.
    const tarred = path.join(work, 'umoci.tar');
    sh('tar', ['-C', layout, '-cf', tarred, '.']);
    expect(ok(other, ['load', '-i', tarred])).toBe(`Loaded image ID: ${manifest.config.digest}\n`);
    const id = manifest.config.digest.slice(7, 19);
    const r = strata(other, [
      'run',
      '--rm',
      id,
      '/bin/sh',
      '-c',
      'ls /bin/ls; test -x /bin/cat && echo cat-ok',
    ]);
    expect(r.stdout).toBe('cat-ok\n');
    expect(r.stderr).toContain('/bin/ls: No such file or directory');
  });

  it('loads a layout umoci repacked after a deletion (unpack, rm, repack)', () => {
    const dir = untar(archive, 'repack');
    const bundle = path.join(work, 'repack-bundle');
    sh('umoci', ['unpack', '--image', `${dir}:busybox:latest`, bundle]);
    fs.rmSync(path.join(bundle, 'rootfs', 'bin', 'ls'));
    fs.writeFileSync(path.join(bundle, 'rootfs', 'etc', 'added'), 'added by umoci\n');
    sh('umoci', ['repack', '--image', `${dir}:busybox:latest`, bundle]);
    const other = newStore('archive-repack');
    expect(ok(other, ['load', '-i', dir])).toBe('Loaded image: busybox:latest\n');
    const r = strata(other, ['run', '--rm', 'busybox', 'sh', '-c', 'cat /etc/added; ls /bin/ls']);
    expect(r.stdout).toBe('added by umoci\n');
    expect(r.stderr).toContain('/bin/ls: No such file or directory');
  });

  it('loads a docker save (legacy layout: manifest.json, <id>/layer.tar gzipped, a symlinked shared layer, a copied one) built by hand', () => {
    const src = untar(archive, 'docker-src');
    const manifest = readJson<Array<{ Config: string; Layers: string[] }>>(
      path.join(src, 'manifest.json'),
    )[0]!;
    const dir = fs.mkdtempSync(path.join(work, 'docker-'));
    const configBytes = fs.readFileSync(path.join(src, manifest.Config));
    // A second image over the same layer: docker save links its layer.tar to the first one's.
    const config2 = Buffer.from(JSON.stringify({ ...JSON.parse(configBytes.toString()), author: 'second' }));
    // A third one carries its own (unlinked) copy of the same layer.
    const config3 = Buffer.from(JSON.stringify({ ...JSON.parse(configBytes.toString()), author: 'third' }));
    const [layerA, layerB, layerC] = ['a'.repeat(64), 'b'.repeat(64), 'c'.repeat(64)];
    fs.writeFileSync(path.join(dir, `${hexOf(imageId)}.json`), configBytes);
    fs.writeFileSync(path.join(dir, `${hexOf(sha256(config2))}.json`), config2);
    fs.writeFileSync(path.join(dir, `${hexOf(sha256(config3))}.json`), config3);
    fs.mkdirSync(path.join(dir, layerC));
    fs.writeFileSync(
      path.join(dir, layerC, 'layer.tar'),
      gzipSync(fs.readFileSync(path.join(src, manifest.Layers[0]!))),
    );
    fs.mkdirSync(path.join(dir, layerA));
    fs.mkdirSync(path.join(dir, layerB));
    fs.writeFileSync(path.join(dir, layerA, 'VERSION'), '1.0');
    fs.writeFileSync(
      path.join(dir, layerA, 'layer.tar'),
      gzipSync(fs.readFileSync(path.join(src, manifest.Layers[0]!))),
    );
    fs.symlinkSync(`../${layerA}/layer.tar`, path.join(dir, layerB, 'layer.tar'));
    fs.writeFileSync(
      path.join(dir, 'manifest.json'),
      JSON.stringify([
        { Config: `${hexOf(imageId)}.json`, RepoTags: ['mybox:v1'], Layers: [`${layerA}/layer.tar`] },
        { Config: `${hexOf(sha256(config2))}.json`, RepoTags: ['mybox:v2'], Layers: [`${layerB}/layer.tar`] },
        { Config: `${hexOf(sha256(config3))}.json`, RepoTags: ['mybox:v3'], Layers: [`${layerC}/layer.tar`] },
      ]),
    );
    fs.writeFileSync(path.join(dir, 'repositories'), JSON.stringify({ mybox: { v1: layerA } }));
    const tarred = path.join(work, 'docker.tar');
    sh('tar', ['-C', dir, '-cf', tarred, '.']);
    const other = newStore('archive-docker');
    expect(ok(other, ['load', '-i', tarred])).toBe(
      'Loaded image: mybox:v1\nLoaded image: mybox:v2\nLoaded image: mybox:v3\n',
    );
    expect(ok(other, ['images', '-q', '--no-trunc']).trim().split('\n').sort()).toEqual(
      [imageId, sha256(config2), sha256(config3)].sort(),
    );
    expect(ok(other, ['run', '--rm', 'mybox:v1', 'echo', 'from docker save'])).toBe('from docker save\n');
    expect(ok(other, ['run', '--rm', 'mybox:v2', 'echo', 'shared layer'])).toBe('shared layer\n');
    expect(fs.readdirSync(path.join(other, 'image', 'overlay2', 'layerdb', 'sha256'))).toHaveLength(1);
  });

  it('follows a nested index to this platform, skipping other platforms and attestations', () => {
    const dir = untar(archive, 'nested');
    const top = readJson<{ manifests: Descriptor[] }>(path.join(dir, 'index.json')).manifests[0]!;
    const arch = process.arch === 'arm64' ? 'amd64' : 'arm64'; // some other architecture
    const here = process.arch === 'arm64' ? 'arm64' : 'amd64';
    const manifestType = 'application/vnd.oci.image.manifest.v1+json';
    const nested = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          // Blobs for other platforms are absent, as in a docker save of a multi-platform image.
          {
            mediaType: manifestType,
            digest: `sha256:${'b'.repeat(64)}`,
            size: 500,
            platform: { os: 'linux', architecture: arch },
          },
          {
            mediaType: top.mediaType,
            digest: top.digest,
            size: top.size,
            platform: { os: 'linux', architecture: here },
          },
          {
            mediaType: manifestType,
            digest: `sha256:${'c'.repeat(64)}`,
            size: 500,
            platform: { os: 'unknown', architecture: 'unknown' },
          },
        ],
      }),
    );
    fs.writeFileSync(path.join(dir, 'blobs', 'sha256', hexOf(sha256(nested))), nested);
    fs.writeFileSync(
      path.join(dir, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.index.v1+json',
            digest: sha256(nested),
            size: nested.length,
            annotations: { 'io.containerd.image.name': 'docker.io/library/nested:v1' },
          },
        ],
      }),
    );
    fs.rmSync(path.join(dir, 'manifest.json'));
    const other = newStore('archive-nested');
    expect(ok(other, ['load', '-i', dir])).toBe('Loaded image: nested:v1\n');
    expect(ok(other, ['images', '-q', '--no-trunc']).trim()).toBe(imageId);
  });

  it('refuses empty input and junk with a clear message', () => {
    const other = newStore('archive-empty');
    const r = strata(other, ['load']);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain('the input is empty');
    const junk = path.join(work, 'junk.bin');
    fs.writeFileSync(junk, Buffer.alloc(4096, 0x5a));
    const bad = strata(other, ['load', '-i', junk]);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toContain(
      `archive ${junk}: not a readable (optionally gzipped) tar archive: tar: header checksum mismatch`,
    );
  });

  it('refuses a corrupted layer or config with a digest error naming the blob, and stores nothing', () => {
    const other = newStore('archive-bad');
    const before = listTree(other);
    const dir = untar(archive, 'bad');
    const manifest = readJson<Array<{ Config: string; Layers: string[] }>>(
      path.join(dir, 'manifest.json'),
    )[0]!;
    const flip = (rel: string, at: number): string => {
      const bytes = fs.readFileSync(archive);
      const offset = bytes.indexOf(Buffer.from(rel)); // the member's header: its body follows
      expect(offset).toBeGreaterThan(0);
      const copy = Buffer.from(bytes);
      copy[offset + 512 + at]! ^= 0xff;
      const out = path.join(work, `bad-${path.basename(rel)}.tar`);
      fs.writeFileSync(out, copy);
      return out;
    };
    const badLayer = strata(other, ['load', '-i', flip(manifest.Layers[0]!, 100_000)]);
    expect(badLayer.code).toBe(125);
    expect(badLayer.stderr).toMatch(
      new RegExp(
        `layer ${manifest.Layers[0]!}: content digest mismatch: expected sha256:${path.basename(manifest.Layers[0]!)}, got sha256:[a-f0-9]{64}`,
      ),
    );
    const badConfig = strata(other, ['load', '-i', flip(manifest.Config, 10)]);
    expect(badConfig.code).toBe(125);
    expect(badConfig.stderr).toMatch(new RegExp(`config ${manifest.Config}: content digest mismatch`));
    expect(listTree(other)).toEqual(before);
  });

  it('undoes the commit when a verified layer cannot be unpacked: no blob, layer or snapshot left', () => {
    const dir = untar(archive, 'unpackable');
    const top = readJson<{ manifests: Descriptor[] }>(path.join(dir, 'index.json')).manifests[0]!;
    const good = readJson<Manifest>(path.join(dir, 'blobs', 'sha256', hexOf(top.digest)));
    const config = readJson<Config & Record<string, unknown>>(
      path.join(dir, 'blobs', 'sha256', hexOf(good.config.digest)),
    );
    // Digests all match, but the second layer is not a tar: only unpacking can find that out.
    const junk = Buffer.from('not a tar archive, yet correctly hashed\n'.repeat(64));
    const put = (b: Buffer) => (
      fs.writeFileSync(path.join(dir, 'blobs', 'sha256', hexOf(sha256(b))), b),
      sha256(b)
    );
    const layerType = 'application/vnd.oci.image.layer.v1.tar';
    const configBytes = Buffer.from(
      JSON.stringify({
        ...config,
        rootfs: { type: 'layers', diff_ids: [...config.rootfs.diff_ids, put(junk)] },
        history: [...(config.history ?? []), { comment: 'junk' }],
      }),
    );
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: good.config.mediaType, digest: put(configBytes), size: configBytes.length },
        layers: [...good.layers, { mediaType: layerType, digest: sha256(junk), size: junk.length }],
      }),
    );
    const index = {
      schemaVersion: 2,
      manifests: [
        {
          mediaType: top.mediaType,
          digest: put(manifest),
          size: manifest.length,
          annotations: { 'org.opencontainers.image.ref.name': 'junk:v1' },
        },
      ],
    };
    fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify(index));
    fs.rmSync(path.join(dir, 'manifest.json'));
    const other = newStore('archive-unpack');
    const before = listTree(other);
    const r = strata(other, ['load', '-i', dir]);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/tar: /);
    expect(listTree(other)).toEqual(before);
  });

  it('refuses a layer whose uncompressed bytes do not match the diff ID (docker save without digests)', () => {
    const src = untar(archive, 'diffid-src');
    const manifest = readJson<Array<{ Config: string; Layers: string[] }>>(
      path.join(src, 'manifest.json'),
    )[0]!;
    const dir = fs.mkdtempSync(path.join(work, 'diffid-'));
    fs.copyFileSync(path.join(src, manifest.Config), path.join(dir, 'config.json'));
    fs.mkdirSync(path.join(dir, 'l'));
    const layer = fs.readFileSync(path.join(src, manifest.Layers[0]!));
    layer[layer.length - 2000]! ^= 1;
    fs.writeFileSync(path.join(dir, 'l', 'layer.tar'), gzipSync(layer));
    fs.writeFileSync(
      path.join(dir, 'manifest.json'),
      JSON.stringify([{ Config: 'config.json', RepoTags: ['broken:v1'], Layers: ['l/layer.tar'] }]),
    );
    const tarred = path.join(work, 'diffid.tar');
    sh('tar', ['-C', dir, '-cf', tarred, '.']);
    const other = newStore('archive-diffid');
    const before = listTree(other);
    const r = strata(other, ['load', '-i', tarred]);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/layer l\/layer\.tar \(uncompressed, diff ID\): content digest mismatch/);
    expect(listTree(other)).toEqual(before);
  });
});

describe('import', () => {
  it('makes a runnable one-layer image from a GNU tar of a directory (gzipped, and from stdin)', () => {
    const dir = path.join(work, 'rootfs');
    makeRootfs(dir);
    fs.writeFileSync(path.join(dir, 'etc', 'imported'), 'imported rootfs\n');
    const tarred = path.join(work, 'rootfs.tar.gz');
    sh('tar', ['-C', dir, '-czf', tarred, '.']);
    const other = newStore('archive-import');
    const id = ok(other, ['import', tarred, 'imported:v1']).trim();
    expect(id).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(ok(other, ['images', '-q', '--no-trunc']).trim()).toBe(id);
    // The default PATH lets a bare command name resolve.
    expect(ok(other, ['run', '--rm', 'imported:v1', 'cat', '/etc/imported'])).toBe('imported rootfs\n');
    const config = readJson<Config>(
      path.join(other, 'image', 'overlay2', 'imagedb', 'content', 'sha256', hexOf(id)),
    );
    expect(config.rootfs.diff_ids).toHaveLength(1);
    expect(config.history).toEqual([expect.objectContaining({ comment: `Imported from ${tarred}` })]);
    expect(config.config?.Env?.[0]).toMatch(/^PATH=/);

    const stdin = spawnSync(
      'sh',
      ['-c', `tar -C ${dir} -cf - . | ${process.execPath} ${BIN} --root ${other} import -q - fromstdin`],
      { encoding: 'utf8' },
    );
    expect(stdin.stderr).toBe('');
    const id2 = stdin.stdout.trim();
    expect(id2).toMatch(/^sha256:[a-f0-9]{64}$/);
    const config2 = readJson<Config>(
      path.join(other, 'image', 'overlay2', 'imagedb', 'content', 'sha256', hexOf(id2)),
    );
    expect(config2.history?.[0]?.comment).toBe('Imported from -');
    // Same uncompressed tar bytes (GNU tar of the same tree) as the gzipped one: the same layer.
    expect(ok(other, ['run', '--rm', 'fromstdin', 'cat', '/etc/imported'])).toBe('imported rootfs\n');
  });

  it('saves several images in one archive (the imported one too) and loads them all', () => {
    const dir = path.join(work, 'rootfs2');
    makeRootfs(dir);
    const id = ok(root, [
      'import',
      '-q',
      sh('sh', ['-c', `tar -C ${dir} -cf ${work}/second.tar . && echo ${work}/second.tar`]).trim(),
      'second:v1',
    ]).trim();
    const multi = path.join(work, 'multi.tar');
    ok(root, ['save', '-q', '-o', multi, 'busybox', 'second:v1', 'busybox:latest']);
    const index = JSON.parse(sh('tar', ['-xOf', multi, 'index.json'])) as { manifests: Descriptor[] };
    assertValidOci('index', index);
    expect(index.manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name'])).toEqual([
      'busybox:latest',
      'second:v1',
    ]);
    const other = newStore('archive-multi');
    expect(ok(other, ['load', '-i', multi])).toBe('Loaded image: busybox:latest\nLoaded image: second:v1\n');
    expect(ok(other, ['images', '-q', '--no-trunc']).trim().split('\n').sort()).toEqual([imageId, id].sort());
    ok(root, ['rmi', 'second:v1']);
  });

  it('refuses input that is not a tar, and stores nothing', () => {
    const other = newStore('archive-import-bad');
    const before = listTree(other);
    const junk = path.join(work, 'junk.tar');
    fs.writeFileSync(junk, 'this is not a tar archive\n'.repeat(100));
    const r = strata(other, ['import', junk, 'junk']);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain(`import ${junk}: not a valid tar archive`);
    expect(listTree(other)).toEqual(before);
  });
});
