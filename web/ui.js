// Shared pieces of the dashboard's views.
import { get } from './api.js';
import { escapeHtml } from './charts.js';
import { formatAge } from './format.js';

export const STATES = ['queued', 'running', 'succeeded', 'failed', 'lost', 'cancelled', 'stopped'];

export function setCrumbs(html) {
  document.getElementById('crumbs').innerHTML = html;
}

export function stateBadge(s) {
  return `<span class="state ${escapeHtml(s)}">${escapeHtml(s)}</span>`;
}

export function progressBar(counts, total, small = false) {
  const parts = STATES.filter((s) => counts[s] > 0)
    .map((s) => `<div style="width:${(100 * counts[s]) / total}%;background:var(--${s})" title="${s}: ${counts[s]}"></div>`)
    .join('');
  return `<div class="bar${small ? ' small' : ''}" data-testid="progress-bar">${parts}</div>`;
}

// Runs fn and records its time as a User Timing measure "dashboard NAME"
// (seen in DevTools' performance panel; bench/web_live_bench.mjs reads them).
export function timed(name, fn) {
  const start = performance.now();
  try {
    return fn();
  } finally {
    measureSince(name, start);
  }
}

export function measureSince(name, start) {
  if (performance.measure) performance.measure(`dashboard ${name}`, { start, end: performance.now() });
}

export function markRefreshed() {
  if (!window.__dashboard) return;
  window.__dashboard.refreshes += 1;
  document.body.dataset.refreshes = String(window.__dashboard.refreshes);
}

// ---- workers panel (home and sweep views) ----
// "NVIDIA H200, 140 GB" or the CPU model, from the worker's HELLO (device_info).
function deviceDetail(w) {
  const d = (w.info && w.info.device_info) || {};
  if (!d.name) return '';
  return d.memory_mb ? `${d.name}, ${Math.round(d.memory_mb / 1024)} GB` : d.name;
}

export async function renderWorkers(el) {
  const { workers } = await get('/api/workers');
  if (!workers.length) {
    el.innerHTML = '<h2>Workers</h2><p class="muted">No worker has connected yet.</p>';
    return;
  }
  const rows = workers
    .map((w) => {
      const running = (w.running || []).map((id) => `<a href="#/trials/${id}">${id}</a>`).join(', ') || '–';
      const stale = w.state === 'alive' && w.heartbeat_age_ms > 5000;
      return `<tr data-testid="worker-row" data-worker-id="${escapeHtml(w.id)}">
        <td>${escapeHtml(w.id)}</td><td>${escapeHtml(w.host || '–')}</td><td title="${escapeHtml(deviceDetail(w))}">${escapeHtml(w.device || '–')}${deviceDetail(w) ? `<br><small class="muted">${escapeHtml(deviceDetail(w))}</small>` : ''}</td>
        <td class="num">${w.slots ?? '–'}</td><td><span class="state worker-${stale ? 'stale' : escapeHtml(w.state)}">${stale ? 'silent' : escapeHtml(w.state)}</span></td>
        <td>${running}</td><td>${formatAge(w.heartbeat_age_ms)}</td></tr>`;
    })
    .join('');
  el.innerHTML = `<h2>Workers (${workers.length})</h2><div class="table-wrap"><table>
    <thead><tr><th>id</th><th>host</th><th>device</th><th>slots</th><th>state</th><th>running trials</th><th>last heartbeat</th></tr></thead>
    <tbody>${rows}</tbody></table></div>`;
}
