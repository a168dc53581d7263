// Units and labels for compsweep's fixed metric names (see ARCHITECTURE.md).
// Pure functions: usable from the page and from node (tests).
import { metricLabel } from './labels.js';

// Fractions shown as percent: every accuracy (val_, test_, int8_) and sparsity.
const isPercent = (metric) => metric.endsWith('accuracy') || metric === 'sparsity';

// A size in bytes: size_bytes, dense_size_bytes, deploy_size_bytes_onnx, ...
export function isBytes(metric) {
  return /(^|_)bytes(_|$)/.test(metric);
}

// A time in milliseconds: latency_ms, float_latency_ms, latency_ms_torchscript, ...
export function isMs(metric) {
  return /_ms(_|$)/.test(metric);
}

// A 0/1 flag reported as a number (deploy_int8).
const isFlag = (metric) => metric === 'deploy_int8';

export function formatBytes(v) {
  if (v == null || !Number.isFinite(v)) return '–';
  const abs = Math.abs(v);
  // Decimal units (1 KB = 1000 B), as disk and download sizes are usually shown.
  if (abs >= 1e9) return `${(v / 1e9).toFixed(abs >= 1e10 ? 1 : 2)} GB`;
  if (abs >= 1e6) return `${(v / 1e6).toFixed(abs >= 1e7 ? 1 : 2)} MB`;
  if (abs >= 1e3) return `${(v / 1e3).toFixed(abs >= 1e4 ? 1 : 2)} KB`;
  return `${Math.round(v)} B`;
}

export function formatSi(v) {
  if (v == null || !Number.isFinite(v)) return '–';
  const abs = Math.abs(v);
  if (abs >= 1e9) return `${(v / 1e9).toFixed(2)} G`;
  if (abs >= 1e6) return `${(v / 1e6).toFixed(2)} M`;
  if (abs >= 1e3) return `${(v / 1e3).toFixed(2)} K`;
  return formatNumber(v);
}

export function formatNumber(v) {
  if (v == null || !Number.isFinite(v)) return '–';
  if (Number.isInteger(v)) return String(v);
  const abs = Math.abs(v);
  if (abs >= 100) return v.toFixed(1);
  if (abs >= 1) return v.toFixed(3);
  if (abs >= 0.001) return v.toFixed(4);
  return v.toExponential(2);
}

export function formatMs(v) {
  if (v == null || !Number.isFinite(v)) return '–';
  if (Math.abs(v) >= 10000) return `${(v / 1000).toFixed(1)} s`;
  if (Math.abs(v) >= 10) return `${v.toFixed(1)} ms`;
  return `${v.toFixed(3)} ms`;
}

export function formatDuration(ms) {
  if (ms == null || !Number.isFinite(ms)) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 120) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 120) return `${m} min ${Math.round(s - m * 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

// One value of a metric, with its unit.
export function formatMetric(metric, v) {
  if (v == null || (typeof v === 'number' && !Number.isFinite(v))) return '–';
  if (typeof v !== 'number') return String(v);
  if (isPercent(metric)) return `${(v * 100).toFixed(2)} %`;
  if (isBytes(metric)) return formatBytes(v);
  if (isMs(metric)) return formatMs(v);
  if (isFlag(metric)) return v ? 'yes' : 'no';
  if (metric === 'stopped_at_epoch') return `epoch ${formatNumber(v)}`;
  if (metric.endsWith('_seconds')) return formatDuration(v * 1000);
  if (metric === 'compression_ratio') return `${v.toFixed(2)}×`;
  if (metric === 'throughput') return `${formatSi(v)} samples/s`;
  if (metric.endsWith('macs') || metric.endsWith('params')) return formatSi(v);
  return formatNumber(v);
}

// Tick labels for a chart axis showing the metric (shorter than formatMetric).
export function axisTick(metric, v) {
  if (v == null) return '';
  if (isPercent(metric)) return `${+(v * 100).toFixed(1)}%`;
  if (isBytes(metric)) return formatBytes(v);
  if (isMs(metric)) return `${+v.toPrecision(3)} ms`;
  if (metric.endsWith('macs') || metric.endsWith('params')) return formatSi(v);
  return `${+v.toPrecision(4)}`;
}

// Axis title: "Validation accuracy (%) ↑ better", "Size (B/KB/MB)", "Latency (ms)".
export function axisLabel(metric, maximize) {
  const arrow = maximize == null ? '' : maximize ? ' ↑ better' : ' ↓ better';
  const name = metricLabel(metric);
  if (isPercent(metric)) return `${name} (%)${arrow}`;
  if (isBytes(metric)) return `${name} (B/KB/MB)${arrow}`;
  if (isMs(metric)) return `${name} (ms)${arrow}`;
  if (metric === 'throughput') return `${name} (samples/s)${arrow}`;
  return `${name}${arrow}`;
}

export function formatParam(v) {
  if (v == null) return '–';
  if (typeof v === 'number') return formatNumber(v);
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

export function formatTime(ms) {
  if (ms == null) return '–';
  const d = new Date(ms);
  return d.toLocaleString();
}

export function formatAge(ms) {
  if (ms == null) return '–';
  if (ms < 1000) return `${ms} ms ago`;
  return `${formatDuration(ms)} ago`;
}

// A parameter's value, formatted like the metric it sets: a sparsity target as
// a percent (as the measured sparsity), bits as an integer, words as words.
export function formatParamValue(name, v) {
  if (v == null) return '–';
  if (typeof v === 'number' && /sparsity$/.test(name)) return formatMetric('sparsity', v);
  if (typeof v === 'number') return formatNumber(v);
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}
