// Compare view (#/compare/ID,ID[,ID[,ID]]): 2-4 trials side by side: their
// metrics with the best value of each highlighted (by the objective's
// direction), learning curves overlaid, and a settings diff. Logic in compare.js.
import { get } from './api.js';
import { LineChart, PALETTE, escapeHtml } from './charts.js';
import { bestIndices, curveFields, curvesOf, metricDirection, settingsDiff } from './compare.js';
import { axisTick, formatMetric, formatParamValue } from './format.js';
import { metricLabel, paramLabel } from './labels.js';
import { markRefreshed, setCrumbs, stateBadge } from './ui.js';

export class CompareView {
  constructor(main, ids) {
    this.main = main;
    this.ids = ids;
    this.alive = true;
    this.charts = [];
    this.showSame = false;
    main.innerHTML = `<div data-testid="compare-view" data-trial-ids="${ids.join(',')}">
      <h1>Compare trials ${ids.map((i) => `<a href="#/trials/${i}">${i}</a>`).join(', ')}</h1>
      <section class="panel"><h2>Metrics</h2><p class="muted">The best value of each metric is highlighted (★), by the objective's direction, else higher accuracy and compression, lower loss, size, latency and time; metrics without a better direction are not marked. Values of a trial stopped early are those measured at its rung (in italics) and are never marked best.</p>
        <div class="table-wrap" id="cmp-metrics" data-testid="compare-metrics"></div></section>
      <section class="panel"><h2>Learning curves</h2><p class="muted">From the trials' progress reports (latest attempt), x in epochs over the whole trial; rung measurements sit at their epoch. Colours as in the tables' headers.</p>
        <div id="cmp-curves" class="curve-grid" data-testid="compare-curves"></div></section>
      <section class="panel"><h2>Settings</h2>
        <div class="controls"><label><input type="checkbox" id="cmp-same" data-testid="compare-show-same"> show the settings all trials share</label><span class="muted" id="cmp-diff-note"></span></div>
        <div class="table-wrap" id="cmp-settings" data-testid="compare-settings"></div></section>
    </div>`;
    main.querySelector('#cmp-same').addEventListener('change', (e) => {
      this.showSame = e.target.checked;
      this.renderSettings();
    });
    this.refresh();
  }

  async refresh(events) {
    const mine = ({ kind, data }) => kind === 'resync' || (data && this.ids.includes(data.trial_id));
    if (events && !events.some(mine)) return;
    let trials;
    try {
      trials = await Promise.all(this.ids.map((id) => get(`/api/trials/${id}`)));
    } catch (e) {
      this.main.querySelector('#cmp-metrics').innerHTML = `<p class="errors">${escapeHtml(e.message)}</p>`;
      return;
    }
    if (!this.alive) return;
    const sweepIds = [...new Set(trials.map((t) => t.sweep_id))];
    if (!this.sweep || this.sweep.id !== sweepIds[0]) {
      try {
        this.sweep = await get(`/api/sweeps/${sweepIds[0]}`);
      } catch (e) {
        this.sweep = { id: sweepIds[0], objectives: [] };
      }
    }
    if (!this.alive) return;
    this.trials = trials;
    setCrumbs(sweepIds.map((s) => `/ <a href="#/sweeps/${s}">sweep ${s}</a>`).join(' ') + ` / compare ${this.ids.join(', ')}`);
    this.renderMetrics();
    this.renderCurves();
    this.renderSettings();
    markRefreshed();
  }

  head() {
    return `<tr><th></th>${this.trials.map((t, i) => `<th><span class="dot" style="background:${PALETTE[i]}"></span><a href="#/trials/${t.id}">trial ${t.id}</a> <small class="muted">#${t.number}</small> ${stateBadge(t.state)}</th>`).join('')}</tr>`;
  }

  renderMetrics() {
    const objectives = this.sweep.objectives || [];
    const names = [...new Set(this.trials.flatMap((t) => Object.keys(t.metrics || {})))];
    const objNames = objectives.map((o) => o.metric).filter((m) => names.includes(m));
    const rest = names.filter((m) => !objNames.includes(m)).sort((a, b) => metricLabel(a).localeCompare(metricLabel(b)));
    const row = (m) => {
      const values = this.trials.map((t) => (t.metrics || {})[m]);
      const dir = metricDirection(m, objectives);
      // A stopped trial's values were measured at its rung: not final, so never "best".
      const best = new Set(bestIndices(values.map((v, i) => (this.trials[i].state === 'stopped' ? null : v)), dir));
      const arrow = dir == null ? '' : dir ? ' ↑' : ' ↓';
      return `<tr data-metric="${escapeHtml(m)}"><td title="${escapeHtml(m)}">${escapeHtml(metricLabel(m))}${arrow}${objNames.includes(m) ? ' <small class="muted">objective</small>' : ''}</td>${values
        .map((v, i) => `<td class="num${best.has(i) ? ' best' : ''}${this.trials[i].state === 'stopped' ? ' rung' : ''}"${best.has(i) ? ' data-best="1"' : ''}>${escapeHtml(formatMetric(m, v))}${best.has(i) ? ' ★' : ''}</td>`).join('')}</tr>`;
    };
    const params = [...new Set(this.trials.flatMap((t) => Object.keys(t.params || {})))].sort();
    const paramRows = params.map((p) => {
      const values = this.trials.map((t) => (t.params || {})[p]);
      return `<tr data-param="${escapeHtml(p)}"><td title="${escapeHtml(p)}">${escapeHtml(paramLabel(p))} <small class="muted">swept</small></td>${values.map((v) => `<td class="num">${escapeHtml(formatParamValue(p, v))}</td>`).join('')}</tr>`;
    }).join('');
    this.main.querySelector('#cmp-metrics').innerHTML = `<table><thead>${this.head()}</thead><tbody>${paramRows}${[...objNames, ...rest].map(row).join('')}</tbody></table>`;
  }

  renderCurves() {
    const el = this.main.querySelector('#cmp-curves');
    this.charts.forEach((c) => c.destroy());
    this.charts = [];
    const curves = this.trials.map((t) => curvesOf(t.progress));
    const fields = curveFields(curves);
    if (!fields.length) {
      el.innerHTML = '<p class="muted">No progress series with two or more reports in these trials.</p>';
      return;
    }
    el.innerHTML = '';
    for (const f of fields) {
      const box = document.createElement('div');
      box.className = 'curve-box';
      box.innerHTML = `<h3>${escapeHtml(metricLabel(f))}</h3>`;
      const host = document.createElement('div');
      host.className = 'chart';
      host.dataset.testid = 'compare-curve';
      host.dataset.field = f;
      host.dataset.trials = this.trials.filter((t, i) => (curves[i][f] || []).length).map((t) => t.id).join(',');
      box.appendChild(host);
      el.appendChild(box);
      const xs = [...new Set(curves.flatMap((c) => (c[f] || []).map((p) => p[0])))].sort((a, b) => a - b);
      const chart = new LineChart(host, {
        height: 200,
        xLabel: 'epoch',
        legend: false,
        scales: { y: { label: metricLabel(f), tick: (v) => axisTick(f, v) } },
      });
      chart.update(xs, this.trials.map((t, i) => {
        const at = new Map((curves[i][f] || []).map(([x, y]) => [x, y]));
        return { label: `trial ${t.id}`, values: xs.map((x) => (at.has(x) ? at.get(x) : null)), color: PALETTE[i] };
      }));
      this.charts.push(chart);
    }
  }

  renderSettings() {
    if (!this.trials) return;
    const rows = settingsDiff(this.trials.map((t) => t.settings || {}));
    const differing = rows.filter((r) => r.differs);
    const shown = this.showSame ? rows : differing;
    const fmt = (key, v) => (v === undefined ? '(not set)' : typeof v === 'object' && v !== null ? JSON.stringify(v) : formatParamValue(key, v));
    this.main.querySelector('#cmp-diff-note').textContent =
      `${differing.length} of ${rows.length} settings differ${this.showSame ? '' : `; ${rows.length - differing.length} shared ones hidden`}.`;
    this.main.querySelector('#cmp-settings').innerHTML = `<table><thead>${this.head()}</thead><tbody>${shown
      .map((r) => `<tr class="${r.differs ? 'differs' : 'same'}" data-testid="compare-setting" data-key="${escapeHtml(r.key)}" data-differs="${r.differs ? 1 : 0}"><td><code>${escapeHtml(r.key)}</code></td>${r.values.map((v) => `<td class="num">${escapeHtml(fmt(r.key, v))}</td>`).join('')}</tr>`)
      .join('') || '<tr><td class="muted">no differences</td></tr>'}</tbody></table>`;
  }

  resize() {
    this.charts.forEach((c) => c.resize());
  }

  destroy() {
    this.alive = false;
    this.charts.forEach((c) => c.destroy());
  }
}
