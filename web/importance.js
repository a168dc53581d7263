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
  const numeric = values.every(isNum);
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
  const ranges = values.map(keyOf);
  return { keys: ranges, groups: new Set(ranges).size };
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
export function importance(rows, params, objectives) {
  const out = params.map((param) => {
    const have = rows.filter((r) => r.params && r.params[param] != null);
    const maxGroups = Math.min(MAX_GROUPS, Math.max(2, Math.floor(have.length / 3)));
    const { keys } = groupKeys(have.map((r) => r.params[param]), maxGroups);
    const ids = new Map();
    const idx = Int32Array.from(keys, (k) => {
      if (!ids.has(k)) ids.set(k, ids.size);
      return ids.get(k);
    });
    const cells = objectives.map(({ metric }) => {
      const ys = [];
      const sub = [];
      have.forEach((r, i) => {
        const y = r.metrics && r.metrics[metric];
        if (isNum(y)) {
          ys.push(y);
          sub.push(idx[i]);
        }
      });
      const present = new Set(sub).size;
      return { metric, eta2: etaSquaredIdx(ys, sub, ids.size), n: ys.length, groups: present };
    });
    return { param, cells };
  });
  const top = (r) => Math.max(-1, ...r.cells.map((c) => (c.eta2 == null ? -1 : c.eta2)));
  return out.sort((a, b) => top(b) - top(a) || a.param.localeCompare(b.param));
}
