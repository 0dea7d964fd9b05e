// Backups of the branch's database (production and staging): list, create, download.
import { api, get, el, say, age } from './api.js';

export function render(root, ctx) {
  const message = el('div');
  const list = el('table', { class: 'card', id: 'backups' });
  const create = el('button', { type: 'button', class: 'primary' }, 'Back up now');
  const base = `/api/projects/${encodeURIComponent(ctx.project)}/backups`;

  async function load() {
    list.replaceChildren();
    try {
      const backups = await get(base);
      if (!backups.length) list.append(el('tr', {}, el('td', { class: 'muted' }, 'No backup yet.')));
      for (const b of backups) {
        list.append(el('tr', {}, el('td', {}, `#${b.id}`), el('td', {}, b.kind || ''), el('td', {}, age(b.created_at)),
          el('td', {}, b.verified_at ? 'verified' : (b.state || '')),
          el('td', {}, el('a', { href: `${base}/${b.id}/download` }, 'Download'))));
      }
    } catch (e) {
      if (e.missing) {
        create.disabled = true;
        list.replaceChildren(el('tr', {}, el('td', { class: 'unavailable' }, 'Backups are not available on this server yet.')));
      } else say(message, e);
    }
  }
  create.addEventListener('click', async () => {
    try { await api('POST', base, {}); say(message, 'Backup started.', 'notice'); load(); } catch (e) { say(message, e); }
  });
  root.replaceChildren(el('div', { class: 'toolbar' }, create), message, list);
  load();
  return null;
}
