// Sign-in: an API token becomes a session cookie.
import { api, el, say } from './api.js';

export function render(root, done) {
  const token = el('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'current-password', required: true, placeholder: 'slw_…' });
  const message = el('div');
  const form = el('form', {
    class: 'card signin',
    onsubmit: async (event) => {
      event.preventDefault();
      say(message, '');
      try {
        done(await api('POST', '/api/session', { token: token.value }));
      } catch (e) { say(message, e); token.select(); }
    },
  },
  el('h1', {}, 'Sign in to Slipway'),
  el('label', { for: 'token' }, 'API token'),
  token,
  el('p', { class: 'muted' }, 'Your token was shown when your user was created (`slipway user create`), or make one with `slipway token create`.'),
  message,
  el('button', { type: 'submit', class: 'primary' }, 'Sign in'));
  root.replaceChildren(form);
  token.focus();
  return null;
}
