// Sign-in: an API token, or a login and password, becomes a session cookie.
import { api, el, say } from './api.js';

export function render(root, done) {
  const token = el('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'off', placeholder: 'slw_…' });
  const login = el('input', { type: 'text', id: 'login', name: 'username', autocomplete: 'username' });
  const password = el('input', { type: 'password', id: 'password', name: 'password', autocomplete: 'current-password' });
  const message = el('div');
  const form = el('form', {
    class: 'card signin',
    onsubmit: async (event) => {
      event.preventDefault();
      say(message, '');
      const body = token.value.trim()
        ? { token: token.value.trim() }
        : { login: login.value.trim(), password: password.value };
      if (!body.token && !(body.login && body.password)) {
        say(message, 'Give your API token, or your login and password.');
        return;
      }
      try {
        done(await api('POST', '/api/session', body));
      } catch (e) { say(message, e); (body.token ? token : password).select(); }
    },
  },
  el('h1', {}, 'Sign in to Slipway'),
  el('label', { for: 'token' }, 'API token'),
  token,
  el('p', { class: 'muted' }, 'Shown when your user was created (`slipway user create`); or sign in with a password (`slipway user passwd LOGIN`):'),
  el('label', { for: 'login' }, 'Login'), login,
  el('label', { for: 'password' }, 'Password'), password,
  message,
  el('p', {}, el('button', { type: 'submit', class: 'primary' }, 'Sign in')));
  root.replaceChildren(form);
  token.focus();
  return null;
}
