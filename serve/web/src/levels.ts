// Colours and words for warning and response levels: one place for the page.
import type { Level } from './types';

/** Levels from lowest to highest. */
export const LEVELS: Level[] = ['none', 'blue', 'yellow', 'orange', 'red'];

/** Map fill per level (the national warning colours). */
export const LEVEL_FILL: Record<Level, string> = {
  none: '#e6e9ee',
  blue: '#1f5fbf',
  yellow: '#f2c200',
  orange: '#f07800',
  red: '#d21f1f',
};

/** Text colour that reads on LEVEL_FILL (contrast ≥ 4.5:1). */
export const LEVEL_INK: Record<Level, string> = {
  none: '#2b2f36',
  blue: '#ffffff',
  yellow: '#1a1a1a',
  orange: '#1a1a1a',
  red: '#ffffff',
};

/** The word shown with the colour, so the map is not read by colour alone. */
export const LEVEL_WORD: Record<Level, string> = {
  none: '无预警',
  blue: '蓝色',
  yellow: '黄色',
  orange: '橙色',
  red: '红色',
};

/** One character for a map tile. */
export const LEVEL_SHORT: Record<Level, string> = {
  none: '',
  blue: '蓝',
  yellow: '黄',
  orange: '橙',
  red: '红',
};

/** A level as sent, or `none` for anything unknown. */
export function asLevel(v: unknown): Level {
  return typeof v === 'string' && (LEVELS as string[]).includes(v) ? (v as Level) : 'none';
}

/** The rank of a level (none = 0 … red = 4). */
export function rank(v: unknown): number {
  return LEVELS.indexOf(asLevel(v));
}

/** The highest of several levels. */
export function highest(levels: unknown[]): Level {
  let best: Level = 'none';
  for (const l of levels) if (rank(l) > rank(best)) best = asLevel(l);
  return best;
}

const ROMAN: Record<string, string> = { I: 'Ⅰ', II: 'Ⅱ', III: 'Ⅲ', IV: 'Ⅳ' };
const CHINESE: Record<string, string> = { Ⅰ: '一', Ⅱ: '二', Ⅲ: '三', Ⅳ: '四' };

/**
 * A response level as the page writes it (`Ⅱ级`), from an output's `II`
 * or the view's `Ⅱ级`; null for none.
 */
export function responseLevel(v: unknown): string | null {
  if (typeof v !== 'string' || v === '' || v === 'None' || v === 'none') return null;
  const s = v.replace(/级$/, '');
  if (ROMAN[s]) return `${ROMAN[s]}级`;
  if (CHINESE[s]) return `${s}级`;
  return v;
}

/** `二级响应（Ⅱ级）` for `Ⅱ级`; the text as given for anything else. */
export function responseWords(v: unknown): string {
  const r = responseLevel(v);
  if (!r) return '未启动响应';
  const c = CHINESE[r.replace(/级$/, '')];
  return c ? `${c}级响应（${r}）` : r;
}
