// J4. A bad canary rolls itself back: the demo's faulty version fails its
// first analysis and the orchestrator rolls back with no one asked; the
// workflow ends rolled back with the evidence, and approvers hear of it.

import assert from 'node:assert/strict';
import { journey, sut, eventually } from '../lib/context.mjs';
import { withPeople } from '../lib/browser.mjs';
import { decideGate, nodeReaches, openGate, settle, workflowReaches } from '../lib/console.mjs';

journey('j4', 'J4 the faulty canary breaks its SLO and is rolled back without anyone', { timeout: 600_000 }, async () => {
  await withPeople('j4', sut.base, ['alice', 'bob', 'carol'], async ({ alice, bob, carol }) => {
    await settle(carol);
    const page = alice.page;
    // The demo panel offers the faulty version through the ordinary form.
    await alice.open('/');
    const offer = page.locator('[data-testid=demo-panel] a', { hasText: /Deploy the faulty v\d/ });
    const faulty = (await offer.textContent()).match(/v(\d+)/)[1];
    await offer.click();
    await page.waitForURL(/\/deploy\?/);
    await alice.hydrated();
    assert.equal(await page.inputValue('#version'), faulty);
    // Without the labelled holdout the quality checks cannot catch it before
    // traffic does, which is the point here (with it, validation halts the
    // release before the gate).
    await page.fill('#holdout', '');
    await page.fill('#training', '');
    // A window long enough for the canary's share of the demo traffic to
    // reach the policy's minimum sample, so the verdict is not inconclusive.
    await page.fill('#steps', '20, 50');
    await page.fill('#analysis', '20');
    await Promise.all([
      page.waitForURL(/\/workflows\/[^/?]+$/, { timeout: 60_000 }),
      page.click('[data-testid=deploy-form] button[type=submit]'),
    ]);
    await alice.hydrated();
    const workflow = new URL(page.url()).pathname.split('/').pop();

    // bob lets the canary start; from there on nobody acts.
    await openGate(bob, workflow);
    await decideGate(bob, workflow, 'approve', 'start the canary');
    const hooksBefore = sut.webhook.received.length;

    await nodeReaches(page, 'analysis-20', 'failed', 240_000);
    const end = await workflowReaches(page, ['rolled_back', 'failed', 'completed', 'canceled', 'rejected'], 180_000);
    assert.equal(end, 'rolled_back', 'the release ends as rolled back');
    assert.match(await page.textContent('h1'), /rolled.back/i, 'rolled back, in the heading');
    const nodes = await page.$$eval('g[data-node]', (gs) => gs.map((g) => [g.dataset.node, g.dataset.state]));
    const rollback = nodes.find(([n]) => /rollback/.test(n));
    assert.ok(rollback, `a rollback node was added (${nodes.map(([n, s]) => `${n}:${s}`).join(' ')})`);
    assert.equal(rollback[1], 'completed', 'the rollback ran');
    assert.equal(nodes.find(([n]) => n === 'canary-50')?.[1] ?? 'pending', 'pending', 'the canary never went to 50 %');
    const gates = (await alice.api('GET', `/api/workflows/${workflow}`)).json.gates;
    assert.equal(gates.filter((g) => g.gate === 'approve-promotion' && g.state === 'approved').length, 0, 'nobody approved anything after the canary');

    // The evidence: the failed analysis, with its numbers.
    await page.click('g[data-node="analysis-20"] a rect');
    await page.waitForSelector('[data-testid=drawer] ol.activity', { timeout: 30_000 });
    const drawer = await page.textContent('[data-testid=drawer]');
    assert.match(drawer, /error rate/i);
    assert.match(drawer, /failed/);
    await alice.shot('j4-rolled-back');

    // Traffic is back on stable, and the approvers' channel heard of it.
    if (!sut.system.attached) {
      await eventually('the webhook heard the release failed', () => sut.webhook.received.slice(hooksBefore)
        .find((m) => (m.body?.text || '').includes(workflow) || (m.body?.blocks?.[0]?.text?.text || '').includes(workflow)), { timeoutMs: 60_000 });
    }
    const status = (await alice.api('GET', '/api/deployments')).json;
    const split = status.models.find((m) => m.model === 'fraud-detector').desired.deployments;
    assert.deepEqual(split.map((d) => d.weight), [100], `traffic on stable alone (${JSON.stringify(split)})`);
  });
});
