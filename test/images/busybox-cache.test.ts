// The busybox base image's layer, built once per busybox binary and kept between stores
// (images/busybox/build.ts): a fresh store imports the cached tar, the same layer as a build; an
// entry whose tar changed since is noticed by the store's hash and built again. Driven through the
// kernel model backend: no root needed for what is checked here.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBusyboxImage } from '../../images/busybox/build.js';
import { Engine } from '../../shared/src/engine/engine.js';
import { ModelBackend } from '../../shared/src/model-backend/index.js';
import { nodeLayerCodec, nodeModelHost } from '../../shared/src/model-backend/node.js';
import { Store } from '../../shared/src/store/index.js';

let work: string;
const saved = process.env.STRATA_BUSYBOX_CACHE;

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-busybox-cache-'));
  process.env.STRATA_BUSYBOX_CACHE = path.join(work, 'cache');
});
afterAll(() => {
  if (saved === undefined) delete process.env.STRATA_BUSYBOX_CACHE;
  else process.env.STRATA_BUSYBOX_CACHE = saved;
  fs.rmSync(work, { recursive: true, force: true });
});

interface Config {
  rootfs: { diff_ids: string[] };
  history: Array<{ created_by: string }>;
}

/** The busybox image built into a fresh store: its config. */
async function buildInFreshStore(name: string): Promise<Config> {
  const store = new Store(path.join(work, name));
  const engine = new Engine(store, new ModelBackend({ codec: nodeLayerCodec, host: nodeModelHost() }));
  const id = await buildBusyboxImage(engine.store, engine.backend);
  return store.images.getImage(id).config as unknown as Config;
}

/** The one cache entry: its directory. */
function entry(): string {
  const entries = fs.readdirSync(process.env.STRATA_BUSYBOX_CACHE!);
  expect(entries).toHaveLength(1);
  return path.join(process.env.STRATA_BUSYBOX_CACHE!, entries[0]!);
}

describe('the busybox layer cache', () => {
  it('keeps the layer of the first build and gives it to the next fresh store', async () => {
    const first = await buildInFreshStore('a');
    const dir = entry();
    const meta = JSON.parse(fs.readFileSync(path.join(dir, 'layer.json'), 'utf8')) as { diffId: string };
    expect(meta.diffId).toBe(first.rootfs.diff_ids[0]);
    // The entry is what the next store takes: a mark in its recorded package version shows through.
    fs.writeFileSync(path.join(dir, 'layer.json'), JSON.stringify({ ...meta, version: 'from-the-cache' }));
    const second = await buildInFreshStore('b');
    expect(second.rootfs.diff_ids).toEqual(first.rootfs.diff_ids);
    expect(second.history[0]!.created_by).toMatch(/ from-the-cache$/);
  });

  it('builds again when the cached tar changed, and replaces the entry', async () => {
    const good = await buildInFreshStore('c');
    const tar = path.join(entry(), 'layer.tar');
    fs.appendFileSync(tar, 'tampered');
    const rebuilt = await buildInFreshStore('d');
    // The store hashed what it was given: the changed tar is not its layer.
    expect(rebuilt.rootfs.diff_ids).toEqual(good.rootfs.diff_ids);
    expect(rebuilt.history[0]!.created_by).not.toMatch(/from-the-cache/);
    const meta = JSON.parse(fs.readFileSync(path.join(entry(), 'layer.json'), 'utf8')) as { diffId: string };
    expect(meta.diffId).toBe(good.rootfs.diff_ids[0]);
    expect(fs.readFileSync(path.join(entry(), 'layer.tar')).includes('tampered')).toBe(false);
  });
});
