// Trial detail: parameters, metrics, attempts, settings and learning curves
// (from the trial's progress series).
import { get } from './api.js';
import { LineChart, escapeHtml } from './charts.js';
import { formatDuration, formatMetric, formatNumber, formatParamValue, formatTime } from './format.js';
import { metricLabel, paramLabel } from './labels.js';
import { reportsOf } from './compare.js';
import { markRefreshed, setCrumbs, stateBadge } from './ui.js';

const COLORS = ['#d9480f', '#2563eb', '#15803d', '#7c3aed', '#b45309', '#0f766e', '#be185d'];
const NOT_SERIES = new Set(['epoch', 'epochs', 'step', 'steps', 'seq', 'ts_ms', 'attempt', 'batch', 'total_steps']);

function kvTable(obj, fmt, labelOf) {
  const rows = Object.entries(obj || {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `<tr><td title="${escapeHtml(k)}">${escapeHtml(labelOf(k))}</td><td class="num">${escapeHtml(fmt(k, v))}</td></tr>`)
    .join('');
  return rows ? `<div class="table-wrap"><table>${rows}</table></div>` : '<p class="muted">none</p>';
}

// The shared stages a trial starts from (stage reuse): what each trained, for
// how many trials, linked to its own page.
function stagesLine(stages) {
  if (!Array.isArray(stages) || !stages.length) return '';
  const last = stages[stages.length - 1];
  const items = stages.map((s) => {
    const unit = Array.isArray(s.names) && s.names.length ? s.names[s.names.length - 1] : 'stage';
    return `<a href="#/trials/${s.id}" data-testid="shared-stage" data-stage-id="${s.id}">${escapeHtml(unit)} (stage ${s.id}, shared by ${escapeHtml(String(s.shared_by ?? '?'))} trials)</a>`;
  });
  return `<dt>starts from</dt><dd data-testid="trial-stages">${items.join(' → ')}: ${escapeHtml(String(last.units ?? '?'))} training units trained once for every trial that shares them</dd>`;
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
      ${stagesLine(t.stages)}
      ${t.artifact ? `<dt>model</dt><dd><a href="${escapeHtml(t.artifact.download)}" download data-testid="model-download">trial-${t.id}.csa</a> (${escapeHtml(formatMetric('size_bytes', t.artifact.size_bytes))}, compact format); TorchScript: <code>${escapeHtml(t.artifact.export)}</code></dd>` : ''}
      ${t.error ? `<dt>error</dt><dd class="errors" data-testid="trial-error">${escapeHtml(t.error)}</dd>` : ''}</dl>`;
    this.main.querySelector('#metrics').innerHTML = kvTable(t.metrics, formatMetric, metricLabel);
    this.main.querySelector('#params').innerHTML = kvTable(t.params, formatParamValue, paramLabel);
    this.main.querySelector('#settings').textContent = JSON.stringify(t.settings, null, 2);
    this.main.querySelector('#attempts').innerHTML = t.attempts.length
      ? `<div class="table-wrap"><table><tr><th>attempt</th><th>worker</th><th>state</th><th>started</th><th>duration</th><th>error</th></tr>${t.attempts
        .map((a) => `<tr><td>${a.attempt}</td><td>${escapeHtml(a.worker || '–')}</td><td>${stateBadge(a.state)}</td>
          <td>${formatTime(a.started_ms)}</td><td>${formatDuration(a.finished_ms != null && a.started_ms != null ? a.finished_ms - a.started_ms : null)}</td>
          <td class="errors">${escapeHtml(a.error || '')}</td></tr>`).join('')}</table></div>`
      : '<p class="muted">none recorded</p>';
    this.renderCurves(t.progress);
    markRefreshed();
  }

  // The latest attempt's reports in order, one chart: a series per (phase,
  // quantity), loss-like on the left axis, accuracy-like (0..1) on the right.
  // x is the report's position, as steps restart with every phase.
  renderCurves(progress) {
    const el = this.main.querySelector('#curves');
    this.charts.forEach((c) => c.destroy());
    this.charts = [];
    if (!progress.length) {
      el.innerHTML = '<p class="muted">No progress reported (yet).</p>';
      return;
    }
    const reports = reportsOf(progress);
    const rows = reports.map((r) => r.data);
    const own = progress.filter((p) => p.stage_id == null);
    const attempt = own.length ? Math.max(...own.map((p) => p.attempt)) : 0;
    const shared = reports.filter((r) => r.stageId != null).length;
    const phaseOf = (r) => String(r.phase || r.stage || 'training');
    const keys = [];
    for (const r of rows) {
      for (const [k, v] of Object.entries(r)) {
        const key = `${phaseOf(r)} ${k}`;
        if (typeof v === 'number' && !NOT_SERIES.has(k) && !keys.some((e) => e.key === key)) keys.push({ key, phase: phaseOf(r), field: k });
      }
    }
    if (!keys.length) {
      el.innerHTML = '<p class="muted">Progress reports carry no numeric series.</p>';
      return;
    }
    const phases = [...new Set(rows.map(phaseOf))];
    el.innerHTML = `<p class="muted">Attempt ${attempt}: ${rows.length} reports over ${phases.map(escapeHtml).join(' → ')}${shared ? ` (the first ${shared} from the shared stages it starts from)` : ''}.</p>`;
    const host = document.createElement('div');
    host.className = 'chart';
    host.dataset.testid = 'curve';
    el.appendChild(host);
    const isPct = (k) => /acc|sparsity/.test(k);
    const chart = new LineChart(host, {
      height: 260,
      xLabel: 'report',
      scales: { y: { label: 'loss', tick: (v) => formatNumber(v) }, pct: { label: 'accuracy (%)', tick: (v) => `${+(v * 100).toFixed(1)}%`, range: [0, 1.02] } },
    });
    const xs = rows.map((r, i) => i + 1);
    chart.update(xs, keys.map(({ key, phase, field }, i) => ({
      label: key,
      values: rows.map((r) => (phaseOf(r) === phase && typeof r[field] === 'number' ? r[field] : null)),
      color: COLORS[i % COLORS.length],
      scale: isPct(field) ? 'pct' : 'y',
    })));
    this.charts.push(chart);
  }

  resize() {
    this.charts.forEach((c) => c.resize());
  }

  destroy() {
    this.alive = false;
    this.charts.forEach((c) => c.destroy());
  }
}
