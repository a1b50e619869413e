// The demo image and container, as data: both backends build exactly this (the guest with a shell
// script, the model with its filesystem API), so their answers can be put side by side.

export interface LayerDef {
  /** What the layer is, for people. */
  name: string;
  /** Directory name under overlay2/ (Docker: 64 hex digits of the layer's cache ID). */
  id: string;
  /** Its l/ link name (Docker: 26 characters), which keeps the mount options short. */
  short: string;
  dirs: string[];
  files: Record<string, string>;
  /** Paths deleted by this layer: a whiteout (char device 0/0) in its diff. */
  whiteouts: string[];
}

export const OVERLAY2 = '/var/lib/strata/overlay2';
export const CONTAINER = 'c1';

export function hex(seed: string): string {
  // Stable fake IDs, 64 hex digits like Docker's: the seed repeated and hex-encoded.
  let out = '';
  for (let i = 0; out.length < 64; i++) out += seed.charCodeAt(i % seed.length).toString(16);
  return out.slice(0, 64);
}

/** Image layers, bottom first (as RootFS.Layers lists them). */
export const IMAGE_LAYERS: LayerDef[] = [
  {
    name: 'base (busybox rootfs)',
    id: hex('base'),
    short: 'BASEQ2ZK4M6XW3JH5N8RT1YVCD',
    dirs: ['bin', 'dev', 'etc', 'proc', 'root', 'sys', 'tmp', 'usr', 'var'],
    files: {
      'etc/os-release': 'NAME="Strata demo"\nID=strata\n',
      'etc/issue': 'Strata demo base layer\n',
      'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\n',
    },
    whiteouts: [],
  },
  {
    name: 'etc usr var',
    id: hex('etc-usr-var'),
    short: 'EUVA7P3LQ9W2ZC5B8XK4M1RTNS',
    dirs: ['etc', 'usr/share/demo', 'var/lib/demo'],
    files: {
      'etc/motd': 'Welcome to the Strata demo image\n',
      'usr/share/demo/readme.txt': 'added by the second layer\n',
      'var/lib/demo/data': 'v1\n',
    },
    whiteouts: [],
  },
  {
    name: 'var (and a delete)',
    id: hex('var-layer'),
    short: 'VARL5K8N2Q7W3ZJ4X6C9B1MTRP',
    dirs: ['etc', 'var/lib/demo', 'var/log'],
    files: { 'var/lib/demo/data': 'v2 (shadows v1)\n', 'var/log/setup.log': 'layer 3 ran\n' },
    whiteouts: ['etc/issue'],
  },
];

/** The container's init layer: what the runtime writes before the process starts (Docker's -init). */
export const INIT_LAYER: LayerDef = {
  name: 'c1-init',
  id: `${hex('c1')}-init`,
  short: 'INIT3W8Z5Q2K7N4X1J6C9BMRTV',
  dirs: ['dev/pts', 'dev/shm', 'etc', 'proc', 'sys'],
  files: {
    'etc/hostname': 'c1\n',
    'etc/hosts': '127.0.0.1\tlocalhost\n172.17.0.2\tc1\n',
    'etc/resolv.conf': 'nameserver 10.0.2.3\n',
    'dev/console': '',
  },
  whiteouts: [],
};

export const CONTAINER_ID = hex('c1');

/** lowerdir, nearest first: the init layer, then the image's top layer down to the base. */
export function lowerDir(): string {
  return [INIT_LAYER, ...[...IMAGE_LAYERS].reverse()].map((l) => `${OVERLAY2}/l/${l.short}`).join(':');
}

export function containerDirs(): { upper: string; work: string; merged: string } {
  const d = `${OVERLAY2}/${CONTAINER_ID}`;
  return { upper: `${d}/diff`, work: `${d}/work`, merged: `${d}/merged` };
}

export function overlayData(): string {
  const c = containerDirs();
  return `lowerdir=${lowerDir()},upperdir=${c.upper},workdir=${c.work}`;
}
