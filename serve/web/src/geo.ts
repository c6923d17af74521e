// Map data: the tile map (a cartogram from the service's `tile` positions)
// and a county GeoJSON checked against the townships.
import type { Township } from './types';

export interface Feature {
  type: 'Feature';
  properties: { code: string; name: string };
  geometry: { type: 'Polygon' | 'MultiPolygon'; coordinates: number[][][] | number[][][][] };
}

export interface FeatureCollection {
  type: 'FeatureCollection';
  features: Feature[];
}

export interface MapData {
  geo: FeatureCollection;
  /** township codes the map has no shape for */
  missing: Set<string>;
  /** `tiles` or `geojson` */
  kind: 'tiles' | 'geojson';
  /** why a GeoJSON was not used, if it was not */
  problem: string | null;
  /** whether x/y are degrees (GeoJSON) or tile units */
  aspect: number;
}

/** Squares at each township's tile (row down, col right); townships without one go in a row below. */
export function tileMap(ts: Township[]): MapData {
  const sorted = [...ts].sort((a, b) => a.code.localeCompare(b.code));
  let maxRow = 0;
  for (const t of sorted) if (t.tile && Number.isFinite(t.tile.row)) maxRow = Math.max(maxRow, t.tile.row);
  let spare = 0;
  const used = new Set<string>();
  const features: Feature[] = [];
  for (const t of sorted) {
    let row: number;
    let col: number;
    const k = t.tile ? `${t.tile.row},${t.tile.col}` : '';
    if (t.tile && Number.isFinite(t.tile.row) && Number.isFinite(t.tile.col) && !used.has(k)) {
      ({ row, col } = t.tile);
    } else {
      row = maxRow + 2 + Math.floor(spare / 8);
      col = spare % 8;
      spare += 1;
    }
    used.add(`${row},${col}`);
    const g = 0.06;
    const x0 = col + g, x1 = col + 1 - g, y0 = -row - g, y1 = -row - 1 + g;
    features.push({
      type: 'Feature',
      properties: { code: t.code, name: t.name },
      geometry: { type: 'Polygon', coordinates: [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]] },
    });
  }
  return { geo: { type: 'FeatureCollection', features }, missing: new Set(), kind: 'tiles', problem: null, aspect: 1 };
}

function isRing(r: unknown): boolean {
  return Array.isArray(r) && r.length >= 4 && r.every((p) => Array.isArray(p) && p.length >= 2 && p.every((n) => typeof n === 'number' && Number.isFinite(n)));
}

/**
 * Check a county GeoJSON: keep the Polygon/MultiPolygon features whose
 * `properties.code` is a township (names from the service), list the
 * townships it lacks. Anything unusable falls back to the tile map, with the reason.
 */
export function countyMap(raw: unknown, ts: Township[]): MapData {
  const fallback = (problem: string): MapData => ({ ...tileMap(ts), problem });
  const fc = raw as { type?: unknown; features?: unknown };
  if (!fc || typeof fc !== 'object' || fc.type !== 'FeatureCollection' || !Array.isArray(fc.features)) {
    return fallback('GeoJSON 不是 FeatureCollection');
  }
  const byCode = new Map(ts.map((t) => [t.code, t]));
  const features: Feature[] = [];
  for (const f of fc.features as unknown[]) {
    const ff = f as { properties?: Record<string, unknown>; geometry?: { type?: unknown; coordinates?: unknown } };
    const code = ff?.properties?.['code'];
    const codeStr = typeof code === 'number' ? String(code) : typeof code === 'string' ? code : null;
    if (!codeStr || !byCode.has(codeStr)) continue;
    const g = ff.geometry;
    const ok = g && ((g.type === 'Polygon' && Array.isArray(g.coordinates) && g.coordinates.every(isRing))
      || (g.type === 'MultiPolygon' && Array.isArray(g.coordinates) && g.coordinates.every((p) => Array.isArray(p) && p.every(isRing))));
    if (!ok) continue;
    features.push({ type: 'Feature', properties: { code: codeStr, name: byCode.get(codeStr)!.name }, geometry: g as Feature['geometry'] });
  }
  if (features.length === 0) return fallback('GeoJSON 中没有与乡镇代码对应的多边形');
  const have = new Set(features.map((f) => f.properties.code));
  const missing = new Set(ts.map((t) => t.code).filter((c) => !have.has(c)));
  return { geo: { type: 'FeatureCollection', features }, missing, kind: 'geojson', problem: null, aspect: 0.75 };
}

/** The centre of a feature's bounding box. */
export function centre(f: Feature): [number, number] {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  const rings = f.geometry.type === 'Polygon' ? (f.geometry.coordinates as number[][][]) : (f.geometry.coordinates as number[][][][]).flat();
  for (const r of rings) for (const [x, y] of r) {
    x0 = Math.min(x0, x!); x1 = Math.max(x1, x!); y0 = Math.min(y0, y!); y1 = Math.max(y1, y!);
  }
  return [(x0 + x1) / 2, (y0 + y1) / 2];
}

/** The size of a feature's bounding box. */
export function extent(f: Feature): [number, number] {
  const rings = f.geometry.type === 'Polygon' ? (f.geometry.coordinates as number[][][]) : (f.geometry.coordinates as number[][][][]).flat();
  const xs = rings.flat().map((p) => p[0]!);
  const ys = rings.flat().map((p) => p[1]!);
  return [Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys)];
}
