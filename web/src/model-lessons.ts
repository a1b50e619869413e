// The same lessons answered by the kernel model (shared/src/model): instant, in the page, before the
// guest is up. Each function rebuilds its world from scratch and prints the transcript in the format
// the guest's script prints, so the UI can show either one.
import { Kernel, ModelError, type Process } from '../../shared/src/model/index.ts';
import { mountinfoToMounts } from '../../shared/src/mount/mountinfo.ts';
import {
  CONTAINER,
  containerDirs,
  IMAGE_LAYERS,
  INIT_LAYER,
  OVERLAY2,
  overlayData,
  type LayerDef,
} from './layout.ts';

function mountL(p: Process): string[] {
  return p.mountinfo().map((e) => {
    const m = mountinfoToMounts(e);
    return `${m.source} on ${m.mountPoint} type ${m.fsType} (${m.options.join(',')})`;
  });
}

function errno(fn: () => void): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    if (err instanceof ModelError) return err.code;
    throw err;
  }
}

function writeLayer(p: Process, l: LayerDef): void {
  const d = `${OVERLAY2}/${l.id}/diff`;
  p.mkdirp(d);
  for (const dir of l.dirs) p.mkdirp(`${d}/${dir}`);
  for (const [path, content] of Object.entries(l.files)) {
    p.mkdirp(`${d}/${path}`.replace(/\/[^/]*$/, ''));
    p.writeFile(`${d}/${path}`, content);
  }
  for (const w of l.whiteouts) p.mknod(`${d}/${w}`, 0, 0);
  p.mkdirp(`${OVERLAY2}/l`);
  p.symlink(`../${l.id}/diff`, `${OVERLAY2}/l/${l.short}`);
}

export interface ModelWorld {
  host: Process;
  container: Process;
}

/**
 * The demo image and container c1, built and started as guest-scripts.ts does it in the guest;
 * `volumes` ([host dir, container path]) are bound in before the pivot, as guest-runtime.ts does.
 */
export function containerWorld(volumes: Array<[string, string]> = []): ModelWorld {
  const k = new Kernel({ sharedRoot: true, hostname: 'strata-guest' });
  const host = k.init;
  host.mkdirp('/tmp');
  for (const l of [...IMAGE_LAYERS, INIT_LAYER]) writeLayer(host, l);
  // The base layer's userland stands in for busybox: one file is enough for the model.
  host.writeFile(`${OVERLAY2}/${IMAGE_LAYERS[0]?.id ?? ''}/diff/bin/busybox`, 'ELF');
  const c = containerDirs();
  for (const d of [c.upper, c.work, c.merged]) host.mkdirp(d);
  host.mount('overlay', c.merged, 'overlay', { data: overlayData() });
  const ctr = host.clone({ namespaces: ['mnt', 'uts', 'ipc', 'net', 'pid'] });
  ctr.mount('', '/', null, { flags: ['MS_PRIVATE', 'MS_REC'] });
  ctr.sethostname(CONTAINER);
  for (const [src, dst] of volumes) {
    ctr.mkdirp(src); // one filesystem: the host's directory
    ctr.mkdirp(`${c.merged}${dst}`);
    ctr.mount(src, `${c.merged}${dst}`, null, { flags: ['MS_BIND'] });
  }
  ctr.mount('proc', `${c.merged}/proc`, 'proc');
  ctr.mount('tmpfs', `${c.merged}/dev`, 'tmpfs', { data: 'mode=755,size=64k' });
  ctr.chdir(c.merged);
  ctr.pivotRoot('.', '.');
  ctr.umount('.', { detach: true });
  ctr.chdir('/');
  return { host, container: ctr };
}

export function containerMountinfo(): string {
  return containerWorld().container.readMountinfo();
}

export function nsInherit(): string {
  const host = new Kernel({ sharedRoot: true }).init;
  host.writeFile('/tmp/host-file', 'from the host\n');
  const child = host.clone({ namespaces: ['mnt'] });
  return [
    '$ readlink /proc/self/ns/mnt        (host)',
    host.nsLink('mnt'),
    '$ readlink /proc/self/ns/mnt        (inside unshare -m)',
    child.nsLink('mnt'),
    '$ ls /tmp                           (inside)',
    ...child.readdir('/tmp'),
  ].join('\n');
}

export function nsTmpfs(): string {
  const host = new Kernel({ sharedRoot: true }).init;
  host.writeFile('/tmp/host-file', 'from the host\n');
  const child = host.clone({ namespaces: ['mnt'] });
  child.mount('', '/', null, { flags: ['MS_PRIVATE', 'MS_REC'] });
  child.mount('none', '/tmp', 'tmpfs');
  const hostTmp = mountL(host).filter((l) => l.includes(' on /tmp '));
  return [
    '$ ls -A /tmp                 (inside)',
    ...child.readdir('/tmp'),
    '(empty)',
    '$ mount | grep tmpfs         (inside)',
    ...mountL(child).filter((l) => l.includes(' on /tmp ')),
    '$ mount | grep /tmp          (host)',
    ...(hostTmp.length > 0 ? hostTmp : ['(no /tmp mount)']),
    '$ ls /tmp                    (host)',
    ...host.readdir('/tmp'),
  ].join('\n');
}

function unionPrep(): Process {
  const p = new Kernel().init;
  for (const d of ['A', 'B', 'C', 'upper', 'work']) p.mkdirp(`/tmp/u/${d}`);
  p.writeFile('/tmp/u/A/t1.txt', 'A1\n');
  p.writeFile('/tmp/u/A/t2.txt', 'A2\n');
  p.writeFile('/tmp/u/B/t2.txt', 'B2\n');
  p.writeFile('/tmp/u/B/t3.txt', 'B3\n');
  p.chdir('/tmp/u');
  return p;
}

export function unionReadonly(): string {
  const p = unionPrep();
  const out = ['$ mount -t overlay overlay -o lowerdir=/tmp/u/A:/tmp/u/B /tmp/u/C'];
  p.mount('overlay', '/tmp/u/C', 'overlay', { data: 'lowerdir=/tmp/u/A:/tmp/u/B' });
  out.push('$ ls C', ...p.readdir('C'), '$ cat C/t2.txt', p.readFile('C/t2.txt').trimEnd());
  p.writeFile('B/t2.txt', 'B2 edited\n');
  out.push("$ echo 'B2 edited' > B/t2.txt; cat C/t2.txt", p.readFile('C/t2.txt').trimEnd());
  p.writeFile('B/t3.txt', 'B3 edited\n');
  out.push("$ echo 'B3 edited' > B/t3.txt; cat C/t3.txt", p.readFile('C/t3.txt').trimEnd());
  const e = errno(() => p.writeFile('C/new', ''));
  out.push('$ touch C/new', e === 'EROFS' ? 'C/new: Read-only file system' : `(${e ?? 'ok'})`);
  return out.join('\n');
}

export function unionWritable(): string {
  const p = unionPrep();
  p.mount('overlay', '/tmp/u/C', 'overlay', {
    data: 'lowerdir=/tmp/u/A:/tmp/u/B,upperdir=/tmp/u/upper,workdir=/tmp/u/work',
  });
  p.writeFile('C/t1.txt', 'changed\n');
  p.unlink('C/t3.txt');
  const upper = p.readdir('upper').map((n) => {
    const st = p.lstat(`upper/${n}`);
    return st.kind === 'chardev' ? `c--------- 0, 0 ${n}` : `-rw-r--r-- ${st.size} ${n}`;
  });
  return [
    '$ mount -t overlay overlay -o lowerdir=A:B,upperdir=upper,workdir=work C',
    '$ echo changed > C/t1.txt; rm C/t3.txt',
    '$ ls C',
    ...p.readdir('C'),
    '$ cat A/t1.txt C/t1.txt',
    p.readFile('A/t1.txt').trimEnd(),
    p.readFile('C/t1.txt').trimEnd(),
    '$ ls -l upper   (t3.txt: a whiteout, character device 0, 0)',
    ...upper,
  ].join('\n');
}

export function layersOnDisk(): string {
  const { host } = containerWorld();
  return [
    `$ ls ${OVERLAY2}`,
    ...host.readdir(OVERLAY2),
    '$ ls -l l/',
    ...host.readdir(`${OVERLAY2}/l`).map((n) => `l/${n} -> ${host.readlink(`${OVERLAY2}/l/${n}`)}`),
    "$ cat <c1's dir>/lower",
    [INIT_LAYER, ...[...IMAGE_LAYERS].reverse()].map((l) => `l/${l.short}`).join(':'),
  ].join('\n');
}

export function layersMount(): string {
  const { host, container } = containerWorld();
  const c = containerDirs();
  const line = host.mountinfo().find((e) => e.mountPoint === c.merged);
  const m = line ? mountinfoToMounts(line) : null;
  return [
    'GraphDriver.Name: overlay2',
    `LowerDir:  ${[INIT_LAYER, ...[...IMAGE_LAYERS].reverse()].map((l) => `${OVERLAY2}/l/${l.short}`).join(':')}`,
    `UpperDir:  ${c.upper}`,
    `WorkDir:   ${c.work}`,
    `MergedDir: ${c.merged}`,
    `$ grep ${c.merged} /proc/mounts      (host)`,
    m ? `${m.source} ${m.mountPoint} ${m.fsType} ${m.options.join(',')} 0 0` : '(none)',
    '$ head -1 /proc/self/mountinfo      (inside c1: its root)',
    container.readMountinfo().split('\n')[0] ?? '',
  ].join('\n');
}

/** "<layer>\t<type>\t<path>" lines for each layer dir, as the guest's listing prints them. */
function listing(p: Process): string {
  const rows: string[] = [];
  const walk = (layer: string, dir: string, rel: string): void => {
    if (rel === '') rows.push(`${layer}\tL\t`);
    for (const name of [...p.readdir(dir)].sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const st = p.lstat(`${dir}/${name}`);
      const t = st.kind === 'chardev' ? 'w' : st.kind === 'symlink' ? 'l' : st.kind === 'dir' ? 'd' : 'f';
      rows.push(`${layer}\t${t}\t${path}`);
      if (st.kind === 'dir') walk(layer, `${dir}/${name}`, path);
    }
  };
  for (const l of [...IMAGE_LAYERS, INIT_LAYER]) walk(l.name, `${OVERLAY2}/${l.id}/diff`, '');
  walk('c1 (read-write)', containerDirs().upper, '');
  return rows.join('\n');
}

export function layersStack(): string {
  return listing(containerWorld().host);
}

export function layersCow(): string {
  const { host, container } = containerWorld();
  container.writeFile('/etc/motd', `${container.readFile('/etc/motd')}edited in c1\n`);
  container.unlink('/etc/os-release');
  container.writeFile('/root/new.txt', 'hi\n');
  return listing(host);
}

function pivotPrep(): { host: Process; c: Process } {
  // Not sharedRoot: the guest's / (a tmpfs it switch_root'ed into) is private, and the model follows it.
  const k = new Kernel({ hostname: 'strata-guest' });
  const host = k.init;
  const x = '/containers/demo-root';
  for (const d of ['bin', 'etc', 'proc', 'old-root']) host.mkdirp(`${x}/${d}`);
  host.writeFile(`${x}/etc/os-release`, 'NAME="Demo rootfs (not the host)"\n');
  host.mkdirp('/tmp');
  host.mount('proc', '/proc', 'proc');
  return { host, c: host.clone({ namespaces: ['mnt', 'uts', 'pid'] }) };
}

export function pivotRules(): string {
  const { c } = pivotPrep();
  const x = '/containers/demo-root';
  c.chdir(x);
  const first = errno(() => c.pivotRoot('.', 'old-root'));
  c.mount('', '/', null, { flags: ['MS_PRIVATE', 'MS_REC'] });
  c.mount(x, x, null, { flags: ['MS_BIND'] });
  c.chdir(x);
  const second = errno(() => c.pivotRoot('.', '/tmp'));
  return [
    '$ pivot_root . old-root        (new_root is not a mount point: it is on the root mount)',
    `pivot_root: ${first ?? 'ok'}`,
    '$ mount --bind X X; pivot_root . /tmp   (put_old /tmp is not under new_root)',
    `pivot_root: ${second ?? 'ok'}`,
  ].join('\n');
}

export function pivotDo(): string {
  const { c } = pivotPrep();
  const x = '/containers/demo-root';
  c.mount('', '/', null, { flags: ['MS_PRIVATE', 'MS_REC'] });
  c.mount(x, x, null, { flags: ['MS_BIND'] });
  c.chdir(x);
  c.pivotRoot('.', 'old-root');
  c.chdir('/');
  c.sethostname('container');
  const out = ['$ pivot_root . old-root', '$ cat /etc/os-release', c.readFile('/etc/os-release').trimEnd()];
  c.mount('proc', '/proc', 'proc');
  const mp = (): string[] => {
    const all = c.mountinfo().map((e) => e.mountPoint);
    return [...all.slice(0, 4), `(${all.length} mounts)`];
  };
  out.push('$ mount -t proc proc /proc', '$ mount points (first 4)', ...mp());
  c.umount('/old-root', { detach: true });
  out.push('$ umount -l /old-root', '$ mount points', ...mp(), '$ ls /', ...c.readdir('/'));
  return out.join('\n');
}

export function nsSideBySide(): string {
  const { host, container } = containerWorld();
  const exec = host.clone();
  for (const kind of ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'uts'] as const) exec.setns(container, kind);
  // setns(pid) only applies to children: nsenter forks, so the command runs in a child.
  const child = exec.clone();
  return (['cgroup', 'ipc', 'mnt', 'net', 'pid', 'uts'] as const)
    .map((n) => [n, host.nsLink(n), container.nsLink(n), child.nsLink(n)].join('\t'))
    .join('\n');
}

export function execView(): string {
  const { container } = containerWorld();
  return [
    '$ hostname',
    container.hostname,
    '$ cat /etc/hostname',
    container.readFile('/etc/hostname').trimEnd(),
    '$ ps   (the model has no process table to print)',
  ].join('\n');
}

export function chrootHandmade(): string {
  const host = new Kernel({ hostname: 'strata-guest' }).init;
  const r = '/tmp/rootfs';
  host.mkdirp(`${r}/bin`);
  host.writeFile(`${r}/bin/busybox`, 'ELF');
  for (const a of ['sh', 'ls', 'cat']) host.symlink('busybox', `${r}/bin/${a}`);
  const find = [r, `${r}/bin`, ...host.readdir(`${r}/bin`).map((f) => `${r}/bin/${f}`)].sort();
  const c = host.clone();
  c.chroot(r);
  c.chdir('/');
  const missing = errno(() => c.readFile('/etc/os-release'));
  return [
    `$ find ${r}`,
    ...find,
    `$ chroot ${r} /bin/sh`,
    '$ ls /',
    ...c.readdir('/'),
    '$ ls /bin',
    ...c.readdir('/bin'),
    '$ cat /etc/os-release',
    `cat: can't open '/etc/os-release': ${missing === 'ENOENT' ? 'No such file or directory' : (missing ?? 'ok')}`,
  ].join('\n');
}

export function chrootImage(): string {
  const { host } = containerWorld();
  const c = host.clone();
  const base = `${OVERLAY2}/${IMAGE_LAYERS[0]?.id ?? ''}/diff`;
  c.chroot(base);
  c.chdir('/');
  return [
    "$ chroot <the image's base layer> /bin/sh",
    '$ cat /etc/os-release',
    c.readFile('/etc/os-release').trimEnd(),
    '$ ls /',
    ...c.readdir('/'),
    '$ uname -r   (the model has one kernel and no release string to print)',
    '$ readlink /proc/<chrooted PID>/root',
    base,
    'namespace\thost\tchroot',
    ...(['mnt', 'uts', 'pid', 'net'] as const).map((n) => `${n}\t${host.nsLink(n)}\t${c.nsLink(n)}`),
  ].join('\n');
}
