// Shell: a terminal (xterm.js) on a WebSocket to a shell in the build's folder, with psql
// connected to the build's database. The server closes idle shells.
import { el, say, get } from './api.js';
import { buildPicker } from './branch.js';

export function render(root, ctx) {
  const message = el('div');
  const screen = el('div', { id: 'terminal', class: 'terminal' });
  const status = el('span', { class: 'muted', id: 'shell-status', role: 'status' });
  const ssh = el('span', { class: 'muted' });
  let buildId = ctx.buildId;
  let socket = null;
  let term = null;

  function close() {
    if (socket) { socket.onclose = null; socket.close(); socket = null; }
    if (term) { term.dispose(); term = null; }
  }

  /** The ssh command of the build, beside the terminal (when Slipway's SSH server is on). */
  async function showSsh() {
    ssh.replaceChildren();
    if (!buildId) return;
    try {
      const build = await get(`/api/builds/${buildId}`);
      if (build.ssh) ssh.append('From your terminal: ', el('code', { id: 'ssh-command' }, build.ssh), ' (with a key of ', el('a', { href: '#/profile' }, 'your profile'), ')');
    } catch { /* the terminal says what is wrong */ }
  }

  async function open() {
    close();
    say(message, '');
    showSsh();
    if (!buildId) { say(message, 'This branch has no build yet.'); return; }
    let Terminal;
    try {
      if (!document.getElementById('xterm-css')) document.head.append(el('link', { rel: 'stylesheet', href: '/ui/xterm.css', id: 'xterm-css' }));
      ({ Terminal } = await import('./xterm.mjs'));
      term = new Terminal({ rows: 30, cols: 110, cursorBlink: true, fontSize: 13 });
    } catch (e) { say(message, e); return; }
    term.open(screen);
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    socket = new WebSocket(`${scheme}://${location.host}/api/builds/${buildId}/shell`);
    socket.binaryType = 'arraybuffer';
    socket.onopen = () => { status.textContent = 'connected'; term.focus(); };
    socket.onmessage = (e) => term.write(typeof e.data === 'string' ? e.data : new Uint8Array(e.data));
    socket.onclose = (e) => {
      status.replaceChildren(`closed${e.reason ? `: ${e.reason}` : ''} `, el('button', { type: 'button', onclick: open }, 'Open again'));
      if (e.code === 1006 && !e.reason) say(message, 'The shell could not be opened: you may not have the right on this build, or it has no environment.');
    };
    term.onData((data) => { if (socket && socket.readyState === WebSocket.OPEN) socket.send(data); });
  }

  root.replaceChildren(el('div', { class: 'toolbar' }, buildPicker(ctx, (id) => { buildId = id; open(); }), status,
    el('span', { class: 'muted' }, 'psql is connected to the build’s database.'), ssh), message, screen);
  open();
  return close;
}
