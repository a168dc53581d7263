// Categories for colour and shape by setting, and the scatter's points kept
// in x order as trials arrive (web/charts.js).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PALETTE, SHAPES, SortedPoints, byX, categorize, mergeByX, sortedByX } from '../charts.js';

const fmt = (k, v) => String(v);

test('a setting with few values gets one category per value, in order', () => {
  const pts = [8, 4, 2, 4].map((bits) => ({ params: { bits } }));
  const c = categorize(pts, 'bits', fmt, SHAPES.length);
  assert.equal(c.categories.map((x) => x.label), ['2', '4', '8']);
  assert.equal(pts.map(c.of), [2, 1, 0, 1]);
});

test('more values than shapes: equal-count ranges, at most SHAPES.length', () => {
  const pts = Array.from({ length: 60 }, (_, i) => ({ params: { t: i } }));
  const shapes = categorize(pts, 't', fmt, SHAPES.length);
  assert.is(shapes.categories.length, SHAPES.length);
  const colours = categorize(pts, 't', fmt);
  assert.is(colours.categories.length, PALETTE.length);
  const counts = new Array(SHAPES.length).fill(0);
  pts.forEach((p) => { counts[shapes.of(p)] += 1; });
  assert.equal(counts, Array(SHAPES.length).fill(10));
});

let seed = 11;
const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
// Rows with x on a coarse grid (ties broken by id), some without a finite x or y.
const rows = (n, first) => Array.from({ length: n }, (_, i) => ({
  id: first + i,
  metrics: { size: rand() < 0.05 ? undefined : Math.floor(rand() * 30), acc: rand() < 0.03 ? NaN : rand() },
}));
const point = (t) => ({ id: t.id, x: t.metrics.size, y: t.metrics.acc });
const ids = (list) => list.map((p) => p.id);

test('sortedByX keeps a sorted list as it is; mergeByX merges in byX order', () => {
  const a = rows(200, 1).map(point).filter((p) => Number.isFinite(p.x)).sort(byX);
  assert.is(sortedByX(a), a);
  const shuffled = [...a].reverse();
  assert.equal(ids(sortedByX(shuffled)), ids(a));
  const b = rows(50, 1000).map(point).filter((p) => Number.isFinite(p.x)).sort(byX);
  assert.equal(ids(mergeByX(a, b)), ids([...a, ...b].sort(byX)));
  assert.is(mergeByX(a, []), a);
  assert.is(mergeByX([], b), b);
});

test('SortedPoints, fed batch by batch, equals sorting every point each time; a new key starts over', () => {
  const sp = new SortedPoints();
  const all = [];
  let made = 0;
  const make = (t) => { made += 1; return point(t); };
  for (let batch = 0; batch < 12; batch++) {
    const fresh = rows(1 + Math.floor(rand() * 300), all.length + 1);
    all.push(...fresh);
    const before = made;
    const got = sp.sync('k1', all, make, (t) => t.id % 7 !== 0);
    const want = all.filter((t) => t.id % 7 !== 0).map(point).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y)).sort(byX);
    assert.equal(ids(got), ids(want));
    // Only the rows added since the last call were turned into points.
    assert.is(made - before, fresh.filter((t) => t.id % 7 !== 0).length);
  }
  const n = all.length;
  const before = made;
  sp.sync('k1', all, make);
  assert.is(made, before);  // nothing new: nothing made
  // Another key (e.g. other axes): rebuilt from every row.
  const swapped = sp.sync('k2', all, (t) => ({ id: t.id, x: t.metrics.acc, y: t.metrics.size }));
  assert.equal(ids(swapped), ids(all.map((t) => ({ id: t.id, x: t.metrics.acc, y: t.metrics.size }))
    .filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y)).sort(byX)));
  // Fewer rows than before under the same key (a reload that lost some): rebuilt too.
  const fewer = sp.sync('k2', all.slice(0, n - 10), (t) => ({ id: t.id, x: t.metrics.acc, y: t.metrics.size }));
  assert.is(fewer.length, swapped.filter((p) => p.id <= n - 10).length);
});

// The earlier categorize (JSON per value), as a reference.
function categorizeReference(points, param, formatValue, max = PALETTE.length) {
  const value = (p) => (p.params || {})[param];
  const distinct = [...new Set(points.map((p) => JSON.stringify(value(p) ?? null)))].map((j) => JSON.parse(j));
  const numeric = distinct.every((v) => typeof v === 'number');
  distinct.sort((a, b) => (numeric ? a - b : String(a).localeCompare(String(b))));
  if (distinct.length <= max) {
    const index = new Map(distinct.map((v, i) => [JSON.stringify(v), i]));
    return {
      categories: distinct.map((v, i) => ({ key: JSON.stringify(v), label: v == null ? 'not set' : formatValue(param, v), color: PALETTE[i] })),
      of: (p) => index.get(JSON.stringify(value(p) ?? null)),
    };
  }
  const vals = points.map(value).filter((v) => typeof v === 'number').sort((a, b) => a - b);
  const edges = [];
  for (let i = 1; i < max; i++) edges.push(vals[Math.floor((i * vals.length) / max)]);
  const bins = [vals[0], ...new Set(edges)];
  return {
    categories: bins.map((lo, i) => ({ key: `range${i}`, label: i + 1 < bins.length ? `${formatValue(param, lo)} – <${formatValue(param, bins[i + 1])}` : `≥ ${formatValue(param, lo)}`, color: PALETTE[i] })),
    of: (p) => { const v = value(p); if (typeof v !== 'number') return 0; let i = 0; while (i + 1 < bins.length && v >= bins[i + 1]) i++; return i; },
  };
}

test('categorize equals the JSON-per-value version (words, booleans, objects, missing, many numbers)', () => {
  const pools = [[2, 4, 8], ['linear', 'log2', 'pow2'], [true, false, null], [{ a: 1 }, { a: 2 }, '4', 4],
    Array.from({ length: 50 }, (_, i) => i / 7), [1, 2, 3, 4, 5, 6, 7, 8, 9, 'x']];
  for (const pool of pools) {
    for (const max of [PALETTE.length, SHAPES.length, 3]) {
      const pts = Array.from({ length: 300 }, () => ({ params: rand() < 0.1 ? {} : { s: pool[Math.floor(rand() * pool.length)] } }));
      const got = categorize(pts, 's', fmt, max);
      const want = categorizeReference(pts, 's', fmt, max);
      assert.equal(got.categories, want.categories);
      assert.equal(pts.map(got.of), pts.map(want.of));
    }
  }
});

test.run();
