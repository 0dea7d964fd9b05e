// Your profile: the SSH public keys that log you in to builds (`ssh -p 2222 <build>@host`).
import { api, get, el, say, age, confirmBox } from './api.js';

export function render(root, ctx) {
  ctx.crumbs([['Projects', '#/'], [ctx.me.login]]);
  const message = el('div');
  const list = el('div', { class: 'card', id: 'ssh-keys' });
  const name = el('input', { type: 'text', id: 'key-name', placeholder: 'laptop (the key’s comment if empty)' });
  const key = el('textarea', { id: 'key-text', rows: 3, class: 'key', placeholder: 'ssh-ed25519 AAAA… you@laptop', spellcheck: 'false' });
  const form = el('form', {
    class: 'card',
    onsubmit: async (event) => {
      event.preventDefault();
      try {
        const added = await api('POST', '/api/me/keys', { name: name.value.trim(), public_key: key.value });
        name.value = ''; key.value = '';
        say(message, `Key ${added.fingerprint} added.`, 'notice');
        await refresh();
      } catch (e) { say(message, e); }
    },
  },
  el('h2', {}, 'Add an SSH key'),
  el('p', { class: 'muted' }, 'Paste your public key: the content of ~/.ssh/id_ed25519.pub (never the private key).'),
  el('label', { for: 'key-name' }, 'Name'), ' ', name,
  el('p', {}, el('label', { for: 'key-text', class: 'sr-only' }, 'Public key'), key),
  el('button', { type: 'submit', class: 'primary' }, 'Add key'));

  async function remove(k) {
    if (!await confirmBox(`Remove the key “${k.name}”? It will no longer open SSH sessions.`, 'Remove')) return;
    try {
      await api('DELETE', `/api/me/keys/${k.id}`);
      say(message, `Key “${k.name}” removed.`, 'notice');
      await refresh();
    } catch (e) { say(message, e); }
  }

  async function refresh() {
    const keys = await get('/api/me/keys');
    if (!keys.length) {
      list.replaceChildren(el('p', { class: 'muted' }, 'No SSH key yet: add one below to log in to your builds with ssh, scp and sftp.'));
      return;
    }
    list.replaceChildren(el('table', {},
      el('thead', {}, el('tr', {}, ['Name', 'Fingerprint', 'Added', 'Last used', ''].map((h) => el('th', {}, h)))),
      el('tbody', {}, keys.map((k) => el('tr', { dataset: { key: k.id } },
        el('td', {}, k.name),
        el('td', {}, el('code', {}, k.fingerprint), el('div', { class: 'muted' }, k.algorithm)),
        el('td', { title: k.created_at }, age(k.created_at)),
        el('td', {}, k.last_used_at ? age(k.last_used_at) : 'never'),
        el('td', {}, el('button', { type: 'button', onclick: () => remove(k) }, 'Remove')))))));
  }

  root.replaceChildren(el('h1', {}, `${ctx.me.name || ctx.me.login}`),
    el('h2', {}, 'SSH keys'),
    el('p', { class: 'muted' }, 'Each build’s Shell tab shows the ssh command that opens it.'),
    message, list, form);
  refresh().catch((e) => say(message, e));
  return null;
}
