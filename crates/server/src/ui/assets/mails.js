// Mails a development or staging build caught: a list, a safe view (a sandboxed frame of
// the server's sanitized HTML), and the raw .eml.
import { get, el, say, age } from './api.js';
import { buildPicker } from './branch.js';

const who = (list) => (list || []).map((a) => a.name || a.address).join(', ');

export function render(root, ctx) {
  const message = el('div');
  const list = el('table', { class: 'card', id: 'mails' });
  const view = el('div', { id: 'mail-view' });
  let buildId = ctx.buildId;

  function open(mail) {
    const base = `/api/builds/${buildId}/mails/${mail.seq}`;
    view.replaceChildren(el('div', { class: 'card' },
      el('h2', {}, mail.subject || '(no subject)'),
      el('p', { class: 'muted' }, `From ${who(mail.from) || mail.envelope_from} to ${who(mail.to) || mail.envelope_to.join(', ')}`),
      el('p', {}, el('a', { href: `${base}.eml`, download: `mail-${mail.seq}.eml` }, 'Download .eml')),
      el('iframe', { class: 'mail', sandbox: '', src: `${base}/html`, title: 'Mail content', referrerpolicy: 'no-referrer' })));
  }

  async function load() {
    say(message, '');
    list.replaceChildren();
    view.replaceChildren();
    if (!buildId) { say(message, 'This branch has no build yet.', 'notice'); return; }
    try {
      const mails = await get(`/api/builds/${buildId}/mails`);
      if (!mails.length) { list.append(el('tr', {}, el('td', { class: 'muted' }, 'No mail caught by this build.'))); return; }
      list.append(el('tr', {}, el('th', {}, 'Subject'), el('th', {}, 'From'), el('th', {}, 'To'), el('th', {}, 'Received')));
      for (const m of mails) {
        list.append(el('tr', {},
          el('td', {}, el('button', { type: 'button', onclick: () => open(m) }, m.subject || '(no subject)')),
          el('td', {}, who(m.from) || m.envelope_from), el('td', {}, who(m.to) || m.envelope_to.join(', ')),
          el('td', {}, age(m.received_at))));
      }
    } catch (e) {
      if (e.missing) list.replaceChildren(el('tr', {}, el('td', { class: 'unavailable' }, 'Mails are not available on this server yet.')));
      else say(message, e);
    }
  }

  root.replaceChildren(el('div', { class: 'toolbar' }, buildPicker(ctx, (id) => { buildId = id; load(); })), message, list, view);
  load();
  return null;
}
