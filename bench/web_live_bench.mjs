// Live updates of the sweep page at N succeeded trials, in Chromium
// (playwright-core from tests/e2e): a burst of K new results reaches the real
// page (web/index.html, app.js) through its real EventSource, and the page
// applies them by its real path (app.js batches the events, SweepView.refresh
// fetches what they concern from the real HTTP API).
//
//   node bench/web_live_bench.mjs [N=100000] [K=1000] [--runs=3] [--spread-ms=0] [--profile] [--web=DIR]
//
// Pieces:
//   - a SQLite file with N succeeded synthetic trials of one sweep (3 settings,
//     3 objectives, a teacher), built by build/bench/pareto_bench (kept in /tmp
//     and reused), copied for each run and its sweep set to `active`;
//   - `compsweep dashboard --db COPY --static web/` serves the API and the page;
//   - a small proxy in front of it (this script) passes every request through,
//     except GET /api/events, which it serves itself: a read-only dashboard has
//     no event hub, so the proxy plays the coordinator's part. On POST
//     /bench/burst it commits K new succeeded trials into the copy (sqlite3,
//     one transaction) and then writes K `trial_finished` events in the
//     coordinator's wire format (id/event/data lines, data as
//     coordinator/core.cc publishes it) to the open streams, all at once; with
//     --spread-ms=T, as a stream: every 100 ms the trials due are committed and
//     their events sent. (The coordinator publishes before its commit; the
//     page's 0.3 s batching makes the order moot here.)
// The page is opened at #/sweeps/1 (1400 x 900) and loads the N trials. Two
// bursts per run: burst 1 right after a 15 s safety-net refresh (so none falls
// inside the measurement) when the parallel coordinates and the importance
// table, recomputed at most every 10 s past 20,000 trials, are due (the worst
// case); burst 2 right after it, when they are not (the common case).
// Measured in the page, from the POST until the refresh that holds all the new
// trials has ended: the time until the chart plots them and the next frame is
// drawn ("visible"), the time until that refresh ended ("done"),
// requestAnimationFrame deltas (median, p95, max, frames over 50 / 100 ms),
// long tasks (PerformanceObserver 'longtask': count, total, max, when), the
// page's own User Timing measures per phase (web/ui.js timed()) and the API
// requests with their times. --profile adds a CPU profile of the bursts.
// The API here is the read-only server's SQLite path (no live columns), slower
// than a coordinator's (see "Performance" in docs/dashboard.md).
//
// Needs build/compsweep, build/bench/pareto_bench (COMPSWEEP_BIN and
// PARETO_BENCH override), sqlite3 and chromium (CHROMIUM overrides).
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const require = createRequire(path.resolve(root, 'tests', 'e2e', 'package.json'));
const { chromium } = require('playwright-core');

const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const flag = (name, dflt) => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.split('=')[1]) : dflt;
};
const N = Number(positional[0] || 100000);
const K = Number(positional[1] || 1000);
const spreadMs = flag('spread-ms', 0);
const runs = flag('runs', 3);
// --profile: a CPU profile of the page during the burst; prints the functions
// with the most self and inclusive time (to find what makes frames long).
const profile = process.argv.includes('--profile');
// --web=DIR: serve another copy of web/ (e.g. an older commit's, to compare).
const webArg = process.argv.find((a) => a.startsWith('--web='));
const webDir = path.resolve(webArg ? webArg.slice(6) : path.join(root, 'web'));
const bin = path.resolve(process.env.COMPSWEEP_BIN || path.join(root, 'build', 'compsweep'));
const paretoBench = path.resolve(process.env.PARETO_BENCH || path.join(root, 'build', 'bench', 'pareto_bench'));

const baseDb = path.join(os.tmpdir(), `compsweep-web-live-${N}.db`);
if (!fs.existsSync(baseDb)) {
  execFileSync(paretoBench, [`--db=${baseDb}`, `--trials=${N}`, '--benchmark_filter=^$', '--rounds=0'], { stdio: ['ignore', 'ignore', 'inherit'] });
}
const sql = (db, text) => execFileSync('sqlite3', [db], { input: text, stdio: ['pipe', 'pipe', 'inherit'] }).toString();
// The same without blocking the proxy's event loop (the streams keep flowing).
const sqlAsync = (db, text) => new Promise((resolve, reject) => {
  const child = spawn('sqlite3', [db], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.on('error', reject);
  child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`sqlite3 exited with ${code}`))));
  child.stdin.end(text);
});
let nextId = null;

// K new succeeded trials: the same shape of rows as pareto_bench writes, ids
// after the last one. Returns the events' data objects.
let seed = 7;
const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
async function insertTrials(db, count) {
  if (nextId === null) {
    const [maxId, maxNumber] = sql(db, 'SELECT max(id), max(number) FROM trials;').trim().split('|').map(Number);
    nextId = { id: maxId + 1, number: maxNumber + 1 };
  }
  const maxId = nextId.id - 1;
  const maxNumber = nextId.number - 1;
  nextId = { id: nextId.id + count, number: nextId.number + count };
  const now = Date.now();
  const lines = ['BEGIN;'];
  const events = [];
  for (let i = 0; i < count; i++) {
    const id = maxId + 1 + i;
    const number = maxNumber + 1 + i;
    const t = rnd();
    const size = Math.round(20e3 * 100 ** t);
    const acc = Math.round(Math.min(1, Math.max(0, 0.55 + 0.4 * t + 0.06 * (rnd() - 0.5))) * 2000) / 2000;
    const lat = Math.round((0.05 + (size / 1e6) * 0.4 + 0.02 * rnd()) * 1000) / 1000;
    const params = { 'distill.temperature': 1 + Math.floor(rnd() * 8), 'prune.final_sparsity': 0.05 * Math.floor(rnd() * 19), 'quantize.bits': [2, 4, 8][Math.floor(rnd() * 3)] };
    const metrics = { val_accuracy: acc, size_bytes: size, latency_ms: lat };
    const p = JSON.stringify(params).replace(/'/g, "''");
    lines.push(`INSERT INTO trials(id,sweep_id,number,kind,hash,params,settings,state,attempt,worker,queued_ms,started_ms,finished_ms) VALUES (${id},1,${number},'trial','live${id}','${p}','{"params":${p}}','succeeded',1,'bench-worker',${now - 2000},${now - 1000},${now + i});`);
    for (const [m, v] of Object.entries(metrics)) lines.push(`INSERT INTO trial_values(trial_id,metric,value) VALUES (${id},'${m}',${v});`);
    events.push({ trial_id: id, sweep_id: 1, state: 'succeeded', kind: 'trial', metrics });
  }
  lines.push('COMMIT;');
  await sqlAsync(db, lines.join('\n'));
  return events;
}

async function startDashboard(db) {
  const child = spawn(bin, ['dashboard', '--db', db, '--port', '0', '--static', webDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/127\.0\.0\.1:(\d+)/);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`compsweep dashboard exited with ${code}`)));
  });
  return { child, port };
}

function startProxy(db, upstream) {
  const streams = new Set();
  let seq = 0;
  const send = (kind, data) => {
    seq += 1;
    const text = `id: ${seq}\nevent: ${kind}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const res of streams) res.write(text);
  };
  const server = http.createServer(async (req, res) => {
    if (req.url.startsWith('/api/events')) {
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', Connection: 'keep-alive' });
      res.write(': connected\n\n');
      streams.add(res);
      req.on('close', () => streams.delete(res));
      return;
    }
    if (req.url === '/bench/burst' && req.method === 'POST') {
      const t0 = Date.now();
      let committed = 0;
      if (spreadMs > 0) {
        // A stream: every 100 ms the trials due commit, then their events go out.
        const chunks = Math.max(1, Math.round(spreadMs / 100));
        for (let c = 0, sent = 0; c < chunks; c++) {
          const due = t0 + (spreadMs * c) / chunks;
          if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
          const n = Math.round((K * (c + 1)) / chunks) - sent;
          const tc = Date.now();
          const events = await insertTrials(db, n);
          committed += Date.now() - tc;
          events.forEach((e) => send('trial_finished', e));
          sent += n;
        }
      } else {
        const events = await insertTrials(db, K);
        committed = Date.now() - t0;
        events.forEach((e) => send('trial_finished', e));
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ inserted: K, commit_ms: committed, sent_ms: Date.now() - t0 - committed }));
      return;
    }
    const up = http.request({ host: '127.0.0.1', port: upstream, path: req.url, method: req.method, headers: { ...req.headers, host: `127.0.0.1:${upstream}` } }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    up.on('error', (e) => { res.writeHead(502); res.end(String(e)); });
    req.pipe(up);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: server.address().port, streams })));
}

const quantile = (xs, q) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * (s.length - 1) + 0.5))];
};
const r1 = (v) => Math.round(v * 10) / 10;

// Self and inclusive time per function (name, file:line) of a CDP CPU profile.
function printProfile(p) {
  const byId = new Map(p.nodes.map((nd) => [nd.id, nd]));
  const dt = new Map();
  p.samples.forEach((id, i) => dt.set(id, (dt.get(id) || 0) + (p.timeDeltas[i + 1] ?? 0) / 1000));
  const parent = new Map();
  p.nodes.forEach((nd) => (nd.children || []).forEach((c) => parent.set(c, nd.id)));
  const key = (nd) => `${nd.callFrame.functionName || '(anonymous)'} ${path.basename(nd.callFrame.url || '')}:${nd.callFrame.lineNumber + 1}`;
  const self = new Map();
  const incl = new Map();
  for (const [id, ms] of dt) {
    const nd = byId.get(id);
    self.set(key(nd), (self.get(key(nd)) || 0) + ms);
    const seen = new Set();
    for (let cur = id; cur != null; cur = parent.get(cur)) {
      const k = key(byId.get(cur));
      if (seen.has(k)) continue;
      seen.add(k);
      incl.set(k, (incl.get(k) || 0) + ms);
    }
  }
  // Busy stretches (non-idle samples less than 2 ms apart) over 30 ms, with
  // the user functions that took most of each.
  const stretches = [];
  let cur = null;
  let t = p.startTime;
  p.samples.forEach((id, i) => {
    t += p.timeDeltas[i];
    const nd = byId.get(id);
    if (nd.callFrame.functionName === '(idle)') return;
    if (!cur || t - cur.end > 2000) stretches.push((cur = { start: t, end: t, ids: [] }));
    cur.end = t;
    cur.ids.push(id);
  });
  const lines = [];
  for (const st of stretches.filter((x) => x.end - x.start > 30000)) {
    const m = new Map();
    for (const id of st.ids) {
      const seen = new Set();
      for (let c = id; c != null; c = parent.get(c)) {
        const k = key(byId.get(c));
        if (seen.has(k) || k.startsWith('(root)')) continue;
        seen.add(k);
        m.set(k, (m.get(k) || 0) + 1);
      }
    }
    const share = [...m].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([k, v]) => `${k} ${Math.round((100 * v) / st.ids.length)}%`).join('; ');
    lines.push(`  at ${((st.start - p.startTime) / 1000).toFixed(0)} ms, ${((st.end - st.start) / 1000).toFixed(0)} ms: ${share}`);
  }
  console.log(`profile, busy stretches over 30 ms:\n${lines.join('\n')}`);
  const top = (m, n) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) => `  ${v.toFixed(0).padStart(6)} ms  ${k}`).join('\n');
  console.log(`profile, self time:\n${top(self, 25)}\nprofile, inclusive time:\n${top(incl, 40)}`);
}

// One burst of K results into a page that plots `before` trials; the figures
// (see the header).
async function measureBurst(page, before) {
  const out = await page.evaluate(async ({ n, k }) => {
      const chart = document.querySelector('#pareto-chart');
      const frames = [];
      const longTasks = [];
      let observer = null;
      if (typeof PerformanceObserver !== 'undefined' && (PerformanceObserver.supportedEntryTypes || []).includes('longtask')) {
        observer = new PerformanceObserver((list) => list.getEntries().forEach((e) => longTasks.push({ start: e.startTime, ms: e.duration })));
        observer.observe({ type: 'longtask' });
      }
      let recording = true;
      let last = performance.now();
      const tick = (t) => {
        frames.push(t - last);
        last = t;
        if (recording) requestAnimationFrame(tick);
      };
      requestAnimationFrame((t) => { last = t; requestAnimationFrame(tick); });
      const refreshes0 = window.__dashboard.refreshes;
      // Every 250 ms: [ms, events received, refreshes, points plotted].
      const timeline = [];
      const events0 = window.__dashboard.events;
      const sampler = setInterval(() => timeline.push([Math.round(performance.now() - t0), window.__dashboard.events - events0,
        window.__dashboard.refreshes - refreshes0, Number(chart.dataset.count) - n]), 250);
      const heavy0 = window.__dashboard.heavy ? window.__dashboard.heavy.runs : null;
      const t0 = performance.now();
      let tVisible = null;
      let refreshesAtApply = null;
      const visible = new Promise((resolve) => {
        const check = () => {
          if (chart.dataset.count === String(n + k)) {
            const applied = performance.now();
            refreshesAtApply = window.__dashboard.refreshes;
            requestAnimationFrame(() => { tVisible = performance.now(); resolve(applied); });
            return true;
          }
          return false;
        };
        const mo = new MutationObserver(() => { if (check()) mo.disconnect(); });
        mo.observe(chart, { attributes: true, attributeFilter: ['data-count'] });
      });
      const burst = await (await fetch('/bench/burst', { method: 'POST' })).json();
      const tSent = performance.now() - t0;
      const tApplied = (await visible) - t0;
      // Done: the refresh that plotted them has ended (markRefreshed comes
      // after the table, the hypervolume chart and the picker).
      while (window.__dashboard.refreshes <= refreshesAtApply) await new Promise((r) => setTimeout(r, 5));
      const tDone = performance.now() - t0;
      const r1 = window.__dashboard.refreshes;
      // A last frame after the end, so that its delta is counted.
      await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
      recording = false;
      clearInterval(sampler);
      if (observer) { observer.takeRecords().forEach((e) => longTasks.push({ start: e.startTime, ms: e.duration })); observer.disconnect(); }
      const inWindow = longTasks.filter((e) => e.start >= t0 - 1);
      // The page's own User Timing measures (web/ui.js timed()) in the window, summed per name.
      const phases = {};
      for (const e of performance.getEntriesByType('measure')) {
        if (e.startTime < t0 || !e.name.startsWith('dashboard ')) continue;
        const k = e.name.slice(10);
        phases[k] = Math.round(((phases[k] || 0) + e.duration) * 10) / 10;
      }
      // The API requests in the window: [path, ms].
      const requests = performance.getEntriesByType('resource').filter((e) => e.startTime >= t0 && e.name.includes('/api/'))
        .map((e) => [e.name.replace(/^https?:\/\/[^/]+/, ''), Math.round(e.duration)]);
      return {
        burst, sent_ms: tSent, applied_ms: tApplied, visible_ms: tVisible - t0, done_ms: tDone,
        refreshes: r1 - refreshes0, frames: frames.slice(1),
        long_tasks: inWindow.map((e) => e.ms), long_at: inWindow.map((e) => [Math.round(e.start - t0), Math.round(e.ms)]), long_tasks_supported: Boolean(observer), phases, requests, timeline,
        loads: window.__dashboard.loads, heavy: heavy0 === null ? null : window.__dashboard.heavy.runs - heavy0,
      };
  }, { n: before, k: K });
  const f = out.frames;
  return {
    commit_ms: out.burst.commit_ms,
    events_sent_ms: r1(out.sent_ms),
    visible_ms: r1(out.visible_ms),
    done_ms: r1(out.done_ms),
    page_refreshes: out.refreshes,
    heavy_views_recomputed: out.heavy === null ? 'unknown' : out.heavy > 0,
    frames: f.length,
    frame_median_ms: r1(quantile(f, 0.5)),
    frame_p95_ms: r1(quantile(f, 0.95)),
    frame_max_ms: r1(Math.max(...f)),
    frames_over_50ms: f.filter((x) => x > 50).length,
    frames_over_100ms: f.filter((x) => x > 100).length,
    long_tasks: out.long_tasks_supported ? out.long_tasks.length : 'unsupported',
    long_task_total_ms: r1(out.long_tasks.reduce((a, b) => a + b, 0)),
    long_task_max_ms: r1(out.long_tasks.length ? Math.max(...out.long_tasks) : 0),
    long_tasks_at: out.long_at,
    main_thread_ms: out.phases,
    requests: out.requests,
    ...(spreadMs > 0 ? { timeline: out.timeline } : {}),
  };
}

async function oneRun(browser, run) {
  const db = path.join(os.tmpdir(), `compsweep-web-live-run-${process.pid}.db`);
  for (const f of [db, `${db}-wal`, `${db}-shm`]) fs.rmSync(f, { force: true });
  fs.copyFileSync(baseDb, db);
  sql(db, "UPDATE sweeps SET state='active', finished_ms=NULL WHERE id=1;");
  nextId = null;
  const dash = await startDashboard(db);
  const proxy = await startProxy(db, dash.port);
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const tLoad = Date.now();
    await page.goto(`http://127.0.0.1:${proxy.port}/#/sweeps/1`);
    await page.waitForFunction((n) => document.querySelector('#pareto-chart')?.dataset.count === String(n), N, { timeout: 120000, polling: 200 });
    const loadMs = Date.now() - tLoad;
    // Burst 1: right after a 15 s safety-net refresh (the next one is 15 s
    // away) that came more than 10 s after the parallel coordinates and the
    // importance table were last computed, so the burst's refresh recomputes
    // them (the worst case). Burst 2: right after burst 1, when they are not
    // due (the common case: at most every 10 s past 20,000 trials).
    // A page without window.__dashboard.heavy (older web/): the time since it
    // finished loading, plus 4 s for its second (resync) refresh, stands in.
    const loaded = Date.now();
    for (;;) {
      const before = await page.evaluate(() => window.__dashboard.refreshes);
      await page.waitForFunction((b) => window.__dashboard.refreshes > b, before, { timeout: 40000, polling: 100 });
      const since = await page.evaluate((t) => Date.now() - ((window.__dashboard.heavy || {}).at || t), loaded + 4000);
      if (since > 10500) break;
    }
    await page.waitForTimeout(300);
    let cdp = null;
    if (profile) {
      cdp = await page.context().newCDPSession(page);
      await cdp.send('Profiler.enable');
      await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
      await cdp.send('Profiler.start');
    }
    const results = [];
    for (const burst of [1, 2]) {
      results.push({ run, burst, page_load_ms: loadMs, ...(await measureBurst(page, N + (burst - 1) * K)) });
      if (cdp) printProfile((await cdp.send('Profiler.stop')).profile);
      if (cdp && burst === 1) await cdp.send('Profiler.start');
      await page.waitForTimeout(300);
    }
    await page.close();
    return results;
  } finally {
    proxy.server.closeAllConnections?.();
    proxy.server.close();
    dash.child.kill('SIGINT');
    await new Promise((r) => dash.child.once('exit', r));
    for (const f of [db, `${db}-wal`, `${db}-shm`]) fs.rmSync(f, { force: true });
  }
}

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] });
const results = [];
try {
  for (let i = 1; i <= runs; i++) {
    for (const r of await oneRun(browser, i)) {
      results.push(r);
      console.log(JSON.stringify(r));
    }
  }
} finally {
  await browser.close();
}
// Ranges over the runs, per burst (1: heavy views due, 2: not due).
const summary = {};
for (const b of [1, 2]) {
  const rs = results.filter((r) => r.burst === b);
  const range = (k) => {
    const v = rs.map((r) => r[k]).filter((x) => typeof x === 'number');
    return v.length ? `${Math.min(...v)}-${Math.max(...v)}` : null;
  };
  summary[b === 1 ? 'burst1_heavy_views_due' : 'burst2_not_due'] = Object.fromEntries(
    ['visible_ms', 'done_ms', 'frame_median_ms', 'frame_p95_ms', 'frame_max_ms', 'frames_over_100ms', 'long_tasks', 'long_task_max_ms'].map((k) => [k, range(k)]));
}
console.log(JSON.stringify({ trials: N, burst: K, spread_ms: spreadMs, runs, web: path.relative(root, webDir) || '.', date: new Date().toISOString(),
  loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100), summary }, null, 1));
