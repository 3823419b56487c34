import { describe, expect, it } from 'vitest';
import { paddedWidth } from './layout.js';

describe('paddedWidth', () => {
  it('pads rows that are a multiple of 4 KiB by one 64-byte line and leaves others', () => {
    expect(paddedWidth(1024)).toBe(1040);
    expect(paddedWidth(4096)).toBe(4112);
    expect(paddedWidth(3072)).toBe(3088);
    expect(paddedWidth(512, 'float64')).toBe(520);
    for (const w of [256, 512, 768, 1000, 1040, 1536, 2816, 4097]) expect(paddedWidth(w)).toBe(w);
    expect(paddedWidth(256, 'float64')).toBe(256);
  });
});
