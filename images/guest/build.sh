#!/usr/bin/env bash
# Builds the emulator guest (backend-emu) from Debian packages only:
#   .cache/guest/vmlinuz     Debian i386 686 kernel (bzImage)
#   .cache/guest/initrd.gz   gzip newc cpio: busybox-static:i386, kernel modules, /init, the agent,
#                            the container stage (strata-confine, i386 from backend-native's
#                            setup.c and confine.c) and the default seccomp profile as i386 BPF
#   .cache/guest/bios.bin    SeaBIOS from the host's seabios package
# Run as root (a fully cached build needs no root). Idempotent: packages are downloaded once
# (apt-get download, never installed on the host), and the initrd is rebuilt only when its inputs
# change. Prints what it did and how long it took.
# Last step: node images/guest/snapshot.mjs boots the guest once and saves .cache/guest/state.bin.gz
# (what backend-emu's GuestMachine.restore() resumes from), unless it is newer than the initrd.
# Usage: images/guest/build.sh [--force] [--no-snapshot]
set -euo pipefail

started=$EPOCHREALTIME
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${STRATA_GUEST_CACHE:-$repo/.cache/guest}
force=0
snapshot=1
for arg in "$@"; do
  case $arg in
  --force) force=1 ;;
  --no-snapshot) snapshot=0 ;;
  *) echo "usage: $0 [--force] [--no-snapshot]" >&2 && exit 2 ;;
  esac
done

elapsed() { awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
log() { printf 'build-guest: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Root is needed only for work still to do (apt-get, device nodes in the initrd): a fully cached
# build also runs as another user.
need_root() { [[ $(id -u) == 0 ]] || die "must run as root to $1"; }
mkdir -p "$cache/debs"

# Kernel modules the guest needs (docs/emulator.md); their dependencies are added below, in load
# order, from each module's own `depends=` (a kernel update moved virtio's: 6.1.0-57's virtio needs
# virtio_ring first, earlier ones the reverse).
wanted_modules=(virtio_pci 9pnet_virtio 9p overlay)

apt_updated=0
apt_update() {
  if [[ $apt_updated == 0 ]]; then
    log "apt-get update"
    # A mirror in mid-sync can fail one index (seen with bookworm-security i386): go on with the
    # lists that did arrive; a missing package is reported below.
    apt-get update -qq >&2 || log "warning: apt-get update reported errors; continuing"
    apt_updated=1
  fi
}

# --- host tools: seabios (BIOS image), cpio (initrd), the i386 cross compiler (strata-confine) ---
# Debian's gcc-i686-linux-gnu (not gcc-multilib, which removes the cross compilers).
missing=()
for pkg in seabios cpio gcc-i686-linux-gnu libc6-dev-i386-cross; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
  need_root "install ${missing[*]}"
  apt_update
  log "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
bios_src=/usr/share/seabios/bios-256k.bin
[[ -f $bios_src ]] || die "$bios_src not found after installing seabios"
cmp -s "$bios_src" "$cache/bios.bin" 2>/dev/null || cp "$bios_src" "$cache/bios.bin"

# --- the scenario executor for the emu runner (docs/scenarios.md) ----------------------------------
# backend-native's strata-scenario.c for i386, next to the saved machine but not in the initrd (the
# snapshot stays as small): backend-emu/src/emu-scenario.ts copies it into the 9p share when used.
scenario_src=$repo/backend-native/stage/strata-scenario.c
if [[ ! -x $cache/strata-scenario || $scenario_src -nt $cache/strata-scenario ]]; then
  i686-linux-gnu-gcc -O2 -static -s -Wall -Wextra -Werror -o "$cache/strata-scenario.tmp" "$scenario_src"
  mv "$cache/strata-scenario.tmp" "$cache/strata-scenario"
  log "built strata-scenario (i386)"
fi

# --- i386 packages: kernel and busybox, downloaded, not installed ---------------------------
have_deb() { compgen -G "$cache/debs/$1" >/dev/null; }
if ! have_deb 'linux-image-6.1.0-*-686-unsigned_*_i386.deb' || ! have_deb 'busybox-static_*_i386.deb'; then
  need_root "download the i386 packages"
  if ! dpkg --print-foreign-architectures | grep -qx i386; then
    log "dpkg --add-architecture i386"
    dpkg --add-architecture i386
    apt_updated=0
    apt_update
  fi
  compgen -G '/var/lib/apt/lists/*_binary-i386_Packages*' >/dev/null || apt_update
  find_kernel() {
    apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-686-unsigned$' | awk '{print $1}' | sort -V | tail -n 1
  }
  kernel_pkg=$(find_kernel)
  if [[ -z $kernel_pkg ]]; then
    apt_update
    kernel_pkg=$(find_kernel)
  fi
  [[ -n $kernel_pkg ]] || die "no linux-image-6.1.0-NN-686-unsigned package found with apt-cache"
  log "apt-get download $kernel_pkg:i386 busybox-static:i386"
  rm -f "$cache"/debs/*.deb
  # apt-get download writes to the current directory; _apt cannot write to a root-owned cache dir.
  (cd "$cache/debs" && apt-get download -qq "$kernel_pkg:i386" busybox-static:i386 2>&1 |
    grep -v 'unsandboxed as root' >&2 || true)
  have_deb 'linux-image-6.1.0-*-686-unsigned_*_i386.deb' || die "kernel download failed"
  have_deb 'busybox-static_*_i386.deb' || die "busybox-static download failed"
fi
kernel_deb=$(compgen -G "$cache/debs/linux-image-6.1.0-*-686-unsigned_*_i386.deb" | head -n 1)
busybox_deb=$(compgen -G "$cache/debs/busybox-static_*_i386.deb" | head -n 1)

# --- initrd, rebuilt when its inputs change -----------------------------------------------------
# The confinement stage's sources, and the seccomp profile's compiled text (the program is made from
# it): a change to the TypeScript that does not change the text leaves the guest as it is.
seccomp_text=$(node "$here/seccomp.mjs" --text) || die "compiling the default seccomp profile failed"
stamp=$( (
  basename "$kernel_deb"
  basename "$busybox_deb"
  cat "$here/build.sh" "$here/init" "$here/agent" "$here/seccomp.mjs"
  cat "$here/confine-stage.c" "$here/run-stage.c" "$here/fs-stage.c" "$here/guest-stage.h"
  cat "$repo/backend-native/stage/confine.c" "$repo/backend-native/stage/confine.h"
  cat "$repo/backend-native/stage/setup.c" "$repo/backend-native/stage/setup.h"
  echo "$seccomp_text"
) | sha256sum | cut -c1-16)
take_snapshot() {
  [[ $snapshot == 1 ]] || return 0
  # Current when newer than the initrd and the script, and made with the store preparation and
  # busybox layer that state.json records (snapshot.mjs --check computes them from the TypeScript).
  if [[ -f $cache/state.bin.gz && -f $cache/state.json && $cache/state.bin.gz -nt $cache/initrd.gz &&
    $here/snapshot.mjs -ot $cache/state.bin.gz ]] &&
    STRATA_GUEST_CACHE=$cache node "$here/snapshot.mjs" --check; then
    log "snapshot up to date ($(stat -c %s "$cache/state.bin.gz") bytes)"
    return 0
  fi
  [[ -d $repo/node_modules/v86 ]] || die "node_modules/v86 missing: run npm ci first (needed for the snapshot)"
  log "booting the guest to save its state (node images/guest/snapshot.mjs)"
  STRATA_GUEST_CACHE=$cache node "$here/snapshot.mjs" >/dev/null
}

if [[ $force == 0 && -f $cache/initrd.gz && -f $cache/vmlinuz && $(cat "$cache/stamp" 2>/dev/null) == "$stamp" ]]; then
  log "kernel and initrd up to date ($(basename "$kernel_deb"), $(basename "$busybox_deb"))"
  take_snapshot
  log "done in $(elapsed) s"
  exit 0
fi

need_root "build the initrd (device nodes)"
work=$(mktemp -d "$cache/work.XXXXXX")
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$kernel_deb" "$work/kernel"
dpkg-deb -x "$busybox_deb" "$work/busybox"

vmlinuz=$(compgen -G "$work/kernel/boot/vmlinuz-*" | head -n 1)
[[ -n $vmlinuz ]] || die "no boot/vmlinuz-* in $(basename "$kernel_deb")"
kver=${vmlinuz##*/vmlinuz-}

root=$work/root
mkdir -p "$root"/{bin,dev,etc,lib/modules,mnt/host,newroot,proc,root,run,sys,tmp,usr}
ln -s bin "$root/sbin"
ln -s ../bin "$root/usr/bin"
ln -s ../bin "$root/usr/sbin"
chmod 1777 "$root/tmp"
install -m 0755 "$work/busybox/bin/busybox" "$root/bin/busybox"

# Applet links, when the host can run i386 code to list them (otherwise /init runs
# `busybox --install -s` at boot). "busybox" is one of the applets: skip it (symlink loop).
applets=$("$root/bin/busybox" --list 2>/dev/null || true)
count=0
while read -r applet; do
  [[ -z $applet || $applet == busybox || $applet == */* ]] && continue
  [[ -e $root/bin/$applet ]] || { ln -s busybox "$root/bin/$applet"; count=$((count + 1)); }
done <<<"$applets"

# Copies module $1 into the initrd after its dependencies (depth first), appending to `modules`.
modules=()
add_module() {
  local m=$1 ko dep deps
  [[ " ${modules[*]} " == *" $m "* ]] && return 0
  ko=$(find "$work/kernel/lib/modules/$kver" -name "$m.ko*" | head -n 1)
  [[ -n $ko ]] || die "module $m not found in $(basename "$kernel_deb")"
  case $ko in
  *.ko) cp "$ko" "$root/lib/modules/$m.ko" ;;
  *.ko.xz) xz -dc "$ko" >"$root/lib/modules/$m.ko" ;;
  *.ko.zst) zstd -qdc "$ko" >"$root/lib/modules/$m.ko" ;;
  *) die "unknown module format: $ko" ;;
  esac
  # The .modinfo section's NUL-separated "depends=a,b" (modinfo is not on every host).
  deps=$(tr '\0' '\n' <"$root/lib/modules/$m.ko" | sed -n 's/^depends=//p' | head -n 1)
  for dep in ${deps//,/ }; do add_module "$dep"; done
  modules+=("$m")
}
for m in "${wanted_modules[@]}"; do add_module "$m"; done
printf '%s\n' "${modules[@]}" >"$root/lib/modules/order"

install -m 0755 "$here/init" "$root/init"
install -m 0755 "$here/agent" "$root/bin/strata-agent"
# Every container is built by it (`strata-confine run`: the native shim's setup.c, one process
# instead of ~20 busybox ones) and every payload goes through it (backend-emu/src/emu-confine.ts).
i686-linux-gnu-gcc -O2 -static -s -Wall -Wextra -Werror -I "$repo/backend-native/stage" -o "$root/bin/strata-confine" \
  "$here/confine-stage.c" "$here/run-stage.c" "$here/fs-stage.c" "$repo/backend-native/stage/confine.c" \
  "$repo/backend-native/stage/setup.c"
mkdir -p "$root/etc/strata"
[[ -x $repo/build/strata-shim ]] || die "build/strata-shim missing: run node scripts/build.mjs first"
node "$here/seccomp.mjs" "$root/etc/strata/seccomp-default.bpf"
echo guest >"$root/etc/hostname"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
mknod -m 600 "$root/dev/console" c 5 1
mknod -m 666 "$root/dev/null" c 1 3
echo "$kver" >"$root/etc/strata-kernel"

(cd "$root" && find . -print0 | sort -z | cpio --null -o -H newc --quiet -R 0:0) | gzip -9 >"$work/initrd.gz"
cp "$vmlinuz" "$cache/vmlinuz.new" && mv "$cache/vmlinuz.new" "$cache/vmlinuz"
mv "$work/initrd.gz" "$cache/initrd.gz"
echo "$stamp" >"$cache/stamp"
# A snapshot of an older guest would not match the new kernel and initrd.
rm -f "$cache/state.bin.gz" "$cache/state.json"
if ((count)); then links="$count applet links"; else links="applet links made at first boot"; fi
log "kernel $kver, ${#modules[@]} modules, $links"
log "initrd $(stat -c %s "$cache/initrd.gz") bytes, vmlinuz $(stat -c %s "$cache/vmlinuz") bytes"
take_snapshot
log "done in $(elapsed) s"
