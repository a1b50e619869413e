// overlay2 snapshots inside the guest, in the same layout as backend-native's (docs/store.md), under
// /var/lib/strata/overlay2 on a guest tmpfs. Layer tars travel through the 9p share and are unpacked
// by the guest's busybox tar; OCI whiteouts are then turned into overlayfs ones in the guest.
//
// busybox has no setfattr/getfattr, so the opaque xattr (trusted.overlay.opaque) is written and read
// through overlayfs itself (docs/emulator.md, "The emu backend"):
//   write: mount an overlay whose upper dir is the layer and whose lower dir holds an empty D, then
//          rmdir D and mkdir D in the merged view: overlayfs makes D an opaque directory in the layer;
//   read:  mount a read-only overlay of the layer over a probe tree that has a file in every
//          directory: a directory of the layer is opaque exactly when its probe file is hidden.
// Snapshot metadata (link, lower chain) is also kept in memory: the guest starts empty with every
// restore and this object is its only writer.
import fs from 'node:fs';
import type {
  Change,
  LayerStream,
  SnapshotEntry,
  SnapshotPaths,
  Snapshotter,
} from '../../shared/src/backend.js';
import { StrataError } from '../../shared/src/errors.js';
import { readTar, TarWriter } from '../../shared/src/tar/index.js';
import { shellQuote as q } from './protocol.ts';
import { GUEST_HOST_MOUNT } from './guest.ts';
import {
  EmuSession,
  sha256Hex,
  GUEST_OVERLAY2,
  GUEST_RUN,
  GUEST_SHARE,
  SHARE_DIR,
  TIMEOUTS,
} from './emu-session.ts';
import { shortLinkName } from '../../shared/src/overlay2.js';
import { GUEST_CONFINE } from './emu-confine.ts';
import { sortedUniqueChanges } from '../../shared/src/changes.js';

export interface SnapshotInfo {
  link: string;
  /** "l/SHORT" entries, nearest first (the lower file's content). */
  lower: string[];
  work: boolean;
  merged: boolean;
  committed: boolean;
}

/** A file the image builder copied from the host that the guest cannot run, and its replacement. */
export interface BinarySubstitute {
  size: number;
  sha256: string;
  /** Path inside the guest of the file to put in its place. */
  replacement: string;
}

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const c of stream) {
    parts.push(c.slice());
    n += c.length;
  }
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** One line of the guest's `stat -c '%f %t %T %n'`: raw mode (hex), device major/minor (hex), path. */
interface ListedEntry {
  path: string;
  kind: 'dir' | 'file' | 'symlink' | 'whiteout' | 'other';
}

function parseListing(text: string): ListedEntry[] {
  const out: ListedEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+) ([0-9a-f]+) ([0-9a-f]+) \.\/(.+)$/.exec(line);
    if (!m) continue;
    const fmt = parseInt(m[1]!, 16) & 0o170000;
    const kind =
      fmt === 0o040000
        ? 'dir'
        : fmt === 0o100000
          ? 'file'
          : fmt === 0o120000
            ? 'symlink'
            : fmt === 0o020000 && m[2] === '0' && m[3] === '0'
              ? 'whiteout'
              : 'other';
    out.push({ path: m[4]!, kind });
  }
  return out;
}

/**
 * Shell function: prints the directories of layer $1, '::', then those whose probe file showed through
 * (as ./rel); the others are opaque (busybox has no comm: the host takes the difference).
 */
export const OPAQUE_PROBE_FN = `
strata_opaque() {
  T=${GUEST_RUN}/probe.$$
  rm -rf $T && mkdir -p $T/lower $T/m || return 1
  (cd "$1" && find . -mindepth 1 -type d) > $T/dirs
  [ -s $T/dirs ] || { rm -rf $T; return 0; }
  (cd $T/lower && xargs mkdir -p < $T/dirs && sed 's|$|/.strata-probe|' $T/dirs | xargs touch)
  mount -t overlay -o ro,lowerdir="$1":$T/lower strata-probe $T/m || { rm -rf $T; return 1; }
  (cd $T/m && find . -mindepth 2 -name .strata-probe) > $T/seen
  umount $T/m
  cat $T/dirs
  echo ::
  sed 's|/.strata-probe$||' $T/seen
  rm -rf $T
}
`;

/** The shell that creates <id>.partial with link, lower, work (and merged), then `fill`, then renames. */
export function snapshotScript(id: string, s: SnapshotInfo, fill: string): string {
  const final = `${GUEST_OVERLAY2}/${id}`;
  const tmp = `${final}.partial`;
  return [
    'set -e',
    `P=${tmp}`,
    // `[` is an ash builtin: no rm fork unless a failed attempt left the directory (or a baked layer
    // that was removed before its guest was restored still sits under this name).
    `[ ! -e $P ] || rm -rf $P`,
    `[ ! -e ${final} ] || rm -rf ${final}`,
    `mkdir -p $P/diff${s.work ? ' $P/work' : ''}${s.merged ? ' $P/merged' : ''}`,
    `echo -n ${s.link} > $P/link`,
    ...(s.lower.length > 0 ? [`echo -n ${q(s.lower.join(':'))} > $P/lower`] : []),
    fill,
    ...(s.committed ? [': > $P/committed'] : []),
    `ln -s ../${id}/diff ${GUEST_OVERLAY2}/l/${s.link}`,
    `mv $P ${final}`,
  ].join('\n');
}

/**
 * prepare() as the guest stage's file operations (`strata-confine fs`, images/guest/fs-stage.c):
 * the same steps as snapshotScript() with the entries as its fill, in one process instead of four
 * or five busybox commands.
 */
export function prepareOps(id: string, s: SnapshotInfo, entries: SnapshotEntry[]): string[] {
  const final = `${GUEST_OVERLAY2}/${id}`;
  const P = `${final}.partial`;
  const at = (p: string) => `${P}/diff/${p}`;
  const parents = entries
    .filter((e) => e.path.includes('/'))
    .map((e) => e.path.slice(0, e.path.lastIndexOf('/')));
  return [
    GUEST_CONFINE,
    'fs',
    ...['--rmrf', P, '--rmrf', final],
    ...['diff', ...(s.work ? ['work'] : []), ...(s.merged ? ['merged'] : [])].flatMap((d) => [
      '--mkdir',
      `${P}/${d}`,
      '755',
    ]),
    ...['--write', `${P}/link`, '644', s.link],
    ...(s.lower.length > 0 ? ['--write', `${P}/lower`, '644', s.lower.join(':')] : []),
    ...[...new Set(parents)].flatMap((d) => ['--mkdir', at(d), '755']),
    ...entries.flatMap((e) =>
      e.kind === 'dir'
        ? ['--mkdir', at(e.path), e.mode.toString(8)]
        : e.kind === 'file'
          ? ['--write', at(e.path), e.mode.toString(8), e.content]
          : ['--symlink', e.target, at(e.path)],
    ),
    ...(s.committed ? ['--write', `${P}/committed`, '644', ''] : []),
    ...['--symlink', `../${id}/diff`, `${GUEST_OVERLAY2}/l/${s.link}`],
    ...['--rename', P, final],
  ];
}

/** The `fill` of apply(): unpack the tar at `tarPath` (in the guest) into $P/diff, whiteouts made. */
export function applyFill(tarPath: string, sub: BinarySubstitute | null): string {
  const find = sub
    ? `find . \\( -name '.wh.*' -o -type f -size ${sub.size}c \\) > ../special`
    : `find . -name '.wh.*' > ../special`;
  return `
tar -x -f ${tarPath} -C $P/diff
cd $P/diff
${find}
opq=
while IFS= read -r f; do
  b=\${f##*/}
  case $b in
  .wh..wh..opq) rm -f "$f"; opq="\${f%/*}
$opq" ;;
  .wh..wh.*) rm -rf "$f" ;;
  .wh.*) rm -rf "$f"; mknod "\${f%/*}/\${b#.wh.}" c 0 0 ;;
  *) ${sub ? `set -- $(sha256sum "$f"); [ "$1" != ${sub.sha256} ] || cat ${sub.replacement} > "$f"` : ':'} ;;
  esac
done < ../special
rm -f ../special
cd /
# Deepest first: making a directory opaque moves its content, nested opaque ones included.
printf '%s' "$opq" | while IFS= read -r d; do
  [ -n "$d" ] || continue
  d=\${d#./}
  T=$P/.opq
  rm -rf $T && mkdir -p "$T/lower/$d" $T/work $T/m
  mv "$P/diff/$d" $T/keep
  mount -t overlay -o lowerdir=$T/lower,upperdir=$P/diff,workdir=$T/work strata-opaque $T/m
  rmdir "$T/m/$d" && mkdir "$T/m/$d"
  umount $T/m
  set -- $(stat -c '%a %u %g' $T/keep)
  chmod "$1" "$P/diff/$d" && chown "$2:$3" "$P/diff/$d"
  set --
  for e in $T/keep/* $T/keep/.[!.]* $T/keep/..?*; do
    if [ -e "$e" ] || [ -L "$e" ]; then set -- "$@" "$e"; fi
  done
  [ $# -eq 0 ] || mv "$@" "$P/diff/$d/"
  touch -r $T/keep "$P/diff/$d"
  rm -rf $T
done`;
}

/** Where snapshot.mjs leaves the layer tar it bakes (in the 9p share, as the guest sees it). */
export const BAKED_TAR = `${GUEST_HOST_MOUNT}/baked-layer.tar`;

/**
 * The script images/guest/snapshot.mjs runs before saving the machine: the layer whose tar is at
 * BAKED_TAR applied under the directory name `dirName` (the diff ID's hex), as apply() would.
 */
export function bakedLayerScript(dirName: string, link: string, sub: BinarySubstitute | null): string {
  const s: SnapshotInfo = { link, lower: [], work: false, merged: false, committed: true };
  return snapshotScript(dirName, s, applyFill(BAKED_TAR, sub));
}

/** What state.json records of the unpack: a baked layer is taken only while it is still current. */
export const bakedScriptHash = (sub: BinarySubstitute | null): string => sha256Hex(applyFill(BAKED_TAR, sub));

/** The host's busybox as a substitute: replaced by the guest's own /bin/busybox in layers. */
export function busyboxSubstitute(file: string | null): BinarySubstitute | null {
  if (file === null || !fs.existsSync(file)) return null;
  const bytes = fs.readFileSync(file);
  return {
    size: bytes.length,
    sha256: sha256Hex(bytes),
    replacement: '/bin/busybox',
  };
}

/** The guest stage's file operations: a list of ops, so deferred ones merge into one process. */
const FS_STAGE = [GUEST_CONFINE, 'fs'];

export class EmuSnapshotter implements Snapshotter {
  private readonly info = new Map<string, SnapshotInfo>();
  /** Baked layers (GuestMachine.meta.baked) already taken by an apply() in this guest. */
  private readonly claimed = new Set<string>();

  constructor(
    private readonly session: EmuSession,
    private readonly substitute: BinarySubstitute | null = null,
  ) {
    session.onReset(() => {
      this.info.clear();
      this.claimed.clear();
    });
  }

  private dir(id: string): string {
    if (!/^[a-f0-9]{64}(-init)?$/.test(id)) throw new StrataError(`invalid snapshot id '${id}'`);
    return `${GUEST_OVERLAY2}/${id}`;
  }

  async exists(id: string): Promise<boolean> {
    this.dir(id);
    return this.info.get(id)?.committed === true;
  }

  async paths(id: string): Promise<SnapshotPaths> {
    const dir = this.dir(id);
    const s = this.info.get(id);
    if (!s) {
      throw new StrataError(
        `snapshot ${id} does not exist in the emu guest: its layers live in the memory of the guest ` +
          `that one strata process restores, and are gone once that process ends`,
      );
    }
    const lowerLinks = s.lower.map((l) => `${GUEST_OVERLAY2}/${l}`);
    return {
      id,
      diffDir: `${dir}/diff`,
      workDir: s.work ? `${dir}/work` : null,
      mergedDir: s.merged ? `${dir}/merged` : null,
      link: s.link,
      lowerLinks,
      lowerDirs: s.lower.map((l) => `${GUEST_OVERLAY2}/${this.idOfLink(l.slice(2))}/diff`),
    };
  }

  private idOfLink(link: string): string {
    for (const [id, s] of this.info) if (s.link === link) return id;
    throw new StrataError(`emu backend: no snapshot has the link l/${link}`);
  }

  private lowerFor(parent: string | null): string[] {
    if (parent === null) return [];
    const p = this.info.get(parent);
    if (!p) throw new StrataError(`emu backend: parent snapshot ${parent} does not exist in the guest`);
    return [`l/${p.link}`, ...p.lower];
  }

  async apply(id: string, parent: string | null, layer: LayerStream): Promise<SnapshotPaths> {
    if (await this.exists(id)) return this.paths(id);
    const s: SnapshotInfo = {
      link: shortLinkName(),
      lower: this.lowerFor(parent),
      work: parent !== null,
      merged: false,
      committed: true,
    };
    const bytes = await collect(layer);
    if (parent === null && (await this.claimBaked(id, s, bytes))) return this.paths(id);
    const tarName = `layers/${id}.tar`;
    await this.session.writeFile(`${SHARE_DIR}/${tarName}`, bytes);
    const fill = applyFill(`${GUEST_SHARE}/${tarName}`, this.substitute);
    try {
      await this.session.check(
        `unpacking layer ${id.slice(0, 12)}`,
        snapshotScript(id, s, fill),
        TIMEOUTS.apply,
      );
    } finally {
      await this.session.removeFile(`${SHARE_DIR}/${tarName}`);
    }
    this.info.set(id, s);
    return this.paths(id);
  }

  /**
   * A base layer the saved machine already holds (snapshot.mjs): taken over by renaming it, when its
   * diff ID and the binary substitution it was made with are this layer's. Else false: unpack it.
   */
  private async claimBaked(id: string, s: SnapshotInfo, bytes: Uint8Array): Promise<boolean> {
    const g = await this.session.machine();
    const diffId = `sha256:${sha256Hex(bytes)}`;
    const script = bakedScriptHash(this.substitute);
    const b = g.meta.baked.find(
      (l) => l.diffId === diffId && l.script === script && !this.claimed.has(l.dir),
    );
    if (!b) return false;
    this.claimed.add(b.dir);
    // The guest stage's rename, and the l/ link repointed: carried by the next request.
    await this.session.defer(`taking over the saved layer ${diffId.slice(7, 19)}`, FS_STAGE, [
      ...['--rename', `${GUEST_OVERLAY2}/${b.dir}`, this.dir(id)],
      ...['--rmrf', `${GUEST_OVERLAY2}/l/${b.link}`],
      ...['--symlink', `../${id}/diff`, `${GUEST_OVERLAY2}/l/${b.link}`],
    ]);
    s.link = b.link;
    this.info.set(id, s);
    return true;
  }

  async prepare(
    id: string,
    parent: string | null,
    opts: { entries?: SnapshotEntry[]; commit?: boolean } = {},
  ): Promise<SnapshotPaths> {
    const commit = opts.commit ?? false;
    const s: SnapshotInfo = {
      link: shortLinkName(),
      lower: this.lowerFor(parent),
      work: parent !== null,
      merged: !commit,
      committed: commit,
    };
    for (const e of opts.entries ?? []) {
      if (e.path.split('/').includes('..'))
        throw new StrataError(`snapshot entry '${e.path}' escapes the layer`);
    }
    // Nothing waits for the guest's answer (paths are known here): the next request carries it.
    await this.session.defer(
      `preparing snapshot ${id.slice(0, 12)}`,
      FS_STAGE,
      prepareOps(id, s, opts.entries ?? []).slice(FS_STAGE.length),
    );
    this.info.set(id, s);
    return this.paths(id);
  }

  /** The opaque directories of a snapshot's diff dir, relative ("a/b"). */
  private async opaqueDirs(id: string): Promise<string[]> {
    const out = await this.session.check(
      `finding opaque directories of ${id.slice(0, 12)}`,
      `${OPAQUE_PROBE_FN}\nstrata_opaque ${this.dir(id)}/diff`,
    );
    const [all = '', seen = ''] = out.split('::\n');
    const lines = (t: string) =>
      t
        .split('\n')
        .filter(Boolean)
        .map((l) => l.replace(/^\.\//, ''));
    const visible = new Set(lines(seen));
    return lines(all).filter((d) => !visible.has(d));
  }

  exportDiff(id: string): LayerStream {
    return this.exportDiffGen(id);
  }

  private async *exportDiffGen(id: string): AsyncGenerator<Uint8Array, void, undefined> {
    await this.paths(id);
    const opaque = await this.opaqueDirs(id);
    const out = `export/${id}.tar`;
    const script = [
      'set -e',
      `E=${GUEST_RUN}/export.${id}`,
      `rm -rf $E && cp -a ${this.dir(id)}/diff $E && cd $E`,
      // overlayfs whiteouts (0/0 character devices) become .wh. files, opaque dirs get the marker.
      `find . -type c -exec stat -c '%t %T %n' {} + > ../wh.${id}`,
      'while read -r ma mi f; do',
      '  [ "$ma $mi" = "0 0" ] || continue',
      '  rm -f "$f"; : > "${f%/*}/.wh.${f##*/}"',
      `done < ../wh.${id}`,
      ...opaque.map((d) => `: > ${q(`./${d}/.wh..wh..opq`)}`),
      `mkdir -p ${GUEST_SHARE}/export && tar -c -f ${GUEST_SHARE}/${out} .`,
      `cd / && rm -rf $E ${GUEST_RUN}/wh.${id}`,
    ].join('\n');
    await this.session.check(`exporting snapshot ${id.slice(0, 12)}`, script, TIMEOUTS.apply);
    const bytes = await this.session.readFile(`${SHARE_DIR}/${out}`);
    await this.session.removeFile(`${SHARE_DIR}/${out}`);
    if (bytes === null) throw new StrataError(`emu backend: the guest wrote no tar for ${id.slice(0, 12)}`);
    // busybox writes "./name" members; re-encode them as layer tars usually are (no "./").
    const writer = new TarWriter();
    for await (const e of readTar([bytes])) {
      const p = e.path.replace(/^\.\//, '');
      if (p === '' || p === '.' || p === './') continue;
      yield* writer.entry({ ...e, path: p }, await e.buffer());
    }
    yield writer.end();
  }

  async changes(id: string): Promise<Change[]> {
    const own = await this.paths(id);
    const list = (dir: string) => `(cd ${dir} && find . -mindepth 1 -exec stat -c '%f %t %T %n' {} +)`;
    const script = [own.diffDir, ...own.lowerDirs].map((d) => `${list(d)}; echo ::`).join('\n');
    const text = await this.session.check(`listing snapshot ${id.slice(0, 12)}`, script);
    const [mine = [], ...lowers] = text.split('::\n').map(parseListing);
    const lowerMaps = lowers.map((l) => new Map(l.map((e) => [e.path, e])));
    const opaque = new Set(await this.opaqueDirs(id));
    const inLower = (rel: string): ListedEntry | null => {
      for (const m of lowerMaps) {
        const e = m.get(rel);
        if (e) return e.kind === 'whiteout' ? null : e;
      }
      return null;
    };
    const out: Change[] = [];
    const mineSet = new Set(mine.map((e) => e.path));
    for (const e of mine) {
      if (e.kind === 'whiteout') {
        out.push({ kind: 'D', path: `/${e.path}` });
        continue;
      }
      const below = inLower(e.path);
      out.push({ kind: below ? 'C' : 'A', path: `/${e.path}` });
      if (e.kind === 'dir' && below?.kind === 'dir' && opaque.has(e.path)) {
        for (const m of lowerMaps) {
          for (const l of m.values()) {
            const rest = l.path.startsWith(`${e.path}/`) ? l.path.slice(e.path.length + 1) : null;
            if (rest && !rest.includes('/') && !mineSet.has(l.path))
              out.push({ kind: 'D', path: `/${l.path}` });
          }
        }
      }
    }
    return sortedUniqueChanges(out);
  }

  async remove(id: string): Promise<void> {
    const dir = this.dir(id);
    const s = this.info.get(id);
    this.info.delete(id);
    if (!this.session.restored) return; // nothing was ever made in this guest
    // One exec of the guest stage (no busybox umount and rm): a committed layer has no merged mount.
    const ops = [
      ...(s?.merged === false ? [] : ['--umount', `${dir}/merged`]),
      ...['--rmrf', dir, '--rmrf', `${dir}.partial`],
      ...(s ? ['--rmrf', `${GUEST_OVERLAY2}/l/${s.link}`] : []),
    ];
    // Carried by the next request, which then sees it done (a `run --rm` ends with two of these).
    await this.session.defer(`removing snapshot ${id.slice(0, 12)}`, FS_STAGE, ops);
  }
}
