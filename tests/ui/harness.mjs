// What every browser test script shares: Chromium launched through Playwright on the world
// file that crates/cli/tests/ui.rs wrote (server URL, admin token, screenshots folder), and
// the steps: every check prints a line; any failure saves a screenshot and exits 1.
import { readFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const TIMEOUT = 60_000;

export function expect(cond, message) { if (!cond) throw new Error(message); }

/** Launches Chromium on the world of `process.argv[2]`: the world, and what to test with. */
export async function open() {
  const world = JSON.parse(readFileSync(process.argv[2], 'utf8'));
  const shots = world.screenshots;
  mkdirSync(shots, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  context.setDefaultTimeout(TIMEOUT);
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));

  async function shot(name) { await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true }); }

  async function step(name, fn) {
    try {
      await fn();
      console.log(`ok - ${name}`);
    } catch (e) {
      console.log(`FAILED - ${name}: ${e.stack || e}`);
      await shot(`failure-${name.replace(/\W+/g, '-')}`).catch(() => {});
      await browser.close();
      process.exit(1);
    }
  }

  /** The API as the admin, with the world's token. */
  async function api(path, options = {}) {
    const r = await fetch(`${world.url}${path}`, { ...options, headers: { Authorization: `Bearer ${world.token}`, 'Content-Type': 'application/json' } });
    return r.json();
  }

  /** Signs in with the admin's token and waits for the projects page. */
  async function signIn() {
    await page.goto(world.url);
    await page.fill('#token', world.token);
    await page.click('button[type=submit]');
    await page.locator(`a[href="#/p/${world.project}"]`).waitFor();
  }

  /** The last check of every script, then the line ui.rs looks for. */
  async function finish() {
    await step('no script error on any page', async () => {
      expect(pageErrors.length === 0, pageErrors.join('\n'));
    });
    await browser.close();
    console.log('all UI checks passed');
  }

  return { world, browser, context, page, shot, step, api, signIn, finish };
}
