// Container IDs: 64 hex digits whose 12 shown (the container's hostname) are never all decimal,
// which glibc would take for a numeric address (test/native/network.test.ts shows that failure).
import { describe, expect, it } from 'vitest';
import { newId, shortId } from '../../shared/src/ids.js';

describe('newId', () => {
  it('draws again while the short ID is all decimal digits', () => {
    const raw = [
      '745435501084' + 'a'.repeat(52),
      '003832442694' + 'f'.repeat(52),
      '0038324426e4' + '0'.repeat(52),
    ];
    let draws = 0;
    const id = newId(() => raw[draws++]!);
    expect(id).toBe(raw[2]);
    expect(draws).toBe(3);
  });

  it('keeps a short ID with a single hex letter anywhere in it', () => {
    for (const short of ['a00000000000', '00000000000b', '12345f789012']) {
      expect(newId(() => short + '1'.repeat(52))).toBe(short + '1'.repeat(52));
    }
  });

  it('gives 64 lowercase hex digits, never an all-decimal short ID, over many draws', () => {
    // Without the redraw, 5000 IDs hold about 17.6 all-decimal short IDs ((10/16)^12 each).
    const ids = Array.from({ length: 5000 }, () => newId());
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(ids.filter((id) => /^[0-9]{12}$/.test(shortId(id)))).toEqual([]);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
