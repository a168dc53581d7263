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

// Calls fn at most once per `ms`, trailing (the last call always runs).
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
