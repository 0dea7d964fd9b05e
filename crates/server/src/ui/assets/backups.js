// Backups of the branch's database: list (with verification state), back up now, verify,
// restore into this branch, download (zip with or without filestore, .sql.gz, exact or
// neutralized), a dump of the live build as it is now, importing a dump made elsewhere, and
// production's point-in-time recovery.
// Routes: `GET|POST /api/projects/{p}/branches/{b}/backups`, `POST /api/backups/{id}/verify`,
// `POST /api/backups/{id}/restore`, `GET /api/backups/{id}/download`, `GET /api/builds/{id}/dump`,
// `POST .../import`, `GET|POST .../pitr`.
import { api, get, upload, el, fill, say, age, confirmBox } from './api.js';

/** 12.3 MiB, 45 KiB or 800 B. */
function size(bytes) {
  if (bytes >= 1048576) return `${(bytes / 1048576).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KiB`;
  return `${bytes} B`;
}

/** A format picker and its query string (`format`, `filestore`, `neutralized`). */
function formatPicker(id) {
  const select = el('select', { id, 'aria-label': 'Download format' },
    el('option', { value: 'format=zip' }, 'Zip with filestore'),
    el('option', { value: 'format=zip&filestore=false' }, 'Zip without filestore'),
    el('option', { value: 'format=sql-gz' }, '.sql.gz'),
    el('option', { value: 'format=zip&neutralized=true' }, 'Zip, neutralized'));
  return select;
}

export function render(root, ctx) {
  const message = el('div');
  const list = el('table', { class: 'card', id: 'backups' });
  const create = el('button', { type: 'button', class: 'primary', id: 'backup-now' }, 'Back up now');
  const format = formatPicker('download-format');
  const live = ctx.branchInfo.builds.find((b) => b.state === 'running');
  const dump = live && ctx.branchInfo.stage !== 'development'
    ? el('a', { id: 'download-dump', class: 'button', href: '#', onclick: (e) => { e.currentTarget.href = `/api/builds/${live.id}/dump?${format.value}`; } }, 'Download dump of the live database')
    : null;

  // Outcomes are said above the table (`message`): the rows are redrawn after each action.
  function row(b) {
    const state = b.error ? `${b.state}: ${b.error}`
      : b.verified_at ? `${b.state}, verified ${age(b.verified_at)}${b.verification && b.verification.ok === false ? ' (FAILED)' : ''}` : b.state;
    const verify = el('button', { type: 'button', class: 'verify' }, 'Verify');
    verify.addEventListener('click', async () => {
      verify.disabled = true;
      say(message, 'Restoring into a scratch database and checking…', 'notice');
      try {
        const v = await api('POST', `/api/backups/${encodeURIComponent(b.id)}/verify`);
        say(message, v.ok ? `Verified: ${v.modules_restored} modules, ${v.files_ok}/${v.files_expected} files, every copy whole.` : `Verification failed: ${(v.problems || []).join('; ')}`, v.ok ? 'notice' : 'error');
        load();
      } catch (e) { say(message, e); verify.disabled = false; }
    });
    const restore = el('button', { type: 'button', class: 'restore' }, 'Restore here');
    restore.addEventListener('click', async () => {
      const production = ctx.branchInfo.stage === 'production';
      const question = (production
        ? `Replace production's database with backup ${b.id} (${age(b.created_at)})? A backup of the current database is taken first.`
        : `Replace ${ctx.branch}'s database with a neutralized copy of backup ${b.id}?`)
        + (b.odoo_version ? ` It is of Odoo ${b.odoo_version}: if the branch runs another version, it switches back to ${b.odoo_version}.` : '');
      if (!(await confirmBox(question, 'Restore'))) return;
      restore.disabled = true;
      say(message, 'Restoring…', 'notice');
      try {
        const outcome = await api('POST', `/api/backups/${encodeURIComponent(b.id)}/restore`, { branch: ctx.branch });
        say(message, `Restored${outcome.safety_backup ? `; the previous database is kept as backup ${outcome.safety_backup}` : ''}.${switched(outcome.series_switched)}`, 'notice');
        load();
      } catch (e) { say(message, e); }
      restore.disabled = false;
    });
    const download = el('a', { href: '#', onclick: (e) => { e.currentTarget.href = `/api/backups/${encodeURIComponent(b.id)}/download?${format.value}`; } }, 'Download');
    return el('tr', { dataset: { backup: b.id } }, el('td', {}, el('code', {}, b.id)), el('td', {}, b.kind),
      el('td', {}, age(b.created_at)), el('td', {}, size((b.size_database || 0) + (b.size_filestore || 0))), el('td', { class: 'state' }, state),
      el('td', { class: 'actions' }, verify, ctx.branchInfo.stage === 'development' ? null : restore, download));
  }

  async function load() {
    try {
      const backups = await get(`${ctx.base}/backups`);
      list.replaceChildren();
      if (!backups.length) { list.append(el('tr', {}, el('td', { class: 'muted' }, 'No backup of this branch yet.'))); return; }
      list.append(el('tr', {}, ['Backup', 'Kind', 'Taken', 'Size', 'State', ''].map((h) => el('th', {}, h))));
      list.append(...backups.map(row));
    } catch (e) {
      if (e.missing) {
        create.disabled = true;
        list.replaceChildren(el('tr', {}, el('td', { class: 'unavailable' }, 'Backups are not available on this server yet.')));
      } else if (e.status === 403) {
        create.disabled = true;
        list.replaceChildren(el('tr', {}, el('td', { class: 'unavailable' }, e.message)));
      } else say(message, e);
    }
  }
  create.addEventListener('click', async () => {
    create.disabled = true;
    say(message, 'Backing up…', 'notice');
    try { await api('POST', `${ctx.base}/backups`, {}); say(message, 'Backup taken.', 'notice'); load(); } catch (e) { say(message, e); }
    create.disabled = false;
  });
  fill(root, el('div', { class: 'toolbar' }, create, el('label', { for: 'download-format' }, 'Downloads as: '), format, dump), message, list,
    live ? importForm(ctx, message, load) : null,
    ctx.branchInfo.stage === 'production' ? pointInTime(ctx, message, load) : null);
  load();
  return null;
}

/** Point-in-time recovery of production: the window, and a restore to a chosen minute (UTC). */
function pointInTime(ctx, message, reload) {
  const state = el('p', { id: 'pitr-window', class: 'muted' }, 'Reading the recovery window…');
  const at = el('input', { type: 'datetime-local', id: 'pitr-at', step: 60, 'aria-label': 'Time to restore to (UTC)' });
  const go = el('button', { type: 'button', id: 'pitr-restore', disabled: true }, 'Restore production to this time');
  const utc = (d) => d.replace('T', ' ').slice(0, 16);
  get(`${ctx.base}/pitr`).then((w) => {
    if (!w.windows.length) {
      state.textContent = w.archiving
        ? 'No point in time to restore to yet: the first base backup is taken with the daily backup.'
        : 'The database cluster does not archive its WAL: restart Slipway to turn point-in-time recovery on.';
      return;
    }
    const last = w.windows[w.windows.length - 1];
    state.textContent = `Production can be restored to any minute from ${utc(w.windows[0].from)} to ${utc(last.to)} UTC.`;
    at.min = w.windows[0].from.slice(0, 16);
    at.max = last.to.slice(0, 16);
    at.value = at.max;
    go.disabled = false;
  }).catch((e) => { state.textContent = e.status === 403 ? e.message : `Recovery window unavailable: ${e.message}`; });
  go.addEventListener('click', async () => {
    if (!at.value) return;
    const when = `${at.value}:00Z`;
    if (!(await confirmBox(`Replace production's database with itself as it was at ${utc(when)} UTC? A backup of the current database is taken first; the filestore is kept.`, 'Restore'))) return;
    go.disabled = true;
    say(message, 'Replaying the database to that minute…', 'notice');
    try {
      const outcome = await api('POST', `${ctx.base}/pitr`, { at: when });
      say(message, `Production restored as it was at ${utc(outcome.at)} UTC.`, 'notice');
      reload();
    } catch (e) { say(message, e); }
    go.disabled = false;
  });
  return el('section', { class: 'card', id: 'pitr' }, el('h2', {}, 'Point-in-time recovery'), state,
    el('p', { class: 'toolbar' }, el('label', { for: 'pitr-at' }, 'Time (UTC): '), at, go));
}

/** What a branch's switch of Odoo version (`series_switched`) means, as a sentence; '' for none. */
function switched(s) {
  return s ? ` The branch now runs Odoo ${s.to} (was ${s.from}), the version of its database.` : '';
}

/** Import a dump made elsewhere (Odoo zip, pg_dump file, .sql[.gz]) into this branch. */
function importForm(ctx, message, reload) {
  const production = ctx.branchInfo.stage === 'production';
  const file = el('input', { type: 'file', id: 'import-file', accept: '.zip,.dump,.sql,.gz', 'aria-label': 'Dump to import' });
  const go = el('button', { type: 'submit', id: 'import-go' }, 'Import');
  const form = el('form', { class: 'card', id: 'import', onsubmit: async (e) => {
    e.preventDefault();
    const dump = file.files[0];
    if (!dump) { say(message, 'Choose a dump file first.'); return; }
    const what = production
      ? `Replace production's database with ${dump.name}? A backup of the current one is taken first. A dump of another Odoo version (an upgraded one) switches production to that version, and its build may fail with the current code until you merge or push the code upgraded to it.`
      : `Replace ${ctx.branch}'s database with a neutralized copy of ${dump.name}? A dump of another Odoo version switches the branch to that version.`;
    if (!(await confirmBox(what, 'Import'))) return;
    go.disabled = true;
    say(message, `Importing ${dump.name}…`, 'notice');
    try {
      const outcome = await upload(`${ctx.base}/import`, dump);
      const version = outcome.odoo_version ? `Odoo ${outcome.odoo_version}, ` : '';
      const done = `Imported ${dump.name} (${version}${outcome.modules} modules; mail servers and scheduled actions off).${switched(outcome.series_switched)}`;
      if (outcome.server_error) say(message, `${done} ${outcome.server_error}`, 'error');
      else say(message, done, 'notice');
      reload();
    } catch (err) { say(message, err); }
    go.disabled = false;
  } },
  el('h2', {}, 'Import a dump'),
  el('p', { class: 'muted' }, 'An Odoo zip (with its filestore), a pg_dump file or .sql.gz made elsewhere, such as a dump upgraded by an upgrade request. Mail servers and scheduled actions are disabled, as Odoo.sh does. The version of the dump is detected and the branch switched to it'
    + (production ? '; production may then fail to start with the old custom code: merge the upgraded code to bring it up.' : '.')),
  el('p', { class: 'toolbar' }, file, go));
  return form;
}
