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
  const distinct = [...new Set(points.map((p) => JSON.stringify(value(p) ?? null)))].map((j) => JSON.parse(j));
  const numeric = distinct.every((v) => typeof v === 'number');
  distinct.sort((a, b) => (numeric ? a - b : String(a).localeCompare(String(b))));
  if (distinct.length <= max) {
    const index = new Map(distinct.map((v, i) => [JSON.stringify(v), i]));
    return {
      categories: distinct.map((v, i) => ({ key: JSON.stringify(v), label: v == null ? 'not set' : formatValue(param, v), color: PALETTE[i] })),
      of: (p) => index.get(JSON.stringify(value(p) ?? null)),
    };
  }
  // Many numbers: PALETTE.length ranges with about as many points each.
  const vals = points.map(value).filter((v) => typeof v === 'number').sort((a, b) => a - b);
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
    const done = opts.points.filter(finite);
    const stopped = (opts.stopped || []).filter(finite).map((p) => ({ ...p, stopped: true }));
    const shown = [...done, ...stopped].sort((a, b) => a.x - b.x || a.id - b.id);
    this.points = shown;
    this.opts = opts;
    // Mirror of what is drawn (see docs/dashboard.md).
    const byX = (list) => list.slice().sort((a, b) => a.x - b.x || a.id - b.id).map((p) => p.id).join(',');
    this.el.dataset.points = byX(done);
    this.el.dataset.stoppedIds = byX(stopped);
    this.el.dataset.frontIds = shown.filter((p) => !p.stopped && frontIds.has(p.id)).map((p) => p.id).join(',');
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
    // Style of each point: colour index, shape index, hollow.
    this.style = shown.map((p) => [cat.of(p), shapes ? shapes.of(p) : 0, p.stopped ? 1 : 0]);
    this.cat = cat;
    this.shapes = shapes;
    const data = [shown.map((p) => p.x), shown.map((p) => p.y),
      shown.map((p) => (!p.stopped && frontIds.has(p.id) ? p.y : null))];
    const refs = opts.references || [];
    const key = `${xMetric}|${yMetric}|${logX ? 1 : 0}|${refs.map((r) => `${r.label}:${r.x}:${r.y}`).join(',')}`;
    if (this.plot && this.key === key) {
      this.plot.setData(data);
      return;
    }
    if (this.plot) this.plot.destroy();
    this.key = key;
    const drawRefs = (u) => {
      const ctx = u.ctx;
      ctx.save();
      ctx.setLineDash([6, 4]);
      ctx.lineWidth = 1.5 * devicePixelRatio;
      ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
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
      scales: { x: logX ? { time: false, distr: 3 } : { time: false, range: padded }, y: { range: padded } },
      legend: { show: false },
      cursor: { points: { show: false }, drag: { x: true, y: true } },
      // Markers under the front's line and rings, references on top.
      hooks: { drawAxes: [(u) => this.drawMarkers(u)], draw: [drawRefs] },
      axes: [
        { label: axisLabel(xMetric, xMax), values: (u, ticks) => ticks.map((v) => axisTick(xMetric, v)), size: 50 },
        { label: axisLabel(yMetric, opts.yMax), values: (u, ticks) => ticks.map((v) => axisTick(yMetric, v)), size: 70 },
      ],
      series: [
        {},
        // Every marker (drawn by drawMarkers); the series only sets the scales.
        { label: 'trials', paths: () => null, points: { show: false } },
        {
          label: 'Pareto front',
          stroke: FRONT,
          width: 2,
          spanGaps: true,
          // The staircase follows the boundary of the dominated region.
          paths: uPlot.paths.stepped({ align: xMax ? -1 : 1 }),
          points: { show: true, size: 11, stroke: FRONT, fill: 'rgba(0,0,0,0)', width: 2 },
        },
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

  // One Path2D per (colour, shape, hollow): filled markers for succeeded
  // trials, outlines for stopped ones; clipped to the plotting area.
  drawMarkers(u) {
    const ctx = u.ctx;
    const r = 3.5 * devicePixelRatio;
    const { left, top, width, height } = u.bbox;
    const groups = new Map();
    this.points.forEach((p, i) => {
      const px = u.valToPos(p.x, 'x', true);
      const py = u.valToPos(p.y, 'y', true);
      if (px < left - r || px > left + width + r || py < top - r || py > top + height + r) return;
      const k = this.style[i].join(',');
      if (!groups.has(k)) groups.set(k, [new Path2D(), 0]);
      const g = groups.get(k);
      // Paths of at most MARKER_CHUNK markers: Chromium rasterises many
      // small paths faster than one huge one.
      if (g[1] === MARKER_CHUNK) {
        (g[2] = g[2] || []).push(g[0]);
        g[0] = new Path2D();
        g[1] = 0;
      }
      shapePath(g[0], this.shapes ? SHAPES[this.style[i][1]] : 'circle', px, py, r);
      g[1] += 1;
    });
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top, width, height);
    ctx.clip();
    for (const [k, g] of groups) {
      const [c, , hollow] = k.split(',').map(Number);
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
