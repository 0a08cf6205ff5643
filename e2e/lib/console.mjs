// What people do in the console, shared by the journeys that do it.

import { eventually } from './context.mjs';

/**
 * Fills the deploy form (as opened from a model's page or the demo panel)
 * and submits it; resolves with the new workflow's id once its page shows.
 */
export async function deployFromForm(person, { model = 'fraud-detector', version, steps = '10, 50', analysis = '10' }) {
  const page = person.page;
  await person.open(`/deploy?model=${encodeURIComponent(model)}&version=${version}`);
  await page.fill('#steps', steps);
  await page.fill('#analysis', analysis);
  await Promise.all([
    page.waitForURL(/\/workflows\/[^/?]+$/, { timeout: 60_000 }),
    page.click('[data-testid=deploy-form] button[type=submit]'),
  ]);
  await person.hydrated();
  return new URL(page.url()).pathname.split('/').pop();
}

/** Waits until a node shows `state` on the open workflow page (no reload). */
export async function nodeReaches(page, node, states, timeoutMs = 240_000) {
  const wanted = Array.isArray(states) ? states : [states];
  const selector = wanted.map((s) => `g[data-node="${node}"][data-state="${s}"]`).join(', ');
  await page.waitForSelector(selector, { state: 'attached', timeout: timeoutMs });
  return page.getAttribute(`g[data-node="${node}"]`, 'data-state');
}

/** Waits until the workflow's heading shows one of `states`. */
export async function workflowReaches(page, states, timeoutMs = 240_000) {
  const wanted = Array.isArray(states) ? states : [states];
  await page.waitForFunction(
    (w) => w.includes(document.querySelector('h1 .state')?.textContent?.trim()),
    wanted,
    { timeout: timeoutMs },
  );
  return (await page.textContent('h1 .state')).trim();
}

/** Decides an open gate from the approvals page, as the approver does. */
export async function decideGate(person, workflow, decision, comment) {
  const page = person.page;
  await person.open('/approvals');
  const card = page.locator(`[data-testid=gate-card]:has(a[href="/workflows/${workflow}"])`);
  await card.first().waitFor({ timeout: 60_000 });
  await card.first().locator('textarea').fill(comment);
  await card.first().locator(`button[value=${decision}]`).click();
  await page.waitForSelector('.callout[role=status], .problem[role=alert]', { timeout: 60_000 });
  const ok = await page.locator('.callout[role=status]').count();
  if (!ok) throw new Error(`the ${decision} was refused: ${await page.textContent('.problem[role=alert]')}`);
}

/** The open gate of `workflow` as the API lists it, once it is open. */
export async function openGate(person, workflow, timeoutMs = 240_000) {
  return eventually(`an open gate on ${workflow}`, async () => {
    const r = await person.api('GET', '/api/approvals');
    return (r.json || []).find((g) => g.workflow === workflow && g.state === 'open');
  }, { timeoutMs, everyMs: 1000 });
}

/**
 * Cancels every workflow still running or waiting, as an admin tidying up,
 * so a journey starts from a quiet system whatever ran before it.
 */
export async function settle(admin) {
  const live = ((await admin.api('GET', '/api/workflows?limit=200')).json || [])
    .filter((w) => ['submitted', 'working', 'input-required'].includes(w.state));
  for (const w of live) await admin.api('POST', `/api/workflows/${w.id}/cancel`, {});
  await eventually('no workflow left running', async () => {
    const rows = (await admin.api('GET', '/api/workflows?limit=200')).json || [];
    return !rows.some((w) => ['submitted', 'working', 'input-required'].includes(w.state));
  }, { timeoutMs: 60_000, everyMs: 1000 });
}
