// Debian's Chromium driven by playwright-core: sign-in through the real
// IdP's form, axe-core on every page a journey visits, screenshots at the
// key moments and a trace when a journey fails.

import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { artifacts } from './system.mjs';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export const PASSWORD = process.env.IDP_PASSWORD || 'demo';

let browser;

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    // playwright gives each launch a fresh user-data dir of its own.
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
    ],
  });
}

export async function sharedBrowser() {
  if (!browser) browser = await launch();
  return browser;
}

export async function closeBrowser() {
  if (browser) await browser.close();
  browser = undefined;
}

/** Axe violations of serious or critical impact, per page path. */
export const axeFindings = [];
const axeChecked = new Set();

/**
 * A person at a browser: their own context (cookies), signed in through
 * the IdP's login form. `tracing` records what happened for the failure
 * report.
 */
export class Person {
  constructor(name, base, context, page) {
    this.name = name;
    this.base = base;
    this.context = context;
    this.page = page;
    this.errors = [];
    page.on('pageerror', (e) => this.errors.push(`${page.url()}: ${e.message}`));
  }

  static async signIn(name, base, { journey } = {}) {
    const b = await sharedBrowser();
    const context = await b.newContext({ viewport: { width: 1440, height: 900 } });
    await context.tracing.start({ screenshots: true, snapshots: true });
    const page = await context.newPage();
    const person = new Person(name, base, context, page);
    person.journey = journey;
    await page.goto(`${base}/`);
    // Not signed in: the console sends the browser to the IdP.
    await page.waitForSelector('#username', { timeout: 30_000 });
    await page.fill('#username', name);
    await page.fill('#password', PASSWORD);
    await Promise.all([
      page.waitForURL((u) => u.href.startsWith(base), { timeout: 30_000 }),
      page.click('button[type=submit]'),
    ]);
    await person.hydrated();
    return person;
  }

  /** Opens a console path, waits for hydration, checks it with axe once. */
  async open(path) {
    const response = await this.page.goto(`${this.base}${path}`);
    await this.hydrated();
    await this.axe(path);
    return response;
  }

  async hydrated() {
    await this.page.waitForSelector('html[data-hydrated="true"]', { state: 'attached', timeout: 30_000 });
  }

  /** axe-core on what is on screen now; each route is checked once a run. */
  async axe(path) {
    const route = path.split('?')[0].replace(/\/workflows\/[^/]+$/, '/workflows/:id');
    const key = `${route}?${path.includes('node=') ? 'drawer' : ''}`;
    if (axeChecked.has(key)) return;
    axeChecked.add(key);
    await this.page.addScriptTag({ content: axeSource });
    const result = await this.page.evaluate(() => axe.run(document, { resultTypes: ['violations'] }));
    for (const v of result.violations.filter((x) => x.impact === 'serious' || x.impact === 'critical')) {
      axeFindings.push(`${route}: ${v.impact} ${v.id}: ${v.help} (${v.nodes.length} × e.g. ${v.nodes[0].target.join(' ')})`);
    }
  }

  async shot(name) {
    mkdirSync(artifacts, { recursive: true });
    await this.page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: false });
  }

  /** A REST call with this person's session, as the page's own code makes it. */
  async api(method, path, body) {
    return this.page.evaluate(async ({ method, path, body }) => {
      const me = await (await fetch('/api/me')).json();
      const r = await fetch(path, {
        method,
        headers: { 'content-type': 'application/json', 'x-csrf-token': me.csrf_token || '' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await r.text();
      let json = null;
      try { json = JSON.parse(text); } catch { /* not JSON */ }
      return { status: r.status, json, text };
    }, { method, path, body });
  }

  /** Closes the context; keeps the trace when the journey failed. */
  async close(failed) {
    if (failed) {
      mkdirSync(artifacts, { recursive: true });
      await this.context.tracing.stop({ path: join(artifacts, `${this.journey || 'journey'}-${this.name}-trace.zip`) });
    } else {
      await this.context.tracing.stop();
    }
    await this.context.close();
  }
}

/**
 * Runs a journey's body with the people it needs, closing them after and
 * keeping their traces when it throws.
 */
export async function withPeople(journey, base, names, body) {
  const people = {};
  let failed = true;
  try {
    for (const n of names) people[n] = await Person.signIn(n, base, { journey });
    await body(people);
    failed = false;
  } finally {
    for (const p of Object.values(people)) await p.close(failed).catch(() => {});
  }
  const errors = Object.values(people).flatMap((p) => p.errors);
  if (errors.length) throw new Error(`script errors in the page:\n${errors.join('\n')}`);
}
