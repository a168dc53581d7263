// The picker: budgets in, the best trials under them out, with what a user
// needs to take one away (its settings as YAML for a sweep file, and the
// command that reproduces it). Pure functions; no DOM. Used by the page and
// node tests.
// The accuracy the picker ranks by: the sweep's first maximised accuracy
// objective, else val_accuracy, else accuracy, else test_accuracy (the first
// any trial has).
export function accuracyMetric(objectives, trials) {
  const obj = (objectives || []).find((o) => o.maximize && o.metric.endsWith('accuracy'));
  if (obj) return obj.metric;
  for (const m of ['val_accuracy', 'accuracy', 'test_accuracy']) {
    if (trials.some((t) => t.metrics && typeof t.metrics[m] === 'number')) return m;
  }
  return 'val_accuracy';
}

const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const given = (v) => v != null && v !== '' && Number.isFinite(Number(v));

// budgets: {maxSizeBytes, maxLatencyMs, maxDrop (a fraction: 0.01 = one
// percentage point below the baseline), minAccuracy (a fraction)}; an empty
// budget does not constrain. maxDrop needs a baseline accuracy (the dense
// student's); without one it is refused (an error says to use minAccuracy).
// Returns {accuracy, matches: [{trial, accuracy, drop}], considered, error}:
// the succeeded trials under every budget, best accuracy first, then smallest,
// then fastest, then lowest id; `limit` of them.
export function pick(trials, budgets, { objectives = [], baselineAccuracy = null, limit = 3 } = {}) {
  const accuracy = accuracyMetric(objectives, trials);
  const b = budgets || {};
  if (given(b.maxDrop) && num(baselineAccuracy) == null) {
    return { accuracy, matches: [], considered: 0, error: 'no baseline accuracy yet: set a minimum accuracy instead of a drop' };
  }
  // The best `limit` rows, kept sorted while the trials stream past (no sort
  // of every match: the page calls this on each live refresh, at 100,000
  // trials a full sort cost ~100 ms).
  const big = Number.POSITIVE_INFINITY;
  const better = (x, y) => y.accuracy - x.accuracy || (x.size ?? big) - (y.size ?? big) ||
    (x.latency ?? big) - (y.latency ?? big) || x.trial.id - y.trial.id;
  // The same order on a candidate's raw values (no object made for the many
  // trials that do not enter the best `limit`).
  const worseThan = (acc, size, latency, id, y) => (y.accuracy - acc || (size ?? big) - (y.size ?? big) ||
    (latency ?? big) - (y.latency ?? big) || id - y.trial.id) >= 0;
  const keep = Number.isFinite(Number(limit)) ? Math.max(0, Math.floor(Number(limit))) : null;
  const best = [];
  let considered = 0;
  for (const t of trials) {
    if (t.state && t.state !== 'succeeded') continue;
    const m = t.metrics || {};
    const acc = num(m[accuracy]);
    if (acc == null) continue;
    considered += 1;
    const size = num(m.size_bytes);
    const latency = num(m.latency_ms);
    if (given(b.maxSizeBytes) && (size == null || size > Number(b.maxSizeBytes))) continue;
    if (given(b.maxLatencyMs) && (latency == null || latency > Number(b.maxLatencyMs))) continue;
    if (given(b.minAccuracy) && acc < Number(b.minAccuracy)) continue;
    const drop = num(baselineAccuracy) == null ? null : baselineAccuracy - acc;
    if (given(b.maxDrop) && drop > Number(b.maxDrop) + 1e-12) continue;
    if (keep !== null && best.length === keep && (keep === 0 || worseThan(acc, size, latency, t.id, best[keep - 1]))) continue;
    const row = { trial: t, accuracy: acc, drop, size, latency };
    if (keep === null) {
      best.push(row);
      continue;
    }
    let i = best.length;
    while (i > 0 && better(row, best[i - 1]) < 0) i -= 1;
    best.splice(i, 0, row);
    if (best.length > keep) best.pop();
  }
  if (keep === null) best.sort(better);
  return { accuracy, matches: best, considered, error: null };
}

// A YAML scalar: numbers and booleans as they are, words quoted when YAML would
// read them as something else.
function yamlScalar(v) {
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v == null) return 'null';
  if (typeof v === 'object') return JSON.stringify(v);
  const s = String(v);
  return /^[A-Za-z_][A-Za-z0-9_.\-]*$/.test(s) && !/^(true|false|yes|no|on|off|null|~)$/i.test(s) ? s : JSON.stringify(s);
}

// The trial's parameters as a `parameters:` block of a sweep file, each fixed
// to the trial's value, keys sorted.
export function parametersYaml(params) {
  const keys = Object.keys(params || {}).sort();
  if (!keys.length) return 'parameters: {}\n';
  return `parameters:\n${keys.map((k) => `  ${k}: {value: ${yamlScalar(params[k])}}`).join('\n')}\n`;
}

// The sweep file with its top-level `name:` made `<name>-trial-<id>` and its
// top-level `parameters:` block replaced by the trial's fixed values: a sweep of
// exactly that one trial. Comments and every other section stay as written.
export function reproduceYaml(specYaml, trial) {
  const lines = String(specYaml || '').split('\n');
  const out = [];
  let skipping = false;
  let replaced = false;
  for (const line of lines) {
    if (skipping) {
      if (/^\s/.test(line) || line === '' || /^#/.test(line)) continue;
      skipping = false;
    }
    const name = line.match(/^name:\s*(.*?)\s*(#.*)?$/);
    if (name) {
      const base = name[1].replace(/^['"]|['"]$/g, '');
      out.push(`name: ${base}-trial-${trial.id}`);
      continue;
    }
    if (/^parameters:/.test(line)) {
      out.push(parametersYaml(trial.params).trimEnd());
      skipping = !/^parameters:\s*\{.*\}\s*(#.*)?$/.test(line);
      replaced = true;
      continue;
    }
    out.push(line);
  }
  let text = out.join('\n');
  if (!replaced) text = `${text.replace(/\n*$/, '\n')}${parametersYaml(trial.params)}`;
  return text.endsWith('\n') ? text : `${text}\n`;
}

export function reproduceFileName(sweepName, trialId) {
  const safe = String(sweepName || 'sweep').replace(/[^A-Za-z0-9_.-]+/g, '-');
  return `${safe}-trial-${trialId}.yaml`;
}

// The command that runs that one-trial sweep file.
export function reproduceCommand(sweepName, trialId) {
  return `compsweep run ${reproduceFileName(sweepName, trialId)} --workers 1`;
}

// What a budget field holds, as the picker takes it: sizes in KB (1000 B) and
// accuracies in percent in the form, bytes and fractions in pick().
export function budgetsFromForm({ sizeKb, latencyMs, dropPct, minAccPct }) {
  const n = (v) => (v === '' || v == null ? null : Number(v));
  return {
    maxSizeBytes: n(sizeKb) == null ? null : n(sizeKb) * 1000,
    maxLatencyMs: n(latencyMs),
    maxDrop: n(dropPct) == null ? null : n(dropPct) / 100,
    minAccuracy: n(minAccPct) == null ? null : n(minAccPct) / 100,
  };
}
