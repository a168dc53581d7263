// Parameter importance, a simple and stated measure: for each swept setting
// and each objective, the share of the objective's variance across trials that
// grouping the trials by that setting explains, i.e. the correlation ratio
// eta squared = (sum over groups of n_g * (mean_g - mean)^2) / (sum over
// trials of (y - mean)^2). 0: the groups have equal means; 1: the setting alone
// fixes the objective. A setting with many numeric values is grouped into
// equal-count ranges (at most MAX_GROUPS, and about 3 trials per range). It is
// left undefined unless there are at least two trials per group on average
// (with one trial per group it is 1 whatever the data). Pure functions; no DOM.
//
// Caveats (said on the page): with few trials per group eta squared is biased
// upward (even noise explains some variance), and settings that vary together
// share the credit; it is not fANOVA (no interactions, no model).

export const MAX_GROUPS = 8;

const isNum = (v) => typeof v === 'number' && Number.isFinite(v);

// The group of each value: the value itself when there are at most
// `maxGroups` distinct ones; numbers otherwise into equal-count ranges (ties
// never split); other values by their text. Returns group keys (numbers stay
// numbers, other values become text) in the order of `values`, and the number
// of groups.
export function groupKeys(values, maxGroups = MAX_GROUPS) {
  let numeric = true;
  for (let i = 0; i < values.length && numeric; i++) numeric = isNum(values[i]);
  const keys = numeric ? values : values.map((v) => (typeof v === 'object' ? JSON.stringify(v) : String(v)));
  // Distinct values, counted only up to maxGroups + 1 for numbers.
  const distinct = new Set();
  for (const k of keys) {
    distinct.add(k);
    if (numeric && distinct.size > maxGroups) break;
  }
  if (distinct.size <= maxGroups || !numeric) return { keys, groups: distinct.size };
  const sorted = Float64Array.from(values).sort();
  const edges = [];
  for (let i = 1; i < maxGroups; i++) edges.push(sorted[Math.floor((i * sorted.length) / maxGroups)]);
  const cuts = [...new Set(edges)].sort((a, b) => a - b);  // lower bounds of groups 1..k-1
  const keyOf = (v) => {
    let g = 0;
    while (g < cuts.length && v >= cuts[g]) g++;
    return g;
  };
  const ranges = new Array(values.length);
  const used = new Uint8Array(cuts.length + 1);
  for (let i = 0; i < values.length; i++) {
    const g = keyOf(values[i]);
    ranges[i] = g;
    used[g] = 1;
  }
  return { keys: ranges, groups: used.reduce((a, b) => a + b, 0) };
}

// Eta squared of `ys` grouped by `keys`; null when undefined (fewer than 3
// values, one group, fewer than two values per group on average, or no
// variance).
export function etaSquared(ys, keys) {
  const ids = new Map();
  const idx = Int32Array.from(keys, (k) => {
    if (!ids.has(k)) ids.set(k, ids.size);
    return ids.get(k);
  });
  return etaSquaredIdx(ys, idx, ids.size);
}

// The same over group indices 0..k-1 (typed arrays: 100,000 trials in a few ms).
function etaSquaredIdx(ys, idx, k) {
  const n = ys.length;
  if (n < 3 || k < 2 || n < 2 * k) return null;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += ys[i];
  mean /= n;
  const count = new Float64Array(k);
  const sum = new Float64Array(k);
  let total = 0;
  for (let i = 0; i < n; i++) {
    total += (ys[i] - mean) ** 2;
    count[idx[i]] += 1;
    sum[idx[i]] += ys[i];
  }
  let groups = 0;
  let between = 0;
  for (let g = 0; g < k; g++) {
    if (!count[g]) continue;
    groups += 1;
    between += count[g] * (sum[g] / count[g] - mean) ** 2;
  }
  if (groups < 2 || n < 2 * groups || !(total > 0)) return null;
  return Math.min(1, Math.max(0, between / total));
}

// For each setting: {param, cells: [{metric, eta2, n, groups}]}, one cell per
// objective, computed over the trials that have both the setting and the
// objective (the ranges of a many-valued setting are cut once, over the
// trials that have it); settings sorted by their largest eta squared,
// highest first. rows: [{params, metrics}].
// Each objective read once per trial into a column (NaN: no value), for
// importance(); the page computes them once and the table one setting per task.
export function importanceColumns(rows, objectives) {
  return objectives.map(({ metric }) => {
    const col = new Float64Array(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const m = rows[i].metrics;
      const y = m ? m[metric] : undefined;
      col[i] = isNum(y) ? y : NaN;
    }
    return col;
  });
}

// Typed arrays and plain loops, no Set per cell: the page recomputes it over
// 100,000 trials while results arrive (and the code is seldom hot).
export function importance(rows, params, objectives, cols = importanceColumns(rows, objectives)) {
  const out = params.map((param) => {
    const at = [];  // indexes of the rows that have the setting
    const values = [];
    for (let i = 0; i < rows.length; i++) {
      const p = rows[i].params;
      const v = p ? p[param] : undefined;
      if (v != null) {
        at.push(i);
        values.push(v);
      }
    }
    const maxGroups = Math.min(MAX_GROUPS, Math.max(2, Math.floor(at.length / 3)));
    const { keys } = groupKeys(values, maxGroups);
    const ids = new Map();
    const idx = new Int32Array(keys.length);
    for (let i = 0; i < keys.length; i++) {
      let g = ids.get(keys[i]);
      if (g === undefined) {
        g = ids.size;
        ids.set(keys[i], g);
      }
      idx[i] = g;
    }
    const ys = new Float64Array(at.length);
    const sub = new Int32Array(at.length);
    const cells = objectives.map(({ metric }, o) => {
      const col = cols[o];
      const seen = new Uint8Array(ids.size);
      let n = 0;
      let present = 0;
      for (let i = 0; i < at.length; i++) {
        const y = col[at[i]];
        if (y !== y) continue;  // NaN: no value
        ys[n] = y;
        sub[n] = idx[i];
        n += 1;
        if (!seen[idx[i]]) {
          seen[idx[i]] = 1;
          present += 1;
        }
      }
      return { metric, eta2: etaSquaredIdx(ys.subarray(0, n), sub.subarray(0, n), ids.size), n, groups: present };
    });
    return { param, cells };
  });
  return rankImportance(out);
}

// Settings sorted by their largest eta squared, highest first (then by name).
export function rankImportance(list) {
  const top = (r) => Math.max(-1, ...r.cells.map((c) => (c.eta2 == null ? -1 : c.eta2)));
  return [...list].sort((a, b) => top(b) - top(a) || a.param.localeCompare(b.param));
}
