// 风险分布图: ECharts (SVG renderer) map of the townships, coloured by level
// with the level's word on each, and the stations as markers.
import { MapChart, ScatterChart } from 'echarts/charts';
import { GeoComponent, TooltipComponent } from 'echarts/components';
import * as echarts from 'echarts/core';
import { SVGRenderer } from 'echarts/renderers';
import { centre, extent, type MapData } from './geo';
import { asLevel, LEVEL_FILL, LEVEL_INK, LEVEL_SHORT, LEVEL_WORD } from './levels';
import type { Station, Township } from './types';

echarts.use([MapChart, ScatterChart, GeoComponent, TooltipComponent, SVGRenderer]);

const BOX = { left: 8, right: 8, top: 8, bottom: 8 };

/** Text for an HTML context (ECharts tooltips are HTML). */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export class RiskMap {
  private chart: echarts.ECharts;
  private mapName = '';
  private data: MapData | null = null;
  private n = 0;

  constructor(el: HTMLElement) {
    this.chart = echarts.init(el, undefined, { renderer: 'svg' });
    window.addEventListener('resize', () => this.chart.resize());
  }

  /** Use this map data (tiles or a county GeoJSON) from now on. */
  setMap(d: MapData): void {
    this.n += 1;
    this.mapName = `yunyang-${d.kind}-${this.n}`;
    echarts.registerMap(this.mapName, d.geo as never);
    this.data = d;
    this.chart.clear();
  }

  /** Draw the townships and stations. */
  render(ts: Township[], stations: Station[]): void {
    const d = this.data;
    if (!d) return;
    const byCode = new Map(d.geo.features.map((f) => [f.properties.code, f]));
    const tiles = d.kind === 'tiles';
    const regions = ts.filter((t) => byCode.has(t.code)).map((t) => {
      const lv = asLevel(t.level);
      return {
        name: t.code,
        value: 1,
        label: { color: LEVEL_INK[lv] },
        itemStyle: { areaColor: LEVEL_FILL[lv] },
        emphasis: { itemStyle: { areaColor: LEVEL_FILL[lv] }, label: { color: LEVEL_INK[lv] } },
        township: t.name,
        level: lv,
      };
    });
    // stations sit in a row along the bottom of their township's shape
    const count = new Map<string, number>();
    const points = stations.filter((s) => s.township && byCode.has(s.township)).map((s) => {
      const f = byCode.get(s.township!)!;
      const [cx, cy] = centre(f);
      const [w, hgt] = extent(f);
      const i = count.get(s.township!) ?? 0;
      count.set(s.township!, i + 1);
      const x = cx - w * 0.3 + (i % 4) * w * 0.2;
      const y = cy - hgt * 0.32;
      return {
        name: s.id,
        value: [x, y],
        absent: s.absent,
        symbol: s.absent ? 'triangle' : 'circle',
        symbolSize: s.absent ? 11 : 8,
        itemStyle: s.absent ? { color: '#ffffff', borderColor: '#111111', borderWidth: 2 } : { color: '#0b3d2e', borderColor: '#ffffff', borderWidth: 1.5 },
      };
    });
    const names = new Map(ts.map((t) => [t.code, t.name]));
    this.chart.setOption({
      animation: false,
      tooltip: {
        trigger: 'item',
        formatter: (p: { seriesType: string; name: string; data?: { absent?: boolean; level?: string } }) => {
          // the tooltip is HTML: station ids come from the field, so escape
          if (p.seriesType === 'scatter') return `测站 ${escapeHtml(p.name)}${p.data?.absent ? '（缺报）' : ''}`;
          const lv = asLevel(p.data?.level);
          return `${escapeHtml(names.get(p.name) ?? p.name)}：${LEVEL_WORD[lv]}`;
        },
      },
      geo: {
        map: this.mapName, nameProperty: 'code', roam: false, silent: true, aspectScale: d.aspect, ...BOX,
        itemStyle: { areaColor: 'transparent', borderColor: 'transparent' }, label: { show: false },
      },
      series: [
        {
          type: 'map', map: this.mapName, nameProperty: 'code', roam: false, aspectScale: d.aspect, ...BOX,
          selectedMode: false,
          itemStyle: { borderColor: '#ffffff', borderWidth: tiles ? 0 : 1, areaColor: LEVEL_FILL.none },
          label: {
            show: true, fontSize: tiles ? 12 : 10, lineHeight: tiles ? 15 : 12,
            formatter: (p: { name: string; data?: { level?: string } }) => {
              const lv = asLevel(p.data?.level);
              return LEVEL_SHORT[lv] ? `${names.get(p.name) ?? p.name}\n${LEVEL_SHORT[lv]}` : (names.get(p.name) ?? p.name);
            },
          },
          data: regions,
        },
        {
          type: 'scatter', coordinateSystem: 'geo', geoIndex: 0, data: points, z: 5,
          label: { show: false },
        },
      ],
    }, { replaceMerge: ['series'] });
  }

  /** The pixel at a fraction (fx, fy) of a township's shape box, from its top-left (for the tests). */
  pixelIn(code: string, fx: number, fy: number): [number, number] | null {
    const f = this.data?.geo.features.find((x) => x.properties.code === code);
    if (!f) return null;
    const [cx, cy] = centre(f);
    const [w, hgt] = extent(f);
    const p = this.chart.convertToPixel({ geoIndex: 0 }, [cx - w / 2 + w * fx, cy + hgt / 2 - hgt * fy]);
    return Array.isArray(p) ? [p[0]!, p[1]!] : null;
  }
}
