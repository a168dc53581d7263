// Chart helpers on top of uPlot (loaded as the global `uPlot` from
// /vendor/uplot/dist/uPlot.iife.min.js). uPlot draws on a canvas, so the Pareto
// chart mirrors what it plotted into DOM attributes (data-points, data-front-ids)
// that tests and assistive tools can read.
import { axisLabel, axisTick, formatMetric, formatParam } from './format.js';
import { metricLabel, paramLabel } from './labels.js';

const FRONT = '#d9480f';
const DOMINATED = 'rgba(71, 85, 105, 0.28)';
const DOMINATED_STROKE = 'rgba(71, 85, 105, 0.45)';
const STOPPED = '#0f766e';  // var(--stopped) of style.css
const MARKER_CHUNK = 512;

// Linear range with 6% room on both sides, so points at the extremes stay visible.
function padded(u, min, max) {
  if (min == null || max == null) return [0, 1];
  const span = max - min || Math.abs(max) || 1;
  return [min - span * 0.06, max + span * 0.06];
}

// `padded` over the data and the references' y values.
function withRefs(u, min, max, refs) {
  const ys = refs.map((r) => r.y).filter(Number.isFinite);
  if (min == null || max == null || !ys.length) return padded(u, min, max);
  return padded(u, Math.min(min, ...ys), Math.max(max, ...ys));
}

// The chart takes its container's width (never more: no horizontal overflow).
function sizeOf(el, height) {
  return { width: Math.max(200, el.clientWidth || 640), height };
}

// 2-D front of the points (each {x, y}) for the given directions, sorted by x.
export function front2d(points, maxX, maxY) {
  const sx = maxX ? -1 : 1;
  const sy = maxY ? -1 : 1;
  const sorted = points
    .filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y))
    .sort((a, b) => sx * a.x - sx * b.x || sy * a.y - sy * b.y);
  const out = [];
  let best = Infinity;
  for (const p of sorted) {
    if (sy * p.y < best) {
      out.push(p);
      best = sy * p.y;
    }
  }
  return out.sort((a, b) => a.x - b.x);
}

// Colours of the colour-by categories (colour-blind safe, Okabe-Ito order).
export const PALETTE = ['#0072b2', '#e69f00', '#009e73', '#cc79a7', '#56b4e9', '#d55e00', '#f0e442', '#000000'];

// Categories of a setting over the points: each distinct value, in order, when
// there are at most PALETTE.length of them; else numbers fall into equal-count
// ranges. Returns {categories: [{key, label, color}], of(point) -> index}.
// `max`: most categories (PALETTE.length for colours, SHAPES.length for shapes).
export function categorize(points, param, formatValue, max = PALETTE.length) {
  if (!param) {
    return { categories: [{ key: 'all', label: 'trial', color: DOMINATED_STROKE }], of: () => 0 };
  }
  const value = (p) => (p.params || {})[param];
  // Values as Map keys: numbers, words and booleans as they are, objects by
  // their JSON (marked, so that they never meet a word); no JSON per point
  // (the page colours 100,000 points on each live batch).
  const keyOf = (v) => (v !== null && typeof v === 'object' ? `\u0000${JSON.stringify(v)}` : v ?? null);
  const seen = new Map();
  for (const p of points) {
    const v = value(p) ?? null;
    const k = keyOf(v);
    if (!seen.has(k)) {
      seen.set(k, v);
      if (seen.size > max) break;  // ranges (below) or too many to list: either way not one per value
    }
  }
  if (seen.size <= max) {
    const distinct = [...seen.values()];
    const numeric = distinct.every((v) => typeof v === 'number');
    distinct.sort((a, b) => (numeric ? a - b : String(a).localeCompare(String(b))));
    const index = new Map(distinct.map((v, i) => [keyOf(v), i]));
    return {
      categories: distinct.map((v, i) => ({ key: JSON.stringify(v), label: v == null ? 'not set' : formatValue(param, v), color: PALETTE[i] })),
      of: (p) => index.get(keyOf(value(p) ?? null)),
    };
  }
  // Many numbers: PALETTE.length ranges with about as many points each.
  const nums = [];
  for (const p of points) {
    const v = value(p);
    if (typeof v === 'number') nums.push(v);
  }
  const vals = Float64Array.from(nums).sort();
  const n = max;
  const edges = [];
  for (let i = 1; i < n; i++) edges.push(vals[Math.floor((i * vals.length) / n)]);
  const uniq = [...new Set(edges)];
  const bins = [vals[0], ...uniq];
  return {
    categories: bins.map((lo, i) => ({
      key: `range${i}`,
      label: i + 1 < bins.length ? `${formatValue(param, lo)} – <${formatValue(param, bins[i + 1])}` : `≥ ${formatValue(param, lo)}`,
      color: PALETTE[i],
    })),
    of: (p) => {
      const v = value(p);
      if (typeof v !== 'number') return 0;
      let i = 0;
      while (i + 1 < bins.length && v >= bins[i + 1]) i++;
      return i;
    },
  };
}

// Order of the scatter's points: by x, then id.
export const byX = (a, b) => a.x - b.x || a.id - b.id;

// `list` if it is already in byX order, else a sorted copy.
export function sortedByX(list) {
  for (let i = 1; i < list.length; i++) {
    if (byX(list[i - 1], list[i]) > 0) return list.slice().sort(byX);
  }
  return list;
}

// The two lists (each in byX order) merged, in byX order.
export function mergeByX(a, b) {
  if (!b.length) return a;
  if (!a.length) return b;
  const out = new Array(a.length + b.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < a.length && j < b.length) out[k++] = byX(a[i], b[j]) <= 0 ? a[i++] : b[j++];
  while (i < a.length) out[k++] = a[i++];
  while (j < b.length) out[k++] = b[j++];
  return out;
}

// The points of a list of rows kept in byX order while rows are appended
// (the page's trials only grow between full loads): sync() turns only the
// rows added since the last call into points, sorts those and merges them
// in, instead of building and sorting 100,000 points on each live batch.
// Points without a finite x and y are left out (the chart does not draw
// them). A new `key` (another load of the rows, other axes or selection)
// starts over.
export class SortedPoints {
  constructor() {
    this.key = null;
    this.n = 0;
    this.list = [];
  }

  sync(key, rows, make, keep = () => true) {
    if (key !== this.key || rows.length < this.n) {
      this.key = key;
      this.n = 0;
      this.list = [];
    }
    const add = [];
    for (let i = this.n; i < rows.length; i++) {
      if (!keep(rows[i])) continue;
      const p = make(rows[i]);
      if (Number.isFinite(p.x) && Number.isFinite(p.y)) add.push(p);
    }
    this.n = rows.length;
    if (add.length) this.list = mergeByX(this.list, add.sort(byX));
    return this.list;
  }
}

// Marker shapes of the shape-by categories, drawn as canvas paths (and as
// small SVGs in the legend).
export const SHAPES = ['circle', 'square', 'triangle', 'diamond', 'cross', 'star'];

// Adds the outline of a marker of `shape` centred at (x, y), radius r, to `path`
// (a Path2D or a 2-D context).
export function shapePath(path, shape, x, y, r) {
  switch (shape) {
    case 'square':
      path.rect(x - r * 0.85, y - r * 0.85, r * 1.7, r * 1.7);
      break;
    case 'triangle':
      path.moveTo(x, y - r * 1.1);
      path.lineTo(x + r, y + r * 0.75);
      path.lineTo(x - r, y + r * 0.75);
      path.closePath();
      break;
    case 'diamond':
      path.moveTo(x, y - r * 1.2);
      path.lineTo(x + r, y);
      path.lineTo(x, y + r * 1.2);
      path.lineTo(x - r, y);
      path.closePath();
      break;
    case 'cross': {
      const a = r * 0.38;
      path.moveTo(x - a, y - r); path.lineTo(x + a, y - r); path.lineTo(x + a, y - a); path.lineTo(x + r, y - a);
      path.lineTo(x + r, y + a); path.lineTo(x + a, y + a); path.lineTo(x + a, y + r); path.lineTo(x - a, y + r);
      path.lineTo(x - a, y + a); path.lineTo(x - r, y + a); path.lineTo(x - r, y - a); path.lineTo(x - a, y - a);
      path.closePath();
      break;
    }
    case 'star':
      for (let i = 0; i < 10; i++) {
        const rr = i % 2 ? r * 0.5 : r * 1.2;
        const ang = -Math.PI / 2 + (i * Math.PI) / 5;
        if (i === 0) path.moveTo(x + rr * Math.cos(ang), y + rr * Math.sin(ang));
        else path.lineTo(x + rr * Math.cos(ang), y + rr * Math.sin(ang));
      }
      path.closePath();
      break;
    default:
      path.moveTo(x + r, y);
      path.arc(x, y, r, 0, 2 * Math.PI);
  }
}

function shapeSvg(shape, color, hollow) {
  const p = new Path2DRecorder();
  shapePath(p, shape, 7, 7, 5);
  return `<svg class="glyph" width="14" height="14" viewBox="0 0 14 14" aria-hidden="true"><path d="${p.d}" fill="${hollow ? 'none' : color}" stroke="${color}" stroke-width="1.5"/></svg>`;
}

// Records path commands as SVG path data (for legend glyphs).
class Path2DRecorder {
  constructor() { this.d = ''; }
  moveTo(x, y) { this.d += `M${x.toFixed(2)} ${y.toFixed(2)}`; }
  lineTo(x, y) { this.d += `L${x.toFixed(2)} ${y.toFixed(2)}`; }
  closePath() { this.d += 'Z'; }
  rect(x, y, w, h) { this.d += `M${x} ${y}h${w}v${h}h${-w}Z`; }
  arc(x, y, r) { this.d += `M${x - r} ${y}a${r} ${r} 0 1 0 ${2 * r} 0a${r} ${r} 0 1 0 ${-2 * r} 0`; }
}

// Pareto scatter: every succeeded trial as a marker coloured by one setting
// and shaped by another (or grey circles), trials stopped early (MO-ASHA) as
// hollow markers at their rung's metrics (never on the front), the front of
// the two axes ringed and joined by a step line, optional reference lines
// (baselines). Markers are drawn by a hook, one path per style, so 100,000
// points cost a few paths.
// `points`: [{id, number, x, y, params, metrics, stopped}]; `frontIds`: Set of ids.
export class ParetoChart {
  constructor(el, { onClick }) {
    this.el = el;
    this.onClick = onClick;
    this.plot = null;
    this.points = [];
    this.tooltip = document.createElement('div');
    this.tooltip.className = 'tooltip';
    this.tooltip.dataset.testid = 'pareto-tooltip';
    this.tooltip.hidden = true;
    el.appendChild(this.tooltip);
    this.host = document.createElement('div');
    el.appendChild(this.host);
    this.legend = document.createElement('div');
    this.legend.className = 'legend chart-legend';
    this.legend.dataset.testid = 'pareto-legend';
    el.appendChild(this.legend);
  }

  // opts: {points, stopped, frontIds, xMetric, yMetric, xMax, yMax, logX,
  //   colorBy, colorLabel, shapeBy, shapeLabel, formatValue, objectives:
  //   [{metric}], references: [{label, x, y}]}. `stopped`: points of stopped
  //   trials to draw hollow (empty when hidden).
  update(opts) {
    const { frontIds, xMetric, yMetric, xMax, logX } = opts;
    const finite = (p) => Number.isFinite(p.x) && Number.isFinite(p.y) && (!logX || p.x > 0);
    // Points given in byX order (SortedPoints) are not sorted again.
    const done = sortedByX(opts.points.every(finite) ? opts.points : opts.points.filter(finite));
    const stopped = sortedByX((opts.stopped || []).filter(finite).map((p) => (p.stopped ? p : { ...p, stopped: true })));
    const shown = mergeByX(done, stopped);
    this.points = shown;
    this.opts = opts;
    // Mirror of what is drawn (see docs/dashboard.md), in x order.
    this.el.dataset.points = done.map((p) => p.id).join(',');
    this.el.dataset.stoppedIds = stopped.map((p) => p.id).join(',');
    this.front = done.filter((p) => frontIds.has(p.id));
    this.el.dataset.frontIds = this.front.map((p) => p.id).join(',');
    this.el.dataset.count = String(done.length);
    this.el.dataset.x = xMetric;
    this.el.dataset.y = yMetric;
    this.el.dataset.colorBy = opts.colorBy || '';
    this.el.dataset.shapeBy = opts.shapeBy || '';
    const fmt = opts.formatValue || ((k, v) => String(v));
    const cat = categorize(shown, opts.colorBy, fmt);
    const shapes = opts.shapeBy ? categorize(shown, opts.shapeBy, fmt, SHAPES.length) : null;
    this.renderLegend(cat, shapes, shown, opts);
    if (!window.uPlot) return;
    // Style of each point in one number: (colour index * SHAPES.length + shape index) * 2 + hollow.
    this.styleCode = shown.map((p) => (cat.of(p) * SHAPES.length + (shapes ? shapes.of(p) : 0)) * 2 + (p.stopped ? 1 : 0));
    this.cat = cat;
    this.shapes = shapes;
    // What the marker layer's pixels depend on besides positions (drawMarkers).
    this.styleKey = JSON.stringify([opts.colorBy || '', opts.shapeBy || '', cat.categories.map((c) => [c.key, c.color]),
      shapes ? shapes.categories.map((c) => c.key) : null]);
    // One series, for the scales only: markers and the front are drawn by hooks.
    const data = [shown.map((p) => p.x), shown.map((p) => p.y)];
    const refs = opts.references || [];
    const key = `${xMetric}|${yMetric}|${logX ? 1 : 0}|${refs.map((r) => `${r.label}:${r.x}:${r.y}`).join(',')}`;
    if (this.plot && this.key === key) {
      this.plot.setData(data);
      return;
    }
    if (this.plot) this.plot.destroy();
    this.key = key;
    // The front of the two axes: a staircase along the boundary of the
    // dominated region, and a ring on each member (drawn here rather than as
    // a uPlot series, which would walk every point on each redraw).
    const drawFront = (u) => {
      const pts = this.front;
      if (!pts.length) return;
      const ctx = u.ctx;
      const dpr = devicePixelRatio;
      const { left, top, width, height } = u.bbox;
      const xy = pts.map((p) => [Math.round(u.valToPos(p.x, 'x', true)), Math.round(u.valToPos(p.y, 'y', true))]);
      ctx.save();
      ctx.strokeStyle = FRONT;
      ctx.lineWidth = 2 * dpr;
      ctx.lineJoin = 'round';
      ctx.beginPath();
      ctx.rect(left, top, width, height);
      ctx.clip();
      ctx.beginPath();
      xy.forEach(([px, py], i) => {
        if (i === 0) ctx.moveTo(px, py);
        else if (xMax) ctx.lineTo(xy[i - 1][0], py);  // maximised x: vertical first
        else ctx.lineTo(px, xy[i - 1][1]);
        ctx.lineTo(px, py);
      });
      ctx.stroke();
      ctx.restore();
      ctx.save();
      const ring = 4.5 * dpr;  // a marker of 11 px with a 2 px stroke
      ctx.beginPath();
      ctx.rect(left - 2 * ring, top - 2 * ring, width + 4 * ring, height + 4 * ring);
      ctx.clip();
      ctx.strokeStyle = FRONT;
      ctx.lineWidth = 2 * dpr;
      const rings = new Path2D();
      for (const [px, py] of xy) {
        rings.moveTo(px + ring, py);
        rings.arc(px, py, ring, 0, 2 * Math.PI);
      }
      ctx.stroke(rings);
      ctx.restore();
    };
    const drawRefs = (u) => {
      const ctx = u.ctx;
      ctx.save();
      ctx.setLineDash([6, 4]);
      ctx.lineWidth = 1.5 * devicePixelRatio;
      ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
      // uPlot leaves the y axis's right alignment on the context: labels
      // start inside the plot instead of running over the tick labels.
      ctx.textAlign = 'left';
      ctx.textBaseline = 'alphabetic';
      ctx.beginPath();
      ctx.rect(u.bbox.left, u.bbox.top, u.bbox.width, u.bbox.height);
      ctx.clip();
      refs.forEach((r, i) => {
        ctx.strokeStyle = ctx.fillStyle = i === 0 ? '#7c3aed' : '#0f766e';
        if (Number.isFinite(r.y)) {
          const py = u.valToPos(r.y, 'y', true);
          ctx.beginPath();
          ctx.moveTo(u.bbox.left, py);
          ctx.lineTo(u.bbox.left + u.bbox.width, py);
          ctx.stroke();
          ctx.fillText(r.label, u.bbox.left + 4 * devicePixelRatio, py - 4 * devicePixelRatio);
        }
        if (Number.isFinite(r.x)) {
          const px = u.valToPos(r.x, 'x', true);
          ctx.beginPath();
          ctx.moveTo(px, u.bbox.top);
          ctx.lineTo(px, u.bbox.top + u.bbox.height);
          ctx.stroke();
        }
      });
      ctx.restore();
    };
    const uopts = {
      ...sizeOf(this.el, 380),
      // The y range takes in the reference lines (the teacher is often more
      // accurate than every trial); x does not (a dense size far to the right
      // would squeeze the trials together), and lines outside it are not drawn.
      scales: { x: logX ? { time: false, distr: 3 } : { time: false, range: padded }, y: { range: (u, min, max) => withRefs(u, min, max, refs) } },
      legend: { show: false },
      cursor: { points: { show: false }, drag: { x: true, y: true } },
      // Markers under the front's line and rings, references on top.
      // drawClear/draw: the redraw's time as a User Timing measure (bench/web_live_bench.mjs).
      hooks: {
        drawClear: [() => { this.drawStart = performance.now(); }],
        drawAxes: [(u) => this.drawMarkers(u)],
        draw: [drawFront, drawRefs, () => performance.measure && performance.measure('dashboard scatter draw', { start: this.drawStart, end: performance.now() })],
      },
      axes: [
        { label: axisLabel(xMetric, xMax), values: (u, ticks) => ticks.map((v) => axisTick(xMetric, v)), size: 50 },
        { label: axisLabel(yMetric, opts.yMax), values: (u, ticks) => ticks.map((v) => axisTick(yMetric, v)), size: 70 },
      ],
      series: [
        {},
        // Every marker (drawn by drawMarkers); the series only sets the scales.
        { label: 'trials', paths: () => null, points: { show: false } },
      ],
    };
    this.plot = new uPlot(uopts, data, this.host);
    const over = this.plot.over;
    over.addEventListener('mousemove', (e) => this.hover(e));
    over.addEventListener('mouseleave', () => { this.tooltip.hidden = true; });
    over.addEventListener('click', (e) => {
      const p = this.nearest(e);
      if (p && this.onClick) this.onClick(p.id);
    });
  }

  // The markers live on a layer canvas that is kept between redraws: when
  // the scales, the plot's box and the styles are unchanged and every marker
  // already drawn is still shown at the same place, only the new points are
  // drawn onto it (a live batch of 1,000 results at 100,000 trials then
  // rasterises 1,000 markers instead of 101,000); otherwise it is redrawn
  // whole. The layer is then copied onto uPlot's canvas under the front.
  drawMarkers(u) {
    const ctx = u.ctx;
    const r = 3.5 * devicePixelRatio;
    const { left, top, width, height } = u.bbox;
    const key = [ctx.canvas.width, ctx.canvas.height, left, top, width, height, u.scales.x.min, u.scales.x.max,
      u.scales.y.min, u.scales.y.max, r, this.key, this.styleKey].join('|');
    let layer = this.layer;
    let todo = null;
    if (layer && layer.key === key) {
      // Indexes of the points not on the layer yet; null when the layer holds
      // a marker that is no longer shown, or shown elsewhere or otherwise.
      todo = [];
      let kept = 0;
      for (let i = 0; i < this.points.length; i++) {
        const p = this.points[i];
        const had = layer.drawn.get(p.id);
        if (had === undefined) {
          todo.push(i);
        } else if (had.x !== p.x || had.y !== p.y || had.style !== this.styleCode[i]) {
          todo = null;
          break;
        } else {
          kept += 1;
        }
      }
      if (todo && kept !== layer.drawn.size) todo = null;
    }
    if (!todo) {
      const canvas = document.createElement('canvas');
      canvas.width = ctx.canvas.width;
      canvas.height = ctx.canvas.height;
      layer = { key, canvas, drawn: new Map() };
      this.layer = layer;
      todo = this.points.map((p, i) => i);
    }
    this.layerDrawn = todo.length;  // for tests and benchmarks: markers drawn by the last redraw
    if (todo.length) this.paintMarkers(u, layer, todo, r);
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(layer.canvas, 0, 0);
    ctx.restore();
  }

  // One Path2D per (colour, shape, hollow): filled markers for succeeded
  // trials, outlines for stopped ones; clipped to the plotting area.
  paintMarkers(u, layer, indexes, r) {
    const ctx = layer.canvas.getContext('2d');
    const { left, top, width, height } = u.bbox;
    const groups = new Map();
    for (const i of indexes) {
      const p = this.points[i];
      const k = this.styleCode[i];
      layer.drawn.set(p.id, { x: p.x, y: p.y, style: k });
      const px = u.valToPos(p.x, 'x', true);
      const py = u.valToPos(p.y, 'y', true);
      if (px < left - r || px > left + width + r || py < top - r || py > top + height + r) continue;
      if (!groups.has(k)) groups.set(k, [new Path2D(), 0]);
      const g = groups.get(k);
      // Paths of at most MARKER_CHUNK markers: Chromium rasterises many
      // small paths faster than one huge one.
      if (g[1] === MARKER_CHUNK) {
        (g[2] = g[2] || []).push(g[0]);
        g[0] = new Path2D();
        g[1] = 0;
      }
      shapePath(g[0], this.shapes ? SHAPES[Math.floor(k / 2) % SHAPES.length] : 'circle', px, py, r);
      g[1] += 1;
    }
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top, width, height);
    ctx.clip();
    for (const [k, g] of groups) {
      const hollow = k % 2;
      const c = Math.floor(k / 2 / SHAPES.length);
      const color = this.cat.categories[c].color;
      ctx.strokeStyle = this.opts.colorBy ? color : hollow ? STOPPED : DOMINATED_STROKE;
      ctx.lineWidth = hollow ? 1.5 : 1;
      ctx.fillStyle = hollow ? '#ffffff' : this.opts.colorBy ? color : DOMINATED;
      for (const path of [...(g[2] || []), g[0]]) {
        ctx.fill(path);
        ctx.stroke(path);
      }
    }
    ctx.restore();
  }

  renderLegend(cat, shapes, shown, opts) {
    const counts = new Array(cat.categories.length).fill(0);
    shown.forEach((p) => { counts[cat.of(p)] += 1; });
    const title = opts.colorBy ? `<b>${escapeHtml(opts.colorLabel || opts.colorBy)}:</b>` : '';
    const nStopped = shown.filter((p) => p.stopped).length;
    const items = opts.colorBy
      ? cat.categories.map((c, i) => `<span class="legend-item" data-value="${escapeHtml(c.label)}" title="markers with this value${nStopped ? ', stopped ones included' : ''}"><span class="dot" style="background:${c.color};border:1px solid ${c.color}"></span>${escapeHtml(c.label)} (${counts[i]})</span>`).join('')
      : `<span class="legend-item" data-value="succeeded"><span class="dot" style="background:${DOMINATED};border:1px solid ${DOMINATED_STROKE}"></span>succeeded (${shown.length - nStopped})</span>`;
    let shapeItems = '';
    if (shapes) {
      const sc = new Array(shapes.categories.length).fill(0);
      shown.forEach((p) => { sc[shapes.of(p)] += 1; });
      shapeItems = `<span class="legend-break" data-testid="shape-legend"><b>${escapeHtml(opts.shapeLabel || opts.shapeBy)}:</b>${shapes.categories
        .map((c, i) => `<span class="legend-item shape-item" data-shape="${SHAPES[i]}" data-shape-value="${escapeHtml(c.label)}">${shapeSvg(SHAPES[i], '#475569', false)}${escapeHtml(c.label)} (${sc[i]})</span>`).join('')}</span>`;
    }
    const stoppedItem = nStopped ? `<span class="legend-item" data-value="stopped" title="stopped early by MO-ASHA: drawn at the metrics measured at its rung; never on the front">${shapeSvg('circle', opts.colorBy ? '#475569' : STOPPED, true)}stopped early (${nStopped}, rung metrics)</span>` : '';
    const front = `<span class="legend-item" data-value="front" title="no other succeeded trial is better on both axes"><span class="dot ring"></span>on the front of the two axes</span>`;
    const refs = (opts.references || []).map((r, i) => `<span class="legend-item" data-value="${escapeHtml(r.label)}"><span class="dash" style="border-color:${i === 0 ? '#7c3aed' : '#0f766e'}"></span>${escapeHtml(r.label)}</span>`).join('');
    this.legend.innerHTML = `${title}${items}${shapeItems}${stoppedItem}${front}${refs}`;
  }

  nearest(e) {
    if (!this.plot) return null;
    const u = this.plot;
    const rect = u.over.getBoundingClientRect();
    const cx = e.clientX - rect.left;
    const cy = e.clientY - rect.top;
    let best = null;
    let bestD = 12 * 12;  // pixels
    for (const p of this.points) {
      const dx = u.valToPos(p.x, 'x') - cx;
      const dy = u.valToPos(p.y, 'y') - cy;
      const d = dx * dx + dy * dy;
      if (d < bestD) {
        best = p;
        bestD = d;
      }
    }
    return best;
  }

  hover(e) {
    const p = this.nearest(e);
    if (!p) {
      this.tooltip.hidden = true;
      this.plot.over.style.cursor = '';
      return;
    }
    const { xMetric, yMetric, objectives = [], formatValue } = this.opts;
    this.plot.over.style.cursor = 'pointer';
    const shownMetrics = [...new Set([yMetric, xMetric, ...objectives.map((o) => o.metric)])];
    const metrics = shownMetrics
      .map((m) => `<tr><td>${escapeHtml(metricLabel(m))}</td><td>${escapeHtml(formatMetric(m, (p.metrics || {})[m] ?? (m === xMetric ? p.x : m === yMetric ? p.y : null)))}</td></tr>`)
      .join('');
    const params = Object.entries(p.params || {})
      .map(([k, v]) => `<tr><td>${escapeHtml(paramLabel(k))}</td><td>${escapeHtml(formatValue ? formatValue(k, v) : formatParam(v))}</td></tr>`)
      .join('');
    const stopNote = p.stopped ? `<div class="tooltip-note">stopped early at epoch ${escapeHtml(formatParam((p.metrics || {}).stopped_at_epoch))}: metrics measured at that rung</div>` : '';
    this.tooltip.innerHTML = `<b>trial ${p.id}</b> (#${p.number})${p.stopped ? ' · stopped' : ''}${stopNote}<table>${metrics}</table><table>${params}</table>`;
    this.tooltip.dataset.trialId = String(p.id);
    const rect = this.el.getBoundingClientRect();
    this.tooltip.style.left = `${Math.max(0, Math.min(e.clientX - rect.left + 14, rect.width - 270))}px`;
    this.tooltip.style.top = `${e.clientY - rect.top + 14}px`;
    this.tooltip.hidden = false;
  }

  resize() {
    if (this.plot) this.plot.setSize(sizeOf(this.el, 380));
  }
}

// A line chart over time or steps. `series`: [{label, values, color, scale}],
// `xs`: shared x values; `time`: x in seconds since the epoch.
export class LineChart {
  constructor(el, { height = 220, time = false, xLabel = '', scales = {}, legend = true } = {}) {
    this.el = el;
    this.legend = legend;
    this.height = height;
    this.time = time;
    this.xLabel = xLabel;
    this.scales = scales;  // scale key -> {label, tick(v)}
    this.plot = null;
    this.key = '';
  }

  update(xs, series) {
    if (!window.uPlot) return;
    const key = series.map((s) => s.label).join('|');
    const data = [xs, ...series.map((s) => s.values)];
    if (this.plot && key === this.key) {
      this.plot.setData(data);
      return;
    }
    if (this.plot) this.plot.destroy();
    this.key = key;
    const scaleKeys = [...new Set(series.map((s) => s.scale || 'y'))];
    // Integer x (report numbers) gets integer ticks only.
    const integerX = !this.time && xs.every((x) => Number.isInteger(x));
    const axes = [{ label: this.xLabel, values: integerX ? (u, ticks) => ticks.map((v) => (Number.isInteger(v) ? v : '')) : undefined }];
    scaleKeys.forEach((k, i) => {
      const sc = this.scales[k] || {};
      axes.push({
        scale: k,
        label: sc.label || '',
        side: i === 0 ? 3 : 1,
        grid: { show: i === 0 },
        size: 60,
        values: sc.tick ? (u, ticks) => ticks.map(sc.tick) : undefined,
      });
    });
    const scales = { x: this.time ? { time: true } : { time: false, range: padded } };
    for (const k of scaleKeys) scales[k] = (this.scales[k] || {}).range ? { range: this.scales[k].range } : { range: padded };
    this.plot = new uPlot(
      {
        ...sizeOf(this.el, this.height),
        scales,
        axes,
        legend: { show: this.legend },
        series: [{}, ...series.map((s) => ({
          label: s.label, stroke: s.color, width: 2, scale: s.scale || 'y', spanGaps: true,
          points: { show: true, size: 6, fill: s.color },
        }))],
      },
      data,
      this.el,
    );
  }

  resize() {
    if (this.plot) this.plot.setSize(sizeOf(this.el, this.height));
  }

  destroy() {
    if (this.plot) this.plot.destroy();
    this.plot = null;
  }
}

export function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}
