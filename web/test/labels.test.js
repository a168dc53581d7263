// Labels and number formatting of the dashboard (web/labels.js, web/format.js).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { axisLabel, formatBytes, formatMetric, formatParamValue } from '../format.js';
import { label, metricLabel, paramLabel } from '../labels.js';

test('metric names read as words', () => {
  assert.is(metricLabel('size_bytes'), 'Size');
  assert.is(metricLabel('sparsity'), 'Measured sparsity');
  assert.is(metricLabel('val_accuracy'), 'Validation accuracy');
  assert.is(metricLabel('latency_ms'), 'Latency');
  assert.is(metricLabel('my_custom_metric'), 'My custom metric');
});

test('parameter names read as words, unknown ones keep their stage', () => {
  assert.is(paramLabel('prune.final_sparsity'), 'Target sparsity');
  assert.is(paramLabel('quantize.bits'), 'Bits');
  assert.is(paramLabel('distill.temperature'), 'Temperature');
  assert.is(paramLabel('prune.some_knob'), 'Some knob (prune)');
  assert.is(label('quantize.scheme'), 'Quantization scheme');
  assert.is(label('size_bytes'), 'Size');
});

test('a target sparsity is formatted as the measured one', () => {
  assert.is(formatParamValue('prune.final_sparsity', 0.5), '50.00 %');
  assert.is(formatMetric('sparsity', 0.5), '50.00 %');
  assert.is(formatParamValue('quantize.bits', 4), '4');
  assert.is(formatParamValue('quantize.scheme', 'log2'), 'log2');
  assert.is(formatParamValue('x', null), '–');
});

test('metric values carry their unit', () => {
  assert.is(formatMetric('val_accuracy', 0.9123), '91.23 %');
  assert.is(formatMetric('size_bytes', 103161), '103.2 KB');
  assert.is(formatBytes(1066440), '1.07 MB');
  assert.is(formatMetric('latency_ms', 0.109137), '0.109 ms');
  assert.is(formatMetric('compression_ratio', 10.3376), '10.34×');
  assert.is(formatMetric('size_bytes', undefined), '–');
  assert.is(formatMetric('latency_ms', NaN), '–');
});

test('axis titles use the human name with unit and direction', () => {
  assert.is(axisLabel('size_bytes', false), 'Size (B/KB/MB) ↓ better');
  assert.is(axisLabel('val_accuracy', true), 'Validation accuracy (%) ↑ better');
  assert.is(axisLabel('latency_ms'), 'Latency (ms)');
});

test('the deployment metrics have names and units', () => {
  assert.is(metricLabel('deploy_size_bytes_torchscript'), 'TorchScript file size');
  assert.is(metricLabel('deploy_size_bytes_onnx'), 'ONNX file size');
  assert.is(metricLabel('latency_ms_torchscript'), 'TorchScript latency');
  assert.is(metricLabel('deploy_int8'), 'Deployed as int8');
  assert.is(metricLabel('stopped_at_epoch'), 'Stopped at epoch');
  assert.is(formatMetric('deploy_size_bytes_torchscript', 280366), '280.4 KB');
  assert.is(formatMetric('deploy_size_bytes_onnx', 1066440), '1.07 MB');
  assert.is(formatMetric('latency_ms_torchscript', 0.078282), '0.078 ms');
  assert.is(formatMetric('deploy_int8', 1), 'yes');
  assert.is(formatMetric('deploy_int8', 0), 'no');
  assert.is(formatMetric('stopped_at_epoch', 2), 'epoch 2');
  assert.is(axisLabel('deploy_size_bytes_onnx', false), 'ONNX file size (B/KB/MB) ↓ better');
  assert.is(axisLabel('latency_ms_torchscript', false), 'TorchScript latency (ms) ↓ better');
  // Not sizes or times although the words appear inside another word.
  assert.is(formatMetric('bytesize', 2), '2');
});

test.run();
