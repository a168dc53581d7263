// Comparing trials (web/compare.js): best values, settings diff, curves.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bestIndices, curveFields, curvesOf, flattenSettings, metricDirection, parseCompareIds, reportsOf, settingsDiff } from '../compare.js';

test('directions: the objective first, then the metric kind, else none', () => {
  assert.is(metricDirection('val_accuracy'), true);
  assert.is(metricDirection('size_bytes'), false);
  assert.is(metricDirection('deploy_size_bytes_onnx'), false);
  assert.is(metricDirection('latency_ms_torchscript'), false);
  assert.is(metricDirection('val_loss'), false);
  assert.is(metricDirection('compression_ratio'), true);
  assert.is(metricDirection('sparsity'), null);
  assert.is(metricDirection('dense_size_bytes'), null);
  assert.is(metricDirection('deploy_int8'), null);
  // A sweep may maximise what is usually minimised.
  assert.is(metricDirection('latency_ms', [{ metric: 'latency_ms', maximize: true }]), true);
});

test('best: every index holding the best value; nothing when equal or undirected', () => {
  assert.equal(bestIndices([0.9, 0.95, 0.95, null], true), [1, 2]);
  assert.equal(bestIndices([300, 200, 250], false), [1]);
  assert.equal(bestIndices([5, 5], false), []);
  assert.equal(bestIndices([1, 2], null), []);
  assert.equal(bestIndices([1, undefined, NaN], true), [], 'one number is not a comparison');
});

test('settings diff: differing keys first, missing keys differ, arrays compared whole', () => {
  const a = { seed: 1, prune: { final_sparsity: 0.5, schedule: 'one-shot' }, pipeline: ['distill', 'prune'], quantize: { bits: 8 } };
  const b = { seed: 1, prune: { final_sparsity: 0.9, schedule: 'one-shot' }, pipeline: ['distill', 'prune'], quantize: { bits: 8, scheme: 'log2' } };
  assert.equal(flattenSettings(a), { seed: 1, 'prune.final_sparsity': 0.5, 'prune.schedule': 'one-shot', pipeline: ['distill', 'prune'], 'quantize.bits': 8 });
  const rows = settingsDiff([a, b]);
  assert.equal(rows.filter((r) => r.differs).map((r) => r.key), ['prune.final_sparsity', 'quantize.scheme']);
  assert.equal(rows.find((r) => r.key === 'quantize.scheme').values, [undefined, 'log2']);
  assert.equal(rows.filter((r) => !r.differs).map((r) => r.key), ['pipeline', 'prune.schedule', 'quantize.bits', 'seed']);
  const c = { ...a, pipeline: ['prune', 'distill'] };
  assert.ok(settingsDiff([a, c]).find((r) => r.key === 'pipeline').differs);
});

test('curves: epochs counted over the whole trial, rungs at their epoch, latest attempt only', () => {
  const progress = [
    { attempt: 1, seq: 0, data: { phase: 'distill', epoch: 1, loss: 9 } },
    { attempt: 2, seq: 0, data: { phase: 'distill', epoch: 1, epochs: 2, loss: 0.56, step: 3 } },
    { attempt: 2, seq: 1, data: { phase: 'rung', rung: { epoch: 1, metrics: { val_accuracy: 0.8, size_bytes: 1000 } } } },
    { attempt: 2, seq: 2, data: { phase: 'distill', epoch: 2, epochs: 2, loss: 0.38, step: 6 } },
    { attempt: 2, seq: 3, data: { phase: 'prune', epoch: 1, epochs: 2, loss: 0.89, step: 3 } },
    { attempt: 2, seq: 4, data: { phase: 'prune', epoch: 1, epochs: 2, loss: 0.7, step: 4 } },  // same epoch: same x
    { attempt: 2, seq: 5, data: { phase: 'evaluate', val_accuracy: 0.9, test_accuracy: 0.88 } },
  ];
  const c = curvesOf(progress);
  assert.equal(c.loss, [[1, 0.56], [2, 0.38], [3, 0.89], [3, 0.7]]);
  assert.equal(c.val_accuracy, [[1, 0.8], [3, 0.9]]);
  assert.equal(c.test_accuracy, [[3, 0.88]]);
  assert.not.ok('step' in c || 'epochs' in c || 'phase' in c);
  assert.equal(curveFields([c, {}]), ['loss', 'val_accuracy'], 'one point makes no curve');
  assert.equal(curvesOf([]), {});
});

test('curves start with the shared stages a trial resumes from', () => {
  const progress = [
    { stage_id: 3, attempt: 1, seq: 1, data: { phase: 'distill', epoch: 1, loss: 0.9 } },
    { stage_id: 3, attempt: 1, seq: 2, data: { phase: 'distill', epoch: 2, loss: 0.7 } },
    { stage_id: 5, attempt: 2, seq: 1, data: { phase: 'prune', epoch: 1, loss: 0.8 } },
    { attempt: 1, seq: 1, data: { phase: 'qat', epoch: 1, loss: 0.99 } },
    { attempt: 2, seq: 2, data: { phase: 'evaluate', val_accuracy: 0.8 } },
    { attempt: 2, seq: 1, data: { phase: 'qat', epoch: 1, loss: 0.6 } },
  ];
  const rows = reportsOf(progress);
  assert.equal(rows.map((r) => r.stageId), [3, 3, 5, null, null]);
  assert.equal(rows[3].data.loss, 0.6, "the trial's latest attempt, by seq");
  const c = curvesOf(progress);
  assert.equal(c.loss, [[1, 0.9], [2, 0.7], [3, 0.8], [4, 0.6]]);
  assert.equal(c.val_accuracy, [[4, 0.8]]);
  assert.equal(reportsOf(undefined), []);
});

test('compare ids: 2 to 4 distinct positive integers', () => {
  assert.equal(parseCompareIds('3,7'), [3, 7]);
  assert.equal(parseCompareIds('3,7,7,9'), [3, 7, 9]);
  assert.is(parseCompareIds('3'), null);
  assert.is(parseCompareIds('1,2,3,4,5'), null);
  assert.is(parseCompareIds('1,x'), null);
  assert.is(parseCompareIds('0,2'), null);
});

test.run();
