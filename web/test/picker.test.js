// The picker (web/picker.js): budgets select, ranking, and the YAML and command
// that reproduce a trial.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  accuracyMetric, budgetsFromForm, parametersYaml, pick, reproduceCommand, reproduceYaml,
} from '../picker.js';

const t = (id, acc, size, lat, params = {}, state = 'succeeded') => ({
  id, state, params, metrics: { val_accuracy: acc, size_bytes: size, latency_ms: lat },
});
const trials = [
  t(1, 0.90, 50000, 0.5, { 'quantize.bits': 8 }),
  t(2, 0.88, 20000, 0.4, { 'quantize.bits': 4 }),
  t(3, 0.88, 15000, 0.6, { 'quantize.bits': 2 }),
  t(4, 0.60, 5000, 0.2, { 'quantize.bits': 1 }),
  t(5, 0.99, 1000, 0.1, {}, 'failed'),
];
const objectives = [{ metric: 'val_accuracy', maximize: true }, { metric: 'size_bytes', maximize: false }];

test('no budget: best accuracy first, failed trials never', () => {
  const r = pick(trials, {}, { objectives });
  assert.is(r.accuracy, 'val_accuracy');
  assert.equal(r.matches.map((m) => m.trial.id), [1, 3, 2]);
  assert.is(r.considered, 4);
});

test('a size budget excludes the bigger trials; ties go to the smaller', () => {
  const r = pick(trials, { maxSizeBytes: 20000 }, { objectives });
  assert.equal(r.matches.map((m) => m.trial.id), [3, 2, 4]);
});

test('size and latency budgets together', () => {
  const r = pick(trials, { maxSizeBytes: 20000, maxLatencyMs: 0.5 }, { objectives, limit: 1 });
  assert.equal(r.matches.map((m) => m.trial.id), [2]);
});

test('accuracy drop against the baseline, and its refusal without one', () => {
  const r = pick(trials, { maxDrop: 0.025 }, { objectives, baselineAccuracy: 0.9 });
  assert.equal(r.matches.map((m) => m.trial.id), [1, 3, 2]);
  assert.ok(Math.abs(r.matches[1].drop - 0.02) < 1e-12);
  const none = pick(trials, { maxDrop: 0.01 }, { objectives });
  assert.ok(none.error.includes('baseline'));
  assert.equal(none.matches, []);
});

test('minimum accuracy; budgets nobody meets give no match', () => {
  assert.equal(pick(trials, { minAccuracy: 0.89 }, { objectives }).matches.map((m) => m.trial.id), [1]);
  assert.equal(pick(trials, { maxSizeBytes: 10 }, { objectives }).matches, []);
});

test('form units: KB and percent', () => {
  assert.equal(budgetsFromForm({ sizeKb: '20', latencyMs: '', dropPct: '1.5', minAccPct: '' }),
    { maxSizeBytes: 20000, maxLatencyMs: null, maxDrop: 0.015, minAccuracy: null });
});

test('accuracy metric: the maximised accuracy objective, else what trials have', () => {
  assert.is(accuracyMetric([{ metric: 'test_accuracy', maximize: true }], []), 'test_accuracy');
  assert.is(accuracyMetric([], [{ metrics: { accuracy: 0.5 } }]), 'accuracy');
});

const spec = `# Tiny sweep
name: tiny-synthetic
method: grid
data:
  dataset: synthetic
objectives:
  val_accuracy: maximize
parameters:
  prune.final_sparsity: {values: [0.5, 0.9]}
  quantize.bits: {values: [8, 4]}
  # a comment inside

distill:
  epochs: 1
`;

test('the settings as a parameters block, and the sweep of that one trial', () => {
  const trial = { id: 3, params: { 'quantize.bits': 4, 'prune.final_sparsity': 0.5, 'quantize.scheme': 'log2' } };
  assert.is(parametersYaml(trial.params),
    'parameters:\n  prune.final_sparsity: {value: 0.5}\n  quantize.bits: {value: 4}\n  quantize.scheme: {value: log2}\n');
  const y = reproduceYaml(spec, trial);
  assert.is(y, `# Tiny sweep
name: tiny-synthetic-trial-3
method: grid
data:
  dataset: synthetic
objectives:
  val_accuracy: maximize
parameters:
  prune.final_sparsity: {value: 0.5}
  quantize.bits: {value: 4}
  quantize.scheme: {value: log2}
distill:
  epochs: 1
`);
  assert.is(reproduceCommand('tiny-synthetic', 3), 'compsweep run tiny-synthetic-trial-3.yaml --workers 1');
  assert.is(parametersYaml({ 'x.word': 'yes' }), 'parameters:\n  x.word: {value: "yes"}\n');
});

test('the best `limit` equal the head of a full sort (ties, missing size and latency, budgets)', () => {
  let seed = 3;
  const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  const rows = Array.from({ length: 3000 }, (_, i) => ({
    id: 3000 - i,
    state: rnd() < 0.05 ? 'failed' : 'succeeded',
    params: {},
    // few distinct values: many ties on accuracy, then size, then latency
    metrics: {
      val_accuracy: Math.floor(rnd() * 20) / 20,
      ...(rnd() < 0.9 ? { size_bytes: 1000 * Math.floor(rnd() * 5) } : {}),
      ...(rnd() < 0.9 ? { latency_ms: Math.floor(rnd() * 3) / 10 } : {}),
    },
  }));
  const big = Number.POSITIVE_INFINITY;
  const reference = (budgets, baselineAccuracy) => {
    const all = pick(rows, budgets, { objectives, baselineAccuracy, limit: Infinity });
    const ok = all.matches.slice();
    ok.sort((x, y) => y.accuracy - x.accuracy || (x.size ?? big) - (y.size ?? big) ||
      (x.latency ?? big) - (y.latency ?? big) || x.trial.id - y.trial.id);
    return { ids: ok.map((m) => m.trial.id), considered: all.considered };
  };
  for (const budgets of [{}, { maxSizeBytes: 2000 }, { maxLatencyMs: 0.1, minAccuracy: 0.3 }, { maxDrop: 0.4 }]) {
    const ref = reference(budgets, 0.9);
    assert.ok(ref.ids.length > 20);
    for (const limit of [0, 1, 3, 10, 50]) {
      const r = pick(rows, budgets, { objectives, baselineAccuracy: 0.9, limit });
      assert.equal(r.matches.map((m) => m.trial.id), ref.ids.slice(0, limit), `${JSON.stringify(budgets)} limit ${limit}`);
      assert.is(r.considered, ref.considered);
    }
    const unlimited = pick(rows, budgets, { objectives, baselineAccuracy: 0.9, limit: Infinity });
    assert.equal(unlimited.matches.map((m) => m.trial.id), ref.ids);
  }
});

test.run();
