// The parameter-importance panel of the sweep view (measure in importance.js).
import { escapeHtml } from './charts.js';
import { importance, importanceColumns, rankImportance } from './importance.js';
import { metricLabel, paramLabel } from './labels.js';
import { timed } from './ui.js';

const nextTask = () => new Promise((resolve) => setTimeout(resolve, 0));

// Computes the table one setting per task, so that the browser can draw
// frames in between (at 100,000 trials the whole table is 100-250 ms of main
// thread), then renders it. Gives up when wanted() turns false (a newer
// computation started, or the view closed). Returns whether it rendered.
export async function renderImportanceInSteps(el, rows, params, objectives, wanted = () => true) {
  if (!objectives.length || !params.length || rows.length < 3) {
    renderImportance(el, rows, params, objectives, []);
    return true;
  }
  await nextTask();
  if (!wanted()) return false;
  const cols = timed('importance', () => importanceColumns(rows, objectives));
  const parts = [];
  for (const p of params) {
    await nextTask();
    if (!wanted()) return false;
    parts.push(...timed('importance', () => importance(rows, [p], objectives, cols)));
  }
  if (!wanted()) return false;
  timed('importance', () => renderImportance(el, rows, params, objectives, rankImportance(parts)));
  return true;
}

// table: importance()'s result; computed here when not given.
export function renderImportance(el, rows, params, objectives, table = null) {
  if (!objectives.length || !params.length || rows.length < 3) {
    el.innerHTML = '<p class="muted">Needs at least 3 succeeded trials, a swept setting and an objective.</p>';
    return;
  }
  table = table || importance(rows, params, objectives);
  const cell = (c) => {
    if (c.eta2 == null) return `<td class="muted" title="${c.n} trials in ${c.groups} groups: undefined (one group, fewer than 2 trials per group, or no variance)">–</td>`;
    const pct = (c.eta2 * 100).toFixed(0);
    return `<td class="bar-cell" data-eta2="${c.eta2}" title="${c.n} trials in ${c.groups} groups"><span class="ibar" style="width:${Math.max(1, c.eta2 * 5)}rem"></span>${pct} %</td>`;
  };
  el.innerHTML = `<div class="table-wrap"><table class="importance">
    <thead><tr><th>setting</th>${objectives.map((o) => `<th>${escapeHtml(metricLabel(o.metric))} ${o.maximize ? '↑' : '↓'}</th>`).join('')}</tr></thead>
    <tbody>${table.map((r) => `<tr data-testid="importance-row" data-param="${escapeHtml(r.param)}"><td title="${escapeHtml(r.param)}">${escapeHtml(paramLabel(r.param))}</td>${r.cells.map(cell).join('')}</tr>`).join('')}</tbody></table></div>
    <p class="muted" data-testid="importance-explained">Each cell: the share of the objective's variance over the ${rows.length} succeeded trials that grouping them by the setting explains (η², the correlation ratio: variance of the group means, weighted by group size, over the total variance). 100 % means the setting alone fixes the objective; 0 % that every value of it gives the same mean. A setting with many numeric values is grouped into equal-count ranges (at most 8, about 3 trials each); – means undefined: one group, fewer than two trials per group, or no variance. With few trials per group even noise explains a part, and settings that vary together share the credit; no interactions are modelled (this is not fANOVA).</p>`;
}
