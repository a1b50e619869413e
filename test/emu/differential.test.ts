// Differential: the same container scenario on the real kernel (Engine + NativeBackend, as root) and
// in the emulator guest (Engine + EmuBackend). Both containers' /proc/self/mountinfo are normalised
// (normaliseMountinfo; store paths, link names and ids mapped to placeholders) and compared line by
// line, and so are their merged file trees (`find / -xdev`). The expected differences are listed
// (docs/emulator.md): they come from the kernels and from where files live, not from the runtimes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EmuBackend } from '../../backend-emu/src/index.ts';
import { NativeBackend } from '../../backend-native/src/index.ts';
import type { Backend } from '../../shared/src/backend.ts';
import { Engine } from '../../shared/src/engine/engine.ts';
import { runOptions } from '../../shared/src/engine/run-options.ts';
import { Store } from '../../shared/src/store/index.ts';
import { normaliseMountinfo, parseMountinfo, type MountInfo } from '../../shared/src/mount/mountinfo.ts';
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from '../../shared/src/security.ts';
import { buildBusyboxImage } from '../../images/busybox/build.ts';
import { requireNativePrerequisites } from '../helpers/strata.ts';

const SCENARIO = 'cat /proc/self/mountinfo; echo ::; find / -xdev | sort';

interface Side {
  root: string;
  backend: Backend;
  engine: Engine;
  /** Where this backend keeps overlay2 (host dir for native, guest tmpfs for emu). */
  overlay2: string;
}

let native: Side;
let emu: Side;
let emuBackend: EmuBackend;
let setupError: unknown = null;

async function side(backend: Backend, root: string, overlay2: string): Promise<Side> {
  const engine = new Engine(new Store(root), backend);
  await buildBusyboxImage(engine.store, backend);
  return { root, backend, engine, overlay2 };
}

/** Mounts from Docker's masked/read-only paths (both backends apply them; which exist is the kernel's). */
const isMask = (m: MountInfo) =>
  /^\/proc\/.|^\/sys\/firmware$|^\/sys\/devices\/virtual\/powercap$/.test(m.mountPoint);
/** The /etc files the runtime binds from the engine's state dir: host fs (native) vs 9p (emu). */
const isEtcBind = (m: MountInfo) => /^\/etc\/(hostname|hosts|resolv\.conf)$/.test(m.mountPoint);
/** overlay options the kernels add by themselves (6.x host: uuid=on; the guest's 6.1 none). */
const overlayOptions = (m: MountInfo) =>
  m.superOptions.filter((o) => /^(rw|ro|lowerdir|upperdir|workdir)=?/.test(o)).join(',');

/** Runs the scenario detached (both backends copy a detached container's output to the log file). */
async function scenario(
  s: Side,
): Promise<{ mountinfo: MountInfo[]; masks: string[]; tree: string[]; id: string }> {
  const opts = runOptions('busybox', ['sh', '-c', SCENARIO], {
    hostname: 'diff',
    detach: true,
    network: 'none',
  });
  const rec = await s.engine.create(opts);
  try {
    await s.engine.start(rec, { kind: 'log', path: s.engine.logPath(rec), tty: false });
    expect(await s.engine.wait(rec, 240_000)).toBe(0);
    const [mi = '', tree = ''] = fs.readFileSync(s.engine.logPath(rec), 'utf8').split('::\n');
    const links = (await s.backend.snapshots.paths(rec.Id)).lowerLinks;
    // Store paths, short link names (random) and the container id become placeholders.
    const replacePrefixes: Array<[string, string]> = [
      [path.join(s.root, 'containers', rec.Id), '/CONTAINER'],
      ...links.map((l, i): [string, string] => [l, `/STORE/l/LOWER${i}`]),
      [path.join(s.overlay2, rec.Id), '/STORE/RW'],
      [s.overlay2, '/STORE'],
    ];
    return {
      // Docker's masked paths (which the two kernels have differs) are left out before numbering the mounts.
      mountinfo: normaliseMountinfo(
        parseMountinfo(mi).filter((m) => !isMask(m)),
        { replacePrefixes },
      ),
      masks: parseMountinfo(mi)
        .filter(isMask)
        .map((m) => m.mountPoint),
      tree: tree.split('\n').filter(Boolean),
      id: rec.Id,
    };
  } finally {
    await s.engine.remove(rec, { force: true, volumes: true });
  }
}

type Result = Awaited<ReturnType<typeof scenario>>;
let results: Promise<[Result, Result]> | null = null;
/** One run of the scenario per backend, shared by the tests (a guest container costs seconds). */
function both(): Promise<[Result, Result]> {
  results ??= (async (): Promise<[Result, Result]> => [await scenario(native), await scenario(emu)])();
  return results;
}

beforeAll(async () => {
  try {
    requireNativePrerequisites();
    const nativeRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-diff-native-'));
    native = await side(new NativeBackend(nativeRoot), nativeRoot, path.join(nativeRoot, 'overlay2'));
    const emuRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-diff-emu-'));
    emuBackend = new EmuBackend();
    await emuBackend.checkPrerequisites();
    emu = await side(emuBackend, emuRoot, '/var/lib/strata/overlay2');
  } catch (e) {
    setupError = e;
  }
}, 300_000);

beforeEach(() => {
  if (setupError) throw setupError;
});

afterAll(async () => {
  await emuBackend?.close();
  for (const s of [native, emu]) if (s) fs.rmSync(s.root, { recursive: true, force: true });
});

describe('native vs emu: the same container, the same mounts and files', () => {
  it('mountinfo, normalised: same mount points, fs types and options, line by line', async () => {
    const [n, e] = await both();
    const nLines = n.mountinfo;
    // Both confine (docs/security.md): each side's masks are Docker's defaults that its kernel has.
    const docker = new Set([...DEFAULT_MASKED_PATHS, ...DEFAULT_READONLY_PATHS]);
    for (const side of [n, e]) {
      expect(side.masks).toContain('/proc/keys');
      expect(side.masks).toContain('/proc/sys');
      expect(side.masks.filter((p) => !docker.has(p))).toEqual([]);
    }
    expect(nLines.map((m) => m.mountPoint)).toEqual(e.mountinfo.map((m) => m.mountPoint));
    for (const [i, a] of nLines.entries()) {
      const b = e.mountinfo[i]!;
      const where = `line ${i + 1} (${a.mountPoint})`;
      expect(b.mountOptions, where).toEqual(a.mountOptions);
      if (isEtcBind(a)) {
        // The same file of the same container, from the host's fs natively, through 9p in the guest.
        expect([a.root, b.fsType], where).toEqual([`/CONTAINER${a.mountPoint.slice(4)}`, '9p']);
        continue;
      }
      expect([b.fsType, b.source, b.root], where).toEqual([a.fsType, a.source, a.root]);
      if (a.fsType === 'overlay') expect(overlayOptions(b), where).toBe(overlayOptions(a));
      else expect(b.superOptions, where).toEqual(a.superOptions);
      expect([b.mountId, b.parentId, b.minor], where).toEqual([a.mountId, a.parentId, a.minor]);
    }
    console.log(`masked and read-only paths: native ${n.masks.join(' ')}; emu ${e.masks.join(' ')}`);
  }, 600_000);

  it('the merged trees (find / -xdev) are the same', async () => {
    const [n, e] = await both();
    expect(e.tree.length).toBeGreaterThan(200);
    expect(e.tree).toEqual(n.tree);
  }, 600_000);
});
