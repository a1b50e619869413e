// The embedded `busybox` base image, built offline from Debian's busybox-static package: a real
// single-layer image (tar + sha256 diff ID, OCI config with Env/Cmd/history, manifest), made
// reproducible by taking every timestamp from the installed binary. docs/images.md.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import type { Backend } from '../../shared/src/backend.js';
import type { Store } from '../../shared/src/store/index.js';
import { StrataError } from '../../shared/src/errors.js';
import { withLockAsync } from '../../shared/src/store/fsutil.js';
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
    const mtime = Math.floor(fs.statSync(BUSYBOX_BINARY).mtimeMs / 1000);
    const created = new Date(mtime * 1000).toISOString().replace('.000Z', 'Z');
    const rootfs = path.join(work, 'rootfs');
    makeRootfs(rootfs);
    const tar = path.join(work, 'layer.tar');
    tarRootfs(rootfs, tar, mtime);
    const { digest: diffId, size } = await storeBlobFile(store, tar);
    await addLayer(store, backend, diffId, null, size);
    const config: ImageConfig = {
      architecture: 'amd64',
      os: 'linux',
      created,
      config: { Env: [`PATH=${DEFAULT_PATH}`], Cmd: ['sh'] },
      rootfs: { type: 'layers', diff_ids: [diffId] },
      history: [{ created, created_by: `strata images/busybox: Debian busybox-static ${packageVersion()}` }],
    };
    return addImage(store, config, [tag]);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
