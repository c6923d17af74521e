// A tiny element builder (text always via textContent: names come from the service) and formatting.

type Attrs = Record<string, string | number | boolean | null | undefined | ((ev: Event) => void)>;
type Child = Node | string | number | null | undefined | false;

/** Build an element. `on*` attributes given a function become listeners. */
export function h(tag: string, attrs: Attrs = {}, ...children: (Child | Child[])[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.slice(2).toLowerCase(), v);
    else if (k === 'class') el.className = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** `07-28 03:10:00` from an RFC 3339 time, in the offset it was written with (event time). */
export function fmtTime(ts: string | null | undefined): string {
  if (!ts) return '—';
  const m = /^\d{4}-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?/.exec(ts);
  return m ? `${m[1]}-${m[2]} ${m[3]}:${m[4]}:${m[5] ?? '00'}` : ts;
}

/** `1分05秒` for 65 seconds. */
export function fmtSecs(s: number | null | undefined): string {
  if (s === null || s === undefined || !Number.isFinite(s)) return '—';
  const t = Math.round(s);
  const hh = Math.floor(t / 3600);
  const mm = Math.floor((t % 3600) / 60);
  const ss = t % 60;
  if (hh > 0) return `${hh}小时${String(mm).padStart(2, '0')}分`;
  if (mm > 0) return `${mm}分${String(ss).padStart(2, '0')}秒`;
  return `${ss}秒`;
}

/** Replace the children of an element. */
export function fill(el: Element, ...children: (Child | Child[])[]): void {
  el.replaceChildren();
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}
