// What the journeys share: the running system (restarted once by J0), the
// notification receiver, and small waiting helpers.

import { before, after, test } from 'node:test';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  artifacts, freePort, freshDataDir, serviceUrl, startSystem, stopSystem, webhookReceiver,
} from './system.mjs';
import { closeBrowser } from './browser.mjs';

export const sut = {
  /** The running `mlops up` (see system.mjs). */
  system: null,
  /** The first start, as J0 checks it. */
  first: null,
  webhook: null,
  get base() { return this.system.url; },
  get dataDir() { return this.system.dataDir; },
};

// E2E_ATTACH=<data dir>: run the journeys against a system already up
// (while developing them); J0, which starts and restarts it, is skipped.
const attach = process.env.E2E_ATTACH;

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  sut.webhook = await webhookReceiver();
  if (attach) {
    const url = serviceUrl(attach, 'control-plane');
    sut.system = { url, dataDir: attach, log: [], lines: [], attached: true };
    sut.first = sut.system;
    return;
  }
  const port = await freePort();
  sut.system = await startSystem({ dataDir: freshDataDir(), port, notifyWebhook: sut.webhook.url });
  sut.first = sut.system;
  console.log(`# mlops up ready at ${sut.system.url} after ${((sut.system.ready - sut.system.started) / 1000).toFixed(0)} s`);
}, { timeout: 900_000 });

after(async () => {
  await closeBrowser().catch(() => {});
  if (sut.system && !sut.system.attached) {
    writeFileSync(join(artifacts, 'mlops-up.log'), sut.system.log.join('\n'));
    await stopSystem(sut.system).catch(() => {});
  }
  if (sut.webhook) await sut.webhook.close();
}, { timeout: 120_000 });

/** Polls `check` until it returns something truthy; fails with `what`. */
export async function eventually(what, check, { timeoutMs = 60_000, everyMs = 500 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? `: ${last.message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

const only = (process.env.E2E_ONLY || '').split(',').filter(Boolean);

/**
 * A journey's test: `id` is its JOURNEYS.md name (j0…j6). With E2E_ONLY
 * set (e.g. `j2,j4`) the others are skipped; J0 always runs.
 */
export function journey(id, name, options, body) {
  const skip = id === 'j0' ? Boolean(attach) : only.length > 0 && !only.includes(id);
  return test(name, { ...options, skip }, body);
}
