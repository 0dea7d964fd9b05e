// The Builds view: a row per branch, a cell per build (newest first), updated live.
import { api, get, el, say, age, short, buildBadge, testsText, every } from './api.js';

export function render(root, ctx) {
  const name = ctx.project;
  const p = encodeURIComponent(name);
  ctx.crumbs([['Projects', '#/'], [name, `#/p/${p}`], ['Builds']]);
  const message = el('div');
  const table = el('div', { class: 'card' });
  const dumpDialog = dumpOptions();
  root.replaceChildren(el('h1', {}, `${name}: builds`), message, table, dumpDialog.dialog);
  // What the last action said in a build's cell, shown again by each live redraw until the
  // next action.
  const said = new Map();

  function tell(build, place, text, kind) {
    said.set(build.id, [text, kind]);
    say(place, text, kind);
  }

  function forget() {
    said.clear();
    for (const place of table.querySelectorAll('.cell-message')) place.replaceChildren();
  }

  async function connect(build, place) {
    forget();
    try {
      // The link is complete: the build's own host name, on the port this page came through.
      const { url } = await api('POST', `/api/builds/${build.id}/connect`);
      window.open(url, '_blank', 'noopener');
    } catch (e) { tell(build, place, e.message); }
  }

  async function rebuild(build, place) {
    forget();
    try {
      const b = await api('POST', `/api/projects/${p}/branches/${encodeURIComponent(build.branch)}/rebuild`);
      tell(build, place, `Build #${b.id} queued.`, 'notice');
    } catch (e) { tell(build, place, e.message); }
  }

  function cell(build) {
    const place = el('div', { class: 'cell-message' });
    if (said.has(build.id)) say(place, ...said.get(build.id));
    return el('div', { class: `buildcell ${build.result ? `r-${build.result}` : `s-${build.state}`}`, dataset: { build: build.id } },
      el('div', {}, el('strong', {}, `#${build.id}`), ' ', buildBadge(build)),
      el('div', { class: 'muted' }, el('code', {}, short(build.revision)), ` · ${build.stage} · ${age(build.created_at)}`),
      build.step && build.state === 'building' ? el('div', { class: 'muted' }, `step: ${build.step}`) : null,
      testsText(build) ? el('div', { class: 'tests' }, testsText(build)) : null,
      build.message ? el('div', { class: 'summary', title: build.message }, build.message) : null,
      el('div', { class: 'actions' },
        build.state === 'running' ? el('button', { type: 'button', onclick: () => connect(build, place) }, 'Connect') : null,
        el('button', { type: 'button', onclick: () => rebuild(build, place) }, 'Rebuild'),
        el('a', { href: `#/p/${p}/b/${encodeURIComponent(build.branch)}/logs?build=${build.id}` }, 'Logs'),
        el('a', { href: `#/p/${p}/b/${encodeURIComponent(build.branch)}/editor?build=${build.id}` }, 'Editor'),
        el('a', { href: `#/p/${p}/b/${encodeURIComponent(build.branch)}/mails?build=${build.id}` }, 'Mails'),
        el('a', { href: `#/p/${p}/b/${encodeURIComponent(build.branch)}/shell?build=${build.id}` }, 'Shell'),
        build.state === 'running' && build.stage !== 'development'
          ? el('button', { type: 'button', class: 'dump', onclick: () => dumpDialog.open(build) }, 'Download dump') : null),
      place);
  }

  async function refresh() {
    try {
      const builds = await get(`/api/projects/${p}/builds?limit=300`);
      const rows = new Map();
      for (const b of builds) {
        if (!rows.has(b.branch)) rows.set(b.branch, []);
        rows.get(b.branch).push(b);
      }
      const body = el('table', { class: 'buildtable' }, el('thead', {}, el('tr', {}, el('th', {}, 'Branch'), el('th', {}, 'Builds, newest first'))),
        el('tbody', {}, [...rows].map(([branch, list]) => el('tr', { dataset: { branch } },
          el('th', {}, el('a', { href: `#/p/${p}/b/${encodeURIComponent(branch)}/history` }, branch)),
          el('td', {}, el('div', { class: 'buildrow' }, list.sort(servingFirst).map(cell)))))));
      if (!builds.length) table.replaceChildren(el('p', { class: 'muted' }, 'No build yet: push a branch.'));
      else if (!table.contains(document.activeElement) || document.activeElement === document.body) table.replaceChildren(body);
      say(message, '');
    } catch (e) { say(message, e); }
  }
  return every(3000, refresh);
}

/** Odoo.sh's "Download dump" dialog: an exact or neutralized copy of the build's database as
 * it is now, with its filestore (an Odoo zip) or without (.sql.gz, what an upgrade request
 * takes). Outside the table, so the live redraws leave it alone. */
function dumpOptions() {
  const choice = (name, value, label, checked) => el('label', {},
    el('input', { type: 'radio', name, value, checked }), ` ${label}`);
  const link = el('a', { id: 'dump-download', class: 'button primary', href: '#' }, 'Download');
  const title = el('h2', {});
  const dialog = el('dialog', { id: 'dump-dialog' },
    el('form', { method: 'dialog' }, title,
      el('p', {}, choice('dump-kind', 'exact', 'Exact copy', true), ' ', choice('dump-kind', 'neutralized', 'Neutralized, for testing', false)),
      el('p', {}, choice('dump-files', 'with', 'With filestore (.zip)', true), ' ', choice('dump-files', 'without', 'Without filestore (.sql.gz)', false)),
      el('p', { class: 'muted' }, 'For an upgrade request (upgrade.odoo.com, or /database/v1 of an upgrade platform), choose the exact copy without filestore: a .sql.gz. Import the upgraded dump it gives back into a staging branch (its Odoo version is detected and the branch switched to it) to test it.'),
      el('menu', {}, el('button', { value: 'cancel' }, 'Close'), link)));
  let build = null;
  const query = () => {
    const picked = (name) => dialog.querySelector(`input[name=${name}]:checked`).value;
    const files = picked('dump-files') === 'with' ? 'format=zip' : 'format=sql-gz&filestore=false';
    return `${files}${picked('dump-kind') === 'neutralized' ? '&neutralized=true' : ''}`;
  };
  const update = () => { if (build) link.href = `/api/builds/${build.id}/dump?${query()}`; };
  dialog.addEventListener('change', update);
  link.addEventListener('click', () => setTimeout(() => dialog.close(), 0));
  return {
    dialog,
    open(b) {
      build = b;
      title.textContent = `Download a dump of build #${b.id}`;
      update();
      dialog.showModal();
    },
  };
}

/** Newest first, but production's serving build leads its row, as on Odoo.sh: a failed
 * update comes after the build still running the database. */
function servingFirst(a, b) {
  const serves = (x) => x.stage === 'production' && x.state === 'running';
  return (serves(b) - serves(a)) || (b.id - a.id);
}
