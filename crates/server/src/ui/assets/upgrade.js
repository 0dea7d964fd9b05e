// Upgrade: Odoo.sh's Upgrade tab. On staging, "Test upgrade" runs the latest production backup
// through the upgrade engine and brings it back into the branch (then in upgrade mode); on
// production, "Start upgrade" arms the upgrade, which starts with the next push. While one
// runs, its state, step, elapsed time and the end of its log follow live (the GET is polled:
// it answers the log's last lines).
// Route: `GET|POST|DELETE /api/projects/{p}/branches/{b}/upgrade`.
import { api, get, el, fill, say, confirmBox } from './api.js';

/** States in which an upgrade holds the branch (the API's `open` states). */
const OPEN = ['armed', 'requested', 'upgrading', 'restoring', 'upgrade_mode'];
/** States in which an upgrade is running now (polled faster, cancellable but in `restoring`). */
const RUNNING = ['requested', 'upgrading', 'restoring'];

const STATE_TEXT = {
  armed: 'armed: it starts with the next push',
  requested: 'requested',
  upgrading: 'upgrading',
  restoring: 'bringing the upgraded database into the branch',
  upgrade_mode: 'upgrade mode',
  closed: 'finished',
  done: 'done',
  reverted: 'reverted',
  failed: 'failed',
  cancelled: 'cancelled',
};

/** "1 h 02 min", "3 min 05 s" or "12 s" between two times (ms). */
export function elapsed(from, to) {
  const s = Math.max(0, Math.floor((to - from) / 1000));
  const pad = (n) => String(n).padStart(2, '0');
  if (s >= 3600) return `${Math.floor(s / 3600)} h ${pad(Math.floor((s % 3600) / 60))} min`;
  if (s >= 60) return `${Math.floor(s / 60)} min ${pad(s % 60)} s`;
  return `${s} s`;
}

/** A date as the user reads it, with its UTC form in the tooltip. */
function when(iso) {
  return el('time', { datetime: iso, title: iso }, new Date(iso).toLocaleString());
}

/** Odoo.sh's suggested steps, in short; the step of this branch's stage in bold. */
function suggestedSteps(stage) {
  const item = (mine, text) => el('li', {}, mine ? el('strong', {}, text) : text);
  return el('ol', { class: 'upgrade-steps' },
    item(stage === 'development', 'On a development branch switched to the target version (Settings), make the custom modules work on it and test them.'),
    item(stage === 'staging', 'Move that branch to staging and test the upgrade here: the latest daily production backup is upgraded and brought back into the branch. Each push then restores it and updates the custom modules (write upgrade scripts if needed).'),
    item(stage === 'production', 'Once staging works, start the upgrade on the production branch: it runs with the next push (merge the upgraded code), production being unavailable meanwhile.'));
}

export function render(root, ctx) {
  const message = el('div', { id: 'upgrade-message' });
  const intro = el('section', { class: 'card', id: 'upgrade-intro' });
  const start = el('section', { class: 'card', id: 'upgrade-start' });
  const progress = el('section', { class: 'card', id: 'upgrade-progress', hidden: true });
  const out = el('pre', { class: 'log', id: 'upgrade-log', tabindex: '0', 'aria-label': 'Upgrade log' });
  root.replaceChildren(message, intro, start, progress);

  let overview = null;
  let busy = false;
  let drawnStart = '';
  let drawnProgress = '';
  let drawnIntro = '';
  let timer = null;

  async function act(method, body, doing) {
    if (busy) return;
    busy = true;
    say(message, doing, 'notice');
    try {
      overview = await api(method, ctx.base + '/upgrade', body);
      say(message, '');
      draw();
    } catch (e) { say(message, e); }
    busy = false;
    // Follow what was just started (or stopped) at once, not at the next slow poll.
    clearTimeout(timer);
    timer = setTimeout(poll, 500);
  }

  async function launch(target) {
    const production = overview.stage === 'production';
    const question = production
      ? `Arm the upgrade of production to Odoo ${target}? It starts with the next push to production; production is unavailable while it runs, and a failure reverts it.`
      : `Test the upgrade of production's latest daily backup to Odoo ${target}? It replaces ${overview.branch}'s database with the upgraded one (neutralized).`;
    if (!(await confirmBox(question, production ? 'Start upgrade' : 'Test upgrade'))) return;
    await act('POST', { target }, production ? 'Arming the upgrade…' : 'Starting the test upgrade…');
  }

  async function cancel(u) {
    const mode = u.state === 'upgrade_mode';
    const question = mode
      ? 'Close upgrade mode? Pushes then build as usual (the upgraded database is no longer restored).'
      : `Cancel the upgrade to Odoo ${u.target}?`;
    if (!(await confirmBox(question, mode ? 'Close upgrade mode' : 'Cancel upgrade'))) return;
    await act('DELETE', undefined, mode ? 'Closing upgrade mode…' : 'Cancelling…');
  }

  /** The target select and the start button, redrawn only when what they offer changes. */
  function drawStart(open) {
    const key = JSON.stringify([overview.unavailable, overview.targets, overview.stage, overview.production_series, open]);
    if (key === drawnStart) return;
    drawnStart = key;
    const production = overview.stage === 'production';
    if (overview.unavailable) {
      start.replaceChildren(el('p', { class: 'unavailable', id: 'upgrade-unavailable' }, `Unavailable: ${overview.unavailable}.`));
      return;
    }
    const title = el('h2', {}, production ? 'Upgrade production' : 'Test an upgrade');
    const from = el('p', { class: 'muted' }, `Production runs Odoo ${overview.production_series}.`);
    if (open) {
      start.replaceChildren(title, from, el('p', { class: 'muted' }, 'An upgrade of this branch is open (below); cancel or close it to start another.'));
      return;
    }
    if (!overview.targets.length) {
      start.replaceChildren(title, from, el('p', { class: 'unavailable', id: 'upgrade-no-target' },
        `No version to upgrade to: no ready upgrade engine for a series above ${overview.production_series} (a Slipway admin adds one with \`slipway upgrade engine add\`).`));
      return;
    }
    const target = el('select', { id: 'upgrade-target', 'aria-label': 'Target version' },
      overview.targets.map((t) => el('option', { value: t }, `Odoo ${t}`)));
    const go = el('button', { type: 'button', class: 'primary', id: 'upgrade-go', onclick: () => launch(target.value) },
      production ? 'Start upgrade' : 'Test upgrade');
    start.replaceChildren(title, from,
      el('p', { class: 'toolbar' }, el('label', { for: 'upgrade-target' }, 'Target: '), target, go),
      el('p', { class: 'muted' }, production
        ? 'The upgrade starts with the next push to production (push code that works on the target version). Production is unavailable throughout; if anything fails, everything is reverted; on success a backup is taken.'
        : 'The latest daily production backup (one is taken if there is none) goes through the upgrade engine and comes back into this branch, neutralized, on the target version.'));
  }

  function fact(label, value, id) {
    return el('div', {}, el('dt', {}, label), el('dd', { id }, value));
  }

  /** The open or last upgrade: rebuilt when it changes (so a focused button stays put while
   * nothing happens); the elapsed time and the log are updated in place at every poll. */
  function drawProgress(u, open) {
    if (!u) { progress.hidden = true; drawnProgress = ''; return; }
    progress.hidden = false;
    // A running upgrade's clock runs; an ended one (or one in upgrade mode, whose last change
    // was its arrival) shows what it took.
    const running = RUNNING.includes(u.state);
    const ended = running ? Date.now() : new Date(u.finished_at || u.updated_at).getTime();
    const took = elapsed(new Date(u.created_at).getTime(), ended);
    // Keep the reader's place in the log: follow its end only when they were at the end.
    // (A log not yet shown counts as read to its end.)
    const follow = out.scrollTop + out.clientHeight >= out.scrollHeight - 20;
    if (out.textContent !== u.log_tail) out.textContent = u.log_tail;
    const keepUp = () => { if (follow) out.scrollTop = out.scrollHeight; };
    const key = JSON.stringify([{ ...u, log_tail: Boolean(u.log_tail) }, overview.series]);
    if (key === drawnProgress) {
      const clock = document.getElementById('upgrade-elapsed');
      if (clock) clock.textContent = took;
      keepUp();
      return;
    }
    drawnProgress = key;
    const kind = u.kind === 'production' ? 'Production upgrade' : 'Test upgrade';
    const facts = el('dl', { class: 'facts' },
      fact('State', STATE_TEXT[u.state] || u.state, 'upgrade-state'),
      running ? fact('Step', u.step || '…', 'upgrade-step') : null,
      u.state !== 'armed' ? fact(running ? 'Elapsed' : 'Took', took, 'upgrade-elapsed') : null,
      u.state === 'upgrade_mode' ? fact('Upgrade mode until', when(u.mode_until), 'upgrade-mode-until') : null,
      u.state === 'upgrade_mode' || u.state === 'closed' || u.state === 'done' ? fact('Series now', `Odoo ${overview.series}`, 'upgrade-series') : null,
      u.backup ? fact('From backup', el('code', {}, u.backup)) : null,
      u.custom_modules.length ? fact('Custom modules', u.custom_modules.join(', ')) : null,
      fact('Requested', el('span', {}, `by ${u.requested_by}, `, when(u.created_at))));
    const notes = [];
    if (u.state === 'upgrade_mode') {
      notes.push(el('p', { class: 'notice', id: 'upgrade-mode' },
        `Upgrade mode until ${new Date(u.mode_until).toLocaleString()}: each push restores the upgraded database and updates the custom modules on Odoo ${overview.series} (see upgrade.log in the Logs tab, ~/logs/upgrade.log in the shell).`));
    }
    if (u.state === 'armed') {
      notes.push(el('p', { class: 'notice', id: 'upgrade-armed' }, `The upgrade to Odoo ${u.target} starts with the next push to this branch.`));
    }
    if (u.error) notes.push(el('div', { class: 'error', role: 'alert', id: 'upgrade-error' }, u.error));
    if (u.state === 'closed' && !u.custom_modules.length) {
      notes.push(el('p', { class: 'muted' }, 'No custom module: no upgrade mode, the branch builds as usual on the new version.'));
    }
    const buttons = [];
    if (open && u.state !== 'restoring') {
      const label = u.state === 'upgrade_mode' ? 'Close upgrade mode' : 'Cancel upgrade';
      buttons.push(el('button', { type: 'button', id: 'upgrade-cancel', onclick: () => cancel(u) }, label));
    }
    fill(progress,
      el('h2', {}, `${kind} to Odoo ${u.target}`, ' ', el('span', { class: `badge u-${u.state}` }, u.state.replace('_', ' '))),
      facts, ...notes,
      buttons.length ? el('p', { class: 'toolbar' }, buttons) : null,
      u.log_tail ? el('h3', {}, 'Log (last lines)') : null,
      u.log_tail ? out : null);
    keepUp();
  }

  function draw() {
    const u = overview.upgrade;
    const open = Boolean(u && OPEN.includes(u.state));
    const introKey = `${overview.stage} ${overview.series}`;
    if (introKey !== drawnIntro) {
      drawnIntro = introKey;
      intro.replaceChildren(el('h2', {}, 'Upgrade to a newer Odoo version'),
        el('p', { class: 'muted' }, `This branch (${overview.stage}) runs Odoo ${overview.series}. The suggested steps:`),
        suggestedSteps(overview.stage));
    }
    drawStart(open);
    drawProgress(u, open);
  }

  let stopped = false;
  async function poll() {
    if (stopped) return;
    try {
      if (!busy) {
        overview = await get(ctx.base + '/upgrade');
        draw();
      }
    } catch (e) {
      // Not on this server, or not for this user (testers and developers): said once, no poll.
      if (e.missing || e.status === 403) {
        start.replaceChildren(el('p', { class: 'unavailable' }, e.missing ? 'Upgrades are not available on this server yet.' : e.message));
        return;
      }
      say(message, e);
    }
    const running = overview && overview.upgrade && RUNNING.includes(overview.upgrade.state);
    if (!stopped) timer = setTimeout(poll, running ? 1000 : 4000);
  }
  poll();
  return () => { stopped = true; clearTimeout(timer); };
}
