// End-to-end test of the live dashboard: the real `compsweep run` (coordinator,
// local workers, HTTP server) on examples/tiny-synthetic.yaml, driven through
// Debian's chromium by playwright-core.
//
//   COMPSWEEP_BIN=build/compsweep node --test tests/e2e/dashboard.test.mjs
//
// Environment: COMPSWEEP_BIN (default: build-web/compsweep, then build/compsweep),
// CHROMIUM (default /usr/bin/chromium), SCREENSHOT_OUT (extra copy of the
// screenshot, used by scripts/screenshot.sh), E2E_TIMEOUT_MS (default 240000).
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const timeoutMs = Number(process.env.E2E_TIMEOUT_MS || 240000);
const run = promisify(execFile);

function findBinary() {
  const candidates = [process.env.COMPSWEEP_BIN, path.join(repo, 'build-web', 'compsweep'), path.join(repo, 'build', 'compsweep')];
  const found = candidates.find((c) => c && fs.existsSync(c));
  return found && path.resolve(found);
}

const bin = findBinary();
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
let chromium = null;
try {
  ({ chromium } = await import('playwright-core'));
} catch (e) {
  chromium = null;
}
const missing = !chromium ? 'playwright-core missing: run `npm ci` in tests/e2e'
  : !bin ? 'compsweep binary not built (set COMPSWEEP_BIN)'
  : !fs.existsSync(chromiumPath) ? `no chromium at ${chromiumPath}` : false;
// In CI (and under `make test`) a missing browser is a failure, not a skip:
// the setup script installs chromium and playwright-core.
if (missing && (process.env.CI || process.env.COMPSWEEP_REQUIRE_E2E)) {
  throw new Error(`e2e prerequisites missing: ${missing}`);
}
const skip = missing;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'compsweep-e2e-'));
const db = path.join(tmp, 'e2e.db');
let server = null;
let serverLog = '';
let base = '';
let browser = null;

async function waitFor(what, fn, ms = timeoutMs, every = 250) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, every));
  }
  throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})\n--- compsweep output ---\n${serverLog.slice(-4000)}`);
}

async function api(p, opts) {
  const res = await fetch(base + p, opts);
  const body = await res.json();
  if (!res.ok) throw new Error(`${p}: HTTP ${res.status} ${JSON.stringify(body)}`);
  return body;
}

// Starts `compsweep run` and resolves with the dashboard URL it prints.
function startRun(yamlPath) {
  return new Promise((resolve, reject) => {
    server = spawn(bin, ['run', yamlPath, '--workers', '2', '--db', db, '--port', '0', '--keep-serving',
      '--cache-dir', path.join(tmp, 'cache'), '--static', path.join(repo, 'web')], {
      cwd: tmp,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const timer = setTimeout(() => reject(new Error(`no dashboard URL within 60 s:\n${serverLog}`)), 60000);
    const onData = (chunk) => {
      serverLog += chunk.toString();
      const m = serverLog.match(/dashboard: (http:\/\/127\.0\.0\.1:\d+)\//);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    server.stdout.on('data', onData);
    server.stderr.on('data', (c) => { serverLog += c.toString(); });
    server.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    server.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`compsweep run exited early (${code}):\n${serverLog}`));
    });
  });
}

before(async () => {
  if (skip) return;
  base = await startRun(path.join(repo, 'examples', 'tiny-synthetic.yaml'));
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server.once('exit', r));
    server.kill('SIGINT');
    const killer = setTimeout(() => server.kill('SIGKILL'), 10000);
    await exited;
    clearTimeout(killer);
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});

const ids = (s) => (s ? s.split(',').filter(Boolean).map(Number).sort((a, b) => a - b) : []);

test('dashboard shows the live Pareto front of a real sweep', { skip, timeout: timeoutMs * 2 }, async () => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${base}/`);
  assert.equal(await page.evaluate(() => typeof window.uPlot), 'function', 'uPlot served from /vendor');

  // The sweep appears in the list; open it.
  const row = page.locator('[data-testid=sweep-row]').first();
  await row.waitFor({ timeout: 30000 });
  const sweepId = Number(await row.getAttribute('data-sweep-id'));
  await row.locator('a').first().click();
  await page.locator(`[data-testid=sweep-view][data-sweep-id="${sweepId}"]`).waitFor();

  // Wait until every trial has finished, as the API sees it.
  const sweep = await waitFor('all trials to finish', async () => {
    const s = await api(`/api/sweeps/${sweepId}`);
    const c = s.counts;
    return s.total > 0 && c.queued + c.running + c.lost === 0 ? s : null;
  });
  assert.equal(sweep.counts.succeeded, sweep.total, `every trial succeeds: ${JSON.stringify(sweep.counts)}`);
  const succeeded = (await api(`/api/sweeps/${sweepId}/trials?state=succeeded`)).trials.map((t) => t.id).sort((a, b) => a - b);

  // The page catches up on its own (live events), then plots every succeeded trial.
  const chart = page.locator('[data-testid=pareto-chart]');
  await waitFor('the page to plot every succeeded trial', async () =>
    Number(await chart.getAttribute('data-count')) === succeeded.length &&
    (await page.locator('[data-testid=count-succeeded] b').textContent()) === String(succeeded.length));
  assert.deepEqual(ids(await chart.getAttribute('data-points')), succeeded);
  assert.ok(await page.locator('#pareto-chart canvas').count() >= 1, 'the scatter is drawn');

  // The highlighted front equals the CLI's Pareto front over the sweep's objectives.
  const { stdout } = await run(bin, ['results', String(sweepId), '--db', db, '--pareto', '--format', 'json']);
  const cliFront = JSON.parse(stdout).map((t) => t.id).sort((a, b) => a - b);
  assert.ok(cliFront.length >= 1);
  await waitFor('the sweep front ids', async () => (await chart.getAttribute('data-sweep-front-ids')) !== null);
  assert.deepEqual(ids(await chart.getAttribute('data-sweep-front-ids')), cliFront);
  if (sweep.objectives.length === 2) {
    // With two objectives the axes' front is the sweep's front.
    assert.deepEqual(ids(await chart.getAttribute('data-front-ids')), cliFront);
  }

  // Hovering a plotted point shows its parameters.
  const box = await page.locator('#pareto-chart .u-over').boundingBox();
  assert.ok(box);
  let hovered = false;
  for (let gx = 0; gx <= 40 && !hovered; gx++) {
    for (let gy = 0; gy <= 30 && !hovered; gy++) {
      await page.mouse.move(box.x + (gx * box.width) / 40, box.y + (gy * box.height) / 30);
      hovered = await page.locator('[data-testid=pareto-tooltip]').isVisible();
    }
  }
  assert.ok(hovered, 'tooltip appears over a point');
  assert.match(await page.locator('[data-testid=pareto-tooltip]').textContent(), /Bits/);
  // Every objective is in the tooltip, under its human name.
  for (const o of sweep.objectives) {
    assert.ok((await page.locator('[data-testid=pareto-tooltip]').textContent()).includes({ val_accuracy: 'Validation accuracy', size_bytes: 'Size', latency_ms: 'Latency' }[o.metric] || o.metric), o.metric);
  }

  // Colour by a setting: the legend lists that setting's values, with counts
  // that add up to the plotted points.
  const legendValues = async () => page.locator('[data-testid=pareto-legend] .legend-item').evaluateAll((els) => els.map((e) => e.dataset.value));
  const before = await legendValues();
  await page.selectOption('[data-testid=color-select]', 'quantize.bits');
  await waitFor('the legend to follow colour-by', async () => (await chart.getAttribute('data-color-by')) === 'quantize.bits');
  const byBits = await legendValues();
  assert.notDeepEqual(byBits, before);
  // The reference models are plotted as lines: the dense student and the teacher.
  assert.ok(byBits.includes('dense student'), `dense student line in ${byBits}`);
  assert.ok(byBits.includes('teacher'), `teacher line in ${byBits}`);
  assert.deepEqual(byBits.filter((v) => !['front', 'dense student', 'teacher'].includes(v)), ['4', '8']);
  await page.selectOption('[data-testid=color-select]', 'prune.final_sparsity');
  await waitFor('the legend by sparsity', async () => (await legendValues()).includes('50.00 %'));
  assert.deepEqual((await legendValues()).filter((v) => !['front', 'dense student', 'teacher'].includes(v)), ['50.00 %', '90.00 %']);
  await page.selectOption('[data-testid=color-select]', '');

  // The picker returns the trial the budgets select, checked against the CLI:
  // the most accurate succeeded trial of size <= the median size (ties: smaller).
  const all = JSON.parse((await run(bin, ['results', String(sweepId), '--db', db, '--format', 'json'])).stdout)
    .filter((t) => t.state === 'succeeded');
  const sizes = all.map((t) => t.metrics.size_bytes).sort((a, b) => a - b);
  const budget = sizes[Math.floor((sizes.length - 1) / 2)];
  const expected = all.filter((t) => t.metrics.size_bytes <= budget)
    .sort((a, b) => b.metrics.val_accuracy - a.metrics.val_accuracy || a.metrics.size_bytes - b.metrics.size_bytes || a.id - b.id)[0];
  await page.fill('[data-testid=budget-size]', String(budget / 1000));
  await waitFor('the picker card', async () =>
    (await page.locator('[data-testid=picker-card]').first().getAttribute('data-trial-id')) === String(expected.id));
  const card = page.locator('[data-testid=picker-card]').first();
  assert.match(await card.locator('[data-testid=picker-yaml]').textContent(), /quantize\.bits: \{value: \d+\}/);
  assert.equal(await card.locator('[data-testid=picker-command]').textContent(),
    `compsweep run tiny-synthetic-trial-${expected.id}.yaml --workers 1`);
  const picked = await fetch(base + await card.locator('[data-testid=picker-model]').getAttribute('href'));
  assert.equal((await picked.arrayBuffer()).byteLength, expected.metrics.size_bytes, 'the card downloads the picked model');
  await page.fill('[data-testid=budget-size]', '0.001');
  await page.locator('[data-testid=picker-empty]').waitFor();
  await page.fill('[data-testid=budget-size]', '');

  // The hypervolume is a share of a stated box.
  const share = Number(await page.locator('[data-testid=hypervolume]').getAttribute('data-share'));
  assert.ok(share > 0 && share <= 1, `share ${share}`);
  assert.match(await page.locator('[data-testid=hv-box]').textContent(), /Validation accuracy 0–100 %, Size 0 B–[\d.]+ [KM]B \(the uncompressed student\)/);

  // No horizontal overflow of the page at 800 and 1400 px, sweep and trial pages.
  for (const width of [800, 1400]) {
    await page.setViewportSize({ width, height: 1000 });
    for (const hash of [`#/sweeps/${sweepId}`, `#/trials/${cliFront[0]}`, `#/compare/${succeeded.slice(0, 4).join(',')}`]) {
      await page.evaluate((h) => { location.hash = h; }, hash);
      await page.locator(hash.startsWith('#/sweeps') ? '[data-testid=pareto-chart] canvas'
        : hash.startsWith('#/trials') ? '[data-testid=trial-metrics] table' : '[data-testid=compare-settings] table').first().waitFor();
      await page.waitForTimeout(400);  // the resize debounce
      const [scroll, client] = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
      assert.ok(scroll <= client, `${hash} at ${width} px: page is ${scroll} px wide in ${client}`);
    }
  }
  await page.setViewportSize({ width: 1400, height: 1000 });
  await page.evaluate((id) => { location.hash = `#/sweeps/${id}`; }, sweepId);
  await waitFor('the sweep again', async () => Number(await chart.getAttribute('data-count')) === succeeded.length);
  // The favicon is served (no 404 in the console).
  assert.equal((await fetch(`${base}/favicon.svg`)).status, 200);

  // Submit a bigger sweep through the API while the page is open at the address
  // the new sweep will get: its points must appear through live events alone.
  const loadedAt = await page.evaluate(() => window.__dashboard.loadedAt);
  const { sweeps } = await api('/api/sweeps');
  const nextId = Math.max(...sweeps.map((s) => s.id)) + 1;
  await page.evaluate((id) => {
    window.__counts = [];
    new MutationObserver(() => {
      const el = document.querySelector(`[data-testid=sweep-view][data-sweep-id="${id}"] [data-testid=pareto-chart]`);
      if (el && el.dataset.count != null) window.__counts.push(Number(el.dataset.count));
    }).observe(document.getElementById('main'), { subtree: true, attributes: true, attributeFilter: ['data-count'] });
    location.hash = `#/sweeps/${id}`;
  }, nextId);
  const yaml = fs.readFileSync(path.join(repo, 'examples', 'tiny-synthetic.yaml'), 'utf8')
    .replace(/^name: .*$/m, 'name: tiny-synthetic-more')
    .replace(/^seed: .*$/m, 'seed: 1')
    .replace(/quantize\.bits: \{values: \[8, 4\]\}/, 'quantize.bits: {values: [8, 4, 2]}');
  assert.match(yaml, /\[8, 4, 2\]/, 'the example still has the expected quantize.bits line');
  const submitted = await api('/api/sweeps?filename=more.yaml', { method: 'POST', body: yaml });
  assert.equal(submitted.trials, 6);
  assert.equal(submitted.id, nextId);
  await waitFor('new points to appear', async () =>
    Number(await page.locator(`[data-testid=sweep-view][data-sweep-id="${nextId}"] [data-testid=pareto-chart]`).getAttribute('data-count')) === 6);
  // Incremental updates kept the plotted points equal to the succeeded trials.
  const moreIds = (await api(`/api/sweeps/${nextId}/trials?state=succeeded`)).trials.map((t) => t.id).sort((a, b) => a - b);
  const moreChart = page.locator(`[data-testid=sweep-view][data-sweep-id="${nextId}"] [data-testid=pareto-chart]`);
  assert.deepEqual(ids(await moreChart.getAttribute('data-points')), moreIds);
  const loads = await page.evaluate(() => window.__dashboard.loads);
  assert.ok(loads && loads.incremental > 0, `live refreshes loaded only new trials: ${JSON.stringify(loads)}`);
  const counts = await page.evaluate(() => window.__counts);
  assert.ok(counts.some((c) => c < 6), `points appeared while watching: ${counts}`);
  assert.equal(await page.evaluate(() => window.__dashboard.loadedAt), loadedAt, 'no reload');
  assert.ok(await page.evaluate(() => window.__dashboard.events) > 0, 'events arrived over SSE');
  // The home page lists both sweeps.
  await page.evaluate(() => { location.hash = '#/'; });
  await page.locator(`[data-testid=sweep-row][data-sweep-id="${nextId}"]`).waitFor();

  // Trial detail with learning curves.
  const firstFront = cliFront[0];
  await page.evaluate((id) => { location.hash = `#/trials/${id}`; }, firstFront);
  await page.locator(`[data-testid=trial-detail][data-trial-id="${firstFront}"]`).waitFor();
  await page.locator('[data-testid=trial-metrics] table').waitFor();
  // Its model, as the coordinator keeps it: the link downloads exactly size_bytes bytes.
  const href = await page.locator('[data-testid=model-download]').getAttribute('href');
  const model = await fetch(base + href);
  assert.equal(model.status, 200);
  const modelBytes = (await model.arrayBuffer()).byteLength;
  const trialDoc = await (await fetch(`${base}/api/trials/${firstFront}`)).json();
  assert.equal(modelBytes, trialDoc.metrics.size_bytes, 'the model download is the measured artifact');
  // Stage reuse: the trial starts from the shared distill and prune stages,
  // named on its page, and its curves begin with their reports.
  assert.deepEqual(trialDoc.stages.map((s) => s.names[s.names.length - 1]), ['distill', 'prune']);
  assert.deepEqual(trialDoc.stages.map((s) => s.shared_by), [4, 2]);
  assert.ok(trialDoc.progress.length > 0 && trialDoc.progress[0].stage_id === trialDoc.stages[0].id);
  assert.deepEqual(await page.locator('[data-testid=trial-stages] [data-testid=shared-stage]').evaluateAll(
    (els) => els.map((e) => Number(e.dataset.stageId))), trialDoc.stages.map((s) => s.id));
  await page.locator('[data-testid=learning-curves] [data-testid=curve]').waitFor();
  fs.mkdirSync(path.join(here, 'artifacts'), { recursive: true });
  await page.screenshot({ path: path.join(here, 'artifacts', 'trial.png'), fullPage: true });

  // Screenshot of the first sweep for the docs.
  await page.evaluate((id) => { location.hash = `#/sweeps/${id}`; }, sweepId);
  await waitFor('the first sweep to render again', async () => Number(await chart.getAttribute('data-count')) === succeeded.length);
  // Its shared stages: one distill stage for the 4 trials, a prune stage per sparsity.
  assert.deepEqual(await page.locator('[data-testid=shared-stages] [data-testid=sweep-stage]').evaluateAll(
    (els) => els.map((e) => Number(e.dataset.sharedBy))), [4, 2, 2]);
  await page.waitForTimeout(500);
  const shot = path.join(here, 'artifacts', 'dashboard.png');
  await page.screenshot({ path: shot, fullPage: true });
  if (process.env.SCREENSHOT_OUT) fs.copyFileSync(shot, process.env.SCREENSHOT_OUT);
  assert.deepEqual(errors, [], 'no JavaScript errors on the page');
  await page.close();
});

// The sweep called `name` (submitted by an earlier test).
async function sweepNamed(name) {
  const { sweeps } = await api('/api/sweeps');
  const s = sweeps.find((x) => x.name === name);
  assert.ok(s, `sweep ${name} exists: ${sweeps.map((x) => x.name)}`);
  return s;
}

async function openSweep(page, id) {
  await page.evaluate((i) => { location.hash = `#/sweeps/${i}`; }, id);
  const chart = page.locator(`[data-testid=sweep-view][data-sweep-id="${id}"] [data-testid=pareto-chart]`);
  const want = (await api(`/api/sweeps/${id}`)).counts.succeeded;
  await waitFor(`sweep ${id} plotted`, async () => Number(await chart.getAttribute('data-count')) === want);
  return chart;
}

const flatten = (o, pre = '', out = {}) => {
  for (const [k, v] of Object.entries(o || {})) {
    if (v && typeof v === 'object' && !Array.isArray(v)) flatten(v, pre ? `${pre}.${k}` : k, out);
    else out[pre ? `${pre}.${k}` : k] = JSON.stringify(v);
  }
  return out;
};

test('compare view shows the selected trials, the best values and the settings diff', { skip, timeout: 120000 }, async () => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${base}/`);
  const sweep = await sweepNamed('tiny-synthetic');
  await openSweep(page, sweep.id);
  const trials = (await api(`/api/sweeps/${sweep.id}/trials?state=succeeded`)).trials;
  const chosen = trials.slice(0, 3).map((t) => t.id);
  assert.equal(chosen.length, 3);
  assert.ok(await page.locator('[data-testid=compare-button]').isDisabled(), 'nothing to compare yet');
  for (const id of chosen) await page.locator(`[data-testid=compare-check][data-trial-id="${id}"]`).check();
  await page.locator('[data-testid=compare-button]').click();
  const view = page.locator('[data-testid=compare-view]');
  await view.waitFor();
  assert.equal(await view.getAttribute('data-trial-ids'), chosen.join(','));
  assert.equal(await page.evaluate(() => location.hash), `#/compare/${chosen.join(',')}`);
  await page.locator('[data-testid=compare-settings] table').waitFor();

  // The diff lists exactly the settings that differ, as the API's documents say.
  const docs = await Promise.all(chosen.map((id) => api(`/api/trials/${id}`)));
  const flat = docs.map((d) => flatten(d.settings));
  const keys = [...new Set(flat.flatMap((f) => Object.keys(f)))];
  const differing = keys.filter((k) => flat.some((f) => f[k] !== flat[0][k])).sort();
  assert.ok(differing.length >= 1 && differing.every((k) => ['prune.final_sparsity', 'quantize.bits'].includes(k)), `differing: ${differing}`);
  const shownKeys = async (sel) => page.locator(sel).evaluateAll((els) => els.map((e) => e.dataset.key));
  assert.deepEqual((await shownKeys('[data-testid=compare-setting][data-differs="1"]')).sort(), differing);
  assert.deepEqual(await shownKeys('[data-testid=compare-setting][data-differs="0"]'), [], 'shared settings hidden by default');
  await page.locator('[data-testid=compare-show-same]').check();
  await waitFor('shared settings shown', async () => (await shownKeys('[data-testid=compare-setting]')).length === keys.length);

  // The best validation accuracy (maximised) and size (minimised) are marked.
  for (const [metric, max] of [['val_accuracy', true], ['size_bytes', false]]) {
    const vals = docs.map((d) => d.metrics[metric]);
    const best = max ? Math.max(...vals) : Math.min(...vals);
    const want = vals.every((v) => v === best) ? [] : vals.map((v, i) => (v === best ? i : -1)).filter((i) => i >= 0);
    const marked = await page.locator(`[data-testid=compare-metrics] tr[data-metric="${metric}"] td.num`).evaluateAll((tds) =>
      tds.map((td, i) => (td.dataset.best ? i : -1)).filter((i) => i >= 0));
    assert.deepEqual(marked, want, metric);
  }
  // Learning curves from the progress reports: one chart per series, a line per trial.
  const curves = page.locator('[data-testid=compare-curve]');
  await curves.first().waitFor();
  assert.ok(await page.locator('[data-testid=compare-curve] canvas').count() >= 1);
  assert.equal(await page.locator('[data-testid=compare-curve][data-field=loss]').getAttribute('data-trials'), chosen.join(','));
  assert.deepEqual(errors, []);
  await page.close();
});

test('parallel-coordinates brushing reduces the rows and points to the selection', { skip, timeout: 120000 }, async () => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${base}/`);
  const sweep = await sweepNamed('tiny-synthetic-more');
  const chart = await openSweep(page, sweep.id);
  const all = (await api(`/api/sweeps/${sweep.id}/trials?state=succeeded`)).trials;
  const bits8 = all.filter((t) => t.params['quantize.bits'] === 8).map((t) => t.id).sort((a, b) => a - b);
  assert.ok(bits8.length >= 1 && bits8.length < all.length);
  const rowIds = async () => ids((await page.locator('[data-testid=trial-row]').evaluateAll((trs) => trs.map((tr) => tr.dataset.trialId))).join(','));
  await waitFor('every trial row', async () => (await rowIds()).length === all.length);
  const pc = page.locator('[data-testid=parcoords]');
  assert.match(await pc.getAttribute('data-axes'), /quantize\.bits/);
  // Drag on the Bits axis from 40 % below its top to above it: bits 5.6 to 8.
  const axis = page.locator('[data-testid=pc-axis][data-key="quantize.bits"]');
  await axis.scrollIntoViewIfNeeded();
  const box = await axis.boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height * 0.4);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width / 2, box.y - 20, { steps: 6 });
  await page.mouse.up();
  await waitFor('the table to follow the brush', async () => JSON.stringify(await rowIds()) === JSON.stringify(bits8));
  assert.equal(await pc.getAttribute('data-brushed'), 'quantize.bits');
  assert.equal(Number(await pc.getAttribute('data-selected')), bits8.length);
  // The scatter follows once its front requests return (the table does not wait for them).
  await waitFor('the scatter to follow the brush', async () => JSON.stringify(ids(await chart.getAttribute('data-points'))) === JSON.stringify(bits8));
  assert.deepEqual(ids(await chart.getAttribute('data-points')), bits8, 'the scatter shows only the selection');
  assert.match(await page.locator('[data-testid=trial-count]').textContent(), /inside the parallel-coordinates selection/);
  // The importance view says what it measures and has a row per swept setting.
  assert.match(await page.locator('[data-testid=importance-explained]').textContent(), /share of the objective's variance/);
  assert.deepEqual((await page.locator('[data-testid=importance-row]').evaluateAll((r) => r.map((e) => e.dataset.param))).sort(),
    ['prune.final_sparsity', 'quantize.bits']);
  // Clearing brings every row back.
  await page.locator('[data-testid=pc-clear]').click();
  await waitFor('all rows again', async () => (await rowIds()).length === all.length);
  assert.equal(Number(await chart.getAttribute('data-count')), all.length);
  assert.deepEqual(errors, []);
  await page.close();
});

test('stopped trials have their badge, hollow markers and never a place on the front', { skip, timeout: 240000 }, async () => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${base}/`);
  // Watch the address the nsga2 + MO-ASHA sweep will get, then submit it.
  const { sweeps } = await api('/api/sweeps');
  const nextId = Math.max(...sweeps.map((s) => s.id)) + 1;
  await page.evaluate((id) => { location.hash = `#/sweeps/${id}`; }, nextId);
  const yaml = fs.readFileSync(path.join(repo, 'tests', 'integration', 'data', 'nsga-asha-synthetic.yaml'), 'utf8');
  const submitted = await api('/api/sweeps?filename=nsga.yaml', { method: 'POST', body: yaml });
  assert.equal(submitted.id, nextId);
  const done = await waitFor('the nsga2 sweep to finish', async () => {
    const s = await api(`/api/sweeps/${nextId}`);
    return s.state === 'done' ? s : null;
  });
  assert.ok(done.counts.stopped > 0, `MO-ASHA stopped some trials: ${JSON.stringify(done.counts)}`);
  const stopped = (await api(`/api/sweeps/${nextId}/trials?state=stopped`)).trials;
  const stoppedIds = stopped.map((t) => t.id).sort((a, b) => a - b);
  const view = page.locator(`[data-testid=sweep-view][data-sweep-id="${nextId}"]`);
  const chart = view.locator('[data-testid=pareto-chart]');
  // Counts (and the trials nsga2 added live) match the API.
  await waitFor('counts to match', async () =>
    (await view.locator('[data-testid=count-stopped] b').textContent()) === String(done.counts.stopped) &&
    (await view.locator('[data-testid=count-total] b').textContent()) === String(done.total) &&
    ids(await chart.getAttribute('data-stopped-ids')).join() === stoppedIds.join() &&
    Number(await chart.getAttribute('data-count')) === done.counts.succeeded);
  assert.deepEqual(ids(await chart.getAttribute('data-stopped-ids')), stoppedIds, 'stopped trials drawn (hollow)');
  // Never on a front: neither the one ringed on the chart nor the sweep's.
  for (const attr of ['data-front-ids', 'data-sweep-front-ids']) {
    const front = ids(await chart.getAttribute(attr));
    assert.ok(front.length >= 1, attr);
    assert.deepEqual(front.filter((i) => stoppedIds.includes(i)), [], `${attr}: ${front}`);
  }
  assert.deepEqual(await view.locator('[data-testid=pareto-legend] .legend-item[data-value=stopped]').count(), 1);
  // The table's badge says where each stopped.
  await page.selectOption('[data-testid=state-filter]', 'stopped');
  await waitFor('stopped rows', async () => (await view.locator('[data-testid=trial-row]').count()) === stopped.length);
  const badges = await view.locator('[data-testid=trial-row] [data-testid=stopped-badge]').allTextContents();
  assert.equal(badges.length, stopped.length);
  const byId = new Map(stopped.map((t) => [t.id, t.metrics.stopped_at_epoch]));
  const rowIds = await view.locator('[data-testid=trial-row]').evaluateAll((trs) => trs.map((tr) => Number(tr.dataset.trialId)));
  rowIds.forEach((id, i) => assert.equal(badges[i], `stopped @ epoch ${byId.get(id)}`));
  // The toggle hides them from the chart.
  await view.locator('[data-testid=show-stopped]').uncheck();
  // The last live updates may still be landing: wait for the chart, then check it.
  await waitFor('stopped hidden', async () => (await chart.getAttribute('data-stopped-ids')) === '' &&
    Number(await chart.getAttribute('data-count')) === done.counts.succeeded);
  await view.locator('[data-testid=show-stopped]').check();
  // Shape by a setting: a shape legend with that setting's values.
  await page.selectOption('[data-testid=shape-select]', 'quantize.bits');
  await waitFor('shape legend', async () => (await chart.getAttribute('data-shape-by')) === 'quantize.bits');
  const shapeValues = await view.locator('[data-testid=shape-legend] [data-shape-value]').evaluateAll((els) => els.map((e) => e.dataset.shapeValue));
  const wantBits = [...new Set([...stopped, ...(await api(`/api/sweeps/${nextId}/trials?state=succeeded`)).trials].map((t) => t.params['quantize.bits']))].sort((a, b) => a - b).map(String);
  assert.deepEqual(shapeValues, wantBits);
  await page.selectOption('[data-testid=shape-select]', '');
  console.log(`# live: ${JSON.stringify(await page.evaluate(() => ({ added: window.__dashboard.addedLocally || 0, loads: window.__dashboard.loads })))}`);
  fs.mkdirSync(path.join(here, 'artifacts'), { recursive: true });
  await page.screenshot({ path: path.join(here, 'artifacts', 'stopped.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

test('compsweep dashboard serves an existing database read-only', { skip, timeout: 60000 }, async () => {
  const dash = spawn(bin, ['dashboard', '--db', db, '--port', '0', '--static', path.join(repo, 'web')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  try {
    const url = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no address: ${log}`)), 20000);
      dash.stdout.on('data', (c) => {
        log += c.toString();
        const m = log.match(/dashboard: (http:\/\/127\.0\.0\.1:\d+)\//);
        if (m) { clearTimeout(timer); resolve(m[1]); }
      });
      dash.stderr.on('data', (c) => { log += c.toString(); });
    });
    assert.match(log, /read-only/);
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${url}/#/sweeps/1`);
    const want = (await (await fetch(`${url}/api/sweeps/1/trials?state=succeeded`)).json()).trials.map((t) => t.id).sort((a, b) => a - b);
    assert.ok(want.length > 0);
    const chart = page.locator('[data-testid=pareto-chart]');
    await waitFor('the read-only page to plot the sweep', async () => Number(await chart.getAttribute('data-count')) === want.length, 30000);
    assert.deepEqual(ids(await chart.getAttribute('data-points')), want);
    await page.locator('[data-testid=read-only-note]').waitFor();
    assert.equal(await page.locator('[data-testid=cancel-button]').count(), 0, 'no cancel button on a read-only page');
    const refused = await fetch(`${url}/api/sweeps/1/cancel`, { method: 'POST' });
    assert.equal(refused.status, 403);
    assert.match((await refused.json()).error, /read-only/);
    assert.deepEqual(errors, []);
    await page.close();
  } finally {
    dash.kill('SIGINT');
  }
});

test('the HTTP server refuses path traversal from a real client', { skip }, async () => {
  for (const p of ['/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/..%2f..%2fetc%2fpasswd', '/%5c..%5cetc', '/vendor/../../../etc/passwd']) {
    const res = await fetch(base + p);
    assert.equal(res.status, 404, p);
  }
  const res = await fetch(`${base}/api/sweeps/abc`);
  assert.equal(res.status, 400);
});
