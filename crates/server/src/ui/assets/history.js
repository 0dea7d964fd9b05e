// History: pushes (commits and authors), stage moves, merges, rebuilds, with their time.
import { get, el, say, age, short, every } from './api.js';

export function render(root, ctx) {
  const list = el('ul', { class: 'events card', id: 'history' });
  const message = el('div');
  root.replaceChildren(message, list);
  return every(5000, async () => {
    try {
      const events = await get(`${ctx.base}/history`);
      list.replaceChildren(...events.map((e) => el('li', { dataset: { kind: e.kind } },
        el('div', {}, el('strong', {}, e.kind), ' ', e.detail.message || ''),
        el('div', { class: 'when' }, `${new Date(e.at).toLocaleString()} · ${age(e.at)}`),
        Array.isArray(e.detail.commits) && e.detail.commits.length
          ? el('ul', { class: 'commits' }, e.detail.commits.map((c) => el('li', {},
            el('code', {}, short(c.sha)), ` ${c.summary} — ${c.author}`)))
          : null)));
      if (!events.length) list.append(el('li', { class: 'muted' }, 'Nothing happened on this branch yet.'));
    } catch (e) { say(message, e); }
  });
}
