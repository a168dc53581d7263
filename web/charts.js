// Chart helpers on top of uPlot (loaded as the global `uPlot` from
// /vendor/uplot/dist/uPlot.iife.min.js). uPlot draws on a canvas, so the Pareto
// chart mirrors what it plotted into DOM attributes (data-points, data-front-ids)
// that tests and assistive tools can read.
import { axisLabel, axisTick, formatMetric, formatParam } from './format.js';

const FRONT = '#d9480f';
const DOMINATED = 'rgba(71, 85, 105, 0.28)';
const DOMINATED_STROKE = 'rgba(71, 85, 105, 0.45)';

// Linear range with 6% room on both sides, so points at the extremes stay visible.
function padded(u, min, max) {
  if (min == null || max == null) return [0, 1];
  const span = max - min || Math.abs(max) || 1;
  return [min - span * 0.06, max + span * 0.06];
}

function sizeOf(el, height) {
  return { width: Math.max(320, el.clientWidth || 640), height };
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

// Pareto scatter: every succeeded trial as a faded dot, the front highlighted and
// joined by a step line. `points`: [{id, x, y, params}]; `frontIds`: Set of ids.
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
  }

  update({ points, frontIds, xMetric, yMetric, xMax, yMax, logX }) {
    if (!window.uPlot) {
      this.updateMirrorOnly(points, frontIds, xMetric, yMetric);
      return;
    }
    const sorted = points
      .filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y))
      .sort((a, b) => a.x - b.x || a.id - b.id);
    this.points = sorted;
    const xs = sorted.map((p) => p.x);
    const dominated = sorted.map((p) => (frontIds.has(p.id) ? null : p.y));
    const front = sorted.map((p) => (frontIds.has(p.id) ? p.y : null));
    const key = `${xMetric}|${yMetric}|${logX ? 1 : 0}`;
    // Mirror of what is drawn (see docs/dashboard.md).
    this.el.dataset.points = sorted.map((p) => p.id).join(',');
    this.el.dataset.frontIds = sorted.filter((p) => frontIds.has(p.id)).map((p) => p.id).join(',');
    this.el.dataset.count = String(sorted.length);
    this.el.dataset.x = xMetric;
    this.el.dataset.y = yMetric;
    const data = [xs, dominated, front];
    if (this.plot && this.key === key) {
      this.plot.setData(data);
      return;
    }
    if (this.plot) this.plot.destroy();
    this.key = key;
    const opts = {
      ...sizeOf(this.el, 380),
      scales: { x: logX ? { time: false, distr: 3 } : { time: false, range: padded }, y: { range: padded } },
      legend: { show: false },
      cursor: { points: { show: false }, drag: { x: true, y: true } },
      axes: [
        { label: axisLabel(xMetric, xMax), values: (u, ticks) => ticks.map((v) => axisTick(xMetric, v)), size: 50 },
        { label: axisLabel(yMetric, yMax), values: (u, ticks) => ticks.map((v) => axisTick(yMetric, v)), size: 70 },
      ],
      series: [
        {},
        {
          label: 'dominated',
          stroke: DOMINATED_STROKE,
          fill: DOMINATED,
          paths: () => null,
          points: { show: true, size: 7, stroke: DOMINATED_STROKE, fill: DOMINATED, width: 1 },
        },
        {
          label: 'Pareto front',
          stroke: FRONT,
          width: 2,
          spanGaps: true,
          // The staircase follows the boundary of the dominated region.
          paths: uPlot.paths.stepped({ align: xMax ? -1 : 1 }),
          points: { show: true, size: 9, stroke: FRONT, fill: '#fff4ec', width: 2 },
        },
      ],
    };
    this.plot = new uPlot(opts, data, this.host);
    const over = this.plot.over;
    over.addEventListener('mousemove', (e) => this.hover(e, xMetric, yMetric));
    over.addEventListener('mouseleave', () => { this.tooltip.hidden = true; });
    over.addEventListener('click', (e) => {
      const p = this.nearest(e);
      if (p && this.onClick) this.onClick(p.id);
    });
  }

  // Without the chart library the data attributes still describe the points.
  updateMirrorOnly(points, frontIds, xMetric, yMetric) {
    const shown = points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
    this.el.dataset.points = shown.map((p) => p.id).join(',');
    this.el.dataset.frontIds = shown.filter((p) => frontIds.has(p.id)).map((p) => p.id).join(',');
    this.el.dataset.count = String(shown.length);
    this.el.dataset.x = xMetric;
    this.el.dataset.y = yMetric;
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

  hover(e, xMetric, yMetric) {
    const p = this.nearest(e);
    if (!p) {
      this.tooltip.hidden = true;
      this.plot.over.style.cursor = '';
      return;
    }
    this.plot.over.style.cursor = 'pointer';
    const params = Object.entries(p.params || {})
      .map(([k, v]) => `<tr><td>${escapeHtml(k)}</td><td>${escapeHtml(formatParam(v))}</td></tr>`)
      .join('');
    this.tooltip.innerHTML =
      `<b>trial ${p.id}</b> (#${p.number})<br>` +
      `${escapeHtml(yMetric)}: ${escapeHtml(formatMetric(yMetric, p.y))}<br>` +
      `${escapeHtml(xMetric)}: ${escapeHtml(formatMetric(xMetric, p.x))}` +
      `<table>${params}</table>`;
    this.tooltip.dataset.trialId = String(p.id);
    const rect = this.el.getBoundingClientRect();
    this.tooltip.style.left = `${Math.min(e.clientX - rect.left + 14, rect.width - 220)}px`;
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
