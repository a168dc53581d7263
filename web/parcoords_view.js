// Parallel-coordinates chart with brushing (logic in parcoords.js): one
// vertical axis per swept setting and objective, one line per trial, drawn on
// a canvas in two paths (inside / outside the brushes). Drag along an axis to
// brush it (only trials inside every brush stay selected); click an axis
// without dragging to clear its brush. Each axis has a DOM strip over it
// (data-testid=pc-axis, data-key) that takes the pointer and that tests read.
import { escapeHtml } from './charts.js';
import { axisTick, formatParamValue } from './format.js';
import { metricLabel, paramLabel } from './labels.js';
import { brushFrom, brushSpan, keepBrushes, passes, position, valueAt, valueOf } from './parcoords.js';

const HEIGHT = 300;
const TOP = 40;      // room for the axis titles and the top tick
const BOTTOM = 22;   // room for the bottom tick
const SIDE = 48;     // left and right margins
const CHUNK = 256;   // lines per stroked path

export class ParallelCoordinates {
  // onBrush(brushes): called after a brush changes.
  constructor(el, { onBrush }) {
    this.el = el;
    this.onBrush = onBrush;
    this.brushes = {};
    this.rows = [];
    this.axes = [];
    el.classList.add('pc');
    this.canvas = document.createElement('canvas');
    this.strips = document.createElement('div');
    this.strips.className = 'pc-strips';
    el.appendChild(this.canvas);
    el.appendChild(this.strips);
    this.frame = 0;
  }

  // rows: [{id, params, metrics}]; axes: from buildAxes.
  update(rows, axes) {
    this.rows = rows;
    this.axes = axes;
    this.brushes = keepBrushes(axes, this.brushes);
    this.el.dataset.axes = axes.map((a) => a.key).join(',');
    // The axis strips are rebuilt only when the axes or the width changed: a
    // live refresh then leaves the strip under a dragging pointer in place.
    const shape = JSON.stringify([this.el.clientWidth, axes.map((a) => [a.key, this.title(a)])]);
    if (shape !== this.shape) {
      this.shape = shape;
      this.layout();
    }
    this.draw();
  }

  selectedCount() {
    return this.rows.filter((r) => passes(r, this.axes, this.brushes)).length;
  }

  clear() {
    this.brushes = {};
    this.draw();
    this.onBrush(this.brushes);
  }

  axisX(i) {
    const w = this.width;
    return this.axes.length === 1 ? w / 2 : SIDE + (i * (w - 2 * SIDE)) / (this.axes.length - 1);
  }

  // Position (0..1, bottom to top) of a y pixel inside the plot.
  tOf(y) {
    return Math.max(0, Math.min(1, 1 - (y - TOP) / (HEIGHT - TOP - BOTTOM)));
  }

  yOf(t) {
    return TOP + (1 - t) * (HEIGHT - TOP - BOTTOM);
  }

  layout() {
    this.width = Math.max(200, this.el.clientWidth || 600);
    const dpr = window.devicePixelRatio || 1;
    this.canvas.width = this.width * dpr;
    this.canvas.height = HEIGHT * dpr;
    this.canvas.style.width = `${this.width}px`;
    this.canvas.style.height = `${HEIGHT}px`;
    this.strips.innerHTML = this.axes.map((a, i) => `<div class="pc-axis" data-testid="pc-axis" data-key="${escapeHtml(a.key)}"
      title="drag to select a range of ${escapeHtml(this.title(a))}; click to clear" style="left:${this.axisX(i) - 12}px;top:${TOP}px;height:${HEIGHT - TOP - BOTTOM}px"></div>`).join('');
    this.strips.querySelectorAll('.pc-axis').forEach((strip, i) => this.bindStrip(strip, i));
  }

  title(a) {
    return a.kind === 'param' ? paramLabel(a.key) : `${metricLabel(a.key)} ${a.maximize ? '↑' : '↓'}`;
  }

  bindStrip(strip, i) {
    strip.addEventListener('pointerdown', (e) => {
      e.preventDefault();
      strip.setPointerCapture(e.pointerId);
      const rect = this.canvas.getBoundingClientRect();
      const t0 = this.tOf(e.clientY - rect.top);
      let moved = false;
      const axis = this.axes[i];
      const move = (ev) => {
        const t1 = this.tOf(ev.clientY - rect.top);
        if (Math.abs(t1 - t0) * (HEIGHT - TOP - BOTTOM) < 3 && !moved) return;
        moved = true;
        this.brushes[axis.key] = brushFrom(axis, t0, t1);
        if (!this.brushes[axis.key]) delete this.brushes[axis.key];
        this.drawSoon();
      };
      const up = () => {
        strip.removeEventListener('pointermove', move);
        strip.removeEventListener('pointerup', up);
        strip.removeEventListener('pointercancel', up);
        if (!moved) delete this.brushes[axis.key];
        this.draw();
        this.onBrush(this.brushes);
      };
      strip.addEventListener('pointermove', move);
      strip.addEventListener('pointerup', up);
      strip.addEventListener('pointercancel', up);
    });
  }

  drawSoon() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  // The lines live on a layer canvas kept between draws: when the axes, the
  // brushes and the size are unchanged and the rows only grew (the page's
  // trials arrive in order), only the new rows' lines are drawn onto it (at
  // 100,000 trials, a live batch draws its 1,000 lines instead of
  // rasterising 101,000 again); otherwise it is drawn whole. New lines land
  // on top of the older ones, whichever side of the brushes they are on.
  draw() {
    const dpr = window.devicePixelRatio || 1;
    const key = JSON.stringify([this.width, dpr, this.axes, this.brushes]);
    let layer = this.layer;
    let from = 0;
    if (layer && layer.key === key && layer.rows.length <= this.rows.length &&
        layer.rows.every((r, i) => r === this.rows[i])) {
      from = layer.rows.length;
    } else {
      const canvas = document.createElement('canvas');
      canvas.width = this.width * dpr;
      canvas.height = HEIGHT * dpr;
      layer = { key, canvas, rows: [], selected: 0 };
      this.layer = layer;
    }
    this.linesDrawn = this.rows.length - from;  // for tests and benchmarks
    if (from < this.rows.length) this.paintLines(layer, from, dpr);
    layer.rows = this.rows;
    const ctx = this.canvas.getContext('2d');
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    ctx.drawImage(layer.canvas, 0, 0);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const xs = this.axes.map((a, i) => this.axisX(i));
    const selected = layer.selected;
    this.el.dataset.selected = String(selected);
    this.el.dataset.total = String(this.rows.length);
    this.el.dataset.brushed = Object.keys(this.brushes).join(',');
    // Axes, titles, ticks, brushes.
    ctx.font = '11px system-ui, sans-serif';
    ctx.textAlign = 'center';
    const room = this.axes.length > 1 ? (this.width - 2 * SIDE) / (this.axes.length - 1) : this.width;
    this.axes.forEach((a, i) => {
      const x = xs[i];
      ctx.strokeStyle = '#475569';
      ctx.beginPath();
      ctx.moveTo(x, this.yOf(1));
      ctx.lineTo(x, this.yOf(0));
      ctx.stroke();
      ctx.fillStyle = '#1f2933';
      const title = fit(ctx, this.title(a), Math.max(40, room - 6));
      const half = ctx.measureText(title).width / 2;
      // Titles of the outer axes stay inside the canvas.
      ctx.fillText(title, Math.max(half + 2, Math.min(this.width - half - 2, x)), 14);
      ctx.fillStyle = '#6b7280';
      const tick = (t) => (a.type === 'cat' ? a.categories[Math.round(t * (a.categories.length - 1))] : this.tickText(a, valueAt(a, t)));
      if (a.type === 'cat') {
        a.categories.forEach((c) => {
          const t = position(a, c);
          ctx.fillText(fit(ctx, this.catText(a, c), Math.max(30, room - 10)), x, Math.max(TOP - 6, this.yOf(t) - 4));
        });
      } else {
        ctx.fillText(fit(ctx, tick(1), room - 6), x, TOP - 6);
        ctx.fillText(fit(ctx, tick(0), room - 6), x, HEIGHT - 6);
      }
      const b = this.brushes[a.key];
      const span = b && brushSpan(a, b);
      if (span) {
        ctx.fillStyle = 'rgba(217, 72, 15, 0.18)';
        ctx.strokeStyle = '#d9480f';
        const y1 = this.yOf(span[1]);
        const y0 = this.yOf(span[0]);
        ctx.fillRect(x - 8, y1, 16, Math.max(2, y0 - y1));
        ctx.strokeRect(x - 8, y1, 16, Math.max(2, y0 - y1));
      }
    });
  }

  // Lines of rows[from..] onto the layer: outside the brushes first (grey),
  // then inside; stroked in chunks of CHUNK lines: Chromium rasterises one
  // path of 100,000 polylines hundreds of times slower than many small ones.
  paintLines(layer, from, dpr) {
    const ctx = layer.canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const xs = this.axes.map((a, i) => this.axisX(i));
    const brushed = Object.keys(this.brushes).length > 0;
    const rows = this.rows.slice(from);
    const passing = rows.map((r) => !brushed || passes(r, this.axes, this.brushes));
    layer.selected += passing.filter(Boolean).length;
    ctx.lineWidth = 1;
    for (const inside of [false, true]) {
      ctx.strokeStyle = !inside ? 'rgba(148, 163, 184, 0.25)' : brushed ? 'rgba(217, 72, 15, 0.55)' : 'rgba(37, 99, 235, 0.35)';
      let path = new Path2D();
      let count = 0;
      rows.forEach((r, k) => {
        if (passing[k] !== inside) return;
        let pen = false;
        this.axes.forEach((a, i) => {
          const t = position(a, valueOf(a, r));
          if (t === null) {
            pen = false;
            return;
          }
          if (pen) path.lineTo(xs[i], this.yOf(t));
          else path.moveTo(xs[i], this.yOf(t));
          pen = true;
        });
        if (++count % CHUNK === 0) {
          ctx.stroke(path);
          path = new Path2D();
        }
      });
      ctx.stroke(path);
    }
  }

  tickText(a, v) {
    return a.kind === 'param' ? formatParamValue(a.key, Number(v.toPrecision(3))) : axisTick(a.key, v);
  }

  catText(a, c) {
    return formatParamValue(a.key, c === 'true' ? true : c === 'false' ? false : c);
  }

  resize() {
    this.shape = null;
    this.layout();
    this.draw();
  }
}

// Text cut with an ellipsis to fit `max` pixels.
function fit(ctx, text, max) {
  const s = String(text);
  if (ctx.measureText(s).width <= max) return s;
  let n = s.length;
  while (n > 1 && ctx.measureText(`${s.slice(0, n)}…`).width > max) n--;
  return `${s.slice(0, n)}…`;
}
