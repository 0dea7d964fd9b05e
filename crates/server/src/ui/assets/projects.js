// The projects the user is a member of.
import { get, el, say } from './api.js';

export function render(root, ctx) {
  ctx.crumbs([['Projects']]);
  const list = el('ul', { class: 'card branches' });
  const message = el('div');
  root.replaceChildren(el('h1', {}, 'Projects'), message, list);
  get('/api/projects').then((projects) => {
    if (!projects.length) {
      list.append(el('li', { class: 'muted' }, 'No project yet: create one with `slipway project create <name> --odoo 17.0`.'));
    }
    for (const p of projects) {
      list.append(el('li', { class: 'branch' },
        el('a', { class: 'name', href: `#/p/${encodeURIComponent(p.name)}` }, p.name),
        ' ', el('span', { class: 'muted' }, `Odoo ${p.series} · ${p.role}${p.trial_until ? ' · trial' : ''}`)));
    }
  }).catch((e) => say(message, e));
  return null;
}
