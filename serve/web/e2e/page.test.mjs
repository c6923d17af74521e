// The duty-officer page in a real browser (Chromium via playwright-core)
// against `yingji serve` replaying the bundled storm (samples/storm.jsonl)
// from a followed file paced by event time (`speed:`), the engine on event
// time. The storm is written in two parts (to 16:25, then the rest), so the
// page is checked at chosen moments; the service is restarted between them.
// Run: npm run e2e (E2E_HEADED=1 to watch, E2E_LONG=1 to play at the
// sample's 600×; see docs/testing.md).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { appendLines, browser, config, freePort, hex, near, pixel, REPO, startServe, storm, tmpDir, TOKEN, WEB } from './harness.mjs';

const SHOTS = process.env.E2E_SHOTS || path.join(REPO, 'docs/screenshots');
const NANXI = '500235128';  // 南溪镇: blue 15:30, yellow 16:10, orange 16:30, red 17:00
const GULING = '500235107'; // 故陵镇: its gauge YY-006 falls silent at noon
const FLOOD_NANXI = '县防汛应急预案@南溪镇#1';
const CUT = '2024-07-28T16:25:00+08:00';
const RED = hex('#d21f1f');
const NONE = hex('#e6e9ee');

let b; let page; let svc; let cfg; let port; let dir;
const pageErrors = [];

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  b = await browser();
  dir = tmpDir('storm');
  port = await freePort();
  cfg = config(dir, port);
  svc = await startServe(cfg, port);
  page = await b.ctx.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  // E2E_LONG plays the storm at 600×: its first part takes about 50 s
  page.setDefaultTimeout(process.env.E2E_LONG === '1' ? 180_000 : 30_000);
});

after(async () => {
  await b?.ctx.close();
  await svc?.stop();
  if (b) fs.rmSync(b.dir, { recursive: true, force: true });
  if (dir && !process.env.E2E_KEEP) fs.rmSync(dir, { recursive: true, force: true });
});

const level = (code) => page.getAttribute(`[data-township="${code}"]`, 'data-level');
const waitLevel = (code, lv) => page.waitForSelector(`.townships [data-township="${code}"][data-level="${lv}"]`);

test('the page loads from the binary: 42 townships on the tile map, a legend, the stations', async () => {
  await page.goto(`${svc.base}/`);
  await page.waitForFunction(() => document.querySelectorAll('.townships [data-township]').length === 42);
  const view = await (await fetch(`${svc.base}/api/view`)).json();
  assert.equal(view.townships.length, 42);
  // the map (SVG) has a shape per township
  await page.waitForFunction(() => document.querySelectorAll('#map svg path').length >= 42);
  assert.match(await page.textContent('.legend'), /红色预警.*橙色预警.*黄色预警.*蓝色预警.*无预警.*测站缺报/s);
  assert.equal(await level(NANXI), 'none');
  await page.waitForSelector('body[data-conn="open"]');
});

test('the storm to 16:25: 南溪镇 yellow, the escalated tier overdue, the next tier answered, the plan at Ⅳ级, a station absent', async () => {
  appendLines(path.join(dir, 'storm.jsonl'), storm(null, CUT));
  await waitLevel(NANXI, 'yellow');
  const chain = `section.chain[data-instance="${FLOOD_NANXI}"]`;
  const answered = await page.waitForSelector(`${chain} tr[data-person="NX01"][data-state="answered"]`);
  const row = await answered.textContent();
  assert.match(row, /第2级/);
  assert.match(row, /已应答/);
  assert.match(row, /3分00秒/); // called 16:15, answered 16:18
  const overdue = await page.waitForSelector(`${chain} tr[data-person="C001"]`);
  assert.equal(await overdue.getAttribute('data-state'), 'overdue');
  assert.match(await overdue.textContent(), /第1级.*超时未应答/s);
  assert.match(await page.textContent(chain), /第1级 → 第2级/); // the escalation at 16:15
  const plan = `article.plan[data-instance="${FLOOD_NANXI}"]`;
  await page.waitForSelector(`${plan} .response[data-response="Ⅳ级"]`);
  assert.match(await page.textContent(`${plan} .response`), /四级响应（Ⅳ级）/);
  // the flowchart is drawn with the current step highlighted
  await page.waitForSelector(`${plan} svg.flow g.node.current`);
  const cur = await page.getAttribute(`${plan} svg.flow g.node.current`, 'data-step');
  assert.equal(cur, await page.getAttribute(plan, 'data-step'));
  assert.match(await page.textContent(`${plan} .measures`), /禁行/);
  // 故陵镇's gauge: absent, said in words
  await page.waitForFunction(() => window.__yingji.state.view.stations.some((s) => s.id === 'YY-006' && s.absent));
  assert.match(await page.textContent('#stations'), /缺报测站 1 个：YY-006（故陵镇/);
  await (await page.$('.calls-panel')).screenshot({ path: path.join(SHOTS, 'calls.png') });
});

test('the drill 应答 button posts /ack with the typed token (a wrong token is refused)', async () => {
  const btn = `section.chain[data-instance="${FLOOD_NANXI}"] tr[data-person="C001"] button.ack`;
  await page.fill('#token', 'wrong-token');
  await page.click(btn);
  await page.waitForFunction(() => /令牌不正确/.test(document.getElementById('ack-result').textContent));
  await page.fill('#token', TOKEN);
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/ack') && r.request().method() === 'POST'),
    page.click(btn),
  ]);
  assert.ok([200, 202, 409].includes(resp.status()), `POST /ack answered ${resp.status()}`);
  assert.deepEqual(JSON.parse(resp.request().postData()), { person: 'C001', ref: `${FLOOD_NANXI}/叫应` });
  await page.waitForFunction(() => /应答成功|已提交|被拒绝/.test(document.getElementById('ack-result').textContent));
});

test('the service restarts: the page shows the break, reconnects and resynchronises', async () => {
  const boot = await page.evaluate(() => window.__yingji.state.view.boot);
  const fetches = await page.evaluate(() => window.__yingji.fetches);
  await svc.stop();
  await page.waitForSelector('body[data-conn="down"]');
  assert.match(await page.textContent('#status'), /连接中断/);
  svc = await startServe(cfg, port);
  await page.waitForFunction((old) => window.__yingji.state.view.boot !== old && document.body.dataset.conn === 'open', boot, { timeout: 60_000 });
  assert.ok(await page.evaluate(() => window.__yingji.fetches) > fetches, 'the view was fetched again');
  // the restored service's state is on the page
  const view = await (await fetch(`${svc.base}/api/view`)).json();
  assert.equal(view.townships.find((t) => t.code === NANXI).level, 'yellow');
  await waitLevel(NANXI, 'yellow');
  assert.equal(await page.evaluate(() => window.__yingji.state.view.boot), view.boot);
});

test('the rest of the storm, live after the restart: 南溪镇 red at 17:00, the plan at 二级响应 (Ⅱ级); screenshots and their colours', async () => {
  appendLines(path.join(dir, 'storm.jsonl'), storm(CUT, null));
  await waitLevel(NANXI, 'red');
  const plan = `article.plan[data-instance="${FLOOD_NANXI}"]`;
  await page.waitForSelector(`${plan} .response[data-response="Ⅱ级"]`, { timeout: 180_000 });
  assert.match(await page.textContent(`${plan} .response`), /二级响应（Ⅱ级）/);
  await page.waitForFunction(() => [...document.querySelectorAll('#timeline li[data-type="response_declared"]')].some((li) => /启动Ⅱ级响应/.test(li.textContent)));
  await page.waitForFunction((sel) => { const h = document.querySelector(`${sel} .flow-host`); return h && !/布局中/.test(h.textContent); }, plan);
  assert.ok(await page.$(`${plan} svg.flow g.node.current`), `the flowchart is drawn: ${await page.textContent(`${plan} .flow-host`)}`);
  // let the storm's last lines (to 17:30) play out so the screenshots are of a still page
  await page.waitForFunction(() => (window.__yingji.state.view.clock ?? '') >= '2024-07-28T17:30:00+08:00', null, { timeout: 180_000 });
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.waitForTimeout(500);
  const png = await page.screenshot({ path: path.join(SHOTS, 'overview.png') });
  assert.ok(png.length > 20_000, 'the screenshot is not empty');
  const box = await (await page.$('#map')).boundingBox();
  const at = async (code, fx, fy) => {
    const p = await page.evaluate(([c, x, y]) => window.__yingji.map.pixelIn(c, x, y), [code, fx, fy]);
    assert.ok(p, `no tile for ${code}`);
    return pixel(page, png, box.x + p[0], box.y + p[1]);
  };
  const red = await at(NANXI, 0.12, 0.15);
  assert.ok(near(red, RED), `南溪镇's tile is red in the screenshot (got rgb ${red})`);
  const grey = await at(GULING, 0.12, 0.15);
  assert.ok(near(grey, NONE), `故陵镇 (no warning) is grey (got rgb ${grey})`);
  await (await page.$('.map-panel')).screenshot({ path: path.join(SHOTS, 'map.png') });
  await (await page.$('.plans-panel')).screenshot({ path: path.join(SHOTS, 'plan.png') });
  await (await page.$('.timeline-panel')).screenshot({ path: path.join(SHOTS, 'timeline.png') });
  // the timeline filter: only 南溪镇's level changes
  await page.selectOption('#f-township', NANXI);
  await page.selectOption('#f-type', 'level_changed');
  await page.waitForFunction(() => [...document.querySelectorAll('#timeline li.entry')].length > 0
    && [...document.querySelectorAll('#timeline li.entry')].every((li) => li.dataset.type === 'level_changed' && /南溪镇/.test(li.textContent)));
  assert.equal((await page.$$('#timeline li.entry')).length, 4, 'blue, yellow, orange, red');
  await page.selectOption('#f-township', '');
  await page.selectOption('#f-type', '');
  for (const f of ['overview.png', 'map.png', 'calls.png', 'plan.png', 'timeline.png']) assert.ok(fs.statSync(path.join(SHOTS, f)).size > 5_000, `${f} written`);
});

test('accessibility (axe-core): no serious or critical violations', async () => {
  await page.addScriptTag({ path: path.join(WEB, 'node_modules/axe-core/axe.min.js') });
  const res = await page.evaluate(() => window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }));
  const bad = res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`), []);
  assert.ok(res.passes.some((p) => p.id === 'color-contrast'), 'contrast was checked');
  assert.ok(res.passes.some((p) => p.id === 'label'), 'form labels were checked');
});

test('an output type the page does not know is shown generically (a crafted stream)', async () => {
  const seq = await page.evaluate(() => window.__yingji.state.view.seq);
  const boot = await page.evaluate(() => window.__yingji.state.view.boot);
  const entry = { seq: seq + 1, ts: '2024-07-28T17:31:00+08:00', type: 'flood_gate_opened', township: NANXI, signal: null, text: null, output: { type: 'flood_gate_opened', id: seq + 1, gate: '江口闸', open_m: 1.5 } };
  await page.route('**/api/stream', (route) => route.fulfill({
    status: 200, headers: { 'content-type': 'text/event-stream' },
    body: `event: hello\ndata: ${JSON.stringify({ boot, seq })}\n\nid: ${boot}/${seq + 1}\nevent: output\ndata: ${JSON.stringify(entry)}\n\n`,
  }));
  // drop the live connection so the page opens the crafted one
  await page.evaluate(() => window.__yingji.reconnect());
  const row = await page.waitForSelector('#timeline li.generic[data-type="flood_gate_opened"]');
  const text = await row.textContent();
  assert.match(text, /未知类型 flood_gate_opened/);
  assert.match(text, /gate=江口闸/);
  assert.match(text, /open_m=1.5/);
  assert.equal(await level(NANXI), 'red', 'the rest of the page is untouched');
  await page.unroute('**/api/stream');
  // back on the real stream: the service does not know that seq, says resync; the page takes the view
  await page.waitForFunction(() => window.__yingji.resyncs > 0 || window.__yingji.fetches > 0);
  await page.waitForSelector('body[data-conn="open"]');
  assert.deepEqual(pageErrors, []);
});

test('replay (桌面推演): a history file loaded from the page plays at the chosen speed, then back to live', async () => {
  const file = path.join(dir, 'history.jsonl');
  fs.writeFileSync(file, storm(null, null).join('\n') + '\n');
  await page.setInputFiles('#replay-file', file);
  await page.selectOption('#replay-speed', '36000');
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.url().includes('/api/replay?speed=36000')),
    page.click('#replay-start'),
  ]);
  assert.equal(resp.status(), 201, await resp.text());
  const id = (await resp.json()).replay;
  await page.waitForSelector('body[data-mode="replay"]');
  assert.match(await page.textContent('#replay-banner'), /推演回放中/);
  // the replay's own engine from 08:00: 南溪镇 is quiet at first, red at its end
  await page.waitForFunction(() => window.__yingji.state.view.boot.startsWith('r'));
  await waitLevel(NANXI, 'red');
  await page.waitForFunction((i) => window.__yingji.base === `/api/replay/${i}`, id);
  await page.screenshot({ path: path.join(SHOTS, 'replay.png') });
  const [del] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith(`/api/replay/${encodeURIComponent(id)}`) && r.request().method() === 'DELETE'),
    page.click('#replay-banner button'),
  ]);
  assert.ok(del.status() < 300, `DELETE answered ${del.status()}`);
  await page.waitForSelector('body[data-mode="live"]');
  await waitLevel(NANXI, 'red');
});

test('a county GeoJSON lacking a township: drawn, the missing one listed, no crash', async () => {
  const d = tmpDir('geo');
  const view = await (await fetch(`${svc.base}/api/view`)).json();
  const lacking = view.townships.find((t) => t.code === '500235105'); // 龙角镇 left out
  const features = view.townships.filter((t) => t.code !== lacking.code).map((t) => {
    const x = 108.5 + t.tile.col * 0.08; const y = 31.2 - t.tile.row * 0.07;
    return { type: 'Feature', properties: { code: t.code, name: t.name }, geometry: { type: 'Polygon', coordinates: [[[x, y], [x + 0.075, y], [x + 0.075, y - 0.065], [x, y - 0.065], [x, y]]] } };
  });
  const geo = path.join(d, 'county.geojson');
  fs.writeFileSync(geo, JSON.stringify({ type: 'FeatureCollection', features }));
  const p2 = await freePort();
  const c2 = config(d, p2, `web:\n  geojson: ${geo}\n`);
  const s2 = await startServe(c2, p2);
  const pg = await b.ctx.newPage();
  const errs = [];
  pg.on('pageerror', (e) => errs.push(e.message));
  try {
    await pg.goto(`${s2.base}/`);
    await pg.waitForSelector(`.townships [data-township="${lacking.code}"].missing`);
    assert.match(await pg.textContent(`.townships [data-township="${lacking.code}"]`), /地图缺失/);
    assert.match(await pg.textContent('#map-note'), new RegExp(`地图数据缺少 1 个乡镇：${lacking.name}`));
    await pg.waitForFunction(() => document.querySelectorAll('#map svg path').length >= 41);
    assert.equal(await pg.evaluate(() => window.__yingji.mapData.kind), 'geojson');
    await (await pg.$('.map-panel')).screenshot({ path: path.join(SHOTS, 'geojson-missing.png') });
    assert.deepEqual(errs, []);
  } finally {
    await pg.close();
    await s2.stop();
    if (!process.env.E2E_KEEP) fs.rmSync(d, { recursive: true, force: true });
  }
});
