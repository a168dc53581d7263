// Parameter importance (web/importance.js): eta squared per setting and objective.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { etaSquared, groupKeys, importance } from '../importance.js';

const close = (a, b, msg) => assert.ok(Math.abs(a - b) < 1e-12, `${msg || ''} ${a} vs ${b}`);

test('eta squared by hand: between-group over total sum of squares', () => {
  // Groups a: 1, 3 (mean 2); b: 5, 7 (mean 6); grand mean 4.
  // Total: 9 + 1 + 1 + 9 = 20; between: 2*4 + 2*4 = 16 -> 0.8.
  close(etaSquared([1, 3, 5, 7], ['a', 'a', 'b', 'b']), 0.8);
  // Equal group means: 0; the setting alone fixes the value: 1.
  close(etaSquared([1, 3, 3, 1], ['a', 'a', 'b', 'b']), 0);
  close(etaSquared([2, 2, 9, 9], ['a', 'a', 'b', 'b']), 1);
});

test('undefined: one group, one trial per group, no variance, too few trials', () => {
  assert.is(etaSquared([1, 2, 3], ['a', 'a', 'a']), null);
  assert.is(etaSquared([1, 2, 3, 4], ['a', 'b', 'c', 'd']), null);
  assert.is(etaSquared([1, 2, 3], ['a', 'a', 'b']), null, 'fewer than 2 per group on average');
  assert.is(etaSquared([5, 5, 5, 5], ['a', 'a', 'b', 'b']), null);
  assert.is(etaSquared([1, 2], ['a', 'b']), null);
});

test('grouping: values as they are, many numbers in equal-count ranges', () => {
  assert.equal(groupKeys([8, 4, 8, 2]).keys, [8, 4, 8, 2]);
  assert.equal(groupKeys(['log2', true, 'log2']).keys, ['log2', 'true', 'log2']);
  const many = Array.from({ length: 40 }, (_, i) => i / 40);
  const g = groupKeys(many, 4);
  assert.is(g.groups, 4);
  assert.equal(g.keys.slice(0, 10), Array(10).fill(0));
  assert.equal(g.keys.slice(30), Array(10).fill(3));
  // Ties never split across ranges.
  const tied = [...Array(30).fill(1), 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  const t = groupKeys(tied, 4);
  assert.is(new Set(t.keys.slice(0, 30)).size, 1);
});

test('importance: the setting that drives an objective ranks first', () => {
  // Accuracy depends on bits only; the seed is noise.
  const rows = [];
  for (const bits of [2, 4, 8]) {
    for (let seed = 0; seed < 4; seed++) {
      rows.push({ params: { bits, seed: seed % 2 }, metrics: { acc: bits / 10 + (seed % 2 ? 0.01 : -0.01), size: 100 * bits } });
    }
  }
  const table = importance(rows, ['seed', 'bits'], [{ metric: 'acc' }, { metric: 'size' }]);
  assert.equal(table.map((r) => r.param), ['bits', 'seed']);
  assert.ok(table[0].cells[0].eta2 > 0.95, `bits explains accuracy: ${table[0].cells[0].eta2}`);
  close(table[0].cells[1].eta2, 1, 'bits fixes size');
  assert.ok(table[1].cells[0].eta2 < 0.05, `seed explains little: ${table[1].cells[0].eta2}`);
  close(table[1].cells[1].eta2, 0, 'seed explains no size');
  assert.is(table[0].cells[0].n, 12);
  assert.is(table[0].cells[0].groups, 3);
});

// The earlier, plain version of importance() (arrays and Sets), as a reference.
function importanceReference(rows, params, objectives) {
  const out = params.map((param) => {
    const have = rows.filter((r) => r.params && r.params[param] != null);
    const maxGroups = Math.min(8, Math.max(2, Math.floor(have.length / 3)));
    const { keys } = groupKeys(have.map((r) => r.params[param]), maxGroups);
    const cells = objectives.map(({ metric }) => {
      const ys = [];
      const sub = [];
      have.forEach((r, i) => {
        const y = r.metrics && r.metrics[metric];
        if (typeof y === 'number' && Number.isFinite(y)) {
          ys.push(y);
          sub.push(keys[i]);
        }
      });
      // etaSquared counts groups over the trials given; the page's counts
      // every group of the setting: the same unless a group lacks the objective.
      const all = new Set(keys).size;
      const eta2 = new Set(sub).size === all ? etaSquared(ys, sub) : undefined;
      return { metric, eta2, n: ys.length, groups: new Set(sub).size };
    });
    return { param, cells };
  });
  return out;
}

test('importance equals the plain computation on random trials (missing values, words, many numbers)', () => {
  let seed = 5;
  const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  for (let round = 0; round < 10; round++) {
    const rows = Array.from({ length: 200 + round * 150 }, () => ({
      params: {
        bits: [2, 4, 8][Math.floor(rand() * 3)],
        ...(rand() < 0.8 ? { lr: 1e-4 * 10 ** (2 * rand()) } : {}),
        scheme: rand() < 0.5 ? 'linear' : 'log2',
      },
      metrics: { acc: rand() < 0.95 ? rand() : undefined, size: 1000 * rand() + (rand() < 0.02 ? NaN : 0) },
    }));
    const objectives = [{ metric: 'acc' }, { metric: 'size' }];
    const got = importance(rows, ['bits', 'lr', 'scheme'], objectives);
    const want = importanceReference(rows, ['bits', 'lr', 'scheme'], objectives);
    for (const w of want) {
      const g = got.find((r) => r.param === w.param);
      w.cells.forEach((c, i) => {
        assert.is(g.cells[i].n, c.n);
        assert.is(g.cells[i].groups, c.groups);
        if (c.eta2 === undefined) return;
        if (c.eta2 === null) assert.is(g.cells[i].eta2, null);
        else close(g.cells[i].eta2, c.eta2, `${w.param} ${c.metric}`);
      });
    }
  }
});

test('groupKeys counts the ranges actually used', () => {
  const g = groupKeys(Array.from({ length: 100 }, (_, i) => i), 8);
  assert.is(g.groups, 8);
  assert.is(new Set(g.keys).size, 8);
});

test.run();
