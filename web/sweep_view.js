// Sweep view: progress, Pareto scatter, hypervolume over time, trial table, workers.
import { ApiError, get, post, qs } from './api.js';
import { LineChart, ParetoChart, SortedPoints, escapeHtml } from './charts.js';
import { axisLabel, formatDuration, formatMetric, formatParamValue } from './format.js';
import { HypervolumeTracker, baselinesOf, boxCandidates, byFinish, describeBox, referenceBox, thinSeries } from './hypervolume.js';
import { metricLabel, paramLabel } from './labels.js';
import { addQueued, catchUp, classifyEvents } from './live.js';
import { buildAxes, filterByBrushes } from './parcoords.js';
import { ParallelCoordinates } from './parcoords_view.js';
import { renderImportanceInSteps } from './importance_view.js';
import { PickerPanel } from './picker_view.js';
import { STATES, markRefreshed, measureSince, progressBar, renderWorkers, setCrumbs, stateBadge, timed } from './ui.js';

const STATE_HELP = {
  queued: 'waiting for a worker',
  running: 'training on a worker',
  succeeded: 'finished with its final metrics',
  failed: 'ended with an error (after its retries)',
  lost: 'its worker went silent; it will be re-queued',
  cancelled: 'cancelled with the sweep',
  stopped: 'stopped early by MO-ASHA at a rung: keeps the metrics measured there, never on the Pareto front',
};

const SCATTER_LIMIT = 200000;  // succeeded trials held for the scatter (the API's largest page)
const PAGE = 100;             // rows per table page
const EXTRA_METRICS = ['val_accuracy', 'test_accuracy', 'size_bytes', 'deploy_size_bytes_torchscript', 'latency_ms', 'compression_ratio', 'sparsity'];

// Per-sweep UI choices survive refreshes and navigation.
const choices = new Map();

// Past HEAVY succeeded trials, the parallel coordinates and the importance
// table are recomputed at most every HEAVY_EVERY_MS.
const HEAVY = 20000;
const HEAVY_EVERY_MS = 10000;

// How many succeeded trials the page asks for per live batch beyond the count
// it misses (trials finishing in the same millisecond, reordering).
const MARGIN = 50;

// Stage reuse: the pipeline prefixes the sweep's trials share, each trained
// once (its own page shows its training; a trial's page shows the chain it
// starts from).
function stagesLine(stages) {
  if (!Array.isArray(stages) || !stages.length) return '';
  const items = stages.map((st) => {
    const names = Array.isArray(st.names) ? st.names : [];
    return `<a href="#/trials/${st.id}" data-testid="sweep-stage" data-stage-id="${st.id}" data-shared-by="${escapeHtml(String(st.shared_by ?? ''))}">${escapeHtml(names.join(' → ') || 'stage')}</a> ${stateBadge(st.state)} (${escapeHtml(String(st.epochs ?? '?'))} epoch${st.epochs === 1 ? '' : 's'}, shared by ${escapeHtml(String(st.shared_by ?? '?'))} trials)`;
  });
  return `<p class="muted" data-testid="shared-stages">Shared training, trained once (stage reuse): ${items.join(' · ')}</p>`;
}

export class SweepView {
  constructor(main, id) {
    this.main = main;
    this.id = id;
    this.alive = true;
    this.trials = new Map();  // succeeded trials by id: {id, number, params, metrics, finished_ms}
    this.stopped = new Map();  // trials stopped early (MO-ASHA), same rows: metrics at their rung
    // Metric and parameter names seen in each map, kept as rows arrive.
    this.names = { succeeded: { metrics: new Set(), params: new Set() }, stopped: { metrics: new Set(), params: new Set() } };
    this.dataVersion = 0;  // moves whenever this.trials or this.stopped change
    this.loadsOf = { succeeded: 0, stopped: 0 };  // full loads of each map
    this.scatter = { succeeded: new SortedPoints(), stopped: new SortedPoints() };  // their points, in x order
    this.sel = choices.get(id) || { x: null, y: null, colorBy: '', shapeBy: '', logX: false, showStopped: true, sort: 'number', order: 'asc', state: '', offset: 0, compare: [], brushes: {} };
    choices.set(id, this.sel);
    const readOnly = window.__dashboard && window.__dashboard.readOnly;
    setCrumbs(`/ <a href="#/sweeps/${id}">sweep ${id}</a>`);
    main.innerHTML = `
      <div data-testid="sweep-view" data-sweep-id="${id}">
        <div class="controls"><h1 id="title">Sweep ${id}</h1>
          ${readOnly ? '<span class="muted" data-testid="read-only-note">read-only view (compsweep dashboard)</span>' : `<button id="cancel" data-testid="cancel-button">Cancel sweep</button>
          <button id="retry" data-testid="retry-button">Retry failed</button>`}
          <span id="action-result" class="muted"></span></div>
        <section class="panel" id="progress" data-testid="progress"></section>
        <div class="grid">
          <section class="panel">
            <h2>Pareto front</h2>
            <div class="controls">
              <label>x <select id="x" data-testid="x-select"></select></label>
              <label>y <select id="y" data-testid="y-select"></select></label>
              <label>colour by <select id="color" data-testid="color-select"></select></label>
              <label>shape by <select id="shape" data-testid="shape-select"></select></label>
              <label><input type="checkbox" id="logx"> log x</label>
              <label id="stopped-toggle" hidden title="trials stopped early by MO-ASHA, drawn hollow at their rung's metrics"><input type="checkbox" id="show-stopped" data-testid="show-stopped"> stopped trials</label>
            </div>
            <div id="pareto-chart" class="chart" data-testid="pareto-chart"></div>
            <p class="muted" id="scatter-note"></p>
          </section>
          <div>
            <section class="panel" id="picker" data-testid="picker"></section>
            <section class="panel"><h2>Hypervolume over time</h2>
              <div id="hv-chart" class="chart" data-testid="hv-chart"></div>
              <p class="muted" id="hv-note"></p></section>
          </div>
        </div>
        <div class="grid">
          <section class="panel"><h2>Settings and objectives</h2>
            <div class="controls"><span class="muted" id="pc-note" data-testid="pc-note"></span>
              <button id="pc-clear" data-testid="pc-clear" hidden>clear selection</button></div>
            <div id="parcoords" data-testid="parcoords"></div></section>
          <section class="panel"><h2>Which settings matter</h2><div id="importance" data-testid="importance"></div></section>
        </div>
        <section class="panel">
          <div class="controls"><h2 style="margin:0">Trials</h2>
            <label>state <select id="state-filter" data-testid="state-filter"><option value="">all</option>
              ${STATES.map((s) => `<option>${s}</option>`).join('')}</select></label>
            <span class="downloads" id="downloads"></span></div>
          <div class="controls compare-bar"><button id="compare" data-testid="compare-button" disabled>Compare</button>
            <span class="muted" id="compare-note" data-testid="compare-note"></span></div>
          <div class="table-wrap"><table data-testid="trial-table" id="trial-table"></table></div>
          <div class="pager" id="pager"></div>
          <p class="muted" id="front-note" data-testid="front-note"></p>
        </section>
        <section class="panel" id="workers" data-testid="worker-panel"></section>
        <section class="panel"><details><summary>Sweep file</summary><pre id="spec" data-testid="spec-yaml"></pre></details></section>
      </div>`;
    this.pareto = new ParetoChart(main.querySelector('#pareto-chart'), {
      onClick: (trialId) => { location.hash = `#/trials/${trialId}`; },
    });
    this.hv = new LineChart(main.querySelector('#hv-chart'), {
      time: true, height: 200, xLabel: 'time', legend: false,
      scales: { y: { label: 'share of the box', tick: (v) => `${+(v * 100).toFixed(1)}%`, range: (u, lo, hi) => [0, Math.max(0.05, Math.min(1, hi * 1.1))] } },
    });
    this.picker = new PickerPanel(main.querySelector('#picker'), this);
    this.pc = new ParallelCoordinates(main.querySelector('#parcoords'), {
      onBrush: (brushes) => {
        this.sel.brushes = { ...brushes };
        this.sel.offset = 0;
        this.renderPcNote();
        this.refreshPareto();
        this.refreshTable();
      },
    });
    this.pc.brushes = { ...this.sel.brushes };
    main.querySelector('#pc-clear').addEventListener('click', () => this.pc.clear());
    const onAxis = () => {
      this.sel.x = main.querySelector('#x').value;
      this.sel.y = main.querySelector('#y').value;
      this.sel.colorBy = main.querySelector('#color').value;
      this.sel.shapeBy = main.querySelector('#shape').value;
      this.sel.logX = main.querySelector('#logx').checked;
      this.sel.showStopped = main.querySelector('#show-stopped').checked;
      this.refreshPareto();
    };
    ['#x', '#y', '#color', '#shape', '#logx', '#show-stopped'].forEach((q) => main.querySelector(q).addEventListener('change', onAxis));
    main.querySelector('#state-filter').value = this.sel.state;
    main.querySelector('#state-filter').addEventListener('change', (e) => {
      this.sel.state = e.target.value;
      this.sel.offset = 0;
      this.refreshTable();
    });
    if (!readOnly) {
      main.querySelector('#cancel').addEventListener('click', () => this.action('cancel'));
      main.querySelector('#retry').addEventListener('click', () => this.action('retry-failed'));
    }
    main.querySelector('#compare').addEventListener('click', () => {
      if (this.sel.compare.length >= 2) location.hash = `#/compare/${this.sel.compare.join(',')}`;
    });
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
  async refresh(events) {
    if (!this.alive) return undefined;
    const what = classifyEvents(events, this.id);
    if (what.kind === 'none') return this.refreshWorkers();
    if (what.kind === 'added' && this.sweep) {
      // New queued trials (nsga2 proposals): counts move here; only the table
      // page is fetched again (the new rows carry their parameters).
      this.sweep = addQueued(this.sweep, what.added);
      if (window.__dashboard) window.__dashboard.addedLocally = (window.__dashboard.addedLocally || 0) + what.added;
      this.renderHeader();
      await this.refreshTable();
      markRefreshed();
      return undefined;
    }
    try {
      this.sweep = await get(`/api/sweeps/${this.id}`);
    } catch (e) {
      this.main.querySelector('#progress').innerHTML = `<p class="errors">${escapeHtml(e.message)}</p>`;
      return undefined;
    }
    if (!this.alive) return undefined;
    const resync = !events || events.some((e) => e.kind === 'resync');
    await this.loadTrials(resync);
    if (!this.alive) return undefined;
    timed('hypervolume', () => this.updateHypervolume());
    timed('header', () => this.renderHeader());
    timed('parcoords+importance', () => this.refreshParcoords());
    // The table marks front trials, so it follows the Pareto refresh.
    await Promise.all([this.refreshPareto().then(() => this.refreshTable()), this.refreshWorkers()]);
    timed('hv chart', () => this.refreshHv());
    timed('picker', () => this.picker.render());
    markRefreshed();
    return undefined;
  }

  // Keeps this.trials equal to the sweep's succeeded trials. A live refresh asks
  // only for the newest ones it misses (by finish time; live.js catchUp); a
  // full load happens on the first visit, on a resync, and when the newest ones
  // do not close the gap (a retried trial finishing out of order).
  // Stopped trials (the same way, in this.stopped) never leave that state, so
  // they are only ever added.
  async loadTrials(full) {
    const fresh = await this.loadState('succeeded', this.trials, full);
    if (fresh === null || !this.boxRows) {
      this.tracker = null;
      this.generation = (this.generation || 0) + 1;  // the map was replaced
      this.boxRows = boxCandidates(this.objectives(), [...this.trials.values()]);
    } else {
      this.boxRows = boxCandidates(this.objectives(), [...this.boxRows, ...fresh]);
      this.applyNew(fresh);
    }
    await this.loadState('stopped', this.stopped, full);
    this.loaded = true;
  }

  // Brings `map` to the sweep's trials in `state`; returns the rows added
  // incrementally, or null after a full load (the map was replaced).
  async loadState(state, map, full) {
    const want = this.sweep.counts[state] || 0;
    const stats = window.__dashboard && (window.__dashboard.loads = window.__dashboard.loads || { full: 0, incremental: 0, rows: 0 });
    const names = this.names[state];
    const add = (target, rows) => {
      const fresh = [];
      for (const t of rows) {
        if (target.has(t.id)) continue;
        const row = { id: t.id, number: t.number, params: t.params, metrics: t.metrics, finished_ms: t.finished_ms, state,
          attempt: t.attempt, worker: t.worker, duration_ms: t.duration_ms, error: t.error };
        target.set(t.id, row);
        fresh.push(row);
        for (const m in row.metrics || {}) names.metrics.add(m);
        for (const k in row.params || {}) names.params.add(k);
      }
      if (fresh.length) this.dataVersion += 1;
      return fresh;
    };
    const fresh = [];
    if (!full && this.loaded) {
      const done = await catchUp({
        size: () => map.size,
        want,
        margin: MARGIN,
        max: SCATTER_LIMIT,
        fetchNewest: async (limit) => {
          const page = await get(`/api/sweeps/${this.id}/trials${qs({ state, sort: 'finished_ms', order: 'desc', limit })}`);
          if (stats) { stats.incremental += 1; stats.rows += page.trials.length; }
          return page;
        },
        add: (rows) => {
          for (const row of timed(`add ${state}`, () => add(map, rows))) fresh.push(row);
        },
      });
      if (done) return fresh;
    }
    if (want === 0 && map.size === 0) return fresh;
    const page = await get(`/api/sweeps/${this.id}/trials${qs({ state, limit: SCATTER_LIMIT })}`);
    if (stats) { stats.full += 1; stats.rows += page.trials.length; }
    map.clear();
    this.loadsOf[state] += 1;
    names.metrics.clear();
    names.params.clear();
    this.dataVersion += 1;
    add(map, page.trials);
    return null;
  }

  // Trials just added: the hypervolume tracker takes them one by one.
  applyNew(rows) {
    if (!this.tracker) return;
    rows.sort((a, b) => (a.finished_ms ?? 0) - (b.finished_ms ?? 0) || a.id - b.id).forEach((t) => this.tracker.add(t));
  }

  baselines() {
    return baselinesOf(this.sweep);
  }

  objectives() {
    return (this.sweep && Array.isArray(this.sweep.objectives) ? this.sweep.objectives : []);
  }

  // The share of the fixed box (hypervolume.js) that the sweep's front holds.
  // The box is read from the few trials that can fix it (this.boxRows, kept
  // by loadTrials); the tracker, with its series over time, is rebuilt from
  // every trial only when the box changed or the trials were reloaded, and
  // takes new trials one by one otherwise (applyNew).
  updateHypervolume() {
    const box = this.objectives().length ? referenceBox(this.objectives(), this.boxRows || [], this.baselines().student) : null;
    const key = JSON.stringify(box);
    if (!box) {
      this.box = null;
      this.tracker = null;
      return;
    }
    if (!this.tracker || key !== this.boxKey) {
      this.box = box;
      this.boxKey = key;
      this.tracker = new HypervolumeTracker(this.objectives(), box, { series: true });
      byFinish(this.trials.values()).forEach((t) => this.tracker.add(t));
    }
  }

  renderHeader() {
    const s = this.sweep;
    this.main.querySelector('#title').innerHTML = `${escapeHtml(s.name)} <small class="muted">#${s.id}</small> ${stateBadge(s.state)}`;
    const counts = STATES.map((st) => `<div class="count" data-testid="count-${st}" title="${escapeHtml(STATE_HELP[st] || '')}"><b>${s.counts[st] || 0}</b><span class="swatch" style="background:var(--${st})"></span>${st}</div>`).join('');
    let hvText = '';
    let boxLine = '';
    if (this.tracker) {
      const share = this.tracker.share();
      hvText = `<div class="count" data-testid="hypervolume" data-share="${share}"><b>${(share * 100).toFixed(1)} %</b>hypervolume, front of ${this.tracker.front.length}</div>`;
      boxLine = `<p class="muted" data-testid="hv-box">Hypervolume: the share of the box ${escapeHtml(describeBox(this.box, metricLabel, formatMetric))} that the front dominates (100 % = a perfect model, zero size and latency); the box does not move as trials arrive.</p>`;
    }
    const { student, teacher } = this.baselines();
    const base = [teacher && `teacher ${stateBadge(teacher.state || 'succeeded')} ${this.accuracyText(teacher)}`,
      student && `dense student ${this.accuracyText(student)}`].filter(Boolean);
    const teachers = (s.teachers || []).filter((t) => !t.metrics).map((t) => `teacher ${stateBadge(t.state)}`);
    this.main.querySelector('#progress').innerHTML = `
      <div class="counts"><div class="count" data-testid="count-total"><b>${s.total}</b>trials</div>${counts}${hvText}</div>
      ${s.total ? progressBar(s.counts, s.total) : ''}
      ${boxLine}
      <p class="muted" data-testid="baselines">${[...base, ...teachers].join(' · ')}</p>
      ${stagesLine(s.stages)}`;
    this.main.querySelector('#spec').textContent = s.spec_yaml || '';
    const cancel = this.main.querySelector('#cancel');
    if (cancel) cancel.disabled = s.state !== 'active';
  }

  accuracyMetric() {
    const o = this.objectives().find((q) => q.maximize && q.metric.endsWith('accuracy'));
    return o ? o.metric : 'val_accuracy';
  }

  accuracyText(row) {
    const m = this.accuracyMetric();
    return row.metrics && row.metrics[m] != null ? `${metricLabel(m)} ${formatMetric(m, row.metrics[m])}` : '';
  }

  async refreshPareto() {
    const sweepId = this.id;
    const trials = [...this.trials.values()];
    const stoppedRows = [...this.stopped.values()];
    const names = [...new Set([...this.objectives().map((o) => o.metric), ...this.names.succeeded.metrics])];
    const paramNames = [...new Set([...this.names.succeeded.params, ...this.names.stopped.params])].sort();
    const toggle = this.main.querySelector('#stopped-toggle');
    toggle.hidden = stoppedRows.length === 0;
    toggle.lastChild.textContent = ` stopped trials (${stoppedRows.length})`;
    this.main.querySelector('#show-stopped').checked = this.sel.showStopped;
    if (!names.length || !trials.length) {
      this.main.querySelector('#scatter-note').textContent = 'No succeeded trials yet.';
      this.drawKey = null;
      this.pareto.el.dataset.count = '0';
      this.pareto.el.dataset.points = '';
      this.pareto.el.dataset.frontIds = '';
      return;
    }
    this.chooseAxes(names);
    if (this.sel.colorBy && !paramNames.includes(this.sel.colorBy)) this.sel.colorBy = '';
    if (this.sel.shapeBy && !paramNames.includes(this.sel.shapeBy)) this.sel.shapeBy = '';
    const fill = (sel, value, list, labelOf) => {
      sel.innerHTML = list.map((m) => `<option value="${escapeHtml(m)}" ${m === value ? 'selected' : ''}>${escapeHtml(labelOf(m))}</option>`).join('');
    };
    const objectiveFirst = [...this.objectives().map((o) => o.metric).filter((m) => names.includes(m)), ...names.filter((m) => !this.objectives().some((o) => o.metric === m)).sort()];
    fill(this.main.querySelector('#x'), this.sel.x, objectiveFirst, metricLabel);
    fill(this.main.querySelector('#y'), this.sel.y, objectiveFirst, metricLabel);
    fill(this.main.querySelector('#color'), this.sel.colorBy, ['', ...paramNames], (p) => (p ? paramLabel(p) : 'none'));
    fill(this.main.querySelector('#shape'), this.sel.shapeBy, ['', ...paramNames], (p) => (p ? paramLabel(p) : 'none'));
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
    const start = performance.now();
    const dir = (m) => {
      const o = axesFront.objectives.find((q) => q.metric === m) || this.objectives().find((q) => q.metric === m);
      return o ? o.maximize : m.endsWith('accuracy') || m === 'throughput';
    };
    const visible = this.visibleIds();
    const asPoint = (t) => ({ id: t.id, number: t.number, params: t.params, metrics: t.metrics, x: t.metrics[x], y: t.metrics[y],
      ...(t.state === 'stopped' ? { stopped: true } : {}) });
    const keep = (t) => !visible || visible.has(t.id);
    const nPoints = visible ? trials.filter(keep).length : trials.length;
    const showStopped = this.sel.showStopped && !visible;
    const { student, teacher } = this.baselines();
    const references = [];
    for (const [row, name] of [[student, 'dense student'], [teacher, 'teacher']]) {
      if (row && row.metrics && (row.metrics[x] != null || row.metrics[y] != null)) references.push({ label: name, x: row.metrics[x], y: row.metrics[y] });
    }
    // Redrawn only when something it shows changed: a refresh without new
    // results (the 15 s safety net) leaves 100,000 markers alone.
    const drawKey = JSON.stringify([this.dataVersion, x, y, this.sel.colorBy, this.sel.shapeBy, this.sel.logX, this.sel.showStopped,
      visible ? [this.pcKey, this.sel.brushes] : null, axesFront.front_ids, axesFront.objectives, references]);
    if (drawKey !== this.drawKey) {
      this.drawKey = drawKey;
      // Kept in x order as trials arrive: a live batch builds and sorts only its own points.
      const points = this.scatter.succeeded.sync(JSON.stringify([this.loadsOf.succeeded, x, y, visible ? [this.pcKey, this.sel.brushes] : null]),
        trials, asPoint, keep);
      const stopped = showStopped ? this.scatter.stopped.sync(JSON.stringify([this.loadsOf.stopped, x, y]), stoppedRows, asPoint) : [];
      this.pareto.update({
        points, stopped, frontIds: new Set(axesFront.front_ids), xMetric: x, yMetric: y, xMax: dir(x), yMax: dir(y), logX: this.sel.logX,
        colorBy: this.sel.colorBy, colorLabel: this.sel.colorBy ? paramLabel(this.sel.colorBy) : '', formatValue: formatParamValue,
        shapeBy: this.sel.shapeBy, shapeLabel: this.sel.shapeBy ? paramLabel(this.sel.shapeBy) : '',
        objectives: this.objectives(), references,
      });
    }
    // The front over all of the sweep's objectives (what `compsweep results --pareto` prints).
    this.sweepFront = new Set(sweepFront.front_ids);
    this.pareto.el.dataset.sweepFrontIds = sweepFront.front_ids.join(',');
    const total = this.sweep.counts.succeeded || 0;
    const note = total > trials.length ? `Showing ${trials.length} of ${total} succeeded trials. ` : '';
    const brushed = visible ? `Only the ${nPoints} succeeded trials inside the parallel-coordinates selection. ` : '';
    const nStopped = showStopped ? stoppedRows.length : 0;
    const stopNote = nStopped ? ` ${nStopped} trials stopped early are drawn hollow at the metrics of their rung (not final, never on the front).` : '';
    this.main.querySelector('#scatter-note').textContent =
      `${note}${brushed}${this.pareto.el.dataset.count} succeeded trials plotted; ${axesFront.front_ids.length} on the front of ${metricLabel(x)} × ${metricLabel(y)} (ringed, joined by the step line: no other succeeded trial is better on both axes).${stopNote} Click a point for its details.`;
    measureSince('scatter', start);
  }

  // Ids inside the parallel-coordinates brushes, or null when nothing is brushed.
  visibleIds() {
    if (!this.brushed()) return null;
    return new Set(filterByBrushes([...this.trials.values()], this.pc.axes, this.sel.brushes).map((t) => t.id));
  }

  brushed() {
    return Object.keys(this.sel.brushes || {}).length > 0 && this.pc.axes.length > 0;
  }

  // Parallel coordinates and importance over the succeeded trials: the swept
  // settings, then the sweep's objectives.
  // Redrawn only when the succeeded trials changed and, past HEAVY trials, at
  // most every HEAVY_EVERY_MS (the 15 s tick catches up): at 100,000 trials the
  // two cost about a second of main thread (bench/web_views_bench.mjs).
  refreshParcoords() {
    const key = `${this.trials.size}:${this.generation}`;
    if (key === this.pcKey) return;
    if (this.trials.size > HEAVY && Date.now() - (this.pcAt || 0) < HEAVY_EVERY_MS) return;
    this.pcKey = key;
    this.pcAt = Date.now();
    if (window.__dashboard) window.__dashboard.heavy = { runs: ((window.__dashboard.heavy || {}).runs || 0) + 1, at: this.pcAt };
    const rows = [...this.trials.values()];
    const params = [...this.names.succeeded.params].sort();
    const axes = timed('parcoords axes', () => (rows.length ? buildAxes(rows, params, this.objectives()) : []));
    timed('parcoords draw', () => this.pc.update(rows, axes));
    this.sel.brushes = { ...this.pc.brushes };
    this.renderPcNote();
    // The importance table follows in tasks of its own (one per setting).
    const run = (this.importanceRun || 0) + 1;
    this.importanceRun = run;
    renderImportanceInSteps(this.main.querySelector('#importance'), rows, params, this.objectives(),
      () => this.alive && this.importanceRun === run).catch((e) => console.warn('importance failed', e));
  }

  renderPcNote() {
    const n = this.trials.size;
    const note = this.main.querySelector('#pc-note');
    this.main.querySelector('#pc-clear').hidden = !this.brushed();
    if (!n) {
      note.textContent = 'No succeeded trials yet.';
    } else if (this.brushed()) {
      note.textContent = `${this.pc.selectedCount()} of ${n} succeeded trials inside the selection: the chart and the trial table show only these (stopped trials hidden). Click an axis to clear its range.`;
    } else {
      note.textContent = `One line per succeeded trial. Drag along an axis to select a range; the chart and the table follow.`;
    }
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

  refreshHv() {
    const note = this.main.querySelector('#hv-note');
    if (!this.box || !this.tracker) {
      note.textContent = 'No succeeded trials yet.';
      return;
    }
    // The tracker records the series as trials arrive (updateHypervolume).
    const all = this.tracker.series;
    const series = thinSeries(all);
    const key = [this.tracker.added, all.length];
    if (this.hvTracker !== this.tracker || String(key) !== String(this.hvKey)) {
      this.hvTracker = this.tracker;
      this.hvKey = key;
      this.hv.update(series.map((p) => p.t / 1000), [{ label: 'hypervolume', values: series.map((p) => p.share), color: '#2563eb' }]);
    }
    note.textContent = `Share of the reference box above, after each trial that changed the front (${series.length} changes).`;
  }

  async refreshTable() {
    const objectiveMetrics = this.objectives().map((o) => o.metric);
    const { sort, order, state, offset } = this.sel;
    const page = this.brushed() ? this.brushedPage() : await get(`/api/sweeps/${this.id}/trials${qs({ sort, order, state, limit: PAGE, offset })}`);
    if (!this.alive) return;
    const start = performance.now();
    const paramNames = [...new Set(page.trials.flatMap((t) => Object.keys(t.params || {})))].sort();
    const present = new Set(page.trials.flatMap((t) => Object.keys(t.metrics || {})));
    const metricNames = [...new Set([...objectiveMetrics, ...EXTRA_METRICS])].filter((m) => present.has(m) || objectiveMetrics.includes(m));
    const { student } = this.baselines();
    const accMetric = this.accuracyMetric();
    const baseAcc = student && student.metrics ? student.metrics[accMetric] : null;
    const head = (key, label, sortable = true, title = '') => {
      const cls = [sortable ? 'sortable' : '', sort === key ? 'sorted' : '', sort === key && order === 'asc' ? 'asc' : ''].join(' ');
      return `<th class="${cls}" ${sortable ? `data-sort="${escapeHtml(key)}"` : ''} title="${escapeHtml(title || key)}">${escapeHtml(label)}</th>`;
    };
    const front = this.sweepFront || new Set();
    const rows = page.trials.map((t) => {
      const acc = (t.metrics || {})[accMetric];
      const drop = baseAcc != null && acc != null ? `<td class="num">${((baseAcc - acc) * 100).toFixed(2)} pt</td>` : (baseAcc != null ? '<td class="num">–</td>' : '');
      const stoppedAt = t.state === 'stopped' ? (t.metrics || {}).stopped_at_epoch : null;
      const badge = t.state === 'stopped'
        ? `<span class="state stopped" data-testid="stopped-badge" title="${escapeHtml(STATE_HELP.stopped)}">stopped${stoppedAt != null ? ` @ epoch ${escapeHtml(String(stoppedAt))}` : ''}</span>`
        : stateBadge(t.state);
      const metricCell = t.state === 'stopped' ? ' rung" title="measured at the rung where it stopped, not a final result' : '';
      const picked = this.sel.compare.includes(t.id);
      return `<tr class="clickable${front.has(t.id) ? ' front' : ''}${picked ? ' picked' : ''}" data-testid="trial-row" data-trial-id="${t.id}" data-state="${escapeHtml(t.state)}">
      <td class="pick"><input type="checkbox" data-testid="compare-check" data-trial-id="${t.id}" ${picked ? 'checked' : ''} ${!picked && this.sel.compare.length >= 4 ? 'disabled' : ''} aria-label="compare trial ${t.id}"></td><td class="num">${t.id}</td><td class="center" title="${front.has(t.id) ? 'on the Pareto front of the sweep\'s objectives' : ''}">${front.has(t.id) ? '★' : ''}</td><td>${badge}</td>
      ${paramNames.map((p) => `<td class="num">${escapeHtml(formatParamValue(p, (t.params || {})[p]))}</td>`).join('')}
      ${metricNames.map((m) => `<td class="num${metricCell}">${escapeHtml(formatMetric(m, (t.metrics || {})[m]))}</td>`).join('')}${drop}
      <td class="num">${formatDuration(t.duration_ms)}</td><td class="num">${t.attempt}</td><td>${escapeHtml(t.worker || '–')}</td>
      <td class="errors clip" title="${escapeHtml(t.error || '')}">${escapeHtml((t.error || '').slice(0, 80))}</td></tr>`;
    }).join('');
    const table = this.main.querySelector('#trial-table');
    table.innerHTML = `<thead><tr><th title="select 2-4 trials to compare">cmp</th>${head('id', 'id')}<th title="on the Pareto front of the sweep's objectives">front</th>${head('state', 'state')}
      ${paramNames.map((p) => head(p, paramLabel(p), false, p)).join('')}
      ${metricNames.map((m) => head(m, axisLabel(m), true, m)).join('')}${baseAcc != null ? `<th title="dense student's ${escapeHtml(accMetric)} minus the trial's">${escapeHtml(metricLabel('accuracy_drop'))}</th>` : ''}
      ${head('duration_ms', 'duration')}${head('attempt', 'attempts')}${head('worker', 'worker')}${head('error', 'error')}</tr></thead><tbody>${rows}</tbody>`;
    table.querySelectorAll('th[data-sort]').forEach((th) => th.addEventListener('click', () => {
      const key = th.dataset.sort;
      this.sel.order = this.sel.sort === key && this.sel.order === 'asc' ? 'desc' : 'asc';
      this.sel.sort = key;
      this.refreshTable();
    }));
    table.querySelectorAll('tr[data-trial-id]').forEach((tr) => tr.addEventListener('click', (e) => {
      if (e.target.closest('td.pick')) return;
      location.hash = `#/trials/${tr.dataset.trialId}`;
    }));
    table.querySelectorAll('input[data-testid=compare-check]').forEach((box) => box.addEventListener('change', () => {
      const id = Number(box.dataset.trialId);
      this.sel.compare = box.checked ? [...this.sel.compare.filter((i) => i !== id), id].slice(0, 4) : this.sel.compare.filter((i) => i !== id);
      this.renderCompareBar();
      table.querySelectorAll('input[data-testid=compare-check]').forEach((b) => {
        b.disabled = !b.checked && this.sel.compare.length >= 4;
        b.closest('tr').classList.toggle('picked', b.checked);
      });
    }));
    this.renderCompareBar();
    const objs = this.objectives().map((o) => `${metricLabel(o.metric)} ${o.maximize ? '↑' : '↓'}`).join(', ');
    this.main.querySelector('#front-note').textContent =
      `★ front: on the Pareto front of the sweep's objectives (${objs}): no other trial is at least as good on all of them and better on one (what compsweep results --pareto prints).`;
    const pager = this.main.querySelector('#pager');
    const last = Math.min(page.total, offset + page.trials.length);
    pager.innerHTML = `<button id="prev" ${offset === 0 ? 'disabled' : ''}>‹ prev</button>
      <span data-testid="trial-count">${page.total ? offset + 1 : 0}–${last} of ${page.total}${this.brushed() ? ' succeeded trials inside the parallel-coordinates selection' : ''}</span>
      <button id="next" ${last >= page.total ? 'disabled' : ''}>next ›</button>`;
    pager.querySelector('#prev').addEventListener('click', () => { this.sel.offset = Math.max(0, offset - PAGE); this.refreshTable(); });
    pager.querySelector('#next').addEventListener('click', () => { this.sel.offset = offset + PAGE; this.refreshTable(); });
    measureSince('table', start);
  }

  // A page of the succeeded trials inside the brushes, sorted here as the
  // server would (missing values last).
  brushedPage() {
    const { sort, order, offset } = this.sel;
    const rows = filterByBrushes([...this.trials.values()], this.pc.axes, this.sel.brushes);
    const key = (t) => (t[sort] !== undefined ? t[sort] : (t.metrics || {})[sort]);
    const sign = order === 'desc' ? -1 : 1;
    rows.sort((a, b) => {
      const x = key(a);
      const y = key(b);
      if (x == null || y == null) return (x == null) - (y == null) || a.id - b.id;
      return (x < y ? -1 : x > y ? 1 : 0) * sign || a.id - b.id;
    });
    return { total: rows.length, trials: rows.slice(offset, offset + PAGE) };
  }

  renderCompareBar() {
    const n = this.sel.compare.length;
    const button = this.main.querySelector('#compare');
    button.disabled = n < 2;
    button.textContent = n ? `Compare ${n} trials` : 'Compare';
    this.main.querySelector('#compare-note').textContent = n
      ? `selected: ${this.sel.compare.join(', ')}${n < 2 ? ' (select one more)' : n === 4 ? ' (at most 4)' : ''}`
      : 'Tick 2 to 4 trials in the first column to compare their metrics, learning curves and settings.';
  }

  async refreshWorkers() {
    const el = this.main.querySelector('#workers');
    if (el && this.alive) await renderWorkers(el);
  }

  resize() {
    this.pareto.resize();
    this.pc.resize();
    this.hv.resize();
  }

  destroy() {
    this.alive = false;
    this.hv.destroy();
  }
}
