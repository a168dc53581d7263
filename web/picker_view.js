// The picker panel of the sweep view: budgets in a form, the best trials under
// them in cards (logic in picker.js).
import { escapeHtml } from './charts.js';
import { formatMetric, formatParamValue } from './format.js';
import { metricLabel, paramLabel } from './labels.js';
import { budgetsFromForm, parametersYaml, pick, reproduceCommand, reproduceFileName, reproduceYaml } from './picker.js';

export class PickerPanel {
  constructor(el, view) {
    this.el = el;
    this.view = view;
    this.form = { sizeKb: '', latencyMs: '', dropPct: '', minAccPct: '' };
    this.urls = [];
    el.innerHTML = `<h2>Pick a model</h2>
      <div class="picker-form">
        <label>size ≤ <input type="number" min="0" step="any" id="pk-size" data-testid="budget-size" placeholder="any"> KB</label>
        <label>latency ≤ <input type="number" min="0" step="any" id="pk-latency" data-testid="budget-latency" placeholder="any"> ms</label>
        <label>accuracy drop ≤ <input type="number" min="0" step="any" id="pk-drop" data-testid="budget-drop" placeholder="any"> pt</label>
        <label>accuracy ≥ <input type="number" min="0" max="100" step="any" id="pk-acc" data-testid="budget-accuracy" placeholder="any"> %</label>
      </div>
      <p class="muted" id="pk-note"></p>
      <div id="pk-result" data-testid="picker-result"></div>`;
    const read = () => {
      this.form = {
        sizeKb: el.querySelector('#pk-size').value,
        latencyMs: el.querySelector('#pk-latency').value,
        dropPct: el.querySelector('#pk-drop').value,
        minAccPct: el.querySelector('#pk-acc').value,
      };
      this.render();
    };
    el.querySelectorAll('input').forEach((i) => i.addEventListener('input', read));
  }

  render() {
    const v = this.view;
    if (!v.sweep) return;
    const { student } = v.baselines();
    const accMetric = v.accuracyMetric();
    const baseAcc = student && student.metrics ? student.metrics[accMetric] : null;
    const drop = this.el.querySelector('#pk-drop');
    drop.disabled = baseAcc == null;
    drop.title = baseAcc == null ? 'needs the dense student\'s accuracy, which this sweep does not have yet' : '';
    this.el.querySelector('#pk-note').textContent = baseAcc == null
      ? `Ranked by ${metricLabel(accMetric)}, then size, then latency. No baseline accuracy yet: the drop budget needs the dense student; use "accuracy ≥".`
      : `Ranked by ${metricLabel(accMetric)}, then size, then latency; drop against the dense student (${formatMetric(accMetric, baseAcc)}).`;
    const result = pick([...v.trials.values()], budgetsFromForm(this.form), {
      objectives: v.objectives(), baselineAccuracy: baseAcc, limit: 3,
    });
    const out = this.el.querySelector('#pk-result');
    this.urls.forEach((u) => URL.revokeObjectURL(u));
    this.urls = [];
    if (result.error) {
      out.innerHTML = `<p class="errors">${escapeHtml(result.error)}</p>`;
      out.dataset.trialIds = '';
      return;
    }
    out.dataset.trialIds = result.matches.map((m) => m.trial.id).join(',');
    if (!result.matches.length) {
      out.innerHTML = `<p class="muted" data-testid="picker-empty">No succeeded trial meets these budgets (of ${result.considered} with ${escapeHtml(metricLabel(accMetric))}).</p>`;
      return;
    }
    out.innerHTML = result.matches.map((m, rank) => this.card(m, rank, accMetric)).join('');
  }

  card(m, rank, accMetric) {
    const v = this.view;
    const t = m.trial;
    const metrics = [...new Set([accMetric, ...v.objectives().map((o) => o.metric), 'size_bytes', 'latency_ms'])]
      .filter((k) => t.metrics[k] != null)
      .map((k) => `<dt>${escapeHtml(metricLabel(k))}</dt><dd>${escapeHtml(formatMetric(k, t.metrics[k]))}</dd>`).join('');
    const dropRow = m.drop != null ? `<dt>${escapeHtml(metricLabel('accuracy_drop'))}</dt><dd>${(m.drop * 100).toFixed(2)} pt</dd>` : '';
    const params = Object.entries(t.params || {}).sort(([a], [b]) => a.localeCompare(b))
      .map(([k, val]) => `${escapeHtml(paramLabel(k))} ${escapeHtml(formatParamValue(k, val))}`).join(', ');
    const yaml = reproduceYaml(v.sweep.spec_yaml, t);
    const url = URL.createObjectURL(new Blob([yaml], { type: 'application/yaml' }));
    this.urls.push(url);
    const file = reproduceFileName(v.sweep.name, t.id);
    return `<div class="card" data-testid="picker-card" data-trial-id="${t.id}">
      <h3>${rank === 0 ? 'Best' : `#${rank + 1}`}: <a href="#/trials/${t.id}">trial ${t.id}</a> <small class="muted">${params}</small></h3>
      <dl class="kv">${metrics}${dropRow}</dl>
      <p class="downloads"><a href="/api/trials/${t.id}/model.csa" download data-testid="picker-model">compact model (trial-${t.id}.csa)</a>
        <a href="${url}" download="${escapeHtml(file)}" data-testid="picker-sweep-file">${escapeHtml(file)}</a></p>
      <details><summary>settings as YAML, command</summary>
      <pre data-testid="picker-yaml">${escapeHtml(parametersYaml(t.params))}</pre>
      <p>Reproduce (the sweep file above, with these values): <code data-testid="picker-command">${escapeHtml(reproduceCommand(v.sweep.name, t.id))}</code></p>
      <p>TorchScript for deployment: <code data-testid="picker-export">compsweep export ${t.id} --db DB --out model.pt</code></p></details>
    </div>`;
  }
}
