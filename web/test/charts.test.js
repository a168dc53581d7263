// Categories for colour and shape by setting (web/charts.js).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PALETTE, SHAPES, categorize } from '../charts.js';

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

test.run();
