// What a batch of live events means for one sweep's page. Pure; used by the
// sweep view and node tests.
//
// Returns {kind, added}: kind 'none' (nothing of this sweep: at most the
// workers panel changes), 'added' (only trial_added events of this sweep:
// `added` new queued trials, applied to the counts without refetching the
// sweep, its trials or its fronts) or 'full' (refresh what the page holds).
// `events` undefined means everything changed ('full').
export function classifyEvents(events, sweepId) {
  if (!events) return { kind: 'full', added: 0 };
  let added = 0;
  let full = false;
  for (const { kind, data } of events) {
    if (kind === 'resync' || kind === 'tick') {
      full = true;
      continue;
    }
    if (kind === 'trial_progress' || kind === 'worker_joined' || kind === 'worker_lost') continue;
    const mine = !data || data.sweep_id == null || data.sweep_id === sweepId;
    if (!mine) continue;
    if (kind === 'trial_added' && data && data.sweep_id === sweepId) added += 1;
    else full = true;
  }
  if (full) return { kind: 'full', added };
  return added ? { kind: 'added', added } : { kind: 'none', added: 0 };
}

// The sweep document's counts after `n` trials were added (queued).
export function addQueued(sweep, n) {
  const counts = { ...sweep.counts, queued: (sweep.counts.queued || 0) + n };
  return { ...sweep, counts, total: (sweep.total || 0) + n };
}
