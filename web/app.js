// compsweep dashboard: hash-routed single page, live via Server-Sent Events.
//   #/            sweeps, workers, submit form
//   #/sweeps/ID   progress, Pareto scatter, hypervolume over time, trials, workers
//   #/trials/ID   trial detail with learning curves
//   #/compare/ID,ID[,ID[,ID]]   2-4 trials side by side
import { ApiError, debounce, get, post, setToken, token } from './api.js';
import { escapeHtml } from './charts.js';
import { formatTime } from './format.js';
import { metricLabel } from './labels.js';
import { parseCompareIds } from './compare.js';
import { CompareView } from './compare_view.js';
import { SweepView } from './sweep_view.js';
import { TrialView } from './trial_view.js';
import { markRefreshed, progressBar, renderWorkers, setCrumbs, stateBadge } from './ui.js';

// For tests: the page never reloads while this object lives.
window.__dashboard = { loadedAt: Date.now(), refreshes: 0, events: 0 };

const main = document.getElementById('main');
const live = document.getElementById('live');
let view = null;  // the current view object: {refresh(event), destroy()}

// ---- home: sweep list, workers, submit ----
class HomeView {
  constructor() {
    setCrumbs('');
    main.innerHTML = `
      <section class="panel"><h2>Sweeps</h2><div id="sweeps" data-testid="sweep-list"><p class="muted">Loading…</p></div></section>
      <section class="panel" id="workers" data-testid="worker-panel"></section>
      ${window.__dashboard.readOnly ? '<section class="panel muted" data-testid="read-only-note">A read-only view of a database (<code>compsweep dashboard</code>): sweeps are submitted to a coordinator.</section>' : `<section class="panel" data-testid="submit-form">
        <h2>Submit a sweep</h2>
        <textarea id="yaml" data-testid="submit-yaml" spellcheck="false" placeholder="name: my-sweep&#10;method: grid&#10;..."></textarea>
        <div class="controls">
          <label><input type="checkbox" id="allow-large"> allow large grids</label>
          <label>token <input type="password" id="token" size="16" placeholder="if the server has one"></label>
          <button class="primary" id="submit" data-testid="submit-button">Submit</button>
        </div>
        <div id="submit-result" data-testid="submit-result"></div>
      </section>`}`;
    if (!window.__dashboard.readOnly) {
      main.querySelector('#token').value = token();
      main.querySelector('#submit').addEventListener('click', () => this.submit());
    }
    this.refresh();
  }

  async submit() {
    const out = main.querySelector('#submit-result');
    setToken(main.querySelector('#token').value.trim());
    const allow = main.querySelector('#allow-large').checked ? '?allow_large=1' : '';
    out.innerHTML = '<p class="muted">Submitting…</p>';
    try {
      const r = await post(`/api/sweeps${allow}`, main.querySelector('#yaml').value);
      out.innerHTML = `<p>Sweep <a href="#/sweeps/${r.id}">${r.id}</a> with ${r.trials} trials ${r.resumed ? 'resumed' : 'submitted'}.</p>`;
      this.refresh();
    } catch (e) {
      const lines = e instanceof ApiError && e.body && e.body.errors ? e.body.errors.map((d) => d.text) : [e.message];
      out.innerHTML = `<div class="errors" data-testid="submit-errors">${lines.map(escapeHtml).join('\n')}</div>`;
    }
  }

  async refresh() {
    const { sweeps } = await get('/api/sweeps');
    const el = main.querySelector('#sweeps');
    if (!el) return;
    if (!sweeps.length) {
      el.innerHTML = '<p class="muted">No sweeps yet. Submit one below or run <code>compsweep run SWEEP.yaml</code>.</p>';
    } else {
      el.innerHTML = `<div class="table-wrap"><table><thead><tr><th>id</th><th>name</th><th>state</th><th>progress</th><th>succeeded / total</th><th>failed</th><th>objectives</th><th>created</th></tr></thead><tbody>${sweeps
        .map((s) => `<tr class="clickable" data-testid="sweep-row" data-sweep-id="${s.id}" data-href="#/sweeps/${s.id}">
          <td><a href="#/sweeps/${s.id}">${s.id}</a></td><td><a href="#/sweeps/${s.id}">${escapeHtml(s.name)}</a></td>
          <td>${stateBadge(s.state)}</td><td>${s.total ? progressBar(s.counts, s.total, true) : ''}</td>
          <td class="num">${s.counts.succeeded} / ${s.total}</td><td class="num">${s.counts.failed}</td>
          <td>${(s.objectives || []).map((o) => `${escapeHtml(metricLabel(o.metric))} ${o.maximize ? '↑' : '↓'}`).join(', ')}</td>
          <td>${formatTime(s.created_ms)}</td></tr>`)
        .join('')}</tbody></table></div>`;
      el.querySelectorAll('tr[data-href]').forEach((tr) =>
        tr.addEventListener('click', (e) => {
          if (e.target.tagName !== 'A') location.hash = tr.dataset.href;
        }));
    }
    await renderWorkers(main.querySelector('#workers'));
    markRefreshed();
  }

  destroy() {}
}

// ---- router ----
function route() {
  if (view) view.destroy();
  const hash = location.hash || '#/';
  let m;
  try {
    if ((m = hash.match(/^#\/sweeps\/(\d+)/))) view = new SweepView(main, Number(m[1]));
    else if ((m = hash.match(/^#\/trials\/(\d+)/))) view = new TrialView(main, Number(m[1]));
    else if ((m = hash.match(/^#\/compare\/([\d,]+)$/))) {
      const ids = parseCompareIds(m[1]);
      if (!ids) throw new Error('compare takes 2 to 4 distinct trial ids: #/compare/3,7');
      view = new CompareView(main, ids);
    }
    else view = new HomeView();
  } catch (e) {
    main.innerHTML = `<p class="errors">${escapeHtml(e.message)}</p>`;
  }
}
window.addEventListener('hashchange', route);
window.addEventListener('resize', debounce(() => view && view.resize && view.resize(), 150));

// ---- live updates ----
// Events are collected and handed to the view in one batch (a view decides which
// concern it); at most one refresh runs at a time, and one more follows if events
// arrived meanwhile.
let pending = [];
let refreshing = false;
const flush = debounce(async () => {
  if (!view || refreshing) return;
  const batch = pending;
  pending = [];
  refreshing = true;
  try {
    await view.refresh(batch);
  } catch (e) {
    console.warn('refresh failed', e);
  } finally {
    refreshing = false;
    if (pending.length) flush();
  }
}, 300, 1000);

function refreshSoon(event) {
  pending.push(event);
  flush();
}

function connect() {
  const es = new EventSource('/api/events');
  const on = (kind) =>
    es.addEventListener(kind, (msg) => {
      window.__dashboard.events += 1;
      let data = {};
      try {
        data = JSON.parse(msg.data);
      } catch (e) {
        data = {};
      }
      refreshSoon({ kind, data });
    });
  ['trial_added', 'trial_started', 'trial_progress', 'trial_finished', 'worker_joined', 'worker_lost',
    'sweep_submitted', 'sweep_updated', 'sweep_finished', 'sweep_cancelled', 'resync'].forEach(on);
  es.onopen = () => {
    live.textContent = 'live';
    live.className = 'live on';
    refreshSoon({ kind: 'resync', data: {} });  // catch up on anything missed while away
  };
  es.onerror = () => {
    live.textContent = 'reconnecting…';
    live.className = 'live off';
  };
}

// A slow heartbeat refresh keeps ages and counts fresh even if an event is lost.
setInterval(() => {
  if (document.visibilityState === 'visible') refreshSoon({ kind: 'tick', data: {} });
}, 15000);

if (typeof window.uPlot === 'undefined') {
  // The chart library comes from web/node_modules (served under /vendor/).
  const note = document.createElement('p');
  note.className = 'errors panel';
  note.dataset.testid = 'no-charts';
  note.textContent = 'Charts unavailable: the server has no uPlot. Run `npm ci` in web/ (scripts/setup.sh does) and reload.';
  document.body.insertBefore(note, main);
  window.uPlot = null;
}

// A read-only server (compsweep dashboard --db FILE) says so in /api/health;
// the page then offers no submit, cancel or retry.
get('/api/health')
  .then((h) => { window.__dashboard.readOnly = Boolean(h && h.read_only); })
  .catch(() => {})
  .finally(() => {
    route();
    connect();
  });
