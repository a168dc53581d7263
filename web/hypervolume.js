// Hypervolume as a share (0-100 %) of a fixed, stated reference box, computed in
// the page from the trials it already holds. The API's own hypervolume
// (docs/dashboard.md) is a raw volume whose reference point moves with the
// worst trial; a share of a box that does not move can be compared over time
// and between sweeps of one model.
//
// The box, per objective (referenceBox):
//   - an accuracy or a sparsity (a 0..1 fraction): 0 to 100 %;
//   - size_bytes: 0 to the uncompressed student's size (dense_size_bytes, which
//     every trial records; the same for all trials of a sweep);
//   - any other objective: 0 to the dense student's value when the API gives a
//     baseline row, else 0 to twice the first finished trial's value.
// Each of these is fixed once the sweep's first trial has finished. A value
// outside the box is clipped to its edge.
// Pure functions and one small class; no DOM. Used by the page and node tests.

export const isFraction = (metric) => metric.endsWith('accuracy') || metric === 'sparsity';

// The dense student and the teacher, from whatever the sweep document carries:
// `baselines: [{kind, id, metrics}]` (a baseline row), or teachers with metrics.
// Returns {student, teacher}: each {id, kind, metrics} or null.
export function baselinesOf(sweep) {
  const rows = [
    ...((sweep && sweep.baselines) || []),
    ...((sweep && sweep.teachers) || []).map((t) => ({ kind: 'teacher', ...t })),
  ].filter((r) => r && r.metrics && typeof r.metrics === 'object' && r.state !== 'failed');
  const student = rows.find((r) => ['baseline', 'student', 'dense_student'].includes(r.kind)) || null;
  const teacher = rows.find((r) => r.kind === 'teacher') || null;
  return { student, teacher };
}

// The first finished trial (smallest finished_ms, then id) that has `metric`.
function firstWith(trials, metric) {
  let best = null;
  for (const t of trials) {
    const v = t.metrics && t.metrics[metric];
    if (typeof v !== 'number' || !Number.isFinite(v)) continue;
    if (!best || (t.finished_ms ?? Infinity) < (best.finished_ms ?? Infinity) ||
        ((t.finished_ms ?? Infinity) === (best.finished_ms ?? Infinity) && t.id < best.id)) best = t;
  }
  return best;
}

// The trials that referenceBox can read: for dense_size_bytes and each
// objective, the first finished trial that has it (at most 1 + objectives
// rows). referenceBox(objectives, boxCandidates(objectives, trials), b) equals
// referenceBox(objectives, trials, b), and the candidates of a union are the
// candidates of the previous candidates plus the new trials: the page keeps
// the box current while trials arrive without scanning all of them.
export function boxCandidates(objectives, trials) {
  const out = [];
  for (const metric of ['dense_size_bytes', ...objectives.map((o) => o.metric)]) {
    const t = firstWith(trials, metric);
    if (t && !out.includes(t)) out.push(t);
  }
  return out;
}

// [{metric, maximize, worst, best, why}] for the objectives ([{metric,
// maximize}]); null when a bound cannot be fixed yet (no trial has finished).
export function referenceBox(objectives, trials, baseline = null) {
  const box = [];
  for (const { metric, maximize } of objectives) {
    if (isFraction(metric)) {
      box.push({ metric, maximize, worst: maximize ? 0 : 1, best: maximize ? 1 : 0, why: '0–100 %' });
      continue;
    }
    if (metric === 'size_bytes' && !maximize) {
      const t = firstWith(trials, 'dense_size_bytes');
      if (t) {
        box.push({ metric, maximize, worst: t.metrics.dense_size_bytes, best: 0, why: 'the uncompressed student' });
        continue;
      }
    }
    const b = baseline && baseline.metrics && baseline.metrics[metric];
    if (typeof b === 'number' && Number.isFinite(b) && b > 0) {
      box.push(maximize
        ? { metric, maximize, worst: 0, best: 2 * b, why: 'twice the dense student' }
        : { metric, maximize, worst: b, best: 0, why: 'the dense student' });
      continue;
    }
    const first = firstWith(trials, metric);
    if (!first) return null;
    const v = Math.abs(first.metrics[metric]) || 1;
    box.push(maximize
      ? { metric, maximize, worst: 0, best: 2 * v, why: 'twice the first finished trial' }
      : { metric, maximize, worst: 2 * v, best: 0, why: 'twice the first finished trial' });
  }
  return box;
}

// 0 at the box's worst edge, 1 at its best; clipped. NaN for a missing value.
export function normalise(v, edge) {
  if (typeof v !== 'number' || !Number.isFinite(v)) return NaN;
  const u = (v - edge.worst) / (edge.best - edge.worst);
  return Math.min(1, Math.max(0, u));
}

// Volume of [0,1]^d dominated by the points (each an array of d numbers in
// [0,1], larger is better, reference at the origin). Exact: slices along the
// last coordinate (HSO); O(n^(d-1) log n), fine for fronts of a few hundred.
export function hypervolume(points, d = points.length ? points[0].length : 0) {
  if (!points.length || d === 0) return 0;
  if (d === 1) return Math.max(...points.map((p) => p[0]));
  if (d === 2) {
    const s = [...points].sort((a, b) => b[0] - a[0] || b[1] - a[1]);
    let vol = 0;
    let maxY = 0;
    for (let i = 0; i < s.length; i++) {
      maxY = Math.max(maxY, s[i][1]);
      const next = i + 1 < s.length ? s[i + 1][0] : 0;
      vol += (s[i][0] - next) * maxY;
    }
    return vol;
  }
  const s = [...points].sort((a, b) => b[d - 1] - a[d - 1]);
  let vol = 0;
  for (let i = 0; i < s.length; i++) {
    const next = i + 1 < s.length ? s[i + 1][d - 1] : 0;
    const h = s[i][d - 1] - next;
    if (h > 0) vol += h * hypervolume(s.slice(0, i + 1).map((p) => p.slice(0, d - 1)), d - 1);
  }
  return vol;
}

const dominates = (a, b) => {
  let better = false;
  for (let k = 0; k < a.length; k++) {
    if (a[k] < b[k]) return false;
    if (a[k] > b[k]) better = true;
  }
  return better;
};

// The non-dominated set of normalised points, kept as trials arrive, and the
// share of the box it dominates (recomputed only when the set changed).
// With `{series: true}` it also records the share after each trial that
// changed the front ({t: finished_ms, n: trials added so far, share}), so the
// page extends the series over time as trials arrive instead of replaying
// every trial on each refresh.
export class HypervolumeTracker {
  constructor(objectives, box, { series = false } = {}) {
    this.metrics = objectives.map((o) => o.metric);
    this.box = box;
    this.front = [];  // [{id, u: [...]}]
    this.value = 0;
    this.dirty = false;
    this.added = 0;
    this.series = series ? [] : null;
  }

  // Adds a trial ({id, metrics, finished_ms}); returns true when the front changed.
  add(trial) {
    this.added += 1;
    const u = this.box.map((edge, k) => normalise(trial.metrics && trial.metrics[this.metrics[k]], edge));
    if (u.some(Number.isNaN)) return false;
    for (const f of this.front) {
      if (dominates(f.u, u) || f.u.every((x, k) => x === u[k])) return false;
    }
    this.front = this.front.filter((f) => !dominates(u, f.u));
    this.front.push({ id: trial.id, u });
    this.dirty = true;
    if (this.series) this.series.push({ t: trial.finished_ms, n: this.added, share: this.share() });
    return true;
  }

  // Share of the box, 0..1.
  share() {
    if (this.dirty) {
      this.value = hypervolume(this.front.map((f) => f.u), this.metrics.length);
      this.dirty = false;
    }
    return this.value;
  }
}

// The share after each trial in completion order: [{t: finished_ms, n, share}],
// one sample per change of the front (at most maxPoints, the last kept).
export function hypervolumeSeries(objectives, box, trials, maxPoints = 400) {
  const tracker = new HypervolumeTracker(objectives, box, { series: true });
  byFinish(trials).forEach((t) => tracker.add(t));
  return thinSeries(tracker.series, maxPoints);
}

// Trials in completion order (finished_ms, then id), as the tracker takes them.
export function byFinish(trials) {
  return [...trials].sort((a, b) => (a.finished_ms ?? 0) - (b.finished_ms ?? 0) || a.id - b.id);
}

// At most maxPoints samples of a series, evenly spaced, the last kept.
export function thinSeries(out, maxPoints = 400) {
  if (out.length <= maxPoints) return out;
  const step = out.length / maxPoints;
  const thinned = [];
  for (let i = 0; i < maxPoints - 1; i++) thinned.push(out[Math.floor(i * step)]);
  thinned.push(out[out.length - 1]);
  return thinned;
}

// One line that states the box: "Validation accuracy 0–100 %, Size 0–1.07 MB
// (the uncompressed student), ...", with labels and formatting given.
export function describeBox(box, labelOf, format) {
  return box.map((e) => {
    if (e.why === '0–100 %') return `${labelOf(e.metric)} 0–100 %`;
    const lo = Math.min(e.worst, e.best);
    const hi = Math.max(e.worst, e.best);
    return `${labelOf(e.metric)} ${format(e.metric, lo)}–${format(e.metric, hi)} (${e.why})`;
  }).join(', ');
}
