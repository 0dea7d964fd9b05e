// The page: who is signed in, and which view the address (#/...) shows.
import { get, el, setCsrf, api, ApiError } from './api.js';
import * as signin from './signin.js';
import * as projects from './projects.js';
import * as project from './project.js';
import * as builds from './builds.js';
import * as branch from './branch.js';
import * as profile from './profile.js';

const app = document.getElementById('app');
let cleanup = null;
let me = null;

function crumbs(parts) {
  const nav = document.getElementById('crumbs');
  nav.replaceChildren(...parts.map(([text, href]) => (href ? el('a', { href }, text) : el('span', {}, text))));
}

function showUser() {
  const who = document.getElementById('who');
  who.replaceChildren();
  if (!me) return;
  who.append(el('a', { href: '#/profile', id: 'profile-link', title: 'Your profile and SSH keys' }, me.login), el('button', {
    type: 'button',
    onclick: async () => {
      try { await api('DELETE', '/api/session'); } catch { /* signed out anyway */ }
      me = null; setCsrf(null); location.hash = '#/'; route();
    },
  }, 'Sign out'));
}

/** Shows (or removes) the banner saying builds' code is not confined. */
function sandboxWarning(text) {
  let banner = document.getElementById('sandbox-warning');
  if (!text) { if (banner) banner.remove(); return; }
  if (!banner) {
    banner = el('div', { id: 'sandbox-warning', class: 'banner warning', role: 'alert' });
    document.body.prepend(banner);
  }
  banner.textContent = text;
}

/** Renders the view the address names. */
export async function route() {
  if (cleanup) { cleanup(); cleanup = null; }
  if (!me) {
    try {
      const session = await get('/api/session');
      me = session.user; setCsrf(session.csrf); sandboxWarning(session.sandbox_warning);
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 401) { app.textContent = e.message; return; }
      showUser(); crumbs([]);
      cleanup = signin.render(app, (session) => { me = session.user; setCsrf(session.csrf); sandboxWarning(session.sandbox_warning); route(); });
      return;
    }
  }
  showUser();
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const ctx = { me, crumbs };
  app.replaceChildren();
  if (parts[0] === 'profile') cleanup = profile.render(app, ctx);
  else if (parts[0] === 'p' && parts[1]) {
    const name = parts[1];
    if (parts[2] === 'builds') cleanup = builds.render(app, { ...ctx, project: name });
    else if (parts[2] === 'b' && parts[3]) {
      const [tab, query] = (parts[4] || 'history').split('?');
      cleanup = branch.render(app, { ...ctx, project: name, branch: parts[3], tab, query: new URLSearchParams(query || '') });
    } else cleanup = project.render(app, { ...ctx, project: name });
  } else cleanup = projects.render(app, ctx);
  app.focus({ preventScroll: true });
}

window.addEventListener('hashchange', route);
route();
