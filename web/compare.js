// Comparing 2-4 trials: which value of a metric is best, the settings that
// differ, and learning curves from progress reports. Pure functions; no DOM.
// Used by compare_view.js and node tests.

// Whether a higher value of `metric` is better: the sweep's objective
// direction when it is one, else true for accuracies, compression and
// throughput, false for losses, sizes, latencies, times and operation counts;
// null when neither is better (sparsity, parameters, flags, epochs).
export function metricDirection(metric, objectives = []) {
  const o = (objectives || []).find((q) => q.metric === metric);
  if (o) return Boolean(o.maximize);
  if (/accuracy$/.test(metric) || metric === 'compression_ratio' || metric === 'throughput') return true;
  if (/loss$/.test(metric) || /(^|_)bytes(_|$)/.test(metric) || /_ms(_|$)/.test(metric) ||
      /_seconds$/.test(metric) || /macs$/.test(metric)) {
    return metric === 'dense_size_bytes' ? null : false;
  }
  return null;
}

// Indices of the best values (all of them on a tie); none when no direction,
// fewer than two numbers, or all equal (nothing stands out).
export function bestIndices(values, maximize) {
  if (maximize == null) return [];
  const nums = values.map((v) => (typeof v === 'number' && Number.isFinite(v) ? v : null));
  const present = nums.filter((v) => v != null);
  if (present.length < 2) return [];
  const best = maximize ? Math.max(...present) : Math.min(...present);
  if (present.every((v) => v === best)) return [];
  return nums.map((v, i) => (v === best ? i : -1)).filter((i) => i >= 0);
}

// {a: {b: 1, c: [1, 2]}} -> {'a.b': 1, 'a.c': [1, 2]} (arrays are values).
export function flattenSettings(obj, prefix = '', out = {}) {
  for (const [k, v] of Object.entries(obj || {})) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === 'object' && !Array.isArray(v)) flattenSettings(v, key, out);
    else out[key] = v;
  }
  return out;
}

// Rows of the settings of several trials, keys of all of them: {key, values
// (one per trial; undefined where a trial lacks the key), differs}. Differing
// keys first, then the rest, each group sorted by key.
export function settingsDiff(settingsList) {
  const flat = settingsList.map((s) => flattenSettings(s));
  const keys = [...new Set(flat.flatMap((f) => Object.keys(f)))].sort();
  const rows = keys.map((key) => {
    const values = flat.map((f) => f[key]);
    const first = JSON.stringify(values[0] ?? null);
    return { key, values, differs: values.some((v) => JSON.stringify(v ?? null) !== first) };
  });
  return [...rows.filter((r) => r.differs), ...rows.filter((r) => !r.differs)];
}

const NOT_SERIES = new Set(['epoch', 'epochs', 'step', 'steps', 'seq', 'ts_ms', 'attempt', 'batch', 'total_steps', 'rung']);

// Learning curves of one trial from its progress reports (the API's
// `progress`: [{attempt, seq, data, stage_id?}]; see reportsOf), x in epochs
// counted over the whole trial (as MO-ASHA's rungs count them): every report
// with an `epoch` that differs from the previous one's (phase, epoch) moves x
// on by one; a rung report is placed at its rung's epoch; other reports
// (final evaluation) at the current x. Returns {field: [[x, y], ...]}.
// The reports a trial's curves are drawn from, in training order: those of the
// shared stages it starts from (rows with `stage_id`, in the API's order: root
// first), then its own latest attempt's by `seq`. Returns [{data, stageId}].
export function reportsOf(progress) {
  const list = Array.isArray(progress) ? progress : [];
  const own = list.filter((p) => p.stage_id == null);
  const attempt = own.length ? Math.max(...own.map((p) => p.attempt ?? 0)) : 0;
  const data = (p) => (p.data && typeof p.data === 'object' ? p.data : {});
  return [
    ...list.filter((p) => p.stage_id != null).map((p) => ({ data: data(p), stageId: p.stage_id })),
    ...own.filter((p) => (p.attempt ?? 0) === attempt)
      .sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0))
      .map((p) => ({ data: data(p), stageId: null })),
  ];
}

export function curvesOf(progress) {
  const rows = reportsOf(progress).map((r) => r.data);
  if (!rows.length) return {};
  const out = {};
  const put = (field, x, y) => {
    if (typeof y !== 'number' || !Number.isFinite(y) || NOT_SERIES.has(field)) return;
    (out[field] = out[field] || []).push([x, y]);
  };
  let x = 0;
  let last = null;
  for (const r of rows) {
    if (r.rung && typeof r.rung === 'object') {
      const e = Number(r.rung.epoch);
      for (const [k, v] of Object.entries(r.rung.metrics || {})) put(k, Number.isFinite(e) ? e : x, v);
      continue;
    }
    if (typeof r.epoch === 'number') {
      const key = `${r.phase ?? r.stage ?? ''}/${r.epoch}`;
      if (key !== last) x += 1;
      last = key;
    }
    for (const [k, v] of Object.entries(r)) put(k, x, v);
  }
  for (const k of Object.keys(out)) out[k].sort((a, b) => a[0] - b[0]);
  return out;
}

// The fields worth a chart: at least two points in some trial. Losses first,
// then accuracies, then the rest, by name.
export function curveFields(curvesList) {
  const fields = new Set();
  for (const c of curvesList) for (const [k, pts] of Object.entries(c)) if (pts.length >= 2) fields.add(k);
  const rank = (f) => (/loss$/.test(f) ? 0 : /accuracy$/.test(f) ? 1 : 2);
  return [...fields].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

// Parses "#/compare/3,7,9": the ids (2-4 distinct positive integers), or null.
export function parseCompareIds(text) {
  const ids = String(text || '').split(',').filter(Boolean).map(Number);
  if (ids.some((i) => !Number.isInteger(i) || i <= 0)) return null;
  const uniq = [...new Set(ids)];
  return uniq.length >= 2 && uniq.length <= 4 ? uniq : null;
}
