// 应急处置流程图: a plan's steps laid out by elkjs (layered), drawn as SVG,
// the current step highlighted (colour, a thick border and the word 当前).
import type { ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api';
import { responseLevel } from './levels';
import type { GraphEdge, GraphNode } from './types';

const NS = 'http://www.w3.org/2000/svg';
type Elk = { layout(g: ElkNode): Promise<ElkNode> };
let elk: Promise<Elk> | null = null;
const cache = new Map<string, Promise<ElkNode>>();

function getElk(): Promise<Elk> {
  // a chunk of its own, loaded when a plan is first shown
  elk ??= import('elkjs/lib/elk.bundled.js').then((m) => new (m.default as unknown as new () => Elk)());
  return elk;
}

/** The width a label needs (CJK characters count double). */
export function textWidth(s: string, px = 13): number {
  let w = 0;
  for (const ch of s) w += /[\u2e80-\uffff]/.test(ch) ? px : px * 0.6;
  return Math.ceil(w);
}

/** A node's text lines: its label (which may hold line breaks) and the response level it declares. */
export function nodeLines(n: GraphNode): string[] {
  // a long line (a guard) is cut; the whole label is the node's tooltip
  const lines = (n.label || n.id).split('\n').map((l) => l.trim()).filter((l) => l !== '').map((l) => cut(l, 22));
  const r = responseLevel(n.response);
  // the label of a step that declares a level usually says so already
  if (r && !lines.some((l) => l.includes('响应'))) lines.push(`启动${r}响应`);
  return lines.length ? lines : [n.id];
}

/** `s` cut to `n` characters, with … when cut. */
export function cut(s: string, n: number): string {
  const chars = [...s];
  return chars.length > n ? `${chars.slice(0, n - 1).join('')}…` : s;
}

/** An edge label cut to 18 characters (a guard can be long; the whole text is the edge's tooltip). */
export function shortLabel(s: string): string {
  return cut(s, 18);
}

/** The ELK graph for a plan graph (edges to unknown nodes are dropped). */
export function elkGraph(nodes: GraphNode[], edges: GraphEdge[]): ElkNode {
  const ids = new Set(nodes.map((n) => n.id));
  return {
    id: 'root',
    layoutOptions: {
      'elk.algorithm': 'layered', 'elk.direction': 'RIGHT', 'elk.spacing.nodeNode': '18',
      'elk.layered.spacing.nodeNodeBetweenLayers': '36', 'elk.edgeRouting': 'ORTHOGONAL',
      'elk.edgeLabels.inline': 'true',
    },
    children: nodes.map((n) => {
      const lines = nodeLines(n);
      return { id: n.id, width: Math.max(...lines.map((l) => textWidth(l))) + 24, height: lines.length * 17 + 16 };
    }),
    edges: edges.filter((e) => ids.has(e.from) && ids.has(e.to)).map((e, i): ElkExtendedEdge => ({
      id: `e${i}`, sources: [e.from], targets: [e.to],
      labels: e.label ? [{ id: `l${i}`, text: shortLabel(e.label), width: textWidth(shortLabel(e.label), 11), height: 14 }] : [],
    })),
  };
}

function el(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Draw a laid-out graph. */
export function drawFlow(laid: ElkNode, nodes: GraphNode[], current: string | null | undefined, title: string, edges: GraphEdge[] = []): SVGSVGElement {
  const fullLabels = new Map<string, string>();
  const ids = new Set(nodes.map((n) => n.id));
  edges.filter((e) => ids.has(e.from) && ids.has(e.to)).forEach((e, i) => { if (e.label && shortLabel(e.label) !== e.label) fullLabels.set(`e${i}`, e.label); });
  const w = Math.ceil(laid.width ?? 100) + 8;
  const hgt = Math.ceil(laid.height ?? 40) + 8;
  // fit the panel's width; a very wide chart keeps 55 % of its size and scrolls
  const svg = el('svg', { viewBox: `-4 -4 ${w} ${hgt}`, role: 'img', class: 'flow', style: `width:100%;max-width:${w}px;min-width:${Math.round(w * 0.55)}px;height:auto` }) as SVGSVGElement;
  svg.setAttribute('aria-label', `${title}：当前步骤 ${current ?? '—'}`);
  const defs = el('defs', {});
  const marker = el('marker', { id: 'arrow', viewBox: '0 0 8 8', refX: 8, refY: 4, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
  marker.append(el('path', { d: 'M0,0 L8,4 L0,8 z', fill: '#4a5568' }));
  defs.append(marker);
  svg.append(defs);
  for (const e of (laid.edges ?? []) as ElkExtendedEdge[]) {
    const full = fullLabels.get(e.id);
    for (const s of e.sections ?? []) {
      const pts = [s.startPoint, ...(s.bendPoints ?? []), s.endPoint];
      const path = el('path', { d: pts.map((p, i) => `${i ? 'L' : 'M'}${p.x},${p.y}`).join(' '), fill: 'none', stroke: '#4a5568', 'stroke-width': 1.4, 'marker-end': 'url(#arrow)' });
      if (full) path.append(el('title', {}, full));
      svg.append(path);
    }
    for (const l of e.labels ?? []) {
      svg.append(el('text', { x: (l.x ?? 0) + 1, y: (l.y ?? 0) + 11, 'font-size': 11, fill: '#2d3748' }, l.text ?? ''));
    }
  }
  const byId = new Map(nodes.map((n) => [n.id, n]));
  for (const c of laid.children ?? []) {
    const n = byId.get(c.id);
    const cur = c.id === current;
    const g = el('g', { class: `node${cur ? ' current' : ''}`, 'data-step': c.id, transform: `translate(${c.x ?? 0},${c.y ?? 0})` });
    g.append(el('title', {}, `${n?.label ?? c.id}${cur ? '（当前步骤）' : ''}`));
    g.append(el('rect', { width: c.width ?? 0, height: c.height ?? 0, rx: 6, fill: cur ? '#fff3c4' : '#ffffff', stroke: cur ? '#b45309' : '#718096', 'stroke-width': cur ? 3 : 1.2 }));
    const lines = n ? nodeLines(n) : [c.id];
    lines.forEach((l, i) => {
      g.append(el('text', { x: (c.width ?? 0) / 2, y: 21 + i * 17, 'text-anchor': 'middle', 'font-size': 13, fill: '#1a202c', 'font-weight': cur ? 700 : 400 }, l));
    });
    if (cur) g.append(el('text', { x: (c.width ?? 0) / 2, y: -4, 'text-anchor': 'middle', 'font-size': 11, fill: '#92400e', 'font-weight': 700 }, '当前'));
    svg.append(g);
  }
  return svg;
}

/** Lay out (cached by graph) and draw into `host`. */
export async function renderFlow(host: Element, nodes: GraphNode[], edges: GraphEdge[], current: string | null | undefined, title: string): Promise<void> {
  const key = JSON.stringify([nodes, edges]);
  let p = cache.get(key);
  if (!p) {
    p = getElk().then((e) => e.layout(elkGraph(nodes, edges)));
    cache.set(key, p);
  }
  try {
    const laid = await p;
    host.replaceChildren(drawFlow(laid, nodes, current, title, edges));
  } catch (err) {
    cache.delete(key);
    host.textContent = `流程图无法布局：${err instanceof Error ? err.message : String(err)}`;
  }
}
