// push / pull / login against Debian's docker-registry (the distribution registry), started here on
// 127.0.0.1 only, with skopeo as the independent client; faults from a local TCP proxy that cuts a
// blob mid-way and a fake registry (Bearer tokens, an index, a corrupted blob). A missing tool
// fails the suite, never skips it. All traffic stays on 127.0.0.1.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BIN,
  destroyRoot,
  inspect,
  listTree,
  ok,
  requireNativePrerequisites,
  tempRoot,
  type InspectedImage,
  type Result,
} from '../helpers/strata.js';

const TOOLS = ['docker-registry', 'skopeo', 'htpasswd'];

/** Async on purpose: the proxy and the fake registry live in this process and must keep answering. */
function run(
  root: string,
  args: string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv; entry?: string[] } = {},
): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(opts.entry ?? [BIN]), '--root', root, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, STRATA_REGISTRY_BACKOFF_MS: '50', ...opts.env },
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

async function must(root: string, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  const r = await run(root, args, { env });
  if (r.code !== 0) throw new Error(`strata ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

interface Registry {
  port: number;
  proc: ChildProcess;
}

const registries: Registry[] = [];

/** docker-registry on 127.0.0.1:<free port> with its own storage; optional htpasswd auth. */
async function startRegistry(work: string, name: string, htpasswd?: string): Promise<Registry> {
  const port = await freePort();
  const dir = path.join(work, name);
  fs.mkdirSync(dir, { recursive: true });
  const auth = htpasswd ? `auth:\n  htpasswd:\n    realm: strata-test\n    path: ${htpasswd}\n` : '';
  const config = path.join(dir, 'config.yml');
  fs.writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n${auth}`,
  );
  const proc = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const reg = { port, proc };
  registries.push(reg);
  for (let i = 0; i < 100; i++) {
    const status = await new Promise<number>((resolve) => {
      http
        .get({ host: '127.0.0.1', port, path: '/v2/' }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
        .on('error', () => resolve(0));
    });
    if (status === 200 || status === 401) return reg;
    if (proc.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`docker-registry did not start on 127.0.0.1:${port}\n${log}`);
}

let work: string;
let root: string;
let reg: Registry;
let imageId: string;
let layers: string[];
const stores: string[] = [];
const servers: net.Server[] = [];

function newStore(tag: string): string {
  const r = tempRoot(`registry-${tag}`);
  stores.push(r);
  ok(r, ['images']);
  return r;
}

beforeAll(async () => {
  requireNativePrerequisites();
  for (const t of TOOLS) {
    if (spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0)
      throw new Error(`${t} is missing: run 'npm run setup' (installs Debian's ${t})`);
  }
  root = tempRoot('registry');
  work = fs.mkdtempSync(path.join(path.dirname(root), 'strata-registry-work-'));
  reg = await startRegistry(work, 'plain');
  // A two-layer image: busybox plus 3 MB of random bytes (so transfers take several chunks).
  await must(root, [
    'run',
    '--name',
    'mk',
    'busybox',
    'sh',
    '-c',
    'head -c 3000000 /dev/urandom > /blob.bin',
  ]);
  await must(root, ['commit', 'mk', 'app:v1']);
  await must(root, ['rm', 'mk']);
  const img = inspect<InspectedImage>(root, 'app:v1');
  imageId = img.Id;
  layers = img.RootFS.Layers;
  expect(layers).toHaveLength(2);
});

afterAll(() => {
  for (const r of registries) r.proc.kill('SIGTERM');
  for (const s of servers) s.close();
  for (const r of [root, ...stores]) if (r) destroyRoot(r);
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('push and pull against docker-registry', () => {
  it('pushes (chunked and monolithic uploads), pulls back after rmi: same image ID and layers', async () => {
    const name = `127.0.0.1:${reg.port}/app:v1`;
    await must(root, ['tag', 'app:v1', name]);
    // 1 MiB chunks: the random layer goes up as PATCHes, busybox's small one in a single PUT.
    const out = await must(root, ['push', name], { STRATA_REGISTRY_CHUNK_SIZE: String(1 << 20) });
    expect(out).toContain(`The push refers to repository [127.0.0.1:${reg.port}/app]`);
    expect(out.match(/^[0-9a-f]{12}: Pushed$/gm)).toHaveLength(2);
    const digest = /^v1: digest: (sha256:[0-9a-f]{64}) size: \d+$/m.exec(out)?.[1];
    expect(digest).toBeDefined();
    const again = await must(root, ['push', name]);
    expect(again.match(/: Layer already exists$/gm)).toHaveLength(2);
    expect(again).toContain(`v1: digest: ${digest}`);

    // Every image gone (busybox too), so that the pull downloads both layers.
    await must(root, ['rmi', name, 'app:v1', 'busybox']);
    expect(ok(root, ['images', '-q'])).toBe('');
    // The layer thread forced on (by default it is off when the machine is busy, as in a test run).
    const pulled = await must(root, ['pull', name], { STRATA_PULL_THREAD: '1' });
    expect(pulled).toContain('v1: Pulling from app');
    expect(pulled).toContain(`Digest: ${digest}`);
    expect(pulled).toContain(`Status: Downloaded newer image for ${name}`);
    const img = inspect<InspectedImage>(root, name);
    expect(img.Id).toBe(imageId);
    expect(img.RootFS.Layers).toEqual(layers);
    expect(ok(root, ['run', '--rm', name, 'sh', '-c', 'wc -c < /blob.bin']).trim()).toBe('3000000');
    const same = await must(root, ['pull', name]);
    expect(same).toContain(`Status: Image is up to date for ${name}`);
    // By digest too, with everything on the main thread (STRATA_PULL_THREAD=0: no layer thread).
    const byDigest = newStore('digest');
    await must(byDigest, ['pull', `127.0.0.1:${reg.port}/app@${digest}`], { STRATA_PULL_THREAD: '0' });
    expect(inspect<InspectedImage>(byDigest, imageId).RootFS.Layers).toEqual(layers);
  });

  it('mounts layers from another repository of the same registry', async () => {
    await must(root, ['tag', `127.0.0.1:${reg.port}/app:v1`, `127.0.0.1:${reg.port}/copy:v1`]);
    const out = await must(root, ['push', `127.0.0.1:${reg.port}/copy:v1`]);
    expect(out.match(/: Mounted from app$/gm)).toHaveLength(2);
  });

  it('skopeo inspects and copies what strata pushed', () => {
    const info = JSON.parse(
      sh('skopeo', ['inspect', '--tls-verify=false', `docker://127.0.0.1:${reg.port}/app:v1`]),
    ) as { Layers: string[] };
    expect(info.Layers).toHaveLength(2);
    const config = JSON.parse(
      sh('skopeo', ['inspect', '--config', '--tls-verify=false', `docker://127.0.0.1:${reg.port}/app:v1`]),
    ) as { rootfs: { diff_ids: string[] } };
    expect(config.rootfs.diff_ids).toEqual(layers);
    sh('skopeo', [
      'copy',
      '--src-tls-verify=false',
      `docker://127.0.0.1:${reg.port}/app:v1`,
      `oci:${path.join(work, 'copied')}:v1`,
    ]);
    expect(fs.existsSync(path.join(work, 'copied', 'index.json'))).toBe(true);
  });

  it('pulls what skopeo pushed (from an oci-archive strata saved)', async () => {
    const archive = path.join(work, 'app.tar');
    await must(root, ['tag', `127.0.0.1:${reg.port}/app:v1`, 'app:v1']);
    await must(root, ['save', '-o', archive, 'app:v1']);
    sh('skopeo', [
      'copy',
      '--dest-tls-verify=false',
      `oci-archive:${archive}:app:v1`,
      `docker://127.0.0.1:${reg.port}/from-skopeo:v1`,
    ]);
    const fresh = newStore('skopeo');
    await must(fresh, ['pull', `127.0.0.1:${reg.port}/from-skopeo:v1`]);
    const img = inspect<InspectedImage>(fresh, `127.0.0.1:${reg.port}/from-skopeo:v1`);
    expect(img.Id).toBe(imageId);
    expect(img.RootFS.Layers).toEqual(layers);
  });
});

describe('layers unpacked on first use', () => {
  it('nothing is unpacked by the pull; `load` of a child image over the pulled layers runs', async () => {
    const name = `127.0.0.1:${reg.port}/app:v1`;
    await must(root, ['run', '--name', 'kid', name, 'sh', '-c', 'echo child > /child.txt']);
    await must(root, ['commit', 'kid', 'kid:v1']);
    await must(root, ['rm', 'kid']);
    const archive = path.join(work, 'kid.tar');
    await must(root, ['save', '-o', archive, 'kid:v1']);

    const store = newStore('lazy');
    await must(store, ['pull', name]);
    // Nothing unpacked yet: the pull registered the layers only.
    const unpacked = () =>
      fs.readdirSync(path.join(store, 'overlay2')).filter((d) => /^[0-9a-f]{64}$/.test(d));
    expect(unpacked()).toEqual([]);
    await must(store, ['load', '-i', archive]);
    const out = ok(store, ['run', '--rm', 'kid:v1', 'sh', '-c', 'cat /child.txt; wc -c < /blob.bin']);
    expect(out.split('\n').map((l) => l.trim())).toEqual(['child', '3000000', '']);
  });
});

describe('basic auth', () => {
  let secured: Registry;
  beforeAll(async () => {
    const file = path.join(work, 'htpasswd');
    fs.writeFileSync(file, sh('htpasswd', ['-Bbn', 'alice', 's3cret']));
    secured = await startRegistry(work, 'secured', file);
  });

  it('a wrong password is refused clearly and stores nothing; the right one works', async () => {
    const store = newStore('auth');
    const server = `127.0.0.1:${secured.port}`;
    const auth = path.join(store, 'auth.json');
    const bad = await run(store, ['login', '-u', 'alice', '--password-stdin', server], { input: 'wrong\n' });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('unauthorized: incorrect username or password');
    expect(fs.existsSync(auth)).toBe(false);

    await must(store, ['run', '--rm', 'busybox', 'true']);
    await must(store, ['tag', 'busybox', `${server}/secret:v1`]);
    const anonymous = await run(store, ['push', `${server}/secret:v1`]);
    expect(anonymous.code).not.toBe(0);
    expect(anonymous.stderr).toContain('unauthorized: authentication required');

    const good = await run(store, ['login', '-u', 'alice', '--password-stdin', server], {
      input: 's3cret\n',
    });
    expect(good.code, good.stderr).toBe(0);
    expect(good.stdout).toContain('Login Succeeded');
    expect(fs.statSync(auth).mode & 0o777).toBe(0o600);
    expect(Object.keys((JSON.parse(fs.readFileSync(auth, 'utf8')) as { auths: object }).auths)).toEqual([
      server,
    ]);
    await must(store, ['push', `${server}/secret:v1`]);
    await must(store, ['rmi', `${server}/secret:v1`]);
    await must(store, ['pull', `${server}/secret:v1`]);
    expect(await must(store, ['logout', server])).toContain(`Removing login credentials for ${server}`);
    const after = await run(store, ['pull', `${server}/secret:v1`]);
    expect(after.code).not.toBe(0);
  });

  it('a pull answers alike without the bundle (bin/strata.js -> pull.cjs) and through it', async () => {
    // The bundle's own entry, as bin/strata.js used it for every pull before pull-direct.ts.
    const bundle = pathToFileURL(path.join(path.dirname(BIN), '..', 'dist', 'strata.mjs')).href;
    const viaBundle = [
      '--input-type=module',
      '-e',
      `(await import('${bundle}')).cli(process.argv.slice(1))`,
      '--',
    ];
    const env = { STRATA_TRACE: '1', STRATA_REGISTRY_ATTEMPTS: '1' };
    const both = async (args: string[], stores: [string, string] = [root, root]) => {
      const direct = await run(stores[0], args, { env });
      const bundled = await run(stores[1], args, { env, entry: viaBundle });
      // Which path served each: pull-direct.ts traces its own entry.
      expect(direct.stderr).toContain('cli: pull entry loaded');
      expect(bundled.stderr).toContain('cli: bundle loaded');
      expect(bundled.stderr).not.toContain('cli: pull entry loaded');
      const untraced = (r: Result) => ({
        code: r.code,
        stdout: r.stdout,
        stderr: r.stderr.replace(/^\[trace\].*\n/gm, ''),
      });
      return [untraced(direct), untraced(bundled)] as const;
    };
    const server = `127.0.0.1:${secured.port}`;
    const cases: Array<[string[], number, RegExp]> = [
      [['pull'], 125, /"strata pull" requires exactly 1 argument/],
      [['pull', '-x', 'app'], 125, /unknown shorthand flag: 'x'/],
      [['pull', `127.0.0.1:${reg.port}/nothere:v9`], 125, /manifest unknown/],
      [['pull', `${server}/secret:v1`], 125, /^strata: unauthorized: authentication required$/m],
    ];
    for (const [args, code, message] of cases) {
      const [direct, bundled] = await both(args);
      expect(direct, args.join(' ')).toEqual(bundled);
      expect(direct.code).toBe(code);
      expect(direct.stderr).toMatch(message);
    }
    // A pull that works, into two empty stores: the same lines (progress on a pipe is one plain line
    // per status; three layers move at once, so their order may differ) and the same image.
    const name = `127.0.0.1:${reg.port}/app:v1`;
    const a = newStore('direct');
    const b = newStore('bundled');
    const [direct, bundled] = await both(['pull', name], [a, b]);
    expect(direct.code, direct.stderr).toBe(0);
    expect(direct.stderr).toBe('');
    expect(direct.stdout.split('\n').sort()).toEqual(bundled.stdout.split('\n').sort());
    expect(direct.stdout).toMatch(/^[0-9a-f]{12}: Pull complete$/m);
    expect(inspect<InspectedImage>(a, name).Id).toBe(imageId);
    expect(inspect<InspectedImage>(b, name).Id).toBe(imageId);
  });
});

/** A TCP proxy to `target` that cuts the first connection carrying more than `after` bytes back. */
async function cuttingProxy(
  target: number,
  after: number,
): Promise<{ port: number; cuts: number; ranges: string[] }> {
  const state = { port: 0, cuts: 0, ranges: [] as string[] };
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    let down = 0;
    client.on('data', (d: Buffer) => {
      const m = /\r\nRange: (bytes=\d+-)/i.exec(d.toString('latin1'));
      if (m) state.ranges.push(m[1]!);
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      down += d.length;
      if (state.cuts === 0 && down > after) {
        state.cuts++;
        client.write(d.subarray(0, d.length - (down - after)));
        client.resetAndDestroy();
        upstream.destroy();
        return;
      }
      client.write(d);
    });
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  state.port = (server.address() as net.AddressInfo).port;
  return state;
}

/** A TCP proxy to `target` that stops passing bytes back after `after` of them: a pull hangs mid-blob. */
async function stallingProxy(
  target: number,
  after: number,
): Promise<{ port: number; stalled: Promise<void> }> {
  let onStall: () => void = () => undefined;
  const stalled = new Promise<void>((r) => (onStall = r));
  let down = 0;
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    client.pipe(upstream);
    upstream.on('data', (d: Buffer) => {
      if (down >= after) return;
      down += d.length;
      client.write(d);
      if (down >= after) onStall();
    });
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as net.AddressInfo).port, stalled };
}

describe('faults', () => {
  it('a pull killed mid-download leaves the store as it was; the next pull cleans up and works', async () => {
    const store = newStore('killed');
    const before = listTree(store);
    const proxy = await stallingProxy(reg.port, 1_500_000);
    const child = spawn(process.execPath, [BIN, '--root', store, 'pull', `127.0.0.1:${proxy.port}/app:v1`], {
      stdio: 'ignore',
    });
    const exited = new Promise<void>((r) => child.on('exit', () => r()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    await Promise.race([proxy.stalled, exited]);
    expect(child.exitCode, 'the pull ended before it was killed').toBeNull();
    child.kill('SIGKILL');
    await exited;
    clearTimeout(timer);
    // Only the killed pull's private staging dir remains (under tmp/): no blob, layer, image or name.
    const left = listTree(store).filter((p) => !before.includes(p));
    expect(left.length).toBeGreaterThan(0);
    expect(
      left.every((p) => /^tmp\/pull-\d+-/.test(p)),
      left.join('\n'),
    ).toBe(true);
    expect(ok(store, ['images', '-q'])).toBe('');

    const name = `127.0.0.1:${reg.port}/app:v1`;
    await must(store, ['pull', name]);
    expect(fs.readdirSync(path.join(store, 'tmp')).filter((e) => e.startsWith('pull-'))).toEqual([]);
    // Layers are unpacked on first use: the first run after the pull works.
    expect(ok(store, ['run', '--rm', name, 'sh', '-c', 'wc -c < /blob.bin']).trim()).toBe('3000000');
  });

  it('a connection cut mid-blob is resumed with Range and the pull completes', async () => {
    const proxy = await cuttingProxy(reg.port, 1_500_000);
    const store = newStore('cut');
    const name = `127.0.0.1:${proxy.port}/app:v1`;
    const r = await run(store, ['pull', name]);
    expect(r.code, r.stderr).toBe(0);
    expect(proxy.cuts).toBe(1);
    expect(proxy.ranges.length).toBeGreaterThanOrEqual(1);
    const img = inspect<InspectedImage>(store, name);
    expect(img.Id).toBe(imageId);
    expect(img.RootFS.Layers).toEqual(layers);
  });

  describe('a fake registry (Bearer token auth, an index, a blob that lies)', () => {
    let fake: http.Server;
    let port = 0;
    let corrupt = false;
    const tokens: string[] = [];
    beforeAll(async () => {
      // The image as skopeo copied it (gzip layers, OCI manifest), served from that layout.
      const dir = path.join(work, 'copied');
      const blob = (d: string) =>
        fs.readFileSync(path.join(dir, 'blobs', 'sha256', d.replace('sha256:', '')));
      const index = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8')) as {
        manifests: Array<{ digest: string; size: number; mediaType: string }>;
      };
      const m = index.manifests[0]!;
      const layerDigests = (
        JSON.parse(blob(m.digest).toString()) as { layers: Array<{ digest: string }> }
      ).layers.map((l) => l.digest);
      const multi = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.index.v1+json',
          manifests: [
            { ...m, digest: `sha256:${'0'.repeat(64)}`, platform: { os: 'linux', architecture: 'arm64' } },
            { ...m, platform: { os: 'linux', architecture: 'amd64' } },
          ],
        }),
      );
      fake = http.createServer((req, res) => {
        const url = new URL(req.url ?? '/', 'http://127.0.0.1');
        if (url.pathname === '/token') {
          tokens.push(url.searchParams.getAll('scope').join(' '));
          res.setHeader('Content-Type', 'application/json');
          res.end(JSON.stringify({ token: 'good-token' }));
          return;
        }
        if (req.headers.authorization !== 'Bearer good-token') {
          res.statusCode = 401;
          res.setHeader(
            'WWW-Authenticate',
            `Bearer realm="http://127.0.0.1:${port}/token",service="fake",scope="repository:app:pull"`,
          );
          res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
          return;
        }
        const send = (body: Buffer, type: string) => {
          res.setHeader('Content-Type', type);
          res.setHeader('Content-Length', body.length);
          res.end(req.method === 'HEAD' ? undefined : body);
        };
        if (url.pathname === '/v2/') return send(Buffer.from('{}'), 'application/json');
        const mm = /^\/v2\/app\/manifests\/(.+)$/.exec(url.pathname);
        if (mm) {
          if (mm[1] === 'multi') return send(multi, 'application/vnd.oci.image.index.v1+json');
          if (mm[1] === m.digest) return send(blob(m.digest), m.mediaType);
        }
        const bm = /^\/v2\/app\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url.pathname);
        if (bm) {
          const body = Buffer.from(blob(bm[1]!));
          if (corrupt && layerDigests.includes(bm[1]!)) body[body.length >> 1]! ^= 0xff;
          return send(body, 'application/octet-stream');
        }
        res.statusCode = 404;
        res.end('{"errors":[{"code":"NOT_FOUND","message":"not found"}]}');
      });
      servers.push(fake);
      await new Promise<void>((r) => fake.listen(0, '127.0.0.1', () => r()));
      port = (fake.address() as net.AddressInfo).port;
    });

    it('gets a Bearer token from the realm and picks linux/amd64 from an index', async () => {
      corrupt = false;
      const store = newStore('bearer');
      const name = `127.0.0.1:${port}/app:multi`;
      await must(store, ['pull', name]);
      expect(tokens).toContain('repository:app:pull');
      // skopeo rewrote the config when it converted the manifest to OCI: same layers, new ID.
      expect(inspect<InspectedImage>(store, name).RootFS.Layers).toEqual(layers);
    });

    it('resumes from a registry that ignores Range (200 again): the bytes already read are skipped', async () => {
      corrupt = false;
      const proxy = await cuttingProxy(port, 1_500_000);
      const store = newStore('no-range');
      const name = `127.0.0.1:${proxy.port}/app:multi`;
      await must(store, ['pull', name]);
      expect(proxy.cuts).toBe(1);
      expect(proxy.ranges.length).toBeGreaterThanOrEqual(1);
      expect(inspect<InspectedImage>(store, name).RootFS.Layers).toEqual(layers);
      expect(ok(store, ['run', '--rm', name, 'sh', '-c', 'wc -c < /blob.bin']).trim()).toBe('3000000');
    });

    it('refuses a blob whose bytes do not match its digest and stores nothing', async () => {
      corrupt = true;
      // Both ways: the layer thread on and off.
      for (const thread of ['1', '0']) {
        const store = newStore(`corrupt-${thread}`);
        const before = listTree(store);
        const r = await run(store, ['pull', `127.0.0.1:${port}/app:multi`], {
          env: { STRATA_PULL_THREAD: thread },
        });
        expect(r.code).toBe(125);
        expect(r.stderr).toMatch(/content digest mismatch/);
        expect(listTree(store)).toEqual(before);
      }
    });
  });
});
