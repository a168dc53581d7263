// The normalised hypervolume (web/hypervolume.js): exact volumes, a box that
// does not move when worse trials arrive, and the share's bounds.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  HypervolumeTracker, baselinesOf, boxCandidates, byFinish, describeBox, hypervolume, hypervolumeSeries, normalise,
  referenceBox, thinSeries,
} from '../hypervolume.js';

const near = (a, b, eps = 1e-12) => assert.ok(Math.abs(a - b) <= eps, `${a} != ${b}`);

// Volume of the union of boxes [0, p] by inclusion-exclusion: exact, slow.
function bruteForce(points) {
  const n = points.length;
  const d = points[0].length;
  let vol = 0;
  for (let mask = 1; mask < 1 << n; mask++) {
    let bits = 0;
    const corner = new Array(d).fill(Infinity);
    for (let i = 0; i < n; i++) {
      if (!(mask & (1 << i))) continue;
      bits += 1;
      for (let k = 0; k < d; k++) corner[k] = Math.min(corner[k], points[i][k]);
    }
    vol += (bits % 2 ? 1 : -1) * corner.reduce((a, b) => a * b, 1);
  }
  return vol;
}

test('hypervolume of known fronts', () => {
  near(hypervolume([[0.5, 0.5]]), 0.25);
  near(hypervolume([[1, 0.2], [0.2, 1]]), 0.2 + 0.2 - 0.04);
  near(hypervolume([[0.5, 0.5, 0.5]]), 0.125);
  near(hypervolume([[1, 1, 1]]), 1);
  near(hypervolume([]), 0);
});

test('hypervolume equals inclusion-exclusion on random points (2 to 4 objectives)', () => {
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  for (let round = 0; round < 200; round++) {
    const d = 2 + (round % 3);
    const n = 1 + (round % 7);
    // Ties and duplicates on purpose: values on a coarse grid.
    const pts = Array.from({ length: n }, () => Array.from({ length: d }, () => Math.round(rand() * 8) / 8));
    near(hypervolume(pts), bruteForce(pts), 1e-9);
  }
});

const objectives = [
  { metric: 'val_accuracy', maximize: true },
  { metric: 'size_bytes', maximize: false },
  { metric: 'latency_ms', maximize: false },
];
const trial = (id, finished, acc, size, lat) => ({
  id, finished_ms: finished, metrics: { val_accuracy: acc, size_bytes: size, latency_ms: lat, dense_size_bytes: 1000 },
});

test('the reference box is fixed: a worse trial does not move it', () => {
  const first = [trial(1, 100, 0.8, 200, 2), trial(2, 200, 0.9, 400, 3)];
  const box = referenceBox(objectives, first);
  assert.equal(box.map((e) => [e.worst, e.best]), [[0, 1], [1000, 0], [4, 0]]);
  assert.is(box[1].why, 'the uncompressed student');
  assert.is(box[2].why, 'twice the first finished trial');
  const later = [...first, trial(3, 300, 0.1, 5000, 90)];
  assert.equal(referenceBox(objectives, later), box);
  // The share with the bad trial is the share without it.
  const share = (ts) => {
    const t = new HypervolumeTracker(objectives, box);
    ts.forEach((x) => t.add(x));
    return t.share();
  };
  near(share(later), share(first));
});

test('the share is 0..1, and a perfect trial fills the box', () => {
  const box = referenceBox(objectives, [trial(1, 1, 0.5, 500, 1)]);
  const t = new HypervolumeTracker(objectives, box);
  t.add(trial(1, 1, 0.5, 500, 1));
  near(t.share(), 0.5 * 0.5 * 0.5);
  t.add(trial(2, 2, 0.4, 600, 1.5));  // dominated: no change
  near(t.share(), 0.125);
  assert.is(t.front.length, 1);
  t.add(trial(3, 3, 1, 0, 0));
  near(t.share(), 1);
  assert.equal(t.front.map((f) => f.id), [3]);
});

test('values outside the box are clipped; missing ones are skipped', () => {
  near(normalise(5000, { worst: 1000, best: 0 }), 0);
  near(normalise(-1, { worst: 1000, best: 0 }), 1);
  assert.ok(Number.isNaN(normalise(undefined, { worst: 0, best: 1 })));
  const box = referenceBox(objectives, [trial(1, 1, 0.5, 500, 1)]);
  const t = new HypervolumeTracker(objectives, box);
  assert.is(t.add({ id: 9, metrics: { val_accuracy: 0.9 } }), false);
});

test('a baseline row fixes the latency edge at the dense student', () => {
  const sweep = { teachers: [{ id: 1, state: 'succeeded' }], baselines: [{ kind: 'baseline', id: 2, metrics: { latency_ms: 5, val_accuracy: 0.92 } }] };
  const { student, teacher } = baselinesOf(sweep);
  assert.is(student.id, 2);
  assert.is(teacher, null);
  const box = referenceBox(objectives, [trial(1, 1, 0.5, 500, 1)], student);
  assert.equal([box[2].worst, box[2].why], [5, 'the dense student']);
  const line = describeBox(box, (m) => m, (m, v) => String(v));
  assert.is(line, 'val_accuracy 0–100 %, size_bytes 0–1000 (the uncompressed student), latency_ms 0–5 (the dense student)');
});

test('no trial yet: no box', () => {
  assert.is(referenceBox(objectives, []), null);
});

test('the series over time never decreases and ends at the final share', () => {
  const ts = [trial(1, 10, 0.5, 500, 1), trial(2, 20, 0.7, 600, 1.2), trial(3, 30, 0.6, 300, 0.9), trial(4, 40, 0.2, 900, 1.9)];
  const box = referenceBox(objectives, ts);
  const series = hypervolumeSeries(objectives, box, ts);
  for (let i = 1; i < series.length; i++) assert.ok(series[i].share >= series[i - 1].share);
  const t = new HypervolumeTracker(objectives, box);
  ts.forEach((x) => t.add(x));
  near(series[series.length - 1].share, t.share());
  assert.is(series.length, 3);  // trial 4 changes nothing
});

// Random trials, some without a metric, finish times with ties, in random order.
function randomTrials(n, seed0) {
  let seed = seed0;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  return Array.from({ length: n }, (_, i) => {
    const metrics = { val_accuracy: Math.round(rand() * 20) / 20, size_bytes: 10 + Math.round(rand() * 990), latency_ms: Math.round(rand() * 40) / 10 };
    if (rand() < 0.3) metrics.dense_size_bytes = 900 + Math.round(rand() * 200);
    if (rand() < 0.1) delete metrics.latency_ms;
    return { id: n - i, finished_ms: Math.round(rand() * n / 2), metrics };
  });
}

test('the box from the candidates equals the box from every trial, also kept batch by batch', () => {
  for (let round = 0; round < 20; round++) {
    const ts = randomTrials(300, round + 1);
    const student = round % 2 ? { metrics: { latency_ms: 2 } } : null;
    const whole = referenceBox(objectives, ts, student);
    const cands = boxCandidates(objectives, ts);
    assert.ok(cands.length <= objectives.length + 1);
    assert.equal(referenceBox(objectives, cands, student), whole);
    // As the page keeps it: candidates of (previous candidates + new batch).
    let kept = [];
    for (let i = 0; i < ts.length; i += 37) {
      kept = boxCandidates(objectives, [...kept, ...ts.slice(i, i + 37)]);
      assert.equal(referenceBox(objectives, kept, student), referenceBox(objectives, ts.slice(0, i + 37), student));
    }
  }
  assert.equal(boxCandidates(objectives, []), []);
});

test('the tracker\'s series, extended batch by batch, equals the series of all the trials', () => {
  for (let round = 0; round < 10; round++) {
    const ts = byFinish(randomTrials(400, 100 + round));
    const box = referenceBox(objectives, ts);
    const whole = hypervolumeSeries(objectives, box, ts, Infinity);
    const tracker = new HypervolumeTracker(objectives, box, { series: true });
    for (let i = 0; i < ts.length; i += 50) ts.slice(i, i + 50).forEach((t) => tracker.add(t));
    assert.equal(tracker.series, whole);
    assert.is(tracker.added, ts.length);
    near(tracker.share(), whole[whole.length - 1].share);
    // n counts every trial added, the ones without all objectives too.
    for (const p of whole) assert.is(ts[p.n - 1].finished_ms, p.t);
  }
});

test('thinSeries keeps at most maxPoints, evenly, with the last one', () => {
  const s = Array.from({ length: 1000 }, (_, i) => ({ n: i }));
  const t = thinSeries(s, 400);
  assert.is(t.length, 400);
  assert.is(t[0].n, 0);
  assert.is(t[399].n, 999);
  assert.is(thinSeries(s.slice(0, 10), 400).length, 10);
});

test.run();
