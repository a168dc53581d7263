// Thin client for the coordinator's HTTP API (see docs/dashboard.md).

const TOKEN_KEY = 'compsweep.token';

export function token() {
  return localStorage.getItem(TOKEN_KEY) || '';
}

export function setToken(t) {
  if (t) localStorage.setItem(TOKEN_KEY, t);
  else localStorage.removeItem(TOKEN_KEY);
}

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function request(method, path, body) {
  const headers = {};
  if (method !== 'GET' && token()) headers.Authorization = `Bearer ${token()}`;
  if (body != null) headers['Content-Type'] = 'application/yaml';
  const res = await fetch(path, { method, headers, body, cache: 'no-store' });
  let json = null;
  try {
    json = await res.json();
  } catch (e) {
    json = null;
  }
  if (!res.ok) throw new ApiError(res.status, json);
  return json;
}

export const get = (path) => request('GET', path);
export const post = (path, body) => request('POST', path, body);

export function qs(params) {
  const parts = [];
  for (const [k, v] of Object.entries(params)) {
    if (v == null || v === '') continue;
    parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

// Runs fn `ms` after the last call, but never later than `maxWait` after the
// first call of a burst, so a steady stream of calls cannot starve it.
export function debounce(fn, ms, maxWait = ms * 4) {
  let timer = null;
  let first = 0;
  let lastArgs = [];
  return (...args) => {
    lastArgs = args;
    const now = Date.now();
    if (!timer) first = now;
    clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      fn(...lastArgs);
    }, Math.max(0, Math.min(ms, first + maxWait - now)));
  };
}
