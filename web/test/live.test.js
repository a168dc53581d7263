// How the sweep page reacts to a batch of live events (web/live.js).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { addQueued, classifyEvents } from '../live.js';

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

test.run();
