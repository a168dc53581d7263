// How the sweep page reacts to a batch of live events (web/live.js).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { addQueued, catchUp, classifyEvents } from '../live.js';

const ev = (kind, data) => ({ kind, data });

test('only trial_added events of this sweep are applied locally', () => {
  assert.equal(classifyEvents([ev('trial_added', { sweep_id: 3, trial_id: 9 }), ev('trial_added', { sweep_id: 3, trial_id: 10 })], 3), { kind: 'added', added: 2 });
  // Another sweep's additions and progress reports concern nothing here.
  assert.equal(classifyEvents([ev('trial_added', { sweep_id: 4 }), ev('trial_progress', { sweep_id: 3 })], 3), { kind: 'none', added: 0 });
});

test('anything else of this sweep, a resync or an unclear event refreshes', () => {
  assert.is(classifyEvents([ev('trial_added', { sweep_id: 3 }), ev('trial_finished', { sweep_id: 3, state: 'stopped' })], 3).kind, 'full');
  assert.is(classifyEvents([ev('resync', {})], 3).kind, 'full');
  assert.is(classifyEvents([ev('trial_finished', {})], 3).kind, 'full');
  assert.is(classifyEvents(undefined, 3).kind, 'full');
  assert.is(classifyEvents([ev('trial_finished', { sweep_id: 2 })], 3).kind, 'none');
});

test('added trials are queued and counted', () => {
  const s = { id: 3, total: 8, counts: { queued: 1, running: 2, succeeded: 5 } };
  const t = addQueued(s, 2);
  assert.is(t.total, 10);
  assert.equal(t.counts, { queued: 3, running: 2, succeeded: 5 });
  assert.is(s.total, 8, 'the input is not changed');
});

const holder = (ids) => {
  const held = new Map(ids.map((id) => [id, { id }]));
  return { held, size: () => held.size, add: (rows) => rows.forEach((r) => held.set(r.id, r)) };
};

test('catchUp: results finishing during the fetch do not force a full load', async () => {
  let n = 1000;
  const ids = () => Array.from({ length: n }, (_, i) => i + 1);
  const h = holder(ids());
  let fetches = 0;
  // 37 more finish between the sweep document and each trials request: the
  // previous code saw size != want afterwards and reloaded every trial.
  const fetchNewest = async (limit) => {
    fetches += 1;
    n += 37;
    return { total: n, trials: ids().slice(-limit).reverse().map((id) => ({ id })) };
  };
  for (let round = 0; round < 20; round++) {
    n += 100;  // the sweep document says 100 more
    fetches = 0;
    assert.ok(await catchUp({ size: h.size, want: n, fetchNewest, add: h.add }), `round ${round}`);
    assert.is(h.held.size, n, 'holds every trial of the fetched snapshot');
    assert.is(fetches, 1);
  }
});

test('catchUp: a window too narrow for the results that came in widens, within a few fetches', async () => {
  const srv = { n: 500 };
  const ids = () => Array.from({ length: srv.n }, (_, i) => i + 1);
  const h = holder(ids());
  let fetches = 0;
  // 400 more finish between the document and the first request; the window asked is 10 + 50.
  const fetchNewest = async (limit) => {
    fetches += 1;
    if (fetches === 1) srv.n += 400;
    return { total: srv.n, trials: ids().slice(-limit).reverse().map((id) => ({ id })) };
  };
  assert.ok(await catchUp({ size: h.size, want: 510, fetchNewest, add: h.add, margin: 50 }));
  assert.is(h.held.size, 900);
  assert.ok(fetches <= 3, `${fetches} fetches`);
});

test('catchUp: nothing missing, more held than the server has, or a gap the newest never close', async () => {
  let calls = 0;
  const never = async () => { calls += 1; return { total: 0, trials: [] }; };
  assert.ok(await catchUp({ size: () => 10, want: 10, fetchNewest: never, add: () => {} }));
  assert.not.ok(await catchUp({ size: () => 11, want: 10, fetchNewest: never, add: () => {} }));
  assert.is(calls, 0);
  // Trial 3 finished long ago but was never held (a retry out of order): the
  // newest window (all 100 here) does not bring it, so the caller reloads.
  const h = holder(Array.from({ length: 98 }, (_, i) => i + 1).filter((id) => id !== 3));
  const all = Array.from({ length: 100 }, (_, i) => i + 1);
  const fetchNewest = async (limit) => ({ total: 100, trials: all.filter((id) => id !== 3).slice(-limit).reverse().map((id) => ({ id })) });
  assert.not.ok(await catchUp({ size: h.size, want: 100, fetchNewest, add: h.add, tries: 3 }));
});

test('catchUp never reports complete while a trial of the last snapshot is missing', async () => {
  let seed = 9;
  const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  for (let round = 0; round < 200; round++) {
    let n = 50 + Math.floor(rand() * 200);
    const h = holder(Array.from({ length: n }, (_, i) => i + 1));
    n += Math.floor(rand() * 300);
    const want = n;
    let last = null;
    const fetchNewest = async (limit) => {
      n += Math.floor(rand() * 200);  // more finish before each request
      last = Array.from({ length: n }, (_, i) => i + 1);
      return { total: n, trials: last.slice(-limit).reverse().map((id) => ({ id })) };
    };
    const margin = Math.floor(rand() * 60);
    const ok = await catchUp({ size: h.size, want, fetchNewest, add: h.add, margin, tries: 3 });
    if (ok) assert.ok(last.every((id) => h.held.has(id)), `round ${round}: complete but missing trials`);
  }
});

test('catchUp keeps up with a stream faster than its requests', async () => {
  // 200 trials finish during each request; the page missed 240.
  let n = 10240;
  const ids = () => Array.from({ length: n }, (_, i) => i + 1);
  const h = holder(ids().slice(0, 10000));
  let fetches = 0;
  const fetchNewest = async (limit) => {
    fetches += 1;
    n += 200;
    return { total: n, trials: ids().slice(-limit).reverse().map((id) => ({ id })) };
  };
  assert.ok(await catchUp({ size: h.size, want: 10240, fetchNewest, add: h.add }));
  assert.is(h.held.size, n);
  assert.ok(fetches <= 3, `${fetches} fetches`);
});

test.run();
