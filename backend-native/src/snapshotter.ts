// overlay2 snapshots on the host, laid out exactly as Docker's overlay2 graph driver:
//   overlay2/<id>/{diff,link,lower,work,merged,committed}   overlay2/l/<SHORT> -> ../<id>/diff
import fs from 'node:fs';
import path from 'node:path';
import type {
  Change,
  LayerStream,
  SnapshotEntry,
  SnapshotPaths,
  Snapshotter,
} from '../../shared/src/backend.js';
import { StrataError } from '../../shared/src/errors.js';
import { detachIfMounted, lgetxattr, lsetxattr, mknodTyped } from './libc.js';
import { isRootless } from './rootless.js';
import { shortLinkName } from '../../shared/src/overlay2.js';
import { sortedUniqueChanges } from '../../shared/src/changes.js';
import { readTextIfExists } from '../../shared/src/store/fsutil.js';
import { newId } from '../../shared/src/ids.js';
import { entriesKey, type SnapshotsAhead } from './snapshots-ahead.js';

// Rootless overlayfs (userxattr) keeps the mark in the user.* namespace.
const OPAQUE_XATTR = isRootless() ? 'user.overlay.opaque' : 'trusted.overlay.opaque';

/** Unpack an OCI layer into an overlay diff dir: OCI whiteouts become overlayfs whiteouts. */
async function unpackLayer(layer: LayerStream, dir: string): Promise<void> {
  // The tar code loads only when a layer is unpacked or exported, not on every `run`.
  const { extractTar } = await import('../../shared/src/tar/index.js');
  await extractTar(layer, dir, {
    whiteout: (p) => mknodTyped(p, 'char', 0, 0, 0),
    opaque: (p) => lsetxattr(p, OPAQUE_XATTR, 'y'),
    mknod: (p, e) =>
      mknodTyped(
        p,
        e.type === 'block' ? 'block' : e.type === 'fifo' ? 'fifo' : 'char',
        e.mode & 0o7777,
        e.devmajor,
        e.devminor,
      ),
    xattrs: (p, xattrs) => {
      for (const [name, value] of Object.entries(xattrs)) lsetxattr(p, name, value);
    },
  });
}

function isWhiteout(st: fs.Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

export class Overlay2Snapshotter implements Snapshotter {
  /**
   * Set by the warm daemon (cli/src/native-daemon.ts): takes a removed snapshot's directory and
   * its l/ link over (renamed out of overlay2/ at once, deleted after the run's answer); null: deleted here.
   */
  removeLater: ((entry: string) => void) | null = null;

  constructor(readonly overlay2: string) {}

  private dir(id: string): string {
    if (!/^[a-f0-9]{64}(-init)?$/.test(id)) throw new StrataError(`invalid snapshot id '${id}'`);
    return path.join(this.overlay2, id);
  }

  async exists(id: string): Promise<boolean> {
    return fs.existsSync(path.join(this.dir(id), 'committed'));
  }

  async paths(id: string): Promise<SnapshotPaths> {
    const dir = this.dir(id);
    let link: string;
    try {
      link = fs.readFileSync(path.join(dir, 'link'), 'utf8').trim();
    } catch {
      throw new StrataError(`snapshot ${id} is missing from ${this.overlay2}`);
    }
    const lowerText = fs.existsSync(path.join(dir, 'lower'))
      ? fs.readFileSync(path.join(dir, 'lower'), 'utf8').trim()
      : '';
    const hasWork = fs.existsSync(path.join(dir, 'work'));
    const lowerLinks = lowerText ? lowerText.split(':').map((l) => path.join(this.overlay2, l)) : [];
    return {
      id,
      diffDir: path.join(dir, 'diff'),
      workDir: hasWork ? path.join(dir, 'work') : null,
      mergedDir: fs.existsSync(path.join(dir, 'merged')) ? path.join(dir, 'merged') : null,
      link,
      lowerLinks,
      // l/<SHORT> -> ../<id>/diff
      lowerDirs: lowerLinks.map((l) => path.resolve(path.dirname(l), fs.readlinkSync(l))),
    };
  }

  /** lower file content for a child of `parent`: "l/PARENT:l/GRANDPARENT:..." (nearest first). */
  private async lowerFor(parent: string | null): Promise<string | null> {
    if (parent === null) return null;
    const p = await this.paths(parent);
    const own = `l/${p.link}`;
    const rest = p.lowerLinks.map((l) => path.relative(this.overlay2, l));
    return [own, ...rest].join(':');
  }

  /** Build the snapshot under a temporary name, then rename: a killed process leaves no half layer. */
  private async build(
    id: string,
    parent: string | null,
    opts: { merged: boolean; committed: boolean },
    fill: (diff: string) => Promise<void>,
  ): Promise<SnapshotPaths> {
    const final = this.dir(id);
    const tmp = `${final}.partial-${process.pid}`;
    fs.rmSync(tmp, { recursive: true, force: true });
    const link = shortLinkName();
    await makeSnapshotDir(tmp, link, await this.lowerFor(parent), opts, fill);
    return this.publish(tmp, id, link, opts.committed);
  }

  /** A complete snapshot directory into overlay2/ as `id`, with its l/ link. */
  private publish(from: string, id: string, link: string, committed: boolean): Promise<SnapshotPaths> {
    const final = this.dir(id);
    fs.symlinkSync(`../${id}/diff`, path.join(this.overlay2, 'l', link));
    try {
      fs.renameSync(from, final);
    } catch (e) {
      fs.rmSync(from, { recursive: true, force: true });
      fs.rmSync(path.join(this.overlay2, 'l', link), { force: true });
      if (['EEXIST', 'ENOTEMPTY'].includes((e as NodeJS.ErrnoException).code ?? '') && committed)
        return this.paths(id);
      throw e;
    }
    return this.paths(id);
  }

  async apply(id: string, parent: string | null, layer: LayerStream): Promise<SnapshotPaths> {
    if (await this.exists(id)) return this.paths(id);
    return this.build(id, parent, { merged: false, committed: true }, (diff) => unpackLayer(layer, diff));
  }

  async prepare(
    id: string,
    parent: string | null,
    opts: { entries?: SnapshotEntry[]; commit?: boolean } = {},
  ): Promise<SnapshotPaths> {
    const commit = opts.commit ?? false;
    const entries = opts.entries ?? [];
    if (this.ahead) {
      // What a run used, the daemon makes ahead for the next one (refillAhead).
      if (commit && parent !== null && entries.length > 0) this.ahead.want(parent, entries);
      const staged = await this.ahead.claim(id, parent, entries, commit, (p) => this.lowerFor(p));
      let paths: SnapshotPaths | null = null;
      try {
        if (staged) paths = await this.publish(staged.dir, id, staged.link, commit);
      } catch {
        this.ahead.forget(id); // gone from tmp/ meanwhile: built as usual below
      }
      // The read-write one was the pair's last: its staging directory goes (empty by now; an rmdir
      // that frees it costs ~1 ms here, so after the answer when the daemon defers deletions).
      if (paths && !commit) {
        const dir = path.dirname(staged!.dir);
        if (this.removeLater) this.removeLater(dir);
        else fs.rmSync(dir, { recursive: true, force: true });
      }
      if (paths) return paths;
    }
    return this.build(id, parent, { merged: !commit, committed: commit }, async (diff) => {
      for (const e of entries) writeEntry(diff, e);
    });
  }

  /** Set by the warm daemon: its snapshots made ahead (SnapshotsAhead). */
  ahead: SnapshotsAhead | null = null;

  /** The ID of a container whose two snapshots on `parent` wait in the daemon's tmp/ (or null). */
  takeAhead(parent: string): string | null {
    return this.ahead?.take(parent) ?? null;
  }

  /** Makes, for each image a run used lately, one container's snapshots ahead (after a run's answer). */
  async refillAhead(): Promise<void> {
    const ahead = this.ahead;
    if (!ahead) return;
    for (const [parent, entries] of ahead.missing()) {
      if (!(await this.exists(parent))) {
        ahead.abandon(parent); // the image's layers went (rmi) since
        continue;
      }
      const id = newId();
      const initLink = shortLinkName();
      const rwLink = shortLinkName();
      const dir = ahead.stagingDir(id);
      let initLower: string | null;
      try {
        initLower = await this.lowerFor(parent);
        fs.mkdirSync(dir, { mode: 0o700 });
        await makeSnapshotDir(
          path.join(dir, `${id}-init`),
          initLink,
          initLower,
          { merged: false, committed: true },
          async (diff) => {
            for (const e of entries) writeEntry(diff, e);
          },
        );
        await makeSnapshotDir(
          path.join(dir, id),
          rwLink,
          [`l/${initLink}`, initLower].filter(Boolean).join(':'),
          { merged: true, committed: false },
          async () => undefined,
        );
      } catch {
        fs.rmSync(dir, { recursive: true, force: true });
        ahead.abandon(parent);
        continue;
      }
      ahead.add({ id, parent, dir, entriesKey: entriesKey(entries), initLower, initLink, rwLink });
    }
  }

  async *exportDiff(id: string): LayerStream {
    const diff = path.join(this.dir(id), 'diff');
    const { tarDirectory } = await import('../../shared/src/tar/index.js');
    yield* tarDirectory(diff, {
      whiteouts: 'overlay',
      isOpaque: (rel) => lgetxattr(path.join(diff, rel), OPAQUE_XATTR) === 'y',
    });
  }

  async changes(id: string): Promise<Change[]> {
    const own = await this.paths(id);
    const lowers = own.lowerDirs;
    const inLower = (rel: string): fs.Stats | null => {
      for (const l of lowers) {
        try {
          const st = fs.lstatSync(path.join(l, rel));
          return isWhiteout(st) ? null : st;
        } catch {
          /* not in this layer */
        }
      }
      return null;
    };
    const out: Change[] = [];
    const walk = (rel: string): void => {
      for (const name of fs.readdirSync(path.join(own.diffDir, rel)).sort()) {
        const childRel = rel ? `${rel}/${name}` : name;
        const st = fs.lstatSync(path.join(own.diffDir, childRel));
        if (isWhiteout(st)) {
          out.push({ kind: 'D', path: `/${childRel}` });
          continue;
        }
        const below = inLower(childRel);
        // A directory that exists below and merely holds changes is "changed", as in docker diff.
        out.push({ kind: below ? 'C' : 'A', path: `/${childRel}` });
        if (st.isDirectory()) {
          if (below?.isDirectory() && lgetxattr(path.join(own.diffDir, childRel), OPAQUE_XATTR) === 'y') {
            // Opaque: everything the lower layers had here is gone unless re-created.
            const mine = new Set(fs.readdirSync(path.join(own.diffDir, childRel)));
            for (const l of lowers) {
              const d = path.join(l, childRel);
              if (!fs.existsSync(d)) continue;
              for (const n of fs.readdirSync(d))
                if (!mine.has(n)) out.push({ kind: 'D', path: `/${childRel}/${n}` });
            }
          }
          walk(childRel);
        }
      }
    };
    walk('');
    return sortedUniqueChanges(out);
  }

  async remove(id: string): Promise<void> {
    const dir = this.dir(id);
    detachIfMounted(path.join(dir, 'merged'));
    const link = readTextIfExists(path.join(dir, 'link'))?.trim();
    if (link && /^[A-Z0-9]{26}$/.test(link)) {
      const l = path.join(this.overlay2, 'l', link);
      // Renamed aside like the layer (an unlink frees the inode on the run's path: ~0.25 ms on ext4).
      if (this.removeLater) this.removeLater(l);
      else fs.rmSync(l, { force: true });
    }
    if (this.removeLater && fs.existsSync(dir)) this.removeLater(dir);
    else fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(`${dir}.partial-${process.pid}`, { recursive: true, force: true });
  }
}

function writeEntry(diff: string, e: SnapshotEntry): void {
  const target = path.join(diff, e.path);
  if (!target.startsWith(diff + path.sep))
    throw new StrataError(`snapshot entry '${e.path}' escapes the layer`);
  fs.mkdirSync(path.dirname(target), { recursive: true, mode: 0o755 });
  switch (e.kind) {
    case 'dir':
      fs.mkdirSync(target, { recursive: true, mode: e.mode });
      fs.chmodSync(target, e.mode);
      break;
    case 'file':
      fs.writeFileSync(target, e.content, { mode: e.mode });
      break;
    case 'symlink':
      fs.symlinkSync(e.target, target);
      break;
  }
}

/** A snapshot directory as overlay2 has it: diff/, link, lower and work/ (with a parent), merged/, committed. */
async function makeSnapshotDir(
  dir: string,
  link: string,
  lower: string | null,
  opts: { merged: boolean; committed: boolean },
  fill: (diff: string) => Promise<void>,
): Promise<void> {
  fs.mkdirSync(path.join(dir, 'diff'), { recursive: true, mode: 0o755 });
  fs.chmodSync(dir, 0o710);
  fs.writeFileSync(path.join(dir, 'link'), link);
  if (lower !== null) {
    fs.writeFileSync(path.join(dir, 'lower'), lower);
    fs.mkdirSync(path.join(dir, 'work'), { mode: 0o700 });
  }
  if (opts.merged) fs.mkdirSync(path.join(dir, 'merged'), { mode: 0o755 });
  try {
    await fill(path.join(dir, 'diff'));
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  if (opts.committed) fs.writeFileSync(path.join(dir, 'committed'), '');
}
