// Time of the sweep page's new views at N succeeded trials, in Chromium
// (playwright-core from tests/e2e): parallel coordinates (axes + draw),
// a brush filter, importance, the scatter's markers (shape and colour by),
// and what a live batch of 1,000 more trials costs each chart.
// Synthetic rows (named as such): 3 settings, 2 objectives.
//
//   node bench/web_views_bench.mjs [N=100000]   (serves web/ itself on a free port)
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = path.dirname(fileURLToPath(import.meta.url));
const web = path.resolve(here, '..', 'web');
const require = createRequire(path.resolve(here, '..', 'tests', 'e2e', 'package.json'));
const { chromium } = require('playwright-core');
const n = Number(process.argv[2] || 100000);

const server = http.createServer((req, res) => {
  let p = decodeURIComponent(req.url.split('?')[0]);
  if (p === '/') p = '/bench.html';
  if (p === '/bench.html') {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end('<!doctype html><script src="/vendor/uplot/dist/uPlot.iife.min.js"></script><div id="pc" style="width:1000px"></div><div id="sc" style="width:1000px"></div>');
    return;
  }
  const file = p.startsWith('/vendor/') ? path.join(web, 'node_modules', p.slice(8)) : path.join(web, p);
  if (!file.startsWith(web) || !fs.existsSync(file)) { res.writeHead(404); res.end(); return; }
  res.writeHead(200, { 'Content-Type': file.endsWith('.js') ? 'text/javascript' : 'text/css' });
  res.end(fs.readFileSync(file));
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${server.address().port}`;
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] });
const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
await page.goto(`${base}/`);
const out = await page.evaluate(async (N) => {
  const { buildAxes, brushFrom, filterByBrushes } = await import('/parcoords.js');
  const { ParallelCoordinates } = await import('/parcoords_view.js');
  const { importance } = await import('/importance.js');
  const { ParetoChart } = await import('/charts.js');
  let seed = 1;
  const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  const row = (i) => {
    const bits = [2, 4, 8][i % 3];
    const sp = 0.2 + 0.75 * rnd();
    return { id: i + 1, number: i, params: { 'quantize.bits': bits, 'prune.final_sparsity': sp, 'distill.lr': 1e-4 * 10 ** (2 * rnd()) },
      metrics: { val_accuracy: 0.5 + 0.05 * bits - 0.2 * sp + 0.02 * rnd(), size_bytes: 1e6 * bits / 32 * (1 - sp) + 1000 } };
  };
  const rows = Array.from({ length: N }, (_, i) => row(i));
  const objectives = [{ metric: 'val_accuracy', maximize: true }, { metric: 'size_bytes', maximize: false }];
  const params = ['distill.lr', 'prune.final_sparsity', 'quantize.bits'];
  const time = (f) => { const t = performance.now(); const r = f(); return [performance.now() - t, r]; };
  const res = {};
  const frame = () => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  // Time until the next frame after f(): includes the canvas rasterisation
  // that Chromium defers to the frame.
  const toFrame = async (f) => { const t = performance.now(); f(); await frame(); return performance.now() - t; };
  await frame();
  const pc = new ParallelCoordinates(document.getElementById('pc'), { onBrush: () => {} });
  let axes;
  [res.axes_ms, axes] = time(() => buildAxes(rows, params, objectives));
  [res.parcoords_update_ms] = time(() => pc.update(rows, axes));
  pc.brushes = { 'quantize.bits': brushFrom(axes[2], 0.5, 1) };
  [res.parcoords_brushed_draw_ms] = time(() => pc.draw());
  let kept;
  [res.brush_filter_ms, kept] = time(() => filterByBrushes(rows, axes, pc.brushes));
  res.brush_kept = kept.length;
  [res.importance_ms] = time(() => importance(rows, params, objectives));
  const chart = new ParetoChart(document.getElementById('sc'), { onClick: () => {} });
  const pts = rows.map((t) => ({ ...t, x: t.metrics.size_bytes, y: t.metrics.val_accuracy }));
  const opts = { points: pts, stopped: [], frontIds: new Set(), xMetric: 'size_bytes', yMetric: 'val_accuracy', xMax: false, yMax: true, formatValue: (k, v) => String(v) };
  [res.scatter_first_ms] = time(() => chart.update(opts));
  [res.scatter_color_shape_ms] = time(() => chart.update({ ...opts, colorBy: 'quantize.bits', shapeBy: 'prune.final_sparsity' }));
  await frame();
  // Whole redraws (the marker and line layers dropped), then a live batch of
  // 1,000 more trials (the layers kept: only the new ones are drawn).
  chart.layer = null;
  res.scatter_redraw_to_frame_ms = await toFrame(() => chart.update({ ...opts, colorBy: 'quantize.bits' }));
  pc.layer = null;
  res.parcoords_draw_to_frame_ms = await toFrame(() => pc.draw());
  const more = [...rows, ...Array.from({ length: 1000 }, (_, i) => row(N + i))];
  const { SortedPoints } = await import('/charts.js');
  const sorted = new SortedPoints();
  const asPoint = (t) => ({ ...t, x: t.metrics.size_bytes, y: t.metrics.val_accuracy });
  sorted.sync('k', rows, asPoint);
  chart.update({ ...opts, points: sorted.list, colorBy: 'quantize.bits' });
  await frame();
  res.scatter_add_1000_to_frame_ms = await toFrame(() => chart.update({ ...opts, points: sorted.sync('k', more, asPoint), colorBy: 'quantize.bits' }));
  res.scatter_add_1000_markers_drawn = chart.layerDrawn;
  pc.brushes = {};
  pc.update(rows, axes);
  await frame();
  const axesMore = buildAxes(more, params, objectives);
  res.parcoords_add_1000_to_frame_ms = await toFrame(() => pc.update(more, axesMore));
  res.parcoords_add_1000_lines_drawn = pc.linesDrawn;
  return res;
}, n);
console.log(JSON.stringify({ trials: n, ...Object.fromEntries(Object.entries(out).map(([k, v]) => [k, typeof v === 'number' ? Math.round(v * 10) / 10 : v])) }, null, 1));
await browser.close();
server.close();
