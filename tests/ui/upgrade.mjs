// The Upgrade tab in Chromium (run by crates/cli/tests/ui.rs): project `shop`, production on
// the 16.0 stand-in, a staging branch, a ready 17.0 engine. A test upgrade is started from the
// tab, followed while it runs, and lands the branch on 17.0 in upgrade mode.
import { execFileSync } from 'node:child_process';
import { open, expect } from './harness.mjs';

const { world, page, shot, step, api, signIn, finish } = await open();
const P = world.project;
const tab = (branch) => `${world.url}/#/p/${P}/b/${branch}/upgrade`;
/** SQL on production's database, as its admin would run it in the shell. */
const onProduction = (sql) => execFileSync(world.slipway, ['--data-dir', world.data_dir, 'pg', 'psql', world.production.name, '--', '-Atc', sql], { encoding: 'utf8' });
const text = async (selector) => (await page.locator(selector).count() ? (await page.textContent(selector)).trim() : null);

await step('sign in', signIn);

await step('the staging tab shows the suggested steps and offers the engines above production', async () => {
  await page.goto(tab('staging'));
  await page.locator('#tab-upgrade[aria-current=page]').waitFor();
  await page.locator('.upgrade-steps li strong', { hasText: 'test the upgrade here' }).waitFor();
  await page.locator('#upgrade-start', { hasText: 'Production runs Odoo 16.0' }).waitFor();
  const offered = await page.locator('#upgrade-target option').evaluateAll((o) => o.map((x) => x.value));
  expect(JSON.stringify(offered) === '["17.0"]', `targets offered: ${offered}`);
  expect((await text('#upgrade-go')) === 'Test upgrade', 'the staging button tests the upgrade');
});

await step('production\'s tab starts the upgrade with the next push', async () => {
  await page.goto(tab('main'));
  await page.locator('#upgrade-go', { hasText: 'Start upgrade' }).waitFor();
  await page.locator('#upgrade-start', { hasText: 'starts with the next push to production' }).waitFor();
});

await step('a module installed in production but missing from the code stops it, with the advice', async () => {
  onProduction("INSERT INTO ir_module_module (name, state, latest_version) VALUES ('x_gone', 'installed', '16.0.1.0')");
  await page.goto(tab('staging'));
  await page.click('#upgrade-go');
  await page.click('#confirm-ok');
  const refusal = page.locator('#upgrade-message [role=alert]');
  await refusal.filter({ hasText: 'x_gone' }).waitFor();
  expect((await refusal.textContent()).includes('an empty module of that name with a manifest'), `the advice: ${await refusal.textContent()}`);
  expect(!(await page.locator('#upgrade-progress:not([hidden])').count()), 'nothing started');
  await shot('upgrade-missing-module');
  onProduction("DELETE FROM ir_module_module WHERE name = 'x_gone'");
});

let seen = null;
await step('"Test upgrade" starts it, and its progress is followed live', async () => {
  await page.goto(tab('staging'));
  await page.selectOption('#upgrade-target', '17.0');
  await page.click('#upgrade-go');
  await page.locator('dialog#confirm', { hasText: 'Test the upgrade of production' }).waitFor();
  await page.click('#confirm-ok');
  // What the tab shows, sampled until the branch is in upgrade mode.
  seen = { states: new Set(), steps: new Set(), logs: new Set(), elapsed: new Set(), cancel: false };
  const deadline = Date.now() + 240_000;
  let shotTaken = false;
  while (!(await page.locator('#upgrade-mode').count())) {
    expect(Date.now() < deadline, `no upgrade mode after 4 min; seen ${JSON.stringify([...seen.states])}`);
    const failed = await text('#upgrade-error');
    expect(!failed, `the upgrade failed: ${failed}`);
    const state = await text('#upgrade-state');
    if (state) seen.states.add(state);
    expect(state !== 'finished', `the upgrade ended without upgrade mode:\n${await text('#upgrade-log')}`);
    const current = await text('#upgrade-step');
    if (current) seen.steps.add(current);
    const clock = await text('#upgrade-elapsed');
    if (clock) seen.elapsed.add(clock);
    const log = await text('#upgrade-log');
    if (log && state && state !== 'upgrade mode') seen.logs.add(log);
    if (await page.locator('#upgrade-cancel', { hasText: 'Cancel upgrade' }).count()) seen.cancel = true;
    if (!shotTaken && current && current !== '…' && state === 'upgrading') { await shot('upgrade-running'); shotTaken = true; }
    await page.waitForTimeout(250);
  }
  const running = [...seen.states].filter((s) => s !== 'upgrade mode');
  expect(running.length >= 1, `a state before the end was shown: ${[...seen.states]}`);
  expect(seen.steps.size >= 2, `steps followed: ${[...seen.steps]}`);
  expect(seen.logs.size >= 2, `the log grew while it ran (${seen.logs.size} versions seen)`);
  expect(seen.elapsed.size >= 2, `the elapsed time counts: ${[...seen.elapsed]}`);
  expect(seen.cancel, 'a running upgrade can be cancelled');
  console.log(`# states seen: ${[...seen.states].join(' > ')}`);
  console.log(`# steps seen: ${[...seen.steps].join(' > ')}`);
});

await step('the branch ends on 17.0 in upgrade mode, with a date and a close button', async () => {
  await page.locator('#upgrade-mode', { hasText: 'Upgrade mode until' }).waitFor();
  expect((await text('#upgrade-series')) === 'Odoo 17.0', `series shown: ${await text('#upgrade-series')}`);
  expect((await text('#upgrade-state')) === 'upgrade mode', 'state shown');
  await page.locator('#upgrade-log', { hasText: 'upgraded database (Odoo 17.0) is in the branch' }).waitFor();
  await page.locator('#upgrade-cancel', { hasText: 'Close upgrade mode' }).waitFor();
  const overview = await api(`/api/projects/${P}/branches/staging/upgrade`);
  expect(overview.series === '17.0' && overview.upgrade.state === 'upgrade_mode', JSON.stringify(overview));
  const until = new Date(overview.upgrade.mode_until);
  const days = (until - Date.now()) / 86_400_000;
  expect(days > 29 && days <= 30, `upgrade mode for 30 days: ${overview.upgrade.mode_until}`);
  expect((await page.locator('#upgrade-mode-until time').getAttribute('datetime')) === overview.upgrade.mode_until, 'the date shown is the mode\'s');
  const scrolled = await page.evaluate(() => { const log = document.getElementById('upgrade-log'); return log.scrollHeight - log.scrollTop - log.clientHeight; });
  expect(scrolled <= 20, `the log shows its end (${scrolled}px below)`);
  await shot('upgrade');
});

await step('upgrade mode is closed from the tab', async () => {
  await page.click('#upgrade-cancel');
  await page.locator('dialog#confirm', { hasText: 'Close upgrade mode?' }).waitFor();
  await page.click('#confirm-ok');
  await page.locator('#upgrade-state', { hasText: 'finished' }).waitFor();
  expect(!(await page.locator('#upgrade-mode').count()), 'no upgrade mode any more');
  expect(!(await page.textContent('#tab-body')).includes('null'), 'no "null" written where a part is left out');
  const overview = await api(`/api/projects/${P}/branches/staging/upgrade`);
  expect(overview.upgrade.state === 'closed' && overview.series === '17.0', JSON.stringify(overview));
  const history = await api(`/api/projects/${P}/branches/staging/history`);
  expect(history.some((e) => e.kind === 'upgrade.mode_closed'), 'History records the mode closed');
});

await finish();
