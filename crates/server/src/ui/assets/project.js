// A project's branches grouped by stage. Drag a branch onto a stage title to move it,
// onto another branch to merge it; the same actions are in each branch's menu (keyboard).
import { api, get, el, say, age, short, branchState, confirmBox, every } from './api.js';

const DRAG_PREFIX = 'slipway-branch:';
const STAGES = [['production', 'Production'], ['staging', 'Staging'], ['development', 'Development']];
// As on Odoo.sh ("Your first module": "Your module will not be installed automatically").
const FIRST_PRODUCTION = 'Its first build creates the database with base only, as Odoo.sh does: '
  + 'install your modules from its Apps menu; from then on, a module whose version goes up is updated.';

export function render(root, ctx) {
  const name = ctx.project;
  const base = `/api/projects/${encodeURIComponent(name)}`;
  ctx.crumbs([['Projects', '#/'], [name]]);
  const search = el('input', { type: 'search', placeholder: 'Search branches', 'aria-label': 'Search branches', id: 'branch-search' });
  const top = el('div');
  const sections = {};
  const grid = el('div', { class: 'stages' });
  for (const [stage, title] of STAGES) {
    const heading = el('h2', { class: 'stage-title', dataset: { stage } }, title);
    const section = { list: el('ul', { class: 'branches' }), message: el('div', { class: 'stage-message' }), heading };
    sections[stage] = section;
    dropTarget(heading, (branch) => move(branch, stage, section.message));
    const note = stage === 'production' ? el('p', { class: 'muted small', id: 'production-note' }, FIRST_PRODUCTION) : null;
    grid.append(el('section', { class: 'stage', id: `stage-${stage}`, 'aria-label': title }, heading, note, section.message, section.list));
  }
  root.replaceChildren(
    el('h1', {}, name),
    el('div', { class: 'toolbar' }, search, el('a', { href: `#/p/${encodeURIComponent(name)}/builds` }, 'Builds view')),
    top, grid,
  );

  let branches = [];
  let dragging = false;
  const branchMessages = new Map();

  function dropTarget(node, onDrop) {
    node.addEventListener('dragover', (e) => { e.preventDefault(); node.classList.add('over'); });
    node.addEventListener('dragleave', () => node.classList.remove('over'));
    node.addEventListener('drop', (e) => {
      e.preventDefault(); e.stopPropagation(); node.classList.remove('over');
      const data = e.dataTransfer.getData('text/plain');
      if (data.startsWith(DRAG_PREFIX)) onDrop(data.slice(DRAG_PREFIX.length));
    });
  }

  async function move(branch, stage, place) {
    say(place, '');
    const current = branches.find((b) => b.name === branch);
    if (current && current.stage === stage) return;
    const body = { stage };
    if (stage === 'production') {
      if (!(await confirmBox(`Make ${branch} the production branch? It will hold the company's database. ${FIRST_PRODUCTION}`, 'Make production'))) return;
      body.confirm = true;
    }
    try {
      await api('PATCH', `${base}/branches/${encodeURIComponent(branch)}`, body);
      say(place, `${branch} moved to ${stage}.`, 'notice');
      await refresh();
    } catch (e) { say(place, e); }
  }

  async function merge(source, target) {
    const place = messageOf(target);
    say(place, '');
    if (!(await confirmBox(`Merge the code of ${source} into ${target}? (code only, no data)`, 'Merge'))) return;
    try {
      const result = await api('POST', `${base}/branches/${encodeURIComponent(source)}/merge`, { into: target });
      const text = result.result === 'up_to_date'
        ? `${target} already has everything of ${source}.`
        : `Merged ${source} into ${target} (${short(result.sha)}); build #${result.build} started.`;
      branchMessages.set(target, [text, 'notice']);
      await refresh();
    } catch (e) { branchMessages.set(target, [e.message, 'error']); draw(); }
  }

  async function fork(source) {
    const name = window.prompt(`Name of the new development branch forked from ${source}:`, `${source}-fork`);
    if (!name) return;
    try {
      const result = await api('POST', `${base}/branches/${encodeURIComponent(source)}/fork`, { name });
      branchMessages.set(source, [`Forked into ${result.branch}; build #${result.build} started.`, 'notice']);
    } catch (e) { branchMessages.set(source, [e.message, 'error']); }
    await refresh();
  }

  function messageOf(branch) {
    return document.getElementById(`msg-${branch}`) || top;
  }

  function branchItem(b) {
    const build = b.serving_build || b.last_build;
    const message = el('div', { id: `msg-${b.name}` });
    const said = branchMessages.get(b.name);
    if (said) say(message, said[0], said[1]);
    const menu = el('select', { 'aria-label': `Actions for ${b.name}` },
      el('option', { value: '' }, 'Move, merge or fork…'),
      el('option', { value: 'fork:' }, 'Fork into a new branch…'),
      STAGES.filter(([s]) => s !== b.stage).map(([s, t]) => el('option', { value: `move:${s}` }, `Move to ${t}`)),
      branches.filter((o) => o.name !== b.name).map((o) => el('option', { value: `merge:${o.name}` }, `Merge into ${o.name}`)));
    menu.addEventListener('change', () => {
      const [kind, arg] = menu.value.split(':');
      menu.value = '';
      if (kind === 'move') move(b.name, arg, message);
      if (kind === 'merge') merge(b.name, arg);
      if (kind === 'fork') fork(b.name);
    });
    const item = el('li', { class: 'branch', draggable: 'true', dataset: { branch: b.name } },
      el('div', { class: 'line' },
        el('span', { class: 'grip', title: 'Drag onto a stage to move, onto a branch to merge', 'aria-hidden': 'true' }, '⠿'),
        el('a', { class: 'name', href: `#/p/${encodeURIComponent(name)}/b/${encodeURIComponent(b.name)}/history` }, b.name),
        branchState(b.serving_build, b.last_build)),
      el('div', { class: 'line muted' },
        build ? el('code', { class: 'rev' }, short(build.revision)) : null,
        build ? el('span', {}, age(build.created_at)) : el('span', {}, 'never built'),
        menu),
      message);
    item.addEventListener('dragstart', (e) => {
      dragging = true;
      e.dataTransfer.setData('text/plain', DRAG_PREFIX + b.name);
      e.dataTransfer.effectAllowed = 'move';
    });
    item.addEventListener('dragend', () => { dragging = false; });
    dropTarget(item, (source) => { if (source !== b.name) merge(source, b.name); });
    return item;
  }

  function draw() {
    const filter = search.value.trim().toLowerCase();
    for (const [stage] of STAGES) {
      const shown = branches.filter((b) => b.stage === stage && b.name.toLowerCase().includes(filter));
      sections[stage].list.replaceChildren(...shown.map(branchItem));
      if (!shown.length) sections[stage].list.append(el('li', { class: 'muted' }, filter ? 'No branch matches.' : 'No branch.'));
    }
  }

  let drawn = '';
  async function refresh() {
    try {
      branches = await get(`${base}/branches`);
      // Redraw only what changed (and never under a drag), so nothing moves under the pointer.
      const now = JSON.stringify([branches, [...branchMessages]]);
      if (!dragging && now !== drawn) { drawn = now; draw(); }
    } catch (e) { say(top, e); }
  }

  search.addEventListener('input', () => draw());
  return every(4000, refresh);
}
