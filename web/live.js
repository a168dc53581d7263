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

// Brings a page's set of trials in one state up to the server's, fetching only
// the newest ones it misses. size(): how many it holds; want: the count the
// sweep document gave; fetchNewest(limit) -> {total, trials} (the newest
// `limit` by finish time, and how many there are); add(trials) takes them in
// (duplicates ignored). Returns true when the set is complete, false when the
// caller must load everything (it holds more than `want`, or the missing
// trials are not among the newest after `tries` widening fetches).
// Trials keep finishing while the page fetches: the response's own `total`,
// not the older `want`, says when the set is complete, so a stream of results
// does not turn each refresh into a full reload; when more trials are missing
// than the window held (they arrive faster than a request takes), the window
// doubles and adds the shortfall.
export async function catchUp({ size, want, fetchNewest, add, margin = 50, tries = 4, max = 200000 }) {
  if (size() > want) return false;
  if (size() === want) return true;
  let limit = Math.min(max, want - size() + margin);
  for (let i = 0; i < tries; i++) {
    const page = await fetchNewest(limit);
    add(page.trials);
    const total = Number.isFinite(page.total) ? page.total : want;
    if (size() >= total) return true;
    if (page.trials.length < limit || limit >= max) return false;
    limit = Math.min(max, 2 * limit + (total - size()));
  }
  return false;
}
