// Settings: the branch's build behaviour, and the project's collaborators and roles.
import { api, get, el, say } from './api.js';

export function render(root, ctx) {
  const s = ctx.branchInfo.settings;
  const message = el('div');
  const behaviour = el('select', { id: 'staging-behaviour' },
    el('option', { value: 'update_previous', selected: s.staging_behaviour === 'update_previous' }, 'Update the previous database'),
    el('option', { value: 'new_build', selected: s.staging_behaviour === 'new_build' }, 'New build (fresh copy of production)'));
  const install = el('select', { id: 'install-mode' },
    ['own', 'all', 'list'].map((m) => el('option', { value: m, selected: s.install.mode === m },
      { own: "The branch's own modules", all: 'Every module', list: 'These modules:' }[m])));
  const modules = el('input', { type: 'text', id: 'install-modules', value: (s.install.modules || []).join(','), placeholder: 'sale,stock', 'aria-label': 'Modules to install' });
  const tests = el('input', { type: 'checkbox', id: 'tests', checked: s.tests });
  const tags = el('input', { type: 'text', id: 'test-tags', value: s.test_tags || '', placeholder: '/shop_core,-slow' });
  const save = el('button', { type: 'submit', class: 'primary' }, 'Save settings');
  const form = el('form', { class: 'card', id: 'branch-settings' },
    el('h2', {}, 'Builds of this branch'),
    el('p', {}, el('label', { for: 'staging-behaviour' }, 'Behaviour upon new commit (staging): '), behaviour),
    el('p', {}, el('label', { for: 'install-mode' }, 'Modules to install (development): '), install, ' ', modules),
    el('p', {}, tests, el('label', { for: 'tests' }, ' Run the tests'), ' ', el('label', { for: 'test-tags' }, 'Test tags: '), tags),
    message, save);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const installSet = install.value === 'list'
      ? { mode: 'list', modules: modules.value.split(',').map((m) => m.trim()).filter(Boolean) }
      : { mode: install.value };
    try {
      await api('PATCH', ctx.base, { settings: {
        staging_behaviour: behaviour.value, install: installSet, tests: tests.checked,
        test_tags: tags.value.trim() || null,
      } });
      say(message, 'Saved: the next build uses these settings.', 'notice');
    } catch (err) { say(message, err); }
  });
  root.replaceChildren(form, members(ctx));
  return null;
}

function members(ctx) {
  const base = `/api/projects/${encodeURIComponent(ctx.project)}/members`;
  const message = el('div');
  const rows = el('tbody');
  const isAdmin = ctx.projectInfo.role === 'admin';
  const login = el('input', { type: 'text', placeholder: 'login', 'aria-label': 'Login to add', id: 'member-login' });
  const role = roleSelect('developer', 'Role of the new member');
  let current = [];

  function roleSelect(value, label) {
    return el('select', { 'aria-label': label, disabled: !isAdmin },
      ['admin', 'developer', 'tester'].map((r) => el('option', { value: r, selected: r === value }, r)));
  }
  async function put(list) {
    try {
      current = await api('PUT', base, list);
      draw();
      say(message, 'Collaborators saved.', 'notice');
    } catch (e) { say(message, e); }
  }
  function draw() {
    rows.replaceChildren(...current.map((m) => {
      const select = roleSelect(m.role, `Role of ${m.login}`);
      select.addEventListener('change', () => put(current.map((o) => ({ login: o.login, role: o.login === m.login ? select.value : o.role }))));
      return el('tr', {}, el('td', {}, m.login), el('td', {}, m.name), el('td', {}, select),
        el('td', {}, isAdmin ? el('button', { type: 'button', onclick: () => put(current.filter((o) => o.login !== m.login).map((o) => ({ login: o.login, role: o.role }))) }, 'Remove') : null));
    }));
  }
  get(base).then((list) => { current = list; draw(); }).catch((e) => say(message, e));
  const add = el('form', { class: 'toolbar', onsubmit: (e) => {
    e.preventDefault();
    put([...current.map((o) => ({ login: o.login, role: o.role })), { login: login.value.trim(), role: role.value }]);
  } }, login, role, el('button', { type: 'submit' }, 'Add'));
  return el('section', { class: 'card', id: 'members' }, el('h2', {}, 'Collaborators'),
    el('table', {}, el('thead', {}, el('tr', {}, el('th', {}, 'Login'), el('th', {}, 'Name'), el('th', {}, 'Role'), el('th', {}))), rows),
    isAdmin ? add : el('p', { class: 'muted' }, 'Only project admins change collaborators.'), message);
}
