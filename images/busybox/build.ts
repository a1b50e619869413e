// The embedded `busybox` base image, built offline from Debian's busybox-static package: a real
// single-layer image (tar + sha256 diff ID, OCI config with Env/Cmd/history, manifest), made
// reproducible by taking every timestamp from the installed binary. docs/images.md.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Backend } from '../../shared/src/backend.js';
import type { Store } from '../../shared/src/store/index.js';
import { StrataError } from '../../shared/src/errors.js';
import { readJsonIfExists, withLockAsync } from '../../shared/src/store/fsutil.js';
import { findUp } from '../../shared/src/find-up.js';
import { addImage, addLayer, storeBlobFile } from '../../shared/src/engine/image-writer.js';
import type { ImageConfig } from '../../shared/src/oci/types.js';
import { DEFAULT_PATH } from '../../shared/src/engine/run-options.js';
import type { Digest } from '../../shared/src/store/digest.js';

export const BUSYBOX_BINARY = '/bin/busybox';

const PASSWD = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
`;
const GROUP = `root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
kmem:x:9:
wheel:x:10:root
cdrom:x:11:
dialout:x:18:
floppy:x:19:
video:x:28:
audio:x:29:
tape:x:32:
www-data:x:33:
operator:x:37:
utmp:x:43:
plugdev:x:46:
staff:x:50:
lock:x:54:
netdev:x:82:
users:x:100:
nogroup:x:65534:
`;

/** True when the ELF file has no program interpreter (statically linked). */
export function isStaticElf(file: string): boolean {
  const b = fs.readFileSync(file);
  if (b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2) return false; // ELF64 only
  const phoff = Number(b.readBigUInt64LE(0x20));
  const phentsize = b.readUInt16LE(0x36);
  const phnum = b.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++)
    if (b.readUInt32LE(phoff + i * phentsize) === 3 /* PT_INTERP */) return false;
  return true;
}

function packageVersion(): string {
  try {
    return execFileSync('dpkg-query', ['-W', '-f', '${Version}', 'busybox-static'], {
      encoding: 'utf8',
    }).trim();
  } catch {
    return 'unknown';
  }
}

/** Lay out the root filesystem: busybox, its applet links, users and groups, standard dirs. */
export function makeRootfs(dir: string, busybox = BUSYBOX_BINARY): void {
  for (const d of [
    'bin',
    'dev',
    'etc',
    'home',
    'proc',
    'root',
    'sys',
    'tmp',
    'usr/bin',
    'usr/sbin',
    'sbin',
    'var/spool/mail',
    'var/www',
  ]) {
    fs.mkdirSync(path.join(dir, d), { recursive: true, mode: 0o755 });
  }
  fs.chmodSync(path.join(dir, 'tmp'), 0o1777);
  fs.chmodSync(path.join(dir, 'root'), 0o700);
  fs.copyFileSync(busybox, path.join(dir, 'bin/busybox'));
  fs.chmodSync(path.join(dir, 'bin/busybox'), 0o755);
  const applets = execFileSync(busybox, ['--list-full'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const rel of applets) {
    if (rel === 'bin/busybox' || rel.includes('..')) continue; // linking busybox to itself loops
    const at = path.join(dir, rel);
    fs.mkdirSync(path.dirname(at), { recursive: true, mode: 0o755 });
    if (!fs.existsSync(at)) fs.symlinkSync('/bin/busybox', at);
  }
  fs.writeFileSync(path.join(dir, 'etc/passwd'), PASSWD, { mode: 0o644 });
  fs.writeFileSync(path.join(dir, 'etc/group'), GROUP, { mode: 0o644 });
  fs.writeFileSync(path.join(dir, 'etc/shadow'), 'root:*:10933:0:99999:7:::\n', { mode: 0o640 });
}

/** Deterministic layer tar: sorted names, fixed mtime, root-owned, no ./ prefix, pax format. */
export function tarRootfs(dir: string, out: string, mtime: number): void {
  const top = fs.readdirSync(dir).sort();
  execFileSync('tar', [
    '--sort=name',
    `--mtime=@${mtime}`,
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '--format=pax',
    '--pax-option=delete=atime,delete=ctime',
    '-C',
    dir,
    '-cf',
    out,
    ...top,
  ]);
}

export async function buildBusyboxImage(
  store: Store,
  backend: Backend,
  tag = 'busybox:latest',
): Promise<Digest> {
  if (!fs.existsSync(BUSYBOX_BINARY)) {
    throw new StrataError(
      `${BUSYBOX_BINARY} is missing: install Debian's busybox-static package (apt-get install busybox-static), or run 'npm run setup'`,
    );
  }
  if (!isStaticElf(BUSYBOX_BINARY)) {
    throw new StrataError(
      `${BUSYBOX_BINARY} is dynamically linked: install Debian's busybox-static package instead of busybox`,
    );
  }
  return withLockAsync(
    store.layout.lock('build-busybox'),
    () => buildLocked(store, backend, tag),
    // Concurrent first uses: one builds, the others wait for it and then find the image.
    () => store.images.resolve(tag),
  );
}

async function buildLocked(store: Store, backend: Backend, tag: string): Promise<Digest> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-busybox-'));
  try {
    const existing = store.images.resolve(tag);
    if (existing) return existing;
    let layer = cachedLayer();
    // Gone meanwhile (another process replacing the entry) reads as a miss.
    let blob = layer ? await storeBlobFile(store, layer.tar).catch(() => null) : null;
    if (!layer || !blob || blob.digest !== layer.diffId) {
      // No entry, or one that changed since it was written: built, and the entry (re)placed.
      layer = buildLayer(work, blob !== null);
      blob = await storeBlobFile(store, layer.tar);
    }
    await addLayer(store, backend, blob.digest, null, blob.size);
    const config: ImageConfig = {
      architecture: 'amd64',
      os: 'linux',
      created: layer.created,
      config: { Env: [`PATH=${DEFAULT_PATH}`], Cmd: ['sh'] },
      rootfs: { type: 'layers', diff_ids: [blob.digest] },
      history: [
        {
          created: layer.created,
          created_by: `strata images/busybox: Debian busybox-static ${layer.version}`,
        },
      ],
    };
    return addImage(store, config, [tag]);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/**
 * The layer, built once per busybox binary and kept between stores (~100 ms to lay out, tar and
 * hash here, with a child process for the applet list, one for tar, one for the package version):
 * every fresh store's first run (and each test file's) imports it instead. The store still hashes
 * the tar it is given, so a changed entry is noticed (and rebuilt).
 */
interface BuiltLayer {
  tar: string;
  diffId: Digest;
  created: string;
  /** busybox-static's package version, for the image's history. */
  version: string;
}

// Bumped whenever makeRootfs or tarRootfs change what they produce: older entries go unused.
const LAYER_FORMAT = 1;

/** $STRATA_BUSYBOX_CACHE, else the checkout's .cache/busybox; null outside a checkout. */
function layerCacheDir(): string | null {
  const env = process.env.STRATA_BUSYBOX_CACHE;
  if (env) return env;
  const images = findUp(path.dirname(fileURLToPath(import.meta.url)), 'images/busybox');
  return images ? path.join(images, '..', '..', '.cache', 'busybox') : null;
}

/** The cache entry of the installed binary: its identity (device, inode, size, mtime) and the format. */
function layerCacheEntry(): string | null {
  const dir = layerCacheDir();
  if (!dir) return null;
  const st = fs.statSync(BUSYBOX_BINARY);
  return path.join(dir, `${st.dev}-${st.ino}-${st.size}-${st.mtimeMs}-${LAYER_FORMAT}`);
}

function cachedLayer(): BuiltLayer | null {
  const entry = layerCacheEntry();
  if (!entry) return null;
  let meta: Omit<BuiltLayer, 'tar'> | null;
  try {
    meta = readJsonIfExists<Omit<BuiltLayer, 'tar'>>(path.join(entry, 'layer.json'));
  } catch {
    return null; // unreadable: built again
  }
  const tar = path.join(entry, 'layer.tar');
  return meta && fs.existsSync(tar) ? { ...meta, tar } : null;
}

/**
 * Lays out, tars and hashes the layer in `work`, and keeps it in the cache when there is one:
 * in place of a changed entry (`replace`), else only if no other process put one there first.
 */
function buildLayer(work: string, replace: boolean): BuiltLayer {
  const mtime = Math.floor(fs.statSync(BUSYBOX_BINARY).mtimeMs / 1000);
  const rootfs = path.join(work, 'rootfs');
  fs.rmSync(rootfs, { recursive: true, force: true });
  makeRootfs(rootfs);
  const tar = path.join(work, 'layer.tar');
  tarRootfs(rootfs, tar, mtime);
  const layer: BuiltLayer = {
    tar,
    diffId: `sha256:${createHash('sha256').update(fs.readFileSync(tar)).digest('hex')}` as Digest,
    created: new Date(mtime * 1000).toISOString().replace('.000Z', 'Z'),
    version: packageVersion(),
  };
  const entry = layerCacheEntry();
  if (!entry) return layer;
  // Staged beside the entry and renamed into place: a reader sees a whole entry or none.
  const staged = `${entry}.tmp-${process.pid}`;
  const old = `${entry}.old-${process.pid}`;
  try {
    fs.mkdirSync(staged, { recursive: true });
    fs.copyFileSync(tar, path.join(staged, 'layer.tar'));
    const meta = { diffId: layer.diffId, created: layer.created, version: layer.version };
    fs.writeFileSync(path.join(staged, 'layer.json'), JSON.stringify(meta));
    if (replace) fs.renameSync(entry, old);
    fs.renameSync(staged, entry); // fails when another process's entry is there: it stays
  } catch {
    /* no entry of ours this time (another's, a read-only checkout...) */
  } finally {
    fs.rmSync(staged, { recursive: true, force: true });
    fs.rmSync(old, { recursive: true, force: true });
  }
  return layer;
}
