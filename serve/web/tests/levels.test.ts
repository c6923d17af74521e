import { describe, expect, it } from 'vitest';
import { asLevel, highest, LEVEL_FILL, LEVEL_INK, LEVEL_WORD, LEVELS, responseLevel, responseWords } from '../src/levels';

function lum(hex: string): number {
  const c = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255).map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
  return 0.2126 * c[0]! + 0.7152 * c[1]! + 0.0722 * c[2]!;
}
const contrast = (a: string, b: string): number => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x! + 0.05) / (y! + 0.05); };

describe('warning levels', () => {
  it('map to the warning colours, a word each, and ink that reads on them', () => {
    expect(LEVEL_FILL.red).toBe('#d21f1f');
    expect(LEVEL_WORD).toEqual({ none: '无预警', blue: '蓝色', yellow: '黄色', orange: '橙色', red: '红色' });
    for (const l of LEVELS) expect(contrast(LEVEL_FILL[l], LEVEL_INK[l]), l).toBeGreaterThanOrEqual(4.5);
  });
  it('order and unknown values', () => {
    expect(highest(['blue', 'red', 'yellow'])).toBe('red');
    expect(highest([])).toBe('none');
    expect(asLevel('purple')).toBe('none');
    expect(asLevel(3)).toBe('none');
  });
});

describe('response levels', () => {
  it('outputs write II, the view Ⅱ级; both read 二级响应（Ⅱ级）', () => {
    expect(responseLevel('II')).toBe('Ⅱ级');
    expect(responseLevel('Ⅱ级')).toBe('Ⅱ级');
    expect(responseLevel('None')).toBeNull();
    expect(responseLevel(null)).toBeNull();
    expect(responseWords('II')).toBe('二级响应（Ⅱ级）');
    expect(responseWords('Ⅰ级')).toBe('一级响应（Ⅰ级）');
    expect(responseWords(null)).toBe('未启动响应');
  });
});
