// Screenshot of the sweep page over a finished sweep's database, for the
// README (docs/img/dashboard.png): `compsweep dashboard --db DB` serves it
// read-only, headless Debian chromium (playwright-core from tests/e2e) opens
// the sweep at 1400 x 1000 CSS px, colours the scatter by quantization bits,
// checks what the picture must show (every succeeded trial plotted, the
// front, the teacher and dense-student reference lines, no horizontal
// overflow), and saves the top of the page down to the end of the picker.
//
//   node scripts/screenshot.mjs --bin build/compsweep --db out/quickstart.db [--out docs/img/dashboard.png]
//     [--sweep NAME_OR_ID] [--color-by quantize.bits] [--full out/page.png]
// scripts/screenshot.sh runs the quickstart first when no database is given.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..');
const require = createRequire(path.join(repo, 'tests', 'e2e', 'package.json'));
const { chromium } = require('playwright-core');

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
};
const bin = path.resolve(arg('bin', path.join(repo, 'build', 'compsweep')));
const db = path.resolve(arg('db', path.join(repo, 'out', 'quickstart.db')));
const out = path.resolve(arg('out', path.join(repo, 'docs', 'img', 'dashboard.png')));
const full = arg('full', '');
const sweepArg = arg('sweep', 'fmnist-quickstart');
const colorBy = arg('color-by', 'quantize.bits');
const width = 1400;

function fail(msg) {
  console.error(`screenshot: ${msg}`);
  process.exitCode = 1;
  throw new Error(msg);
}

if (!fs.existsSync(db)) fail(`no database at ${db}`);
const server = spawn(bin, ['dashboard', '--db', db, '--port', '0', '--static', path.join(repo, 'web')], { stdio: ['ignore', 'pipe', 'pipe'] });
let log = '';
const base = await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error(`no dashboard URL within 30 s:\n${log}`)), 30000);
  server.stdout.on('data', (d) => {
    log += d;
    const m = log.match(/dashboard: (http:\/\/127\.0\.0\.1:\d+)\//);
    if (m) {
      clearTimeout(timer);
      resolve(m[1]);
    }
  });
  server.stderr.on('data', (d) => { log += d; });
  server.on('exit', (code) => reject(new Error(`compsweep dashboard exited (${code}):\n${log}`)));
});
const api = async (p) => (await fetch(base + p)).json();

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--font-render-hinting=none'],
});
try {
  const { sweeps } = await api('/api/sweeps');
  const sweep = sweeps.find((s) => String(s.id) === sweepArg || s.name === sweepArg) || fail(`no sweep '${sweepArg}' in ${db} (${sweeps.map((s) => s.name).join(', ')})`);
  if (sweep.state !== 'done') console.warn(`screenshot: sweep ${sweep.id} is ${sweep.state}, not done`);
  const doc = await api(`/api/sweeps/${sweep.id}`);
  const kinds = (doc.baselines || []).filter((b) => b.metrics).map((b) => b.kind);
  if (!kinds.includes('teacher') || !kinds.some((k) => k !== 'teacher')) {
    fail(`sweep ${sweep.id} has no teacher and dense-student rows with metrics (${JSON.stringify(kinds)}): no reference lines to show`);
  }
  const page = await browser.newPage({ viewport: { width, height: 1000 }, deviceScaleFactor: 1 });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${base}/#/sweeps/${sweep.id}`);
  const chart = page.locator('[data-testid=pareto-chart]');
  const succeeded = doc.counts.succeeded;
  await page.waitForFunction((n) => document.querySelector('[data-testid=pareto-chart]')?.dataset.count === String(n), succeeded, { timeout: 30000 });
  if (colorBy) {
    await page.selectOption('[data-testid=color-select]', colorBy);
    await page.waitForFunction((c) => document.querySelector('[data-testid=pareto-chart]')?.dataset.colorBy === c, colorBy);
  }
  // What the picture must show.
  await page.locator('.legend-item[data-value="teacher"]').waitFor();
  await page.locator('.legend-item[data-value="dense student"]').waitFor();
  await page.locator('[data-testid=picker-card]').first().waitFor();
  const front = (await chart.getAttribute('data-front-ids')).split(',').filter(Boolean);
  if (!front.length) fail('no front drawn');
  await page.evaluate(() => document.fonts.ready);
  // Let the last refresh and the importance table settle, then check the layout.
  await page.waitForTimeout(1500);
  const overflow = await page.evaluate(() => {
    const doc = document.documentElement;
    const wide = [...document.querySelectorAll('section.panel')].filter((s) => s.scrollWidth > s.clientWidth + 1 && !s.querySelector('.table-wrap'))
      .map((s) => (s.querySelector('h2') || s).textContent.trim().slice(0, 40));
    return { page: doc.scrollWidth - doc.clientWidth, panels: wide };
  });
  if (overflow.page > 0 || overflow.panels.length) fail(`horizontal overflow at ${width} px: ${JSON.stringify(overflow)}`);
  // The top of the page down to the end of the picker column.
  const bottom = await page.evaluate(() => {
    const grid = document.querySelector('[data-testid=sweep-view] .grid');
    return Math.ceil(grid.getBoundingClientRect().bottom + window.scrollY + 8);
  });
  fs.mkdirSync(path.dirname(out), { recursive: true });
  await page.screenshot({ path: out, clip: { x: 0, y: 0, width, height: bottom }, fullPage: true, animations: 'disabled', caret: 'hide' });
  if (full) await page.screenshot({ path: path.resolve(full), fullPage: true, animations: 'disabled', caret: 'hide' });
  if (errors.length) fail(`page errors: ${errors.join('; ')}`);
  const kb = Math.round(fs.statSync(out).size / 1024);
  console.log(`screenshot: ${path.relative(repo, out)} (${width} x ${bottom} px, ${kb} KB): sweep ${sweep.id} '${sweep.name}', ` +
    `${succeeded} trials plotted, front ${front.join(',')}, reference lines: ${kinds.join(', ')}`);
} finally {
  await browser.close();
  server.kill('SIGINT');
}
