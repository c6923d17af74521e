// The controller: fetch the view, follow the stream, re-render on change.
import { fill, fmtTime, h } from './dom';
import { asLevel, LEVEL_WORD, rank } from './levels';
import { renderFlow } from './flow';
import { countyMap, tileMap, type MapData } from './geo';
import { callsBoard, entryRow, filterEntries, planHead, townshipList, TYPE_WORD } from './panels';
import { RiskMap } from './riskmap';
import { follow } from './sse';
import { applyEntry, applyTick, emptyView, fromView, rebase, type State } from './state';
import type { Call, CallPerson, Entry, ViewTick } from './types';

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;

export class App {
  state: State = { view: emptyView(), unknownTypes: [] };
  /** `/api` live, or `/api/replay/<id>` */
  base = '/api';
  replayId: string | null = null;
  map: RiskMap;
  mapData: MapData | null = null;
  geoRaw: unknown = null;
  /** how many times the page fetched the view (the tests read it) */
  fetches = 0;
  resyncs = 0;
  private mapKey = '';
  private stream: { stop(): void } | null = null;
  private frame = 0;
  private fetching: Promise<void> | null = null;
  private dirty = false;
  private keys: Record<string, string> = {};
  /** outputs from the stream, re-applied over a fetched view that is older than them */
  private recent: Entry[] = [];

  constructor() {
    this.map = new RiskMap($('map'));
    const tok = $<HTMLInputElement>('token');
    tok.value = sessionStorage.getItem('yingji-token') ?? '';
    tok.addEventListener('change', () => sessionStorage.setItem('yingji-token', tok.value));
    for (const id of ['f-township', 'f-signal', 'f-type']) $(id).addEventListener('change', () => this.schedule());
    $('replay-form').addEventListener('submit', (ev) => { ev.preventDefault(); void this.startReplay(); });
    // the stream carries the changes; the view, fetched now and then, is the truth
    setInterval(() => { if (this.dirty) void this.fetchView(); }, 10_000);
  }

  async start(): Promise<void> {
    try {
      const r = await fetch('/api/geo', { cache: 'no-store' });
      if (r.ok) this.geoRaw = await r.json();
    } catch {
      this.geoRaw = null;
    }
    await this.fetchView();
    this.connect();
  }

  /** Drop the stream and open it again (resuming from the last id). */
  reconnect(): void {
    this.connect();
  }

  private connect(): void {
    this.stream?.stop();
    const base = this.base;
    this.stream = follow(`${base}/stream`, {
      // ids are `<boot>/<seq>` (docs/web.md)
      lastEventId: () => (this.state.view.boot ? `${this.state.view.boot}/${this.state.view.seq}` : null),
      onOpen: (again) => {
        document.body.dataset['conn'] = 'open';
        this.status(again ? '已重新连接' : '实时连接正常');
        // after a break the service may be another run: check the view
        if (again) void this.fetchView();
      },
      onDown: (n, ms, why) => {
        document.body.dataset['conn'] = 'down';
        this.status(`连接中断（${why}），${Math.round(ms / 100) / 10} 秒后第 ${n + 1} 次重连`);
      },
      onEvent: (ev) => {
        if (base !== this.base) return;
        if (ev.event === 'output') {
          let e: Entry;
          try { e = JSON.parse(ev.data) as Entry; } catch { return; }
          this.recent.push(e);
          if (this.recent.length > 1000) this.recent.splice(0, this.recent.length - 1000);
          const s = applyEntry(this.state, e);
          this.state = s.state;
          this.dirty = true;
          if (s.refetch) void this.fetchView();
          this.schedule();
        } else if (ev.event === 'view') {
          let t: ViewTick;
          try { t = JSON.parse(ev.data) as ViewTick; } catch { return; }
          const s = applyTick(this.state, t);
          this.state = s.state;
          if (s.refetch) void this.fetchView();
          this.schedule();
        } else if (ev.event === 'hello') {
          let t: ViewTick;
          try { t = JSON.parse(ev.data) as ViewTick; } catch { return; }
          if (applyTick(this.state, { seq: t.seq, boot: t.boot }).refetch) void this.fetchView();
        } else if (ev.event === 'resync') {
          this.resyncs += 1;
          void this.fetchView(true);
        }
      },
    });
  }

  /** Fetch `<base>/view` (`force`: again after one in flight, for a resync). */
  fetchView(force = false): Promise<void> {
    if (this.fetching) return this.fetching.then(() => (force ? this.fetchView(true) : undefined));
    const base = this.base;
    this.fetching = (async () => {
      try {
        const r = await fetch(`${base}/view`, { cache: 'no-store' });
        if (!r.ok) throw new Error(`HTTP ${r.status}`);
        const fresh = fromView(await r.json());
        if (base !== this.base) return;
        this.fetches += 1;
        this.dirty = false;
        const boot = this.state.view.boot;
        // another boot: the outputs seen before belong to the old run
        if (boot !== fresh.view.boot) this.recent = [];
        this.state = rebase(fresh, this.recent, this.state.unknownTypes);
        if (boot && boot !== fresh.view.boot) this.status('服务已重启，已重新同步');
        this.schedule();
      } catch (err) {
        this.status(`读取状态失败：${err instanceof Error ? err.message : String(err)}`);
      } finally {
        this.fetching = null;
      }
    })();
    return this.fetching;
  }

  private status(text: string): void {
    $('status').textContent = text;
  }

  schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => { this.frame = 0; this.render(); });
  }

  private changed(name: string, value: unknown): boolean {
    const k = JSON.stringify(value);
    if (this.keys[name] === k) return false;
    this.keys[name] = k;
    return true;
  }

  render(): void {
    const v = this.state.view;
    const names = new Map(v.townships.map((t) => [t.code, t.name]));
    $('updated').textContent = `最后更新：${fmtTime(v.updated)}（事件时间）　引擎时钟：${fmtTime(v.clock)}`;

    // map data follows the township set (tiles) or the GeoJSON
    const mk = JSON.stringify(v.townships.map((t) => [t.code, t.tile]));
    if (mk !== this.mapKey || !this.mapData) {
      this.mapKey = mk;
      this.mapData = this.geoRaw ? countyMap(this.geoRaw, v.townships) : tileMap(v.townships);
      this.map.setMap(this.mapData);
      this.keys['map'] = '';
    }
    const md = this.mapData;
    const note = $('map-note');
    const missingNames = [...md.missing].map((c) => names.get(c) ?? c);
    note.hidden = !md.problem && missingNames.length === 0;
    note.textContent = md.problem ? `县域地图不可用（${md.problem}），改用方块图。`
      : missingNames.length ? `地图数据缺少 ${missingNames.length} 个乡镇：${missingNames.join('、')}（见列表，标“地图缺失”）。` : '';
    if (this.changed('others', v.other_signals ?? [])) {
      const os = [...(v.other_signals ?? [])].sort((a, b) => rank(b.level) - rank(a.level));
      fill($('others'), os.length ? h('ul', { class: 'others', 'aria-label': '乡镇以外的预警' }, ...os.map((o) => {
        const lv = asLevel(o.level);
        return h('li', { 'data-key': o.key, 'data-level': lv }, h('span', { class: `badge lv-${lv}` }, LEVEL_WORD[lv]), ` ${o.key} ${o.signal}`);
      })) : null);
    }
    if (this.changed('map', [v.townships, v.stations])) {
      this.map.render(v.townships, v.stations);
      fill($('towns'), townshipList(v.townships, md.missing));
      const absent = v.stations.filter((s) => s.absent);
      fill($('stations'), h('p', { class: absent.length ? 'absent-note' : 'meta' },
        absent.length ? `缺报测站 ${absent.length} 个：${absent.map((s) => `${s.id}（${names.get(s.township ?? '') ?? s.township ?? '—'}，最后 ${fmtTime(s.last)}）`).join('、')}`
          : `测站 ${v.stations.length} 个，全部正常`));
    }

    if (this.changed('calls', [v.calls, this.replayId])) {
      fill($('calls'), callsBoard(v.calls, (c, p) => void this.ack(c, p)));
    }

    if (this.changed('plans', v.plans)) {
      const host = $('plans');
      if (v.plans.length === 0) fill(host, h('p', { class: 'empty' }, '当前没有启动的预案。'));
      else {
        fill(host, ...v.plans.map((p) => {
          // scrollable: reachable by keyboard
          const chart = h('div', { class: 'flow-host', tabindex: 0, role: 'group', 'aria-label': `${p.plan} 应急处置流程图` }, p.graph && p.graph.nodes.length ? '流程图布局中…' : '（无流程图）');
          if (p.graph && p.graph.nodes.length) void renderFlow(chart, p.graph.nodes, p.graph.edges, p.step, `${p.plan} 应急处置流程图`);
          return h('article', { class: 'plan', 'data-instance': p.instance, 'data-step': p.step ?? '', 'data-response': p.response ?? '' }, planHead(p, names), chart);
        }));
      }
    }

    this.renderTimeline(names);
  }

  private renderTimeline(names: Map<string, string>): void {
    const v = this.state.view;
    const fT = $<HTMLSelectElement>('f-township');
    const fS = $<HTMLSelectElement>('f-signal');
    const fY = $<HTMLSelectElement>('f-type');
    const options = (sel: HTMLSelectElement, items: [string, string][]): void => {
      const keep = sel.value;
      if (!this.changed(`opt-${sel.id}`, items)) return;
      fill(sel, h('option', { value: '' }, '全部'), ...items.map(([val, label]) => h('option', { value: val }, label)));
      sel.value = items.some(([val]) => val === keep) ? keep : '';
    };
    options(fT, v.townships.map((t) => [t.code, t.name]));
    const uniq = (xs: (string | null | undefined)[]): string[] => [...new Set(xs.filter((x): x is string => !!x))].sort();
    options(fS, uniq(v.timeline.map((e) => e.signal)).map((s) => [s, s]));
    options(fY, uniq(v.timeline.map((e) => e.type)).map((t) => [t, TYPE_WORD[t] ?? `未知类型 ${t}`]));
    const f = { township: fT.value, signal: fS.value, type: fY.value };
    if (!this.changed('timeline', [v.seq, v.timeline.length, f, v.boot])) return;
    const shown = filterEntries(v.timeline, f).slice(-400).reverse();
    fill($('timeline'), shown.length ? shown.map((e) => entryRow(e, names)) : [h('li', { class: 'empty' }, '没有符合条件的记录。')]);
  }

  private token(): string {
    return $<HTMLInputElement>('token').value.trim();
  }

  async ack(c: Call, p: CallPerson): Promise<void> {
    const out = $('ack-result');
    const token = this.token();
    if (!token) { out.textContent = '请先在页首填写演练令牌。'; return; }
    out.textContent = `正在为 ${p.name ?? p.id} 应答…`;
    try {
      // in a replay the drill ack goes to the replay's engine
      const url = this.replayId ? `/api/replay/${encodeURIComponent(this.replayId)}/ack` : '/ack';
      const r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Yingji-Token': token }, body: JSON.stringify({ person: p.id, ref: c.ref }) });
      const body = (await r.json().catch(() => ({}))) as { status?: string; reason?: string };
      const what = body.status === 'acked' ? '应答成功' : body.status === 'pending' ? '已提交，等待引擎确认' : body.status === 'refused' ? `被拒绝（${body.reason ?? ''}）` : `HTTP ${r.status}`;
      out.textContent = `${p.name ?? p.id}：${r.status === 401 ? '令牌不正确' : what}`;
    } catch (err) {
      out.textContent = `应答失败：${err instanceof Error ? err.message : String(err)}`;
    }
  }

  async startReplay(): Promise<void> {
    const file = $<HTMLInputElement>('replay-file').files?.[0];
    const speed = $<HTMLSelectElement>('replay-speed').value;
    const token = this.token();
    if (!file) { this.status('请选择历史事件文件。'); return; }
    if (!token) { this.status('回放需要演练令牌。'); return; }
    try {
      const r = await fetch(`/api/replay?speed=${encodeURIComponent(speed)}`, { method: 'POST', headers: { 'Content-Type': 'application/x-ndjson', 'X-Yingji-Token': token }, body: await file.text() });
      const body = (await r.json().catch(() => ({}))) as { replay?: string; error?: string; message?: string };
      if (!r.ok || !body.replay) throw new Error(body.message ?? body.error ?? `HTTP ${r.status}`);
      this.switchTo(body.replay, `${file.name}，${speed} 倍速`);
    } catch (err) {
      this.status(`回放未能开始：${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** Show a replay (id) or, with null, the live service again. */
  switchTo(id: string | null, label = ''): void {
    const old = this.replayId;
    this.replayId = id;
    this.base = id ? `/api/replay/${encodeURIComponent(id)}` : '/api';
    this.state = { view: emptyView(), unknownTypes: [] };
    this.recent = [];
    this.keys = {};
    const banner = $('replay-banner');
    banner.hidden = !id;
    document.body.dataset['mode'] = id ? 'replay' : 'live';
    if (id) {
      fill(banner, h('span', {}, `推演回放中：${label}（回放 ${id}，非实时数据）`),
        h('span', { id: 'replay-progress' }),
        h('button', { type: 'button', onclick: () => this.switchTo(null) }, '停止回放，回到实时'));
      const poll = async (): Promise<void> => {
        if (this.replayId !== id) return;
        try {
          const r = await fetch(`/api/replay/${encodeURIComponent(id)}`, { cache: 'no-store' });
          if (r.ok) {
            const info = (await r.json()) as { applied?: number; lines?: number };
            const el = document.getElementById('replay-progress');
            if (el) el.textContent = `已播放 ${info.applied ?? 0}/${info.lines ?? 0} 行`;
          }
        } catch { /* the next poll tries again */ }
        setTimeout(() => void poll(), 2000);
      };
      void poll();
    }
    if (old && !id) {
      void fetch(`/api/replay/${encodeURIComponent(old)}`, { method: 'DELETE', headers: { 'X-Yingji-Token': this.token() } }).catch(() => undefined);
    }
    void this.fetchView(true).then(() => this.connect());
  }
}
