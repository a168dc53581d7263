// Trial detail: parameters, metrics, attempts, settings and learning curves
// (from the trial's progress series).
import { get } from './api.js';
import { LineChart, escapeHtml } from './charts.js';
import { formatDuration, formatMetric, formatNumber, formatParam, formatTime } from './format.js';
import { markRefreshed, setCrumbs, stateBadge } from './ui.js';

const COLORS = ['#d9480f', '#2563eb', '#15803d', '#7c3aed', '#b45309', '#0f766e', '#be185d'];
const NOT_SERIES = new Set(['epoch', 'step', 'seq', 'ts_ms', 'attempt', 'batch', 'total_steps']);

function kvTable(obj, fmt) {
  const rows = Object.entries(obj || {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `<tr><td>${escapeHtml(k)}</td><td class="num">${escapeHtml(fmt(k, v))}</td></tr>`)
    .join('');
  return rows ? `<table>${rows}</table>` : '<p class="muted">none</p>';
}

export class TrialView {
  constructor(main, id) {
    this.main = main;
    this.id = id;
    this.alive = true;
    this.charts = [];
    main.innerHTML = `<div data-testid="trial-detail" data-trial-id="${id}"><h1 id="title">Trial ${id}</h1>
      <div class="grid">
        <section class="panel" id="summary"></section>
        <section class="panel"><h2>Metrics</h2><div id="metrics" data-testid="trial-metrics"></div></section>
      </div>
      <section class="panel"><h2>Learning curves</h2><div id="curves" data-testid="learning-curves"></div></section>
      <div class="grid">
        <section class="panel"><h2>Parameters</h2><div id="params" data-testid="trial-params"></div></section>
        <section class="panel"><h2>Attempts</h2><div id="attempts" data-testid="trial-attempts"></div></section>
      </div>
      <section class="panel"><details><summary>Full settings sent to the worker</summary><pre id="settings"></pre></details></section>
    </div>`;
    this.refresh();
  }

  async refresh(events) {
    const mine = ({ kind, data }) => kind === 'resync' || kind === 'tick' || (data && data.trial_id === this.id);
    if (events && !events.some(mine)) return;
    let t;
    try {
      t = await get(`/api/trials/${this.id}`);
    } catch (e) {
      this.main.querySelector('#summary').innerHTML = `<p class="errors">${escapeHtml(e.message)}</p>`;
      return;
    }
    if (!this.alive) return;
    setCrumbs(`/ <a href="#/sweeps/${t.sweep_id}">sweep ${t.sweep_id}</a> / trial ${t.id}`);
    this.main.querySelector('#title').innerHTML = `Trial ${t.id} <small class="muted">#${t.number} (${escapeHtml(t.kind)})</small> ${stateBadge(t.state)}`;
    const duration = t.started_ms != null && t.finished_ms != null ? t.finished_ms - t.started_ms : null;
    this.main.querySelector('#summary').innerHTML = `<h2>Summary</h2><dl class="kv">
      <dt>sweep</dt><dd><a href="#/sweeps/${t.sweep_id}">${t.sweep_id}</a></dd>
      <dt>worker</dt><dd>${escapeHtml(t.worker || '–')}</dd>
      <dt>attempt</dt><dd>${t.attempt}</dd>
      <dt>queued</dt><dd>${formatTime(t.queued_ms)}</dd>
      <dt>started</dt><dd>${formatTime(t.started_ms)}</dd>
      <dt>finished</dt><dd>${formatTime(t.finished_ms)}</dd>
      <dt>duration</dt><dd>${formatDuration(duration)}</dd>
      <dt>config hash</dt><dd><code>${escapeHtml(t.hash)}</code></dd>
      ${t.error ? `<dt>error</dt><dd class="errors" data-testid="trial-error">${escapeHtml(t.error)}</dd>` : ''}</dl>`;
    this.main.querySelector('#metrics').innerHTML = kvTable(t.metrics, formatMetric);
    this.main.querySelector('#params').innerHTML = kvTable(t.params, (k, v) => formatParam(v));
    this.main.querySelector('#settings').textContent = JSON.stringify(t.settings, null, 2);
    this.main.querySelector('#attempts').innerHTML = t.attempts.length
      ? `<table><tr><th>attempt</th><th>worker</th><th>state</th><th>started</th><th>duration</th><th>error</th></tr>${t.attempts
        .map((a) => `<tr><td>${a.attempt}</td><td>${escapeHtml(a.worker || '–')}</td><td>${stateBadge(a.state)}</td>
          <td>${formatTime(a.started_ms)}</td><td>${formatDuration(a.finished_ms != null && a.started_ms != null ? a.finished_ms - a.started_ms : null)}</td>
          <td class="errors">${escapeHtml(a.error || '')}</td></tr>`).join('')}</table>`
      : '<p class="muted">none recorded</p>';
    this.renderCurves(t.progress);
    markRefreshed();
  }

  // One chart per phase of the latest attempt; loss-like series on the left axis,
  // accuracy-like (0..1) on the right, x = step (or the report's index).
  renderCurves(progress) {
    const el = this.main.querySelector('#curves');
    this.charts.forEach((c) => c.destroy());
    this.charts = [];
    if (!progress.length) {
      el.innerHTML = '<p class="muted">No progress reported (yet).</p>';
      return;
    }
    const attempt = Math.max(...progress.map((p) => p.attempt));
    const phases = new Map();
    for (const p of progress.filter((q) => q.attempt === attempt)) {
      const d = p.data && typeof p.data === 'object' ? p.data : {};
      const phase = d.phase || d.stage || 'training';
      if (!phases.has(phase)) phases.set(phase, []);
      phases.get(phase).push(d);
    }
    el.innerHTML = '';
    for (const [phase, rows] of phases) {
      const keys = [...new Set(rows.flatMap((r) => Object.keys(r).filter((k) => typeof r[k] === 'number' && !NOT_SERIES.has(k))))];
      if (!keys.length) continue;
      const box = document.createElement('div');
      box.className = 'chart';
      box.dataset.phase = phase;
      box.dataset.testid = 'curve';
      box.innerHTML = `<h3 style="font-size:.95rem;margin:.4rem 0">${escapeHtml(phase)} <small class="muted">(attempt ${attempt}, ${rows.length} reports)</small></h3>`;
      const host = document.createElement('div');
      box.appendChild(host);
      el.appendChild(box);
      // uPlot needs ascending x: use the step when it only grows, else the report index.
      const steps = rows.map((r) => r.step);
      const useStep = steps.every((s, i) => typeof s === 'number' && (i === 0 || s >= steps[i - 1]));
      const xs = rows.map((r, i) => (useStep ? r.step : i));
      const isPct = (k) => /acc|sparsity/.test(k);
      const chart = new LineChart(host, {
        height: 220,
        xLabel: useStep ? 'step' : 'report',
        scales: { y: { label: 'loss / value', tick: (v) => formatNumber(v) }, pct: { label: '%', tick: (v) => `${+(v * 100).toFixed(1)}%` } },
      });
      chart.update(xs, keys.map((k, i) => ({ label: k, values: rows.map((r) => (typeof r[k] === 'number' ? r[k] : null)), color: COLORS[i % COLORS.length], scale: isPct(k) ? 'pct' : 'y' })));
      this.charts.push(chart);
    }
    if (!el.children.length) el.innerHTML = '<p class="muted">Progress reports carry no numeric series.</p>';
  }

  resize() {
    this.charts.forEach((c) => c.resize());
  }

  destroy() {
    this.alive = false;
    this.charts.forEach((c) => c.destroy());
  }
}
