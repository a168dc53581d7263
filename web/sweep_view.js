// Sweep view: progress, Pareto scatter, hypervolume over time, trial table, workers.
import { ApiError, get, post, qs } from './api.js';
import { LineChart, ParetoChart, escapeHtml } from './charts.js';
import { axisLabel, formatDuration, formatMetric, formatNumber, formatParam } from './format.js';
import { STATES, markRefreshed, progressBar, renderWorkers, setCrumbs, stateBadge } from './ui.js';

const SCATTER_LIMIT = 20000;  // succeeded trials fetched for the scatter
const PAGE = 100;             // rows per table page
const EXTRA_METRICS = ['val_accuracy', 'test_accuracy', 'size_bytes', 'latency_ms', 'compression_ratio', 'sparsity'];

// Per-sweep UI choices survive refreshes and navigation.
const choices = new Map();

export class SweepView {
  constructor(main, id) {
    this.main = main;
    this.id = id;
    this.alive = true;
    this.sel = choices.get(id) || { x: null, y: null, logX: false, sort: 'number', order: 'asc', state: '', offset: 0 };
    choices.set(id, this.sel);
    setCrumbs(`/ <a href="#/sweeps/${id}">sweep ${id}</a>`);
    main.innerHTML = `
      <div data-testid="sweep-view" data-sweep-id="${id}">
        <div class="controls"><h1 id="title">Sweep ${id}</h1>
          <button id="cancel" data-testid="cancel-button">Cancel sweep</button>
          <button id="retry" data-testid="retry-button">Retry failed</button>
          <span id="action-result" class="muted"></span></div>
        <section class="panel" id="progress" data-testid="progress"></section>
        <div class="grid">
          <section class="panel">
            <h2>Pareto front</h2>
            <div class="controls">
              <label>x <select id="x" data-testid="x-select"></select></label>
              <label>y <select id="y" data-testid="y-select"></select></label>
              <label><input type="checkbox" id="logx"> log x</label>
              <span class="legend"><span><span class="dot" style="background:#d9480f"></span>front of the two shown metrics</span>
              <span><span class="dot" style="background:rgba(71,85,105,.35)"></span>dominated</span></span>
            </div>
            <div id="pareto-chart" class="chart" data-testid="pareto-chart"></div>
            <p class="muted" id="scatter-note"></p>
          </section>
          <div>
            <section class="panel"><h2>Hypervolume over time</h2>
              <div id="hv-chart" class="chart" data-testid="hv-chart"></div>
              <p class="muted" id="hv-note"></p></section>
            <section class="panel" id="workers" data-testid="worker-panel"></section>
          </div>
        </div>
        <section class="panel">
          <div class="controls"><h2 style="margin:0">Trials</h2>
            <label>state <select id="state-filter" data-testid="state-filter"><option value="">all</option>
              ${STATES.map((s) => `<option>${s}</option>`).join('')}</select></label>
            <span class="downloads" id="downloads"></span></div>
          <div class="table-wrap"><table data-testid="trial-table" id="trial-table"></table></div>
          <div class="pager" id="pager"></div>
        </section>
        <section class="panel"><details><summary>Sweep file</summary><pre id="spec" data-testid="spec-yaml"></pre></details></section>
      </div>`;
    this.pareto = new ParetoChart(main.querySelector('#pareto-chart'), {
      onClick: (trialId) => { location.hash = `#/trials/${trialId}`; },
    });
    this.hv = new LineChart(main.querySelector('#hv-chart'), { time: true, height: 200, xLabel: 'time', legend: false });
    const onAxis = () => {
      this.sel.x = main.querySelector('#x').value;
      this.sel.y = main.querySelector('#y').value;
      this.sel.logX = main.querySelector('#logx').checked;
      this.refreshPareto();
    };
    main.querySelector('#x').addEventListener('change', onAxis);
    main.querySelector('#y').addEventListener('change', onAxis);
    main.querySelector('#logx').addEventListener('change', onAxis);
    main.querySelector('#state-filter').value = this.sel.state;
    main.querySelector('#state-filter').addEventListener('change', (e) => {
      this.sel.state = e.target.value;
      this.sel.offset = 0;
      this.refreshTable();
    });
    main.querySelector('#cancel').addEventListener('click', () => this.action('cancel'));
    main.querySelector('#retry').addEventListener('click', () => this.action('retry-failed'));
    main.querySelector('#downloads').innerHTML = ['trials.csv', 'trials.json', 'pareto.csv', 'pareto.json']
      .map((f) => `<a href="/api/sweeps/${id}/${f}" download data-testid="download-${f.replace('.', '-')}">${f}</a>`)
      .join('');
    this.refresh();
  }

  async action(what) {
    const out = this.main.querySelector('#action-result');
    try {
      const r = await post(`/api/sweeps/${this.id}/${what}`);
      out.textContent = what === 'cancel' ? 'cancelled' : `${r.requeued} trials re-queued`;
    } catch (e) {
      out.textContent = e instanceof ApiError && e.status === 401 ? 'needs a token (set it on the home page)' : e.message;
    }
    this.refresh();
  }

  // events: a batch of {kind, data} from the live stream; undefined means "all".
  relevant(events) {
    if (!events) return true;
    return events.some(({ kind, data }) => {
      if (kind === 'resync' || kind === 'tick') return true;
      if (kind === 'trial_progress' || kind === 'worker_joined' || kind === 'worker_lost') return false;
      return !data || data.sweep_id == null || data.sweep_id === this.id;
    });
  }

  async refresh(events) {
    if (!this.alive) return undefined;
    if (!this.relevant(events)) return this.refreshWorkers();
    try {
      this.sweep = await get(`/api/sweeps/${this.id}`);
    } catch (e) {
      this.main.querySelector('#progress').innerHTML = `<p class="errors">${escapeHtml(e.message)}</p>`;
      return undefined;
    }
    if (!this.alive) return undefined;
    this.renderHeader();
    // The table marks front trials, so it follows the Pareto refresh.
    await Promise.all([this.refreshPareto().then(() => this.refreshTable()), this.refreshHv(), this.refreshWorkers()]);
    markRefreshed();
    return undefined;
  }

  renderHeader() {
    const s = this.sweep;
    this.main.querySelector('#title').innerHTML = `${escapeHtml(s.name)} <small class="muted">#${s.id}</small> ${stateBadge(s.state)}`;
    const counts = STATES.map((st) => `<div class="count" data-testid="count-${st}"><b>${s.counts[st] || 0}</b>${st}</div>`).join('');
    const hv = s.hypervolume;
    const hvText = hv && hv.value != null
      ? `<div class="count" data-testid="hypervolume" title="reference point: ${escapeHtml(JSON.stringify(hv.reference))}"><b>${formatNumber(hv.value)}</b>hypervolume (${(hv.objectives || []).map((o) => escapeHtml(o.metric)).join(', ')}), front of ${hv.front_size}</div>`
      : '';
    const teacher = (s.teachers || []).map((t) => `teacher ${stateBadge(t.state)}`).join(' ');
    this.main.querySelector('#progress').innerHTML = `
      <div class="counts"><div class="count" data-testid="count-total"><b>${s.total}</b>trials</div>${counts}${hvText}</div>
      ${s.total ? progressBar(s.counts, s.total) : ''}
      <p class="muted">${teacher}</p>`;
    this.main.querySelector('#spec').textContent = s.spec_yaml || '';
    this.main.querySelector('#cancel').disabled = s.state !== 'active';
  }

  objectives() {
    return (this.sweep && Array.isArray(this.sweep.objectives) ? this.sweep.objectives : []);
  }

  async refreshPareto() {
    const sweepId = this.id;
    const trials = await get(`/api/sweeps/${sweepId}/trials${qs({ state: 'succeeded', limit: SCATTER_LIMIT })}`);
    if (!this.alive) return;
    const metrics = new Set(this.objectives().map((o) => o.metric));
    for (const t of trials.trials) Object.keys(t.metrics || {}).forEach((m) => metrics.add(m));
    const names = [...metrics];
    if (!names.length) {
      this.main.querySelector('#scatter-note').textContent = 'No succeeded trials yet.';
      this.pareto.el.dataset.count = '0';
      this.pareto.el.dataset.points = '';
      this.pareto.el.dataset.frontIds = '';
      return;
    }
    this.chooseAxes(names);
    const fill = (sel, value) => {
      sel.innerHTML = names.map((m) => `<option ${m === value ? 'selected' : ''}>${escapeHtml(m)}</option>`).join('');
    };
    fill(this.main.querySelector('#x'), this.sel.x);
    fill(this.main.querySelector('#y'), this.sel.y);
    this.main.querySelector('#logx').checked = this.sel.logX;
    const { x, y } = this.sel;
    let axesFront = { front_ids: [], objectives: [] };
    let sweepFront = { front_ids: [] };
    if (x !== y) {
      [axesFront, sweepFront] = await Promise.all([
        get(`/api/sweeps/${sweepId}/pareto${qs({ objectives: `${x},${y}` })}`),
        this.objectives().length ? get(`/api/sweeps/${sweepId}/pareto`) : Promise.resolve({ front_ids: [] }),
      ]);
    }
    if (!this.alive) return;
    const dir = (m) => {
      const o = axesFront.objectives.find((q) => q.metric === m) || this.objectives().find((q) => q.metric === m);
      return o ? o.maximize : m.endsWith('accuracy') || m === 'throughput';
    };
    const points = trials.trials.map((t) => ({ id: t.id, number: t.number, params: t.params, x: t.metrics[x], y: t.metrics[y] }));
    this.pareto.update({ points, frontIds: new Set(axesFront.front_ids), xMetric: x, yMetric: y, xMax: dir(x), yMax: dir(y), logX: this.sel.logX });
    // The front over all of the sweep's objectives (what `compsweep results --pareto` prints).
    this.sweepFront = new Set(sweepFront.front_ids);
    this.pareto.el.dataset.sweepFrontIds = sweepFront.front_ids.join(',');
    const note = trials.total > trials.trials.length ? `Showing ${trials.trials.length} of ${trials.total} succeeded trials. ` : '';
    this.main.querySelector('#scatter-note').textContent =
      `${note}${this.pareto.el.dataset.count} trials plotted; ${axesFront.front_ids.length} on the front of ${x} × ${y}. Click a point for its details.`;
  }

  chooseAxes(names) {
    const objs = this.objectives().filter((o) => names.includes(o.metric));
    if (!names.includes(this.sel.y)) {
      const maxed = objs.find((o) => o.maximize);
      this.sel.y = maxed ? maxed.metric : (objs[0] || {}).metric || names[0];
    }
    if (!names.includes(this.sel.x) || this.sel.x === this.sel.y) {
      const other = objs.find((o) => o.metric !== this.sel.y);
      this.sel.x = other ? other.metric : names.find((n) => n !== this.sel.y) || names[0];
    }
  }

  async refreshHv() {
    if (!this.objectives().length) return;
    const hv = await get(`/api/sweeps/${this.id}/hypervolume`);
    if (!this.alive) return;
    const xs = hv.series.map((p) => p.t / 1000);
    this.hv.update(xs, [{ label: 'hypervolume', values: hv.series.map((p) => p.value), color: '#2563eb' }]);
    const metrics = hv.objectives.map((o) => `${o.metric} ${o.maximize ? '↑' : '↓'}`).join(', ');
    const ref = hv.objectives.map((o, i) => `${o.metric} ${formatMetric(o.metric, hv.reference[i])}`).join(', ');
    this.main.querySelector('#hv-note').textContent = hv.series.length
      ? `Over ${metrics}; reference point ${ref} (see docs/dashboard.md).`
      : 'No succeeded trials yet.';
  }

  async refreshTable() {
    const objectiveMetrics = this.objectives().map((o) => o.metric);
    const { sort, order, state, offset } = this.sel;
    const page = await get(`/api/sweeps/${this.id}/trials${qs({ sort, order, state, limit: PAGE, offset })}`);
    if (!this.alive) return;
    const paramNames = [...new Set(page.trials.flatMap((t) => Object.keys(t.params || {})))].sort();
    const present = new Set(page.trials.flatMap((t) => Object.keys(t.metrics || {})));
    const metricNames = [...new Set([...objectiveMetrics, ...EXTRA_METRICS])].filter((m) => present.has(m) || objectiveMetrics.includes(m));
    const head = (key, label, sortable = true) => {
      const cls = [sortable ? 'sortable' : '', sort === key ? 'sorted' : '', sort === key && order === 'asc' ? 'asc' : ''].join(' ');
      return `<th class="${cls}" ${sortable ? `data-sort="${escapeHtml(key)}"` : ''}>${escapeHtml(label)}</th>`;
    };
    const front = this.sweepFront || new Set();
    const rows = page.trials.map((t) => `<tr class="clickable${front.has(t.id) ? ' front' : ''}" data-testid="trial-row" data-trial-id="${t.id}">
      <td class="num">${t.id}</td><td class="num">${t.number}</td><td>${stateBadge(t.state)}</td>
      ${paramNames.map((p) => `<td>${escapeHtml(formatParam((t.params || {})[p]))}</td>`).join('')}
      ${metricNames.map((m) => `<td class="num">${escapeHtml(formatMetric(m, (t.metrics || {})[m]))}</td>`).join('')}
      <td class="num">${formatDuration(t.duration_ms)}</td><td class="num">${t.attempt}</td><td>${escapeHtml(t.worker || '–')}</td>
      <td>${front.has(t.id) ? '★' : ''}</td><td class="errors">${escapeHtml((t.error || '').slice(0, 80))}</td></tr>`).join('');
    const table = this.main.querySelector('#trial-table');
    table.innerHTML = `<thead><tr>${head('id', 'id')}${head('number', '#')}${head('state', 'state')}
      ${paramNames.map((p) => head(p, p, false)).join('')}
      ${metricNames.map((m) => head(m, axisLabel(m))).join('')}
      ${head('duration_ms', 'duration')}${head('attempt', 'attempts')}${head('worker', 'worker')}
      <th title="on the Pareto front of the sweep's objectives">front</th>${head('error', 'error')}</tr></thead><tbody>${rows}</tbody>`;
    table.querySelectorAll('th[data-sort]').forEach((th) => th.addEventListener('click', () => {
      const key = th.dataset.sort;
      this.sel.order = this.sel.sort === key && this.sel.order === 'asc' ? 'desc' : 'asc';
      this.sel.sort = key;
      this.refreshTable();
    }));
    table.querySelectorAll('tr[data-trial-id]').forEach((tr) => tr.addEventListener('click', () => {
      location.hash = `#/trials/${tr.dataset.trialId}`;
    }));
    const pager = this.main.querySelector('#pager');
    const last = Math.min(page.total, offset + page.trials.length);
    pager.innerHTML = `<button id="prev" ${offset === 0 ? 'disabled' : ''}>‹ prev</button>
      <span data-testid="trial-count">${page.total ? offset + 1 : 0}–${last} of ${page.total}</span>
      <button id="next" ${last >= page.total ? 'disabled' : ''}>next ›</button>`;
    pager.querySelector('#prev').addEventListener('click', () => { this.sel.offset = Math.max(0, offset - PAGE); this.refreshTable(); });
    pager.querySelector('#next').addEventListener('click', () => { this.sel.offset = offset + PAGE; this.refreshTable(); });
  }

  async refreshWorkers() {
    const el = this.main.querySelector('#workers');
    if (el && this.alive) await renderWorkers(el);
  }

  resize() {
    this.pareto.resize();
    this.hv.resize();
  }

  destroy() {
    this.alive = false;
    this.hv.destroy();
  }
}
