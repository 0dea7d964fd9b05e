// The API client and the few DOM helpers every page shares.

let csrf = null;

/** Remembers the session's CSRF token, echoed on every state-changing request. */
export function setCsrf(token) { csrf = token; }

/** An error the API answered: its HTTP status, its code and its sentence. */
export class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  /** The route does not exist on this server (not an answer of a route that does). */
  get missing() { return this.status === 404 && this.code === 'no_route'; }
}

/** Calls the API; resolves to the JSON answer, rejects with an ApiError. */
export async function api(method, path, body) {
  const json = body === undefined ? undefined : JSON.stringify(body);
  return send(method, path, json, body === undefined ? undefined : 'application/json');
}

/** Sends `file` (a File or Blob) as the raw body of a POST, as the import route wants. */
export function upload(path, file) {
  return send('POST', path, file, 'application/octet-stream');
}

async function send(method, path, body, contentType) {
  const headers = { Accept: 'application/json' };
  if (contentType) headers['Content-Type'] = contentType;
  if (method !== 'GET' && csrf) headers['X-Slipway-CSRF'] = csrf;
  let response;
  try {
    response = await fetch(path, { method, headers, credentials: 'same-origin', body });
  } catch (e) {
    throw new ApiError(0, 'network', `Slipway cannot be reached (${e.message}); check your connection`);
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) {
    const error = data && data.error;
    if (error) throw new ApiError(response.status, error.code, error.message);
    const code = response.status === 404 ? 'no_route' : `http_${response.status}`;
    throw new ApiError(response.status, code, `${method} ${path}: HTTP ${response.status}`);
  }
  return data;
}

export const get = (path) => api('GET', path);

/** `el('a', {href: '#'}, 'text', child)`: an element; `on*` attributes become listeners. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key === 'class') node.className = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replaces `node`'s children with `children`, leaving out the null, undefined and false ones
 * (as `el` does; `replaceChildren` would write them as text, "null"). */
export function fill(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== undefined && c !== null && c !== false));
}

/** "3 min ago" for an ISO time. */
export function age(iso) {
  if (!iso) return '';
  const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 60) return `${Math.floor(s)} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export const short = (sha) => (sha || '').slice(0, 8);

/** Shows `message` (an error, or a notice with `kind` 'notice') inside `place`, replacing
 * what was said there before. */
export function say(place, message, kind = 'error') {
  place.replaceChildren();
  if (!message) return;
  const text = message instanceof Error ? message.message : String(message);
  place.append(el('div', { class: kind, role: kind === 'error' ? 'alert' : 'status' }, text));
}

/** A question with Cancel/OK in the page's dialog; resolves to true on OK. */
export function confirmBox(text, ok = 'OK') {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-ok').textContent = ok;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
  });
}

/** The badge of a build: its result when it has one, else its state. */
export function buildBadge(build) {
  if (!build) return el('span', { class: 'badge' }, 'no build');
  const label = build.result ? `${build.state} · ${build.result}` : build.state;
  const cls = build.result ? `r-${build.result}` : `s-${build.state}`;
  return el('span', { class: `badge ${cls}`, title: build.message || '' }, label);
}

/**
 * A branch's state: the build serving it (green while production serves, whatever attempt
 * failed after it), and a newer build beside it (a failed update, one under way).
 */
export function branchState(serving, last) {
  const shown = serving || last;
  const newer = last && shown && last.id !== shown.id ? last : null;
  return el('span', { class: 'branch-state' },
    buildBadge(shown),
    newer ? el('span', { class: 'newer', title: newer.message || '' }, ` newer #${newer.id}: `, buildBadge(newer)) : null);
}

/** Odoo's count of a build's tests, `4 failed, 1 error(s) of 12 tests`, or null. */
export function testsText(build) {
  const t = build && build.tests;
  return t ? `${t.failed} failed, ${t.errors} error(s) of ${t.run} tests` : null;
}

/** Calls `fn` now and every `ms` until the returned stop function is called. */
export function every(ms, fn) {
  let timer = null;
  let stopped = false;
  const tick = async () => {
    try { await fn(); } catch { /* shown by fn */ }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  tick();
  return () => { stopped = true; clearTimeout(timer); };
}
