// Settings: the branch's build behaviour, the project (Odoo version, trial, development build
// limits) and its collaborators and roles.
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
  root.replaceChildren(...[form, domains(ctx), productionAdmin(ctx), project(ctx), members(ctx)].filter(Boolean));
  return null;
}

// Where the branch is reached: its address (whichever build serves) and the custom domains
// project admins route to it.
function domains(ctx) {
  const base = `${ctx.base}/domains`;
  const isAdmin = ctx.projectInfo.role === 'admin';
  const message = el('div');
  const address = el('p', { id: 'branch-address' });
  const rows = el('ul', { id: 'custom-domains' });
  async function load() {
    try {
      const found = await get(base);
      address.replaceChildren('Address: ', el('a', { href: found.address, target: '_blank', rel: 'noopener' }, found.address));
      rows.replaceChildren(...found.domains.map((d) => el('li', {}, el('code', {}, d.host), ' ',
        isAdmin ? el('button', { type: 'button', onclick: async () => {
          try { await api('DELETE', `${base}/${encodeURIComponent(d.host)}`); say(message, `${d.host} removed.`, 'notice'); load(); } catch (e) { say(message, e); }
        } }, 'Remove') : null)));
    } catch (e) { say(message, e); }
  }
  const host = el('input', { type: 'text', id: 'domain-host', placeholder: 'erp.example.com', 'aria-label': 'Custom domain' });
  const add = el('form', { class: 'toolbar', onsubmit: async (e) => {
    e.preventDefault();
    try {
      const added = await api('POST', base, { host: host.value.trim() });
      host.value = '';
      say(message, `${added.host} routes to this branch once its DNS points at Slipway.`, 'notice');
      load();
    } catch (err) { say(message, err); }
  } }, host, el('button', { type: 'submit' }, 'Add domain'));
  load();
  return el('section', { class: 'card', id: 'branch-domains' }, el('h2', {}, 'Addresses'), address,
    el('p', { class: 'muted' }, 'The address follows whichever build of the branch serves; each build also keeps its own.'),
    rows, isAdmin ? add : el('p', { class: 'muted' }, 'Only project admins add custom domains.'), message);
}

// Production's Odoo administrator: never admin/admin; its password, for project admins only.
function productionAdmin(ctx) {
  if (ctx.projectInfo.role !== 'admin' || ctx.branchInfo.stage !== 'production') return null;
  const shown = el('div', { id: 'admin-password' });
  const show = el('button', { type: 'button', onclick: async () => {
    try {
      const login = await get(`/api/projects/${encodeURIComponent(ctx.project)}/production/admin-password`);
      shown.replaceChildren(el('p', {}, 'Login ', el('code', {}, login.login), ', password ', el('code', {}, login.password)));
    } catch (e) { say(shown, e); }
  } }, 'Show the password');
  return el('section', { class: 'card', id: 'production-admin' },
    el('h2', {}, 'Production’s Odoo administrator'),
    el('p', { class: 'muted' }, 'Slipway gave production’s administrator this password instead of admin when it created the database; staging copies have it too. Connect needs no password. If someone changed it in Odoo since, this one no longer works.'),
    show, shown);
}

function project(ctx) {
  const info = ctx.projectInfo;
  const isAdmin = info.role === 'admin';
  const message = el('div');
  const trial = info.trial_until
    ? (new Date(info.trial_until) > new Date()
      ? `Trial until ${new Date(info.trial_until).toLocaleString()}: production and staging then go back to development.`
      : `Trial ended ${new Date(info.trial_until).toLocaleString()}.`)
    : 'Not a trial.';
  const maxRunning = el('input', { type: 'number', min: 1, id: 'max-running', value: info.settings.max_running_dev_builds, disabled: !isAdmin });
  const days = el('input', { type: 'number', min: 1, id: 'dev-days', value: info.settings.dev_database_days, disabled: !isAdmin });
  const endTrial = info.trial_until && isAdmin
    ? el('button', { type: 'button', id: 'end-trial', onclick: async () => {
      try { await api('PATCH', `/api/projects/${encodeURIComponent(ctx.project)}`, { trial_until: null }); say(message, 'The project is no longer a trial.', 'notice'); } catch (e) { say(message, e); }
    } }, 'Make it a regular project') : null;
  const form = el('form', { class: 'card', id: 'project-settings', onsubmit: async (e) => {
    e.preventDefault();
    try {
      await api('PATCH', `/api/projects/${encodeURIComponent(ctx.project)}`, { settings: {
        max_running_dev_builds: Number(maxRunning.value), dev_database_days: Number(days.value) } });
      say(message, 'Project settings saved.', 'notice');
    } catch (err) { say(message, err); }
  } },
  el('h2', {}, 'Project'),
  el('p', {}, 'Odoo version: ', el('strong', { id: 'odoo-version' }, info.series), el('span', { class: 'muted' }, ' (an imported dump of another version switches it)')),
  el('p', { id: 'trial-state' }, trial, ' ', endTrial),
  el('p', {}, el('label', { for: 'max-running' }, 'Development builds running at once: '), maxRunning, ' ',
    el('label', { for: 'dev-days' }, 'Development databases kept (days): '), days),
  isAdmin ? el('button', { type: 'submit' }, 'Save project settings') : el('p', { class: 'muted' }, 'Only project admins change these.'),
  message);
  return form;
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
