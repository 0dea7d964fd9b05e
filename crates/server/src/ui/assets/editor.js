// Editor: browse the build's checkout, edit a file, commit it to the branch (which builds
// it like a push). Read-only on production.
import { api, get, el, fill, say } from './api.js';
import { buildPicker } from './branch.js';

export function render(root, ctx) {
  const message = el('div');
  const files = el('ul', { class: 'files', id: 'files', 'aria-label': 'Files' });
  const title = el('h2', { id: 'file-name' }, 'Pick a file');
  const text = el('textarea', { class: 'code', id: 'file-text', spellcheck: 'false', 'aria-label': 'File content', disabled: true });
  const summary = el('input', { type: 'text', id: 'commit-message', placeholder: 'Commit message', 'aria-label': 'Commit message' });
  const commit = el('button', { type: 'button', class: 'primary', id: 'commit', disabled: true }, 'Commit and push');
  const readOnly = ctx.branchInfo.stage === 'production';
  let buildId = ctx.buildId;
  let path = null;
  let dir = '';

  async function list(folder) {
    dir = folder;
    try {
      const entries = await get(`/api/builds/${buildId}/files?path=${encodeURIComponent(folder)}`);
      const items = [];
      if (folder) items.push(el('li', {}, el('button', { type: 'button', onclick: () => list(folder.split('/').slice(0, -1).join('/')) }, '⬑ ..')));
      for (const e of entries) {
        const full = folder ? `${folder}/${e.name}` : e.name;
        items.push(el('li', {}, el('button', { type: 'button', dataset: { path: full }, onclick: () => (e.dir ? list(full) : open(full)) }, e.dir ? `▸ ${e.name}/` : e.name)));
      }
      files.replaceChildren(...items);
    } catch (e) {
      if (e.missing) files.replaceChildren(el('li', { class: 'unavailable' }, 'The editor is not available on this server.'));
      else say(message, e);
    }
  }
  async function open(file) {
    say(message, '');
    try {
      const answer = await get(`/api/builds/${buildId}/files/content?path=${encodeURIComponent(file)}`);
      path = file;
      title.textContent = file;
      text.value = answer.content;
      text.disabled = false;
      text.readOnly = readOnly;
      commit.disabled = readOnly;
      summary.value = `Edit ${file}`;
    } catch (e) { say(message, e); }
  }
  commit.addEventListener('click', async () => {
    say(message, '');
    try {
      const r = await api('POST', `/api/builds/${buildId}/files`, { path, content: text.value, message: summary.value });
      say(message, `Committed ${r.sha.slice(0, 8)} to ${ctx.branch}; build #${r.build} started.`, 'notice');
    } catch (e) { say(message, e); }
  });
  fill(root,
    el('div', { class: 'toolbar' }, buildPicker(ctx, (id) => { buildId = id; list(''); })),
    readOnly ? el('p', { class: 'notice' }, 'Production is read-only here: change it through Git.') : null,
    el('div', { class: 'editor' }, el('div', { class: 'card' }, files),
      el('div', { class: 'card' }, title, text, el('div', { class: 'toolbar' }, summary, commit), message)));
  list(dir);
  return null;
}
