// Helpers for the browser tests: the yingji binary, a `yingji serve` on a
// free loopback port (started and stopped by pid), Chromium via playwright-core.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const WEB = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO = path.resolve(WEB, '../..');
export const TOKEN = 'e2e-drill-token';
/** Event-seconds per wall second the storm is played at (E2E_LONG: 600, as samples/serve-storm.yaml). */
export const STORM_SPEED = process.env.E2E_LONG === '1' ? 600 : 6000;

/** The yingji binary: $YINGJI_BIN, else $CARGO_TARGET_DIR/debug/yingji, else target/debug/yingji. Missing: an error. */
export function yingjiBin() {
  const candidates = process.env.YINGJI_BIN
    ? [process.env.YINGJI_BIN]
    : [process.env.CARGO_TARGET_DIR && path.join(process.env.CARGO_TARGET_DIR, 'debug/yingji'), path.join(REPO, 'target/debug/yingji')].filter(Boolean);
  for (const c of candidates) if (fs.existsSync(c)) return c;
  throw new Error(`no yingji binary (tried ${candidates.join(', ')}): run \`cargo build\` or set YINGJI_BIN`);
}

/** Chromium: $YINGJI_CHROMIUM or /usr/bin/chromium. Missing: an error (the tests fail, never skip). */
export function chromiumPath() {
  const p = process.env.YINGJI_CHROMIUM || '/usr/bin/chromium';
  if (!fs.existsSync(p)) throw new Error(`no Chromium at ${p}: apt-get install -y chromium (or set YINGJI_CHROMIUM)`);
  return p;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

export function tmpDir(tag) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `yingji-web-${tag}-`));
}

/**
 * A serve.yaml for the tests, like samples/serve-storm.yaml: event-time
 * clock, the storm file (`dir/storm.jsonl`, written by the test in parts)
 * followed and paced at `speed` event-seconds per wall second, one port, a
 * state folder.
 */
export function config(dir, port, extra = '', speed = STORM_SPEED) {
  const cfg = path.join(dir, 'serve.yaml');
  fs.writeFileSync(cfg, `# written by serve/web/e2e (browser tests)
state_dir: ${path.join(dir, 'state')}
clock: events
lateness: 0s
checkpoint_every: 5s
http:
  listen: 127.0.0.1:${port}
  token: ${TOKEN}
  ack_wait: 2s
sources:
  - kind: file
    name: storm
    path: ${path.join(dir, 'storm.jsonl')}
    speed: ${speed}
${extra}`);
  return cfg;
}

/** Start `yingji serve policies plans --config cfg` and wait for /health. */
export async function startServe(cfg, port) {
  const bin = yingjiBin();
  const log = fs.openSync(`${cfg}.log`, 'a');
  const child = spawn(bin, ['serve', 'policies', 'plans', '--config', cfg], { cwd: REPO, stdio: ['ignore', log, log] });
  let exited = null;
  child.on('exit', (code, sig) => { exited = { code, sig }; });
  const base = `http://127.0.0.1:${port}`;
  const t0 = Date.now();
  for (;;) {
    if (exited) throw new Error(`yingji serve exited (${JSON.stringify(exited)}); log:\n${fs.readFileSync(`${cfg}.log`, 'utf8').slice(-3000)}`);
    try {
      const r = await fetch(`${base}/health`);
      if (r.ok) break;
    } catch { /* not up yet */ }
    if (Date.now() - t0 > 60_000) { child.kill('SIGKILL'); throw new Error('yingji serve did not answer /health within 60 s'); }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    base, pid: child.pid, child,
    /** SIGTERM by pid, then SIGKILL after 10 s */
    async stop() {
      if (exited) return;
      const done = new Promise((r) => child.once('exit', r));
      process.kill(child.pid, 'SIGTERM');
      const t = setTimeout(() => { if (!exited) process.kill(child.pid, 'SIGKILL'); }, 10_000);
      await done;
      clearTimeout(t);
    },
  };
}

/** Append lines to a file the service follows. */
export function appendLines(file, lines) {
  fs.appendFileSync(file, lines.map((l) => `${l}\n`).join(''));
}

/** The bundled storm's (samples/storm.jsonl) lines with `ts` in [from, to) (RFC 3339 in one offset compares as text). */
export function storm(from, to) {
  return fs.readFileSync(path.join(REPO, 'samples/storm.jsonl'), 'utf8').split('\n').filter((l) => {
    if (!l.trim()) return false;
    const ts = JSON.parse(l).ts;
    return (!from || ts >= from) && (!to || ts < to);
  });
}

/** Chromium headless (E2E_HEADED=1 shows it), flags for a closed network, a fresh profile. */
export async function browser() {
  const dir = tmpDir('chromium');
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: chromiumPath(),
    headless: process.env.E2E_HEADED !== '1',
    viewport: { width: 1600, height: 1250 },
    locale: 'zh-CN',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return { ctx, dir };
}

/** The colour at (x, y) of a PNG screenshot, read back through a canvas in the page. */
export async function pixel(page, png, x, y) {
  return page.evaluate(async ({ data, x, y }) => {
    const img = new Image();
    img.src = `data:image/png;base64,${data}`;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.width; c.height = img.height;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    const d = g.getImageData(Math.round(x), Math.round(y), 1, 1).data;
    return [d[0], d[1], d[2]];
  }, { data: png.toString('base64'), x, y });
}

export function near(rgb, want, tol = 24) {
  return rgb.every((v, i) => Math.abs(v - want[i]) <= tol);
}

export function hex(h) {
  return [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16));
}
