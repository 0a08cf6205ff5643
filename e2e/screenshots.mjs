// Walks every page of a running console in Debian's Chromium, as a signed-in
// person: waits for hydration, runs axe-core, and (with --screenshots DIR)
// saves a 1440×900 screenshot of each page.
//
//   node console.mjs --base http://127.0.0.1:8080 --user carol [--screenshots ../docs/screenshots]
//
// Exit status: 0 when every page hydrated and axe found no serious or
// critical violation; 1 otherwise, with each problem printed.

import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

const base = arg('base', 'http://127.0.0.1:8080');
const user = arg('user', 'carol');
const password = arg('password', process.env.IDP_PASSWORD || 'demo');
const shots = arg('screenshots', null);

// The pages of the console; a workflow's page is found from the list.
const pages = [
  ['overview', '/'],
  ['workflows', '/workflows'],
  ['approvals', '/approvals'],
  ['deploy', '/deploy'],
  ['models', '/models'],
  ['deployments', '/deployments'],
  ['monitoring', '/monitoring'],
  ['agents', '/agents'],
  ['audit', '/audit'],
];

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run',
    ],
    // playwright gives each launch a fresh user-data dir of its own.
  });
}

/** Signs in through the IdP's own login form, as a person does. */
export async function signIn(page, baseUrl, name, secret) {
  await page.goto(`${baseUrl}/`);
  await page.fill('#username', name);
  await page.fill('#password', secret);
  await Promise.all([page.waitForURL(`${baseUrl}/**`), page.click('button[type=submit]')]);
}

async function main() {
  const browser = await launch();
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`${page.url()}: script error: ${e.message}`));
  await signIn(page, base, user, password);

  const workflow = await page.evaluate(async (b) => {
    const r = await fetch(`${b}/api/workflows?limit=1`);
    const list = await r.json();
    const items = Array.isArray(list) ? list : list.items || [];
    return items.length ? items[0].id : null;
  }, base);
  const all = workflow ? [...pages, ['workflow', `/workflows/${workflow}`]] : pages;
  if (shots) mkdirSync(shots, { recursive: true });

  for (const [name, path] of all) {
    const response = await page.goto(`${base}${path}`);
    const status = response ? response.status() : 0;
    try {
      await page.waitForSelector('html[data-hydrated="true"]', { timeout: 15000 });
    } catch {
      problems.push(`${path}: did not hydrate within 15 s (HTTP ${status})`);
    }
    await page.addScriptTag({ content: axeSource });
    const result = await page.evaluate(async () =>
      // eslint-disable-next-line no-undef
      axe.run(document, { resultTypes: ['violations'] }));
    const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    for (const v of bad) {
      problems.push(`${path}: axe ${v.impact} ${v.id}: ${v.help} (${v.nodes.length} × e.g. ${v.nodes[0].target.join(' ')})`);
    }
    if (shots) await page.screenshot({ path: join(shots, `${name}.png`) });
    console.log(`${name.padEnd(12)} HTTP ${status}  axe serious/critical: ${bad.length}`);
  }
  await browser.close();
  for (const p of problems) console.error(p);
  process.exit(problems.length ? 1 : 0);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
