// Slipway's web UI in Chromium, driven by Playwright: run by crates/cli/tests/ui.rs with a
// world file (server URL, admin token, the project's builds). Every check prints a line;
// any failure saves a screenshot and exits 1.
import { readFileSync, mkdtempSync } from 'node:fs';
import http from 'node:http';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open, expect } from './harness.mjs';

const { world, context, page, shot, step, api, finish } = await open();
const P = world.project;

// Builds are served only on their own host names, `<build>.localhost:<port>`, which Chromium
// resolves itself but Node does not: Node's requests to a build go to the server's address
// with that Host header.
const server = new URL(world.url);
const buildOrigin = (name) => `http://${name}.localhost:${server.port}`;
function buildFetch(name, path, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const request = http.request({
      host: server.hostname, port: server.port, path, method,
      headers: { ...headers, Host: `${name}.localhost:${server.port}` },
    }, (response) => {
      const chunks = [];
      response.on('data', (c) => chunks.push(c));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: response.statusCode, ok: response.statusCode < 300, headers: response.headers, text: async () => text });
      });
    });
    request.on('error', reject);
    request.end(body);
  });
}

const branchItem = (stage, name) => page.locator(`#stage-${stage} li.branch[data-branch="${name}"]`);

await step('sign in with a token', async () => {
  await page.goto(world.url);
  await page.locator('#token').waitFor();
  await shot('signin');
  await page.fill('#token', 'slw_wrong');
  await page.click('button[type=submit]');
  await page.getByRole('alert').filter({ hasText: 'unknown, revoked or expired token' }).waitFor();
  await page.fill('#token', world.token);
  await page.click('button[type=submit]');
  await page.locator(`a[href="#/p/${P}"]`).waitFor();
  await shot('projects');
});

await step('the three stages are shown, each branch under its own', async () => {
  await page.click(`a[href="#/p/${P}"]`);
  for (const title of ['Production', 'Staging', 'Development']) {
    await page.locator('h2.stage-title', { hasText: title }).waitFor();
  }
  await branchItem('production', 'main').waitFor();
  await branchItem('development', 'feature').waitFor();
  await branchItem('development', 'feature-b').waitFor();
  await page.locator(`#stage-production li[data-branch="main"] .badge`, { hasText: 'running' }).waitFor();
  await shot('project');
});

await step('production that serves after a failed update is shown green, the failed attempt beside it', async () => {
  const failed = world.failed_update;
  const state = page.locator('#stage-production li[data-branch="main"] .branch-state');
  await state.locator('.newer', { hasText: `#${failed.id}` }).waitFor();
  const serving = state.locator('.badge').first();
  expect((await serving.textContent()).startsWith('running'), `serving: ${await serving.textContent()}`);
  expect(!(await serving.getAttribute('class')).includes('r-failed'), 'the serving build is not red');
  await state.locator('.newer .badge.r-failed', { hasText: 'failed' }).waitFor();
  await page.locator('#production-note', { hasText: 'base only' }).waitFor();
  // the branch page says the same
  await page.goto(`${world.url}/#/p/${P}/b/main/history`);
  await page.locator('#branch-head .newer', { hasText: `#${failed.id}` }).waitFor();
  expect((await page.locator('#branch-head .badge').first().textContent()).startsWith('running'), 'branch head shows what serves');
  await page.goto(`${world.url}/#/p/${P}`);
  await branchItem('production', 'main').waitFor();
});

await step('the Logs tab of a failed build opens the log that failed', async () => {
  const failed = world.failed_update;
  expect(failed.failed_log === 'update.log', `failed_log: ${failed.failed_log}`);
  await page.goto(`${world.url}/#/p/${P}/b/main/logs`);
  await page.locator('#log', { hasText: 'migration fails in the UI test' }).waitFor();
  expect(await page.inputValue('#log-name') === 'update.log', `opened ${await page.inputValue('#log-name')}`);
  expect(await page.inputValue('#build-picker') === String(failed.id), 'on the failed build');
  await page.goto(`${world.url}/#/p/${P}`);
  await branchItem('production', 'main').waitFor();
});

await step('search filters branches by name', async () => {
  await page.fill('#branch-search', 'b');
  await branchItem('development', 'feature-b').waitFor();
  await branchItem('development', 'feature').waitFor({ state: 'detached' });
  await page.fill('#branch-search', '');
  await branchItem('development', 'feature').waitFor();
});

await step('a branch is forked into a new development branch', async () => {
  page.once('dialog', (d) => d.accept('feature-c'));
  await branchItem('development', 'feature-b').locator('select').selectOption('fork:');
  await page.locator('#msg-feature-b .notice', { hasText: 'Forked into feature-c' }).waitFor();
  await branchItem('development', 'feature-c').waitFor();
  page.once('dialog', (d) => d.accept('feature'));
  await branchItem('development', 'feature-b').locator('select').selectOption('fork:');
  await page.locator('#msg-feature-b [role=alert]', { hasText: 'exists already' }).waitFor();
});

await step('a branch dropped on another is merged after confirmation', async () => {
  await branchItem('development', 'feature-b').locator('.grip').dragTo(branchItem('development', 'feature').locator('a.name'));
  const dialog = page.locator('dialog#confirm');
  await dialog.waitFor();
  expect((await dialog.textContent()).includes('Merge the code of feature-b into feature'), 'confirmation text');
  await page.click('#confirm-ok');
  await page.locator('#msg-feature .notice', { hasText: 'Merged feature-b into feature' }).waitFor();
  await shot('merge');
});

await step('a branch dragged from development to staging moves, and History records it', async () => {
  await branchItem('development', 'feature').locator('.grip').dragTo(page.locator('#stage-staging h2.stage-title'));
  await branchItem('staging', 'feature').waitFor();
  await page.locator('#stage-staging .stage-message .notice', { hasText: 'feature moved to staging' }).waitFor();
  await page.click(`#stage-staging a[href="#/p/${P}/b/feature/history"]`);
  await page.locator('#history li[data-kind="stage"]', { hasText: 'moved from development to staging' }).first().waitFor();
  await page.locator('#history li[data-kind="merge"]', { hasText: 'merged feature-b into feature' }).first().waitFor();
  await page.locator('#history li[data-kind="push"]', { hasText: 'pushed' }).first().waitFor();
  await shot('history');
});

await step('a refused move says why where the branch was dropped', async () => {
  await page.goto(`${world.url}/#/p/${P}`);
  await branchItem('production', 'main').locator('.grip').dragTo(page.locator('#stage-staging h2.stage-title'));
  await page.locator('#stage-staging .stage-message [role=alert]', { hasText: 'can only move to development' }).waitFor();
  await branchItem('production', 'main').waitFor();
  await shot('refused-move');
});

await step('the project page works from the keyboard: Tab reaches a branch and its actions, Enter opens it', async () => {
  await page.goto(`${world.url}/#/p/${P}`);
  await branchItem('development', 'feature-c').waitFor();
  await page.focus('#branch-search');
  const focused = () => page.evaluate(() => {
    const a = document.activeElement;
    return { label: a.getAttribute('aria-label') || a.textContent.trim(), outline: getComputedStyle(a).outlineStyle };
  });
  const path = [];
  let link = -1;
  for (let i = 0; i < 80 && !path.includes('Actions for feature-c'); i++) {
    await page.keyboard.press('Tab');
    const now = await focused();
    path.push(now.label);
    if (now.label === 'feature-c') link = i;
    expect(now.outline !== 'none', `the focus on ${now.label} is not visible`);
  }
  expect(link >= 0 && path.at(-1) === 'Actions for feature-c', `Tab went: ${path.join(' > ')}`);
  await page.keyboard.down('Shift');
  for (let i = path.length - 1; i > link; i--) await page.keyboard.press('Tab');
  await page.keyboard.up('Shift');
  expect((await focused()).label === 'feature-c', 'Shift+Tab comes back to the branch');
  await page.keyboard.press('Enter');
  await page.waitForURL(`**/#/p/${P}/b/feature-c/history`);
  await page.locator('#history li').first().waitFor();
});

await step('the Builds view has a row per branch and a cell per build', async () => {
  await page.goto(`${world.url}/#/p/${P}/builds`);
  for (const b of ['main', 'feature', 'feature-b']) await page.locator(`tr[data-branch="${b}"] .buildcell`).first().waitFor();
  const ids = await page.locator('tr[data-branch="feature"] .buildcell').evaluateAll((cells) => cells.map((c) => Number(c.dataset.build)));
  expect(ids.length >= 1 && ids.every((id, i) => i === 0 || ids[i - 1] > id), `newest first: ${ids}`);
  // production's serving build leads its row, the failed update after it (Odoo.sh's order)
  const main = await page.locator('tr[data-branch="main"] .buildcell').evaluateAll((cells) => cells.map((c) => Number(c.dataset.build)));
  expect(main[0] === world.production.id && main[1] === world.failed_update.id, `main row: ${main}`);
  await page.locator(`.buildcell[data-build="${world.production.id}"] button`, { hasText: 'Connect' }).waitFor();
  // the failed update's cause is on screen: the exception, not "Failed to load registry"
  await page.locator(`.buildcell[data-build="${world.failed_update.id}"] .summary`, { hasText: 'RuntimeError: migration fails in the UI test' }).waitFor();
  await shot('builds');
});

await step("Download dump in the Builds view: exact, without filestore, is a .sql.gz for an upgrade request", async () => {
  await page.goto(`${world.url}/#/p/${P}/builds`);
  await page.locator(`.buildcell[data-build="${world.production.id}"] button.dump`).click();
  await page.locator('#dump-dialog', { hasText: 'For an upgrade request' }).waitFor();
  await page.check('#dump-dialog input[value="without"]');
  const href = await page.locator('#dump-download').getAttribute('href');
  expect(href === `/api/builds/${world.production.id}/dump?format=sql-gz&filestore=false`, `the exact .sql.gz: ${href}`);
  const dump = await page.request.get(`${world.url}${href}`);
  expect(dump.status() === 200, `the .sql.gz dump: ${dump.status()}`);
  const body = await dump.body();
  expect(body[0] === 0x1f && body[1] === 0x8b, 'gzip');
  expect((dump.headers()['content-disposition'] || '').includes('-nofilestore.sql.gz'), `its name: ${dump.headers()['content-disposition']}`);
  await shot('download-dump');
  await page.click('#dump-dialog button[value="cancel"]');
});
for (const [width, height] of [[1280, 860], [390, 844]]) {
  await step(`the Builds view fits ${width} px: no cell past its header, rows scroll inside`, async () => {
    await page.setViewportSize({ width, height });
    await page.goto(`${world.url}/#/p/${P}/builds`);
    await page.locator('tr[data-branch="main"] .buildcell').first().waitFor();
    const layout = await page.evaluate(() => {
      const table = document.querySelector('table.buildtable');
      const right = Math.max(...[...table.querySelectorAll('thead th')].map((th) => th.getBoundingClientRect().right));
      const past = [...table.querySelectorAll('tbody td, tbody th')]
        .map((c) => c.getBoundingClientRect().right - right).filter((d) => d > 1);
      const rows = [...table.querySelectorAll('.buildrow')];
      return {
        past,
        page: document.documentElement.scrollWidth - window.innerWidth,
        rowsPastTheirCell: rows.filter((r) => r.getBoundingClientRect().right > r.parentElement.getBoundingClientRect().right + 1).length,
        scrollsInside: rows.some((r) => r.scrollWidth > r.clientWidth),
        headerInView: right <= window.innerWidth,
      };
    });
    expect(layout.past.length === 0, `cells past the header: ${layout.past}`);
    expect(layout.page <= 1, `the page scrolls sideways by ${layout.page}px`);
    expect(layout.rowsPastTheirCell === 0 && layout.headerInView, JSON.stringify(layout));
    if (width < 600) expect(layout.scrollsInside, 'on a phone, a row of builds scrolls inside its cell');
    await shot(`builds-${width}`);
  });
}
await page.setViewportSize({ width: 1280, height: 860 });

await step("an action's error stays in its build cell through the live redraws", async () => {
  // The server refuses this Connect (as it refuses a tester production's), answered here
  // so the admin's page sees a refusal.
  const refusal = 'as tester of shop, you cannot do this on a production branch (connect to the database)';
  const connectUrl = `**/api/builds/${world.production.id}/connect`;
  await page.route(connectUrl, (route) => route.fulfill({
    status: 403, contentType: 'application/json', body: JSON.stringify({ error: { code: 'forbidden', message: refusal } }),
  }));
  const cell = page.locator(`.buildcell[data-build="${world.production.id}"]`);
  await cell.locator('button', { hasText: 'Connect' }).click();
  await cell.locator('[role=alert]', { hasText: refusal }).waitFor();
  // Focus leaves the table, so the next redraw (every 3 s) replaces the cells.
  await page.evaluate(() => {
    document.activeElement.blur();
    document.querySelector('tr[data-branch="main"]').dataset.stale = 'yes';
  });
  await page.locator('tr[data-branch="main"][data-stale]').waitFor({ state: 'detached' });
  expect(await cell.locator('[role=alert]', { hasText: refusal }).count() === 1, 'the error survived the redraw');
  await page.unroute(connectUrl);
});

await step("Connect opens the build on its own host name, logged in as its administrator", async () => {
  const build = world.feature_b;
  await page.goto(`${world.url}/#/p/${P}/builds`);
  const [popup] = await Promise.all([
    context.waitForEvent('page'),
    page.locator(`.buildcell[data-build="${build.id}"] button`, { hasText: 'Connect' }).click(),
  ]);
  await popup.waitForURL(`${buildOrigin(build.name)}/web`);
  await popup.locator('body', { hasText: 'Logged in as admin' }).waitFor();
  await popup.close();
});

await step("a build's log follows live, pauses and resumes", async () => {
  const build = world.feature_b;
  await page.goto(`${world.url}/#/p/${P}/b/feature-b/logs?build=${build.id}`);
  await page.selectOption('#log-name', 'odoo.log');
  await page.locator('#log', { hasText: 'HTTP service' }).waitFor();
  await buildFetch(build.name, '/web/health?probe=ui-live-1');
  await page.locator('#log', { hasText: 'ui-live-1' }).waitFor();
  await page.click('#log-pause');
  await buildFetch(build.name, '/web/health?probe=ui-paused-2');
  await page.waitForTimeout(1500);
  expect(!(await page.textContent('#log')).includes('ui-paused-2'), 'a paused log shows no new line');
  await page.click('#log-pause');
  await page.locator('#log', { hasText: 'ui-paused-2' }).waitFor();
  await shot('logs');
});

await step('a mail the build sends is caught, listed, opened safely and downloaded as .eml', async () => {
  const build = world.feature_b;
  const subject = 'Your order from the browser test';
  const sent = await buildFetch(build.name, '/standin/send_mail', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ to: 'customer@example.com', subject, body: 'Thanks for shopping in the browser' }),
  });
  expect(sent.ok, `the build sent the mail: ${sent.status} ${await sent.text()}`);
  await page.goto(`${world.url}/#/p/${P}/b/feature-b/mails?build=${build.id}`);
  await page.locator('#mails tr', { hasText: 'customer@example.com' }).locator('button', { hasText: subject }).click();
  await page.locator('#mail-view h2', { hasText: subject }).waitFor();
  await page.frameLocator('#mail-view iframe.mail').locator('body', { hasText: 'Thanks for shopping in the browser' }).waitFor();
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#mail-view a[download]')]);
  const eml = readFileSync(await download.path(), 'utf8');
  expect(eml.includes(`Subject: ${subject}`) && eml.includes('customer@example.com'), `the .eml holds the mail:\n${eml}`);
  await shot('mails');
});

await step("a shell command's output is seen in the terminal, psql on the build's database", async () => {
  const build = world.feature_b;
  await page.goto(`${world.url}/#/p/${P}/b/feature-b/shell?build=${build.id}`);
  await page.locator('#shell-status', { hasText: 'connected' }).waitFor();
  await page.locator('#terminal .xterm-rows', { hasText: '$' }).waitFor();
  await page.keyboard.type(`psql -Atc "select 'db=' || current_database()"\n`);
  await page.locator('#terminal .xterm-rows', { hasText: `db=${build.database}` }).waitFor();
  await page.keyboard.type('which odoo-bin\n');
  await page.locator('#terminal .xterm-rows', { hasText: '/odoo-bin' }).waitFor();
  await page.keyboard.type('pwd\n');
  await page.locator('#terminal .xterm-rows', { hasText: '/home/odoo' }).waitFor();
  await shot('shell');
});

await step('the Shell tab shows the ssh command; SSH keys are added and removed on the profile page', async () => {
  const build = world.feature_b;
  await page.goto(`${world.url}/#/p/${P}/b/feature-b/shell?build=${build.id}`);
  const command = await page.locator('#ssh-command').textContent();
  expect(/^ssh -p \d+ /.test(command) && command.includes(` ${build.name}@127.0.0.1`), `ssh command: ${command}`);
  await page.click('#profile-link');
  await page.locator('#ssh-keys', { hasText: 'No SSH key yet' }).waitFor();
  const dir = mkdtempSync(join(tmpdir(), 'slipway-ui-key-'));
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ui@test', '-f', join(dir, 'k')]);
  const pub = readFileSync(join(dir, 'k.pub'), 'utf8');
  const fingerprint = execFileSync('ssh-keygen', ['-lf', join(dir, 'k.pub')], { encoding: 'utf8' }).split(' ')[1];
  await page.fill('#key-name', 'browser laptop');
  await page.fill('#key-text', pub);
  await page.click('button:has-text("Add key")');
  const row = page.locator('#ssh-keys tr', { hasText: 'browser laptop' });
  await row.locator('code', { hasText: fingerprint }).waitFor();
  await row.locator('td', { hasText: 'never' }).waitFor();
  await page.fill('#key-text', pub);
  await page.click('button:has-text("Add key")');
  await page.getByRole('alert').filter({ hasText: 'registered already' }).waitFor();
  await page.fill('#key-text', readFileSync(join(dir, 'k'), 'utf8'));
  await page.click('button:has-text("Add key")');
  await page.getByRole('alert').filter({ hasText: 'PRIVATE key' }).waitFor();
  await shot('profile');
  await row.locator('button', { hasText: 'Remove' }).click();
  await page.click('#confirm-ok');
  await page.locator('#ssh-keys', { hasText: 'No SSH key yet' }).waitFor();
  expect((await api('/api/me/keys')).length === 0, 'the key is gone');
});

await step('Monitor charts the CPU, memory and HTTP requests of the build server', async () => {
  await page.goto(`${world.url}/#/p/${P}/b/feature-b/monitor?build=${world.feature_b.id}`);
  await page.locator('figcaption', { hasText: 'MiB' }).waitFor();
  await page.locator('figcaption', { hasText: '%' }).waitFor();
  await page.waitForFunction(() => (document.querySelector('svg.chart polyline')?.getAttribute('points') || '').split(' ').length >= 2);
  // Requests through Slipway's proxy show on the third chart.
  for (let i = 0; i < 5; i++) {
    const r = await buildFetch(world.feature_b.name, '/web/health');
    expect(r.ok, `the build answers through the proxy: ${r.status}`);
  }
  await page.waitForFunction(() => /peak [1-9]/.test([...document.querySelectorAll('figcaption')].find((f) => f.textContent.includes('req/min'))?.textContent || ''));
  await shot('monitor');
});

await step('an edit committed from the Editor produces a new build', async () => {
  const build = world.feature_b;
  await page.goto(`${world.url}/#/p/${P}/b/feature-b/editor?build=${build.id}`);
  await page.click('#files button[data-path="TODO.md"]');
  await page.locator('#file-name', { hasText: 'TODO.md' }).waitFor();
  expect((await page.inputValue('#file-text')).includes('written on feature-b'), 'the file as checked out');
  await page.fill('#file-text', 'edited in the browser\n');
  await page.fill('#commit-message', 'TODO from the editor');
  await page.click('#commit');
  const notice = page.locator('.notice', { hasText: 'Committed' });
  await notice.waitFor();
  const id = Number((await notice.textContent()).match(/build #(\d+)/)[1]);
  const created = await api(`/api/builds/${id}`);
  expect(created.branch === 'feature-b' && created.trigger === 'push', JSON.stringify(created));
  const history = await api(`/api/projects/${P}/branches/feature-b/history`);
  expect(history.some((e) => e.kind === 'push' && JSON.stringify(e.detail).includes('TODO from the editor')), 'the commit is in History');
  await shot('editor');
});

await step('production is read-only in the Editor', async () => {
  await page.goto(`${world.url}/#/p/${P}/b/main/editor?build=${world.production.id}`);
  await page.locator('.notice', { hasText: 'read-only' }).waitFor();
  await page.locator('#files button').first().waitFor();
});

await step('Settings save the branch behaviour and show collaborators', async () => {
  await page.goto(`${world.url}/#/p/${P}/b/feature/settings`);
  await page.fill('#test-tags', '/shop_core');
  await page.click('#branch-settings button[type=submit]');
  await page.locator('#branch-settings .notice', { hasText: 'Saved' }).waitFor();
  const branch = await api(`/api/projects/${P}/branches/feature`);
  expect(branch.settings.test_tags === '/shop_core', JSON.stringify(branch.settings));
  await page.locator('#members td', { hasText: 'admin' }).first().waitFor();
  const project = await api(`/api/projects/${P}`);
  await page.locator('#odoo-version', { hasText: project.series }).waitFor();
  await page.fill('#dev-days', '5');
  await page.click('#project-settings button[type=submit]');
  await page.locator('#project-settings .notice', { hasText: 'saved' }).waitFor();
  expect((await api(`/api/projects/${P}`)).settings.dev_database_days === 5, 'the project setting saved');
  await page.locator('#branch-address a', { hasText: `${P}-feature.` }).waitFor();
  await page.fill('#domain-host', 'shop.example.test');
  await page.click('#branch-domains button[type=submit]');
  await page.locator('#custom-domains li', { hasText: 'shop.example.test' }).waitFor();
  const routed = await api(`/api/projects/${P}/branches/feature/domains`);
  expect(routed.domains.some((d) => d.host === 'shop.example.test'), JSON.stringify(routed));
  await page.click('#custom-domains li button');
  await page.locator('#branch-domains .notice', { hasText: 'removed' }).waitFor();
  expect((await api(`/api/projects/${P}/branches/feature/domains`)).domains.length === 0, 'the domain removed');
  await shot('settings');
});

await step("production's settings show its Odoo administrator's password to project admins", async () => {
  expect(await page.locator('#production-admin').count() === 0, 'not on a development branch');
  await page.goto(`${world.url}/#/p/${P}/b/main/settings`);
  await page.click('#production-admin button');
  const shown = await api(`/api/projects/${P}/production/admin-password`);
  expect(shown.password && shown.password !== 'admin', JSON.stringify(shown));
  await page.locator('#admin-password code', { hasText: shown.password }).waitFor();
  await shot('production-admin');
});

await step('Backups: back up production now, verify it, restore it, download it and a dump', async () => {
  await page.goto(`${world.url}/#/p/${P}/b/main/backups`);
  await page.locator('#backups td').first().waitFor();
  await page.click('#backup-now');
  await page.locator('.notice', { hasText: 'Backup taken' }).waitFor();
  const row = page.locator('#backups tr', { hasText: 'manual' }).first();
  await row.waitFor();
  await row.locator('button.verify').click();
  await page.locator('.notice', { hasText: 'Verified' }).waitFor();
  await page.locator('#backups tr', { hasText: 'verified' }).first().waitFor();
  await page.locator('#backups tr', { hasText: 'manual' }).first().locator('button.restore').click();
  await page.click('#confirm-ok');
  await page.locator('.notice', { hasText: 'Restored' }).waitFor();
  const backups = await api(`/api/projects/${P}/branches/main/backups`);
  expect(backups.some((b) => b.kind === 'before-restore'), `a safety backup before the restore: ${JSON.stringify(backups.map((b) => b.kind))}`);
  const production = (await api(`/api/projects/${P}/branches/main`)).builds.find((b) => b.state === 'running');
  expect(production, 'production runs again after the restore');
  const dump = await page.request.get(`${world.url}/api/builds/${production.id}/dump`);
  expect(dump.status() === 200, `the live dump: ${dump.status()}`);
  const body = await dump.body();
  expect(body.subarray(0, 2).toString() === 'PK' && body.includes('dump.sql'), 'an Odoo zip with dump.sql');
  await page.locator('#pitr-window', { hasText: /restored to any minute|No point in time|does not archive/ }).waitFor();
  await shot('backups');
});

await step('a dump made by Odoo is imported into the staging branch from the Backups tab', async () => {
  await page.goto(`${world.url}/#/p/${P}/b/feature/backups`);
  await page.locator('#import-file').waitFor();
  await page.setInputFiles('#import-file', world.import_dump);
  await page.click('#import-go');
  await page.click('#confirm-ok');
  await page.locator('.notice', { hasText: 'Imported v17_mail_demo.zip (Odoo 17.0' }).waitFor();
  const history = await api(`/api/projects/${P}/branches/feature/history`);
  expect(history.some((e) => e.kind === 'backup.imported'), 'the import is in History');
  await shot('import');
});

await step('the project page fits a phone', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${world.url}/#/p/${P}`);
  await branchItem('production', 'main').waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow <= 1, `no sideways scrolling on a phone (${overflow}px)`);
  await shot('project-phone');
});

await step('sign out, then sign in with a password', async () => {
  await page.setViewportSize({ width: 1280, height: 860 });
  const r = await fetch(`${world.url}/api/users/admin/password`, {
    method: 'PUT', headers: { Authorization: `Bearer ${world.token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ password: 'browser test secret' }),
  });
  expect(r.status === 204, `setting the password: ${r.status}`);
  await page.click('#who button');
  await page.locator('#login').waitFor();
  await page.fill('#login', 'admin');
  await page.fill('#password', 'wrong password!');
  await page.click('button[type=submit]');
  await page.getByRole('alert').filter({ hasText: 'wrong login or password' }).waitFor();
  await page.fill('#password', 'browser test secret');
  await page.click('button[type=submit]');
  await page.locator(`a[href="#/p/${P}"]`).waitFor();
});

await step("a developer's page in a build cannot read a signed-in admin's Slipway session", async () => {
  // The admin also uses the UI at http://localhost:<port>, the parent domain of the builds'
  // host names (as `slipway.example` is of `<build>.slipway.example`).
  const ui = `http://localhost:${server.port}`;
  const admin = await context.newPage();
  await admin.goto(ui);
  await admin.fill('#token', world.token);
  await admin.click('button[type=submit]');
  await admin.locator(`a[href="#/p/${P}"]`).waitFor();
  const own = await admin.evaluate(async () => (await fetch('/api/session')).json());
  expect(typeof own.csrf === 'string' && own.csrf.length > 0, `the UI reads its own session: ${JSON.stringify(own)}`);

  // A page of the developer's module (`shop_mail/static/probe.html`, served by the build as
  // Odoo serves static files) tries to read the session of both UI origins.
  const build = world.feature_b.name;
  const probe = `${buildOrigin(build)}/shop_mail/static/probe.html?ui=${encodeURIComponent(ui)}&ui=${encodeURIComponent(world.url)}`;
  const navigation = admin.waitForRequest((r) => r.isNavigationRequest() && r.url().startsWith(buildOrigin(build)));
  await admin.goto(probe);
  const result = JSON.parse(await admin.locator('#result:not(:empty)').textContent());
  // What the browser sent the build: its own session (Connect's, earlier) and nothing of Slipway's.
  const sent = (await (await navigation).allHeaders()).cookie || '';
  expect(sent.includes('session_id=') && !sent.includes('slipway_'), `cookies sent to the build: ${sent}`);
  for (const [origin, got] of Object.entries(result.cross)) {
    expect(!JSON.stringify(got).includes(own.csrf) && !('body' in got && got.body.includes('csrf')),
      `the build's page read ${origin}/api/session: ${JSON.stringify(got)}`);
    expect('error' in got || got.status === 401, `${origin}/api/session from the build: ${JSON.stringify(got)}`);
  }
  expect(result.same.status === 404, `the build's own /api/session is the build's 404: ${JSON.stringify(result.same)}`);
  expect(!result.cookie.includes('slipway_'), `the build's page sees Slipway's cookies: ${result.cookie}`);
  // Chromium's own cookie matching (Playwright's `context.cookies(url)` treats every cookie
  // as a domain cookie, so it would list the UI's host-only one for the build too).
  const cdp = await context.newCDPSession(admin);
  const jar = async (url) => (await cdp.send('Network.getCookies', { urls: [url] })).cookies.map((c) => c.name);
  expect((await jar(`${ui}/`)).includes('slipway_session'), 'the admin is signed in at the UI');
  const forBuild = await jar(`${buildOrigin(build)}/`);
  expect(!forBuild.some((name) => name.startsWith('slipway_')), `cookies the build's host would get: ${forBuild}`);
  await cdp.detach();

  // The old path route only redirects to the build's host name: the page lands there.
  const redirect = await fetch(`${world.url}/builds/${build}/shop_mail/static/probe.html?x=1`, { redirect: 'manual' });
  expect(redirect.status === 307 && redirect.headers.get('location') === `${buildOrigin(build)}/shop_mail/static/probe.html?x=1`,
    `/builds/${build}/... answers ${redirect.status} ${redirect.headers.get('location')}`);
  await admin.goto(`${ui}/builds/${build}/shop_mail/static/probe.html?ui=${encodeURIComponent(ui)}`);
  expect(new URL(admin.url()).host === `${build}.localhost:${server.port}`, `the path route landed on ${admin.url()}`);
  await admin.close();
});

await finish();
