import { describe, expect, it } from 'vitest';
import { readTar, TarError, TarWriter } from '../../shared/src/tar/index.js';
import { collect, readAll } from './util.js';

async function archive(): Promise<Buffer> {
  return collect(
    new TarWriter().write([
      { header: { path: 'first.txt', type: 'file', mtime: 1 }, body: 'one' },
      { header: { path: 'second.txt', type: 'file', mtime: 1 }, body: 'two' },
      { header: { path: `${'x'.repeat(300)}`, type: 'file', mtime: 1 }, body: 'pax' },
    ]),
  );
}

async function failure(data: Uint8Array): Promise<TarError> {
  try {
    await readAll([data]);
  } catch (e) {
    if (e instanceof TarError) return e;
    throw e;
  }
  throw new Error('expected a TarError');
}

describe('tar checksums and corruption', () => {
  it('detects a corrupted header and names the entry and its offset', async () => {
    const tar = await archive();
    const bad = Buffer.from(tar);
    bad[1024 + 100] = bad[1024 + 100]! ^ 0x01; // the mode field of the second header (which starts at 1024)
    const err = await failure(bad);
    expect(err.message).toMatch(/checksum mismatch/);
    expect(err.offset).toBe(1024);
    expect(err.entry).toBe('second.txt');
    expect(err.message).toContain('offset 1024');
  });

  it('detects a corrupted stored checksum field', async () => {
    const bad = Buffer.from(await archive());
    bad[148] = bad[148] === 0x30 ? 0x31 : 0x30;
    const err = await failure(bad);
    expect(err.entry).toBe('first.txt');
    expect(err.offset).toBe(0);
  });

  it('detects corruption in a PAX header block', async () => {
    const tar = await archive();
    const bad = Buffer.from(tar);
    bad[2048 + 120] = bad[2048 + 120]! ^ 0x02; // the PAX 'x' header of the third entry
    const err = await failure(bad);
    expect(err.message).toMatch(/checksum mismatch/);
    expect(err.offset).toBe(2048);
  });

  it('reports truncation inside a body and inside a header', async () => {
    const tar = await archive();
    await expect(readAll([tar.subarray(0, 512 + 2)])).rejects.toThrow(/truncated inside a file body/);
    await expect(readAll([tar.subarray(0, 1024 + 100)])).rejects.toThrow(/truncated inside a header block/);
  });

  it('refuses unknown entry types and malformed PAX records', async () => {
    const tar = Buffer.from(await archive());
    tar[156] = 0x53; // 'S' (GNU sparse)
    // Fix the checksum so that the type itself is what is refused.
    tar.fill(0x20, 148, 156);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += tar[i]!;
    tar.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    await expect(readAll([tar])).rejects.toThrow(/unsupported entry type 'S'.*first\.txt/);

    const pax = Buffer.from(await archive());
    pax.write('99', 2560, 'latin1'); // the PAX record length (the body is not checksummed)
    await expect(readAll([pax])).rejects.toThrow(/malformed PAX record/);
  });

  it('drains trailing padding after the end marker so digests cover all bytes', async () => {
    const tar = await archive();
    const padded = Buffer.concat([tar, Buffer.alloc(10240)]);
    let pulled = 0;
    async function* src(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < padded.length; i += 1000) {
        pulled += Math.min(1000, padded.length - i);
        yield padded.subarray(i, i + 1000);
      }
    }
    const paths: string[] = [];
    for await (const e of readTar(src())) paths.push(e.path);
    const count = paths.length;
    expect(count).toBe(3);
    expect(pulled).toBe(padded.length);
  });
});
