// Backups of the branch's database: list (with verification state), back up now, download.
// Routes: `GET|POST /api/projects/{p}/branches/{b}/backups`, `GET /api/backups/{id}/download`.
import { api, get, el, say, age } from './api.js';

const mib = (bytes) => `${(bytes / 1048576).toFixed(1)} MiB`;

export function render(root, ctx) {
  const message = el('div');
  const list = el('table', { class: 'card', id: 'backups' });
  const create = el('button', { type: 'button', class: 'primary' }, 'Back up now');

  async function load() {
    list.replaceChildren();
    try {
      const backups = await get(`${ctx.base}/backups`);
      if (!backups.length) { list.append(el('tr', {}, el('td', { class: 'muted' }, 'No backup of this branch yet.'))); return; }
      list.append(el('tr', {}, ['Backup', 'Kind', 'Taken', 'Size', 'State', ''].map((h) => el('th', {}, h))));
      for (const b of backups) {
        const size = (b.size_database || 0) + (b.size_filestore || 0);
        list.append(el('tr', {}, el('td', {}, el('code', {}, String(b.id).slice(0, 12))), el('td', {}, b.kind),
          el('td', {}, age(b.created_at)), el('td', {}, mib(size)),
          el('td', {}, b.error ? `${b.state}: ${b.error}` : (b.verified_at ? `${b.state}, verified ${age(b.verified_at)}` : b.state)),
          el('td', {}, el('a', { href: `/api/backups/${encodeURIComponent(b.id)}/download` }, 'Download'))));
      }
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
    say(message, '');
    try { await api('POST', `${ctx.base}/backups`, {}); say(message, 'Backup taken.', 'notice'); load(); } catch (e) { say(message, e); }
  });
  root.replaceChildren(el('div', { class: 'toolbar' }, create), message, list);
  load();
  return null;
}
