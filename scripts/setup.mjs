// One-time (and cached) set-up on a fresh Debian 12 machine with Node 20, run as root:
// Debian packages, npm ci, the CLI bundle and the shim. Every step is skipped when already done.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// Debian packages the project needs: the base image's busybox, a C compiler and static libc for the
// shim, and the peers the tests and benchmarks compare against.
export const APT_PACKAGES = [
  'busybox-static',
  'gcc',
  'libc6-dev',
  'libseccomp-dev',
  // The emulator guest's confinement stage is built for i386 (images/guest/build.sh).
  'gcc-i686-linux-gnu',
  'libc6-dev-i386-cross',
  'tar',
  'util-linux',
  'uidmap',
  'iproute2',
  'nftables',
  'hyperfine',
  'runc',
  'crun',
  'skopeo',
  'umoci',
  'docker-registry',
  'apache2-utils',
  // HTTP load for bench/port-forward.
  'wrk',
  'chromium',
  // The web demo's saved machine is zstd-compressed (images/guest/web-snapshot.mjs).
  'zstd',
];

function installed(pkg) {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('install ok installed');
}

function aptInstall(pkgs) {
  const missing = pkgs.filter((p) => !installed(p));
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    console.error(
      `setup: missing Debian packages ${missing.join(' ')}; run this as root (or apt-get install them)`,
    );
    process.exit(1);
  }
  console.log(`setup: apt-get install ${missing.join(' ')}`);
  // A failing secondary index (a mirror mid-sync) must not stop set-up: the install step says
  // clearly if a package really cannot be had.
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}

function npmCi() {
  const marker = path.join(root, 'node_modules', '.package-lock.json');
  const lock = path.join(root, 'package-lock.json');
  if (fs.existsSync(marker) && fs.statSync(marker).mtimeMs >= fs.statSync(lock).mtimeMs) return;
  console.log('setup: npm ci');
  execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
}

aptInstall(APT_PACKAGES);
npmCi();
execFileSync(process.execPath, [path.join(root, 'scripts', 'build.mjs')], { stdio: 'inherit' });
// The emulator's guest (kernel, initrd, booted snapshot) from Debian packages; cached in .cache/guest.
execFileSync('bash', [path.join(root, 'images', 'guest', 'build.sh')], { stdio: 'inherit' });
