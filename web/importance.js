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
// never split); other values by their text. Returns group keys (strings) in
// the order of `values`, and the number of groups.
export function groupKeys(values, maxGroups = MAX_GROUPS) {
  const text = (v) => (typeof v === 'object' ? JSON.stringify(v) : String(v));
  const distinct = new Set(values.map(text));
  if (distinct.size <= maxGroups || !values.every(isNum)) {
    return { keys: values.map(text), groups: distinct.size };
  }
  const sorted = [...values].sort((a, b) => a - b);
  const edges = [];
  for (let i = 1; i < maxGroups; i++) edges.push(sorted[Math.floor((i * sorted.length) / maxGroups)]);
  const cuts = [...new Set(edges)].sort((a, b) => a - b);  // lower bounds of groups 1..k-1
  const keyOf = (v) => {
    let g = 0;
    while (g < cuts.length && v >= cuts[g]) g++;
    return `range${g}`;
  };
  const keys = values.map(keyOf);
  return { keys, groups: new Set(keys).size };
}

// Eta squared of `ys` grouped by `keys`; null when undefined (fewer than 3
// values, one group, fewer than two values per group on average, or no
// variance).
export function etaSquared(ys, keys) {
  const n = ys.length;
  if (n < 3) return null;
  const mean = ys.reduce((a, b) => a + b, 0) / n;
  let total = 0;
  const groups = new Map();
  ys.forEach((y, i) => {
    total += (y - mean) ** 2;
    const g = groups.get(keys[i]) || { n: 0, sum: 0 };
    g.n += 1;
    g.sum += y;
    groups.set(keys[i], g);
  });
  if (groups.size < 2 || n < 2 * groups.size || !(total > 0)) return null;
  let between = 0;
  for (const g of groups.values()) between += g.n * (g.sum / g.n - mean) ** 2;
  return Math.min(1, Math.max(0, between / total));
}

// For each setting: {param, cells: [{metric, eta2, n, groups}]}, one cell per
// objective, computed over the trials that have both the setting and the
// objective; settings sorted by their largest eta squared, highest first.
// rows: [{params, metrics}].
export function importance(rows, params, objectives) {
  const out = params.map((param) => {
    const cells = objectives.map(({ metric }) => {
      const use = rows.filter((r) => r.params && r.params[param] != null && r.metrics && isNum(r.metrics[metric]));
      const maxGroups = Math.min(MAX_GROUPS, Math.max(2, Math.floor(use.length / 3)));
      const { keys, groups } = groupKeys(use.map((r) => r.params[param]), maxGroups);
      return { metric, eta2: etaSquared(use.map((r) => r.metrics[metric]), keys), n: use.length, groups };
    });
    return { param, cells };
  });
  const top = (r) => Math.max(-1, ...r.cells.map((c) => (c.eta2 == null ? -1 : c.eta2)));
  return out.sort((a, b) => top(b) - top(a) || a.param.localeCompare(b.param));
}
