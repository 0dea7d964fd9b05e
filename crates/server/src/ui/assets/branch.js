// A branch: its stage, its builds, and its tabs (one module each).
import { get, el, fill, say, branchState, short } from './api.js';
import * as history from './history.js';
import * as logs from './logs.js';
import * as mails from './mails.js';
import * as settings from './settings.js';
import * as backups from './backups.js';
import * as editor from './editor.js';
import * as shell from './shell.js';
import * as monitor from './monitor.js';
import * as upgrade from './upgrade.js';

const TABS = [
  ['history', 'History', history], ['logs', 'Logs', logs], ['mails', 'Mails', mails],
  ['shell', 'Shell', shell], ['editor', 'Editor', editor], ['monitor', 'Monitor', monitor],
  ['backups', 'Backups', backups], ['upgrade', 'Upgrade', upgrade], ['settings', 'Settings', settings],
];

export function render(root, ctx) {
  const p = encodeURIComponent(ctx.project);
  const b = encodeURIComponent(ctx.branch);
  ctx.crumbs([['Projects', '#/'], [ctx.project, `#/p/${p}`], [ctx.branch]]);
  const head = el('div');
  const body = el('div', { id: 'tab-body' });
  const tabs = el('nav', { class: 'tabs', 'aria-label': 'Branch tabs' },
    TABS.map(([id, title]) => el('a', { href: `#/p/${p}/b/${b}/${id}`, 'aria-current': id === ctx.tab ? 'page' : false, id: `tab-${id}` }, title)));
  root.replaceChildren(head, tabs, body);
  let stop = null;
  let closed = false;
  get(`/api/projects/${p}/branches/${b}`).then(async (branch) => {
    if (closed) return;
    const project = await get(`/api/projects/${p}`);
    const last = branch.builds[0];
    const serving = branch.serving_build;
    fill(head, el('h1', { id: 'branch-head' }, `${branch.name} `, el('span', { class: 'muted' }, `(${branch.stage})`), ' ', branchState(serving, last)),
      last ? el('p', { class: 'muted' }, `head ${short(branch.head)} · ${serving ? `serving build #${serving.id} · ` : ''}last build #${last.id}`) : null);
    const tab = TABS.find(([id]) => id === ctx.tab) || TABS[0];
    // Logs open on the newest build (a failed attempt's log is the news); the other tabs on
    // the build that serves.
    const fallback = ctx.tab === 'logs' ? last : (serving || last);
    const buildId = Number(ctx.query.get('build')) || (fallback && fallback.id);
    stop = tab[2].render(body, { ...ctx, branchInfo: branch, projectInfo: project, buildId, base: `/api/projects/${p}/branches/${b}` });
  }).catch((e) => say(head, e));
  return () => { closed = true; if (stop) stop(); };
}

/** A select of the branch's builds, calling `onPick(id)` on change. */
export function buildPicker(ctx, onPick) {
  const select = el('select', { 'aria-label': 'Build', id: 'build-picker' },
    ctx.branchInfo.builds.map((build) => el('option', { value: build.id, selected: build.id === ctx.buildId },
      `#${build.id} ${short(build.revision)} · ${build.state}${build.result ? ` · ${build.result}` : ''}`)));
  select.addEventListener('change', () => onPick(Number(select.value)));
  return select;
}
