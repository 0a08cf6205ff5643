// J3. On-call watches drift (carol): the monitoring page's charts over a
// chosen range; injected drift crosses the threshold within a minute with
// an alert; the monitoring agent's retraining request shows as a workflow
// waiting for a person; and roll back is immediate for on-call, audited, and the weights
// return to stable within seconds.

import assert from 'node:assert/strict';
import { journey, sut, eventually } from '../lib/context.mjs';
import { withPeople } from '../lib/browser.mjs';
import { mlops } from '../lib/system.mjs';
import { decideGate, nodeReaches, settle, workflowReaches } from '../lib/console.mjs';

const TESTS = /wasserstein|jensen|ks|kolmogorov|chi|psi/i;

journey('j3', 'J3 carol sees drift cross its threshold with an alert, and rolls back a canary', { timeout: 900_000 }, async () => {
  await withPeople('j3', sut.base, ['carol', 'dave', 'bob'], async ({ carol, dave, bob }) => {
    await settle(dave);
    // The demo's traffic starts from its training distribution.
    await carol.api('POST', '/api/demo/drift', { on: false });
    const page = carol.page;

    // 1. Monitoring over a chosen range.
    await carol.open('/monitoring?model=fraud-detector&range=15m');
    assert.equal(await page.inputValue('select[name=range]'), '15m', 'the time range picked');
    await page.waitForSelector('[data-testid=feature]', { timeout: 90_000 });
    const titles = await page.$$eval('[data-testid=feature] svg', (ss) => ss.map((s) => s.getAttribute('aria-label') || ''));
    assert.ok(titles.some((t) => TESTS.test(t)), `each feature names its test (${titles.slice(0, 3).join(' | ')})`);
    assert.ok(await page.locator('[data-testid=feature] .threshold').count() >= 1, 'the threshold line');
    assert.ok(titles.some((t) => /reference vs current/.test(t)), 'reference vs current histograms');
    await page.waitForSelector('[data-testid=predictions] svg', { timeout: 60_000 });
    assert.match(await page.textContent('[data-testid=versions]'), /v\d/, 'error rate and latency per version');
    const driftedBefore = await page.locator('[data-testid=feature][data-drifted=true]').count();

    // 2. Inject drift from the demo panel: within a minute the chart crosses
    // its threshold and an alert shows, with no reload.
    const injected = Date.now();
    await page.click('[data-testid=demo-drift]');
    await page.waitForSelector('[data-testid=demo-drift]:has-text("Stop drift")', { timeout: 30_000 });
    await page.waitForSelector('[data-testid=feature][data-drifted=true]', { timeout: 90_000 });
    await page.waitForSelector('[data-testid=alerts] li', { timeout: 30_000 });
    const took = (Date.now() - injected) / 1000;
    console.log(`# J3 drift on the chart ${took.toFixed(0)} s after injecting it (drifted before: ${driftedBefore})`);
    assert.ok(took <= 75, `drift showed after ${took.toFixed(0)} s`);
    await carol.shot('j3-drift');

    // 3. The monitoring agent asks the orchestrator over A2A to retrain.
    // The workflow shows in the console like one started here: fresh data,
    // training, validation and a canary, stopping first at the gate where a
    // person confirms the retraining.
    const retrain = await eventually('the retraining workflow in the console', async () => {
      const rows = (await carol.api('GET', '/api/workflows?limit=50')).json || [];
      return rows.find((w) => w.kind === 'retrain' && w.model === 'fraud-detector'
        && Date.parse(w.created_at) >= injected - 5_000);
    }, { timeoutMs: 120_000, everyMs: 1000 });
    assert.equal(retrain.requested_by, 'service:monitoring', 'the monitoring agent asked for it');
    await carol.open('/workflows');
    const row = page.locator(`[data-testid=workflows] tr:has(a[href="/workflows/${retrain.id}"])`);
    assert.match(await row.textContent(), /retrain[\s\S]*service:monitoring/, 'listed with its requester');
    await row.locator('a').click();
    await page.waitForURL(`**/workflows/${retrain.id}`);
    const gate = 'approve-retraining-fraud-detector';
    assert.equal(await nodeReaches(page, gate, 'input-required', 120_000), 'input-required');
    const planned = await page.$$eval('g[data-node]', (gs) => gs.map((g) => g.getAttribute('data-node')));
    for (const step of [/ingest|data|fresh/, /train/, /valid|quality|check/, /canary/]) {
      assert.ok(planned.some((n) => step.test(n)), `the plan has ${step} (has ${planned.join(', ')})`);
    }
    await carol.shot('j3-retraining-at-gate');
    // The retraining is not wanted today: an approver says no at its gate.
    await decideGate(bob, retrain.id, 'reject', 'drift was injected by the demo');
    await eventually('the retraining rejected', async () =>
      (await carol.api('GET', `/api/workflows/${retrain.id}`)).json?.state === 'rejected',
    { timeoutMs: 60_000, everyMs: 1000 });

    // Back to normal traffic.
    await carol.open('/monitoring?model=fraud-detector');
    await page.click('[data-testid=demo-drift]');
    await page.waitForSelector('[data-testid=demo-drift]:has-text("Inject drift")', { timeout: 30_000 });

    // 4. A canary that misbehaves: on-call takes it out at once.
    const canary = await mlops(['demo', '--data-dir', sut.dataDir, 'faulty-canary', '--weight', '20']);
    assert.equal(canary.code, 0, canary.stderr);
    await carol.open('/deployments');
    const card = page.locator('[data-testid=deployment][data-model=fraud-detector]');
    await card.locator('[data-testid=deployment-row][data-weight="20"]').waitFor({ timeout: 60_000 });
    const faulty = await card.locator('[data-testid=deployment-row][data-weight="20"]').getAttribute('data-version');
    await card.locator('select[name=version]').selectOption(faulty);
    await card.locator('input[name=reason]').fill('errors on the canary');
    const clicked = Date.now();
    await Promise.all([
      page.waitForURL(/\/workflows\/[^/?]+$/, { timeout: 60_000 }),
      card.getByRole('button', { name: 'Roll back' }).click(),
    ]);
    await carol.hydrated();
    // No second person is asked: the rollback runs at once, and the
    // weights return to stable within seconds.
    assert.equal(await workflowReaches(page, 'completed', 60_000), 'completed');
    assert.equal(await page.locator('g[data-node^="approve"]').count(), 0, 'no approval gate on a rollback');
    await eventually('traffic back on stable alone', async () => {
      const status = (await carol.api('GET', '/api/deployments')).json;
      const split = status.models.find((m) => m.model === 'fraud-detector').desired.deployments;
      return split.length === 1 && split[0].weight === 100;
    }, { timeoutMs: 60_000, everyMs: 250 });
    const seconds = (Date.now() - clicked) / 1000;
    console.log(`# J3 roll back: traffic on stable ${seconds.toFixed(1)} s after the click`);
    assert.ok(seconds < 30, `roll back took ${seconds.toFixed(0)} s`);
    await carol.open('/deployments');
    assert.equal(await page.locator('[data-testid=deployment][data-model=fraud-detector] [data-testid=deployment-row]').count(), 1,
      'the deployments page shows stable alone');
    await carol.shot('j3-rolled-back');
    await dave.open('/audit?actor=carol');
    assert.match(await dave.page.textContent('[data-testid=audit]'), /rollback/, "carol's roll back is audited");
  });
});
