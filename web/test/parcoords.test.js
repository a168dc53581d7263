// Parallel coordinates (web/parcoords.js): axes, positions, the brushing filter.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { brushFrom, brushSpan, buildAxes, filterByBrushes, keepBrushes, position } from '../parcoords.js';

const rows = [
  { id: 1, params: { bits: 8, scheme: 'linear', lr: 0.0001 }, metrics: { acc: 0.9, size: 4000 } },
  { id: 2, params: { bits: 4, scheme: 'log2', lr: 0.001 }, metrics: { acc: 0.8, size: 2000 } },
  { id: 3, params: { bits: 2, scheme: 'linear', lr: 0.01 }, metrics: { acc: 0.5, size: 1000 } },
  { id: 4, params: { bits: 8, scheme: 'log2', lr: 0.01 }, metrics: { size: 3000 } },  // no accuracy
];
const objectives = [{ metric: 'acc', maximize: true }, { metric: 'size', maximize: false }];

test('axes: numbers numeric (log when they span 50x), words categories, objectives last', () => {
  const axes = buildAxes(rows, ['bits', 'lr', 'scheme'], objectives);
  assert.equal(axes.map((a) => [a.key, a.type]), [['bits', 'num'], ['lr', 'num'], ['scheme', 'cat'], ['acc', 'num'], ['size', 'num']]);
  assert.is(axes[1].log, true);
  assert.is(axes[0].log, false);
  assert.equal(axes[2].categories, ['linear', 'log2']);
  assert.is(axes[3].maximize, true);
  assert.equal(buildAxes([], ['bits'], objectives), []);
});

test('positions: linear, log, categories evenly spaced, missing values nowhere', () => {
  const [bits, lr, scheme, acc] = buildAxes(rows, ['bits', 'lr', 'scheme'], objectives);
  assert.is(position(bits, 2), 0);
  assert.is(position(bits, 8), 1);
  assert.is(position(bits, 5), 0.5);
  assert.ok(Math.abs(position(lr, 0.001) - 0.5) < 1e-12);
  assert.is(position(scheme, 'log2'), 1);
  assert.is(position(scheme, 'other'), null);
  assert.is(position(acc, undefined), null);
  assert.is(position({ type: 'num', min: 3, max: 3 }, 3), 0.5);
});

test('brushing keeps the rows inside every brush; rows without the value drop out', () => {
  const axes = buildAxes(rows, ['bits', 'lr', 'scheme'], objectives);
  const ids = (list) => list.map((r) => r.id);
  assert.equal(ids(filterByBrushes(rows, axes, {})), [1, 2, 3, 4]);
  // Upper half of bits (5..8).
  const upper = { bits: brushFrom(axes[0], 0.5, 1) };
  assert.equal(ids(filterByBrushes(rows, axes, upper)), [1, 4]);
  // The brush is kept in values: drawn top-down it is the same.
  assert.equal(brushFrom(axes[0], 1, 0.5), upper.bits);
  // Two brushes: and.
  assert.equal(ids(filterByBrushes(rows, axes, { ...upper, scheme: brushFrom(axes[2], 0.9, 1) })), [4]);
  // A brush on accuracy drops the trial without one.
  assert.equal(ids(filterByBrushes(rows, axes, { acc: brushFrom(axes[3], 0, 1) })), [1, 2, 3]);
  // A category brush holding no category is no brush.
  assert.is(brushFrom(axes[2], 0.3, 0.6), null);
  assert.equal(brushSpan(axes[0], upper.bits), [0.5, 1]);
});

test('a brush keeps selecting the same values when the axis grows', () => {
  const axes = buildAxes(rows, ['bits'], []);
  const b = { bits: brushFrom(axes[0], 0.5, 1) };  // bits 5..8
  const more = [...rows, { id: 5, params: { bits: 16 }, metrics: {} }];
  const grown = buildAxes(more, ['bits'], []);
  assert.equal(filterByBrushes(more, grown, b).map((r) => r.id), [1, 4]);
  assert.equal(keepBrushes(grown, { ...b, gone: { lo: 0, hi: 1 } }), b);
});

// The earlier buildAxes (arrays, Math.min(...values)), as a reference for small inputs.
function axesReference(rs, params, objectives) {
  const axes = [];
  const make = (key, kind, extra = {}) => {
    const src = (r) => (kind === 'param' ? r.params : r.metrics);
    const values = rs.map((r) => (src(r) ? src(r)[key] : undefined)).filter((v) => v !== undefined && v !== null);
    if (!values.length) return null;
    if (values.every((v) => typeof v === 'number' && Number.isFinite(v))) {
      const min = Math.min(...values);
      const max = Math.max(...values);
      return { key, kind, ...extra, type: 'num', min, max, log: min > 0 && max / min >= 50 };
    }
    const cats = [...new Set(values.map((v) => (typeof v === 'object' ? JSON.stringify(v) : String(v))))].sort();
    return { key, kind, ...extra, type: 'cat', categories: cats };
  };
  for (const p of params) { const a = make(p, 'param'); if (a) axes.push(a); }
  for (const o of objectives) { const a = make(o.metric, 'metric', { maximize: Boolean(o.maximize) }); if (a && a.type === 'num') axes.push(a); }
  return axes;
}

test('axes equal the plain computation on random rows; 300,000 rows do not overflow the stack', () => {
  let seed = 9;
  const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  const pick = (list) => list[Math.floor(rand() * list.length)];
  for (let round = 0; round < 20; round++) {
    const rs = Array.from({ length: 1 + Math.floor(rand() * 200) }, () => ({
      params: { bits: pick([2, 4, 8, null, undefined]), mixed: pick([1, 'a', true, { k: 1 }, 2.5, undefined]), lr: 1e-4 * 10 ** (3 * rand()) },
      metrics: { acc: pick([rand(), undefined]), size: pick([1000 * rand(), 'n/a']) },
    }));
    const objs = [{ metric: 'acc', maximize: true }, { metric: 'size' }, { metric: 'none' }];
    assert.equal(buildAxes(rs, ['bits', 'mixed', 'lr', 'nothing'], objs), axesReference(rs, ['bits', 'mixed', 'lr', 'nothing'], objs));
  }
  const big = Array.from({ length: 300000 }, (_, i) => ({ params: { x: i % 1000 }, metrics: { acc: i / 300000 } }));
  const [x, acc] = buildAxes(big, ['x'], [{ metric: 'acc', maximize: true }]);
  assert.equal([x.min, x.max, acc.min, acc.max], [0, 999, 0, 299999 / 300000]);
});

test.run();
