// Parallel coordinates of settings and objectives: axes, where a value sits
// on its axis, and the brushing filter. Pure functions; no DOM. Used by
// parcoords_view.js and node tests.

// The value of `axis` in a trial row {params, metrics}.
export function valueOf(axis, row) {
  const src = axis.kind === 'param' ? row.params : row.metrics;
  return src ? src[axis.key] : undefined;
}

const isNum = (v) => typeof v === 'number' && Number.isFinite(v);

// One axis per swept setting (kind 'param') then per objective (kind
// 'metric'). A setting whose values are all numbers is numeric (log scale when
// all are positive and span a factor of 50 or more, as learning rates do);
// otherwise its distinct values are categories, evenly spaced, in sorted
// order. Objectives are numeric; `maximize` is kept for the label.
// rows: [{params, metrics}]; params: [name]; objectives: [{metric, maximize}].
export function buildAxes(rows, params, objectives) {
  const axes = [];
  // One pass per axis, no array of its values (the page calls this over
  // 100,000 trials; Math.min(...values) also overflows the stack there).
  const make = (key, kind, extra = {}) => {
    const axis = { key, kind, ...extra };
    let seen = 0;
    let numeric = true;
    let min = Infinity;
    let max = -Infinity;
    for (const r of rows) {
      const v = valueOf(axis, r);
      if (v === undefined || v === null) continue;
      seen += 1;
      if (isNum(v)) {
        if (v < min) min = v;
        if (v > max) max = v;
      } else {
        numeric = false;
        break;
      }
    }
    if (!seen) return null;
    if (numeric) {
      const log = min > 0 && max / min >= 50;
      return { ...axis, type: 'num', min, max, log };
    }
    const cats = new Set();
    for (const r of rows) {
      const v = valueOf(axis, r);
      if (v !== undefined && v !== null) cats.add(typeof v === 'object' ? JSON.stringify(v) : String(v));
    }
    return { ...axis, type: 'cat', categories: [...cats].sort() };
  };
  for (const p of params) {
    const a = make(p, 'param');
    if (a) axes.push(a);
  }
  for (const o of objectives) {
    const a = make(o.metric, 'metric', { maximize: Boolean(o.maximize) });
    if (a && a.type === 'num') axes.push(a);
  }
  return axes;
}

// Where `value` sits on `axis`: 0 (bottom) .. 1 (top), or null when it has no
// place (missing, or not of the axis's type). A numeric axis spanning one
// value puts it in the middle.
export function position(axis, value) {
  if (value === undefined || value === null) return null;
  if (axis.type === 'cat') {
    const key = typeof value === 'object' ? JSON.stringify(value) : String(value);
    const i = axis.categories.indexOf(key);
    if (i < 0) return null;
    return axis.categories.length === 1 ? 0.5 : i / (axis.categories.length - 1);
  }
  if (!isNum(value)) return null;
  if (axis.max === axis.min) return 0.5;
  if (axis.log) {
    if (value <= 0) return null;
    return (Math.log(value) - Math.log(axis.min)) / (Math.log(axis.max) - Math.log(axis.min));
  }
  return (value - axis.min) / (axis.max - axis.min);
}

// The value at position t (0..1) of a numeric axis (for tick labels).
export function valueAt(axis, t) {
  if (axis.log) return Math.exp(Math.log(axis.min) + t * (Math.log(axis.max) - Math.log(axis.min)));
  return axis.min + t * (axis.max - axis.min);
}

// A brush drawn from position t0 to t1 on `axis`, kept in the axis's values
// so that it keeps selecting the same trials when the axis's range grows:
// {lo, hi} on a numeric axis, {cats: [...]} (the categories inside) on a
// categorical one; null when it holds no category.
export function brushFrom(axis, t0, t1) {
  const lo = Math.max(0, Math.min(t0, t1));
  const hi = Math.min(1, Math.max(t0, t1));
  if (axis.type === 'cat') {
    const cats = axis.categories.filter((c) => {
      const t = position(axis, c);
      return t >= lo - 1e-9 && t <= hi + 1e-9;
    });
    return cats.length ? { cats } : null;
  }
  return { lo: valueAt(axis, lo), hi: valueAt(axis, hi) };
}

// The positions (0..1) a brush covers on its axis now, for drawing it.
export function brushSpan(axis, brush) {
  if (brush.cats) {
    const ts = brush.cats.map((c) => position(axis, c)).filter((t) => t !== null);
    if (!ts.length) return null;
    const pad = axis.categories.length > 1 ? 0.25 / (axis.categories.length - 1) : 0.25;
    return [Math.max(0, Math.min(...ts) - pad), Math.min(1, Math.max(...ts) + pad)];
  }
  const a = position(axis, brush.lo);
  const b = position(axis, brush.hi);
  return a === null || b === null ? null : [Math.min(a, b), Math.max(a, b)];
}

// brushes: {axisKey: brush}. A row passes when, on every brushed axis, its
// value lies inside the brush (numbers within [lo, hi] with a relative
// tolerance of 1e-9 for rounding, categories among the brush's); a row
// without a value on a brushed axis does not pass. No brush: every row passes.
export function passes(row, axes, brushes) {
  for (const axis of axes) {
    const b = brushes[axis.key];
    if (!b) continue;
    const v = valueOf(axis, row);
    if (v === undefined || v === null) return false;
    if (b.cats) {
      if (!b.cats.includes(typeof v === 'object' ? JSON.stringify(v) : String(v))) return false;
    } else {
      const tol = 1e-9 * Math.max(Math.abs(b.lo), Math.abs(b.hi), 1e-300);
      if (!isNum(v) || v < b.lo - tol || v > b.hi + tol) return false;
    }
  }
  return true;
}

export function filterByBrushes(rows, axes, brushes) {
  if (!Object.keys(brushes || {}).some((k) => brushes[k])) return rows;
  return rows.filter((r) => passes(r, axes, brushes));
}

// Drops brushes of axes that no longer exist (the axes follow the data).
export function keepBrushes(axes, brushes) {
  const out = {};
  for (const a of axes) if (brushes[a.key]) out[a.key] = brushes[a.key];
  return out;
}
