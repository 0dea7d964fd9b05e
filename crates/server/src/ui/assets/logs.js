// Logs: a build's log files, followed live (Server-Sent Events), with pause/resume; the
// server ends a follow by itself after a while (5 minutes by default).
import { get, el, say } from './api.js';
import { buildPicker } from './branch.js';

export function render(root, ctx) {
  const message = el('div');
  const names = el('select', { 'aria-label': 'Log file', id: 'log-name' });
  const pause = el('button', { type: 'button', id: 'log-pause' }, 'Pause');
  const status = el('span', { class: 'muted', id: 'log-status', role: 'status' });
  const out = el('pre', { class: 'log', id: 'log', tabindex: '0', 'aria-label': 'Log' });
  let buildId = ctx.buildId;
  let source = null;
  let paused = false;
  let held = [];

  function stop() { if (source) { source.close(); source = null; } }

  function append(lines) {
    const atBottom = out.scrollTop + out.clientHeight >= out.scrollHeight - 20;
    out.append(lines.join('\n') + '\n');
    if (atBottom) out.scrollTop = out.scrollHeight;
  }

  function follow() {
    stop();
    out.textContent = '';
    held = [];
    if (!names.value) return;
    source = new EventSource(`/api/builds/${buildId}/logs/${encodeURIComponent(names.value)}?follow=1`);
    status.textContent = 'following';
    source.addEventListener('line', (e) => { if (paused) held.push(e.data); else append([e.data]); });
    source.addEventListener('end', () => {
      stop();
      status.replaceChildren('stopped following (time limit) ', el('button', { type: 'button', onclick: follow }, 'Follow again'));
    });
    source.onerror = () => {
      if (source && source.readyState === EventSource.CLOSED) { status.textContent = 'disconnected'; stop(); }
    };
  }

  pause.addEventListener('click', () => {
    paused = !paused;
    pause.textContent = paused ? 'Resume' : 'Pause';
    if (!paused && held.length) { append(held); held = []; }
    if (source) status.textContent = paused ? 'paused (lines are kept)' : 'following';
  });
  names.addEventListener('change', follow);

  async function load() {
    stop();
    say(message, '');
    names.replaceChildren();
    out.textContent = '';
    if (!buildId) { say(message, 'This branch has no build yet.'); return; }
    try {
      const logs = await get(`/api/builds/${buildId}/logs`);
      if (!logs.length) { say(message, 'This build has written no log yet.', 'notice'); return; }
      const preferred = preferredLog(ctx.branchInfo.builds.find((b) => b.id === buildId), logs);
      for (const l of logs) names.append(el('option', { value: l.name, selected: l.name === preferred }, `${l.name} (${l.size} bytes)`));
      follow();
    } catch (e) { say(message, e); }
  }

  root.replaceChildren(el('div', { class: 'toolbar' },
    buildPicker(ctx, (id) => { buildId = id; load(); }), names, pause, status), message, out);
  load();
  return stop;
}

/** The log to open: the one that failed (build.log says why when no log of Odoo's did), else
 * the server's, else the install's. */
function preferredLog(build, logs) {
  const has = (n) => n && logs.some((l) => l.name === n);
  const failed = build && build.result === 'failed' ? [build.failed_log, 'build.log'] : [];
  return [...failed, 'odoo.log', 'install.log'].find(has) || logs[0].name;
}
