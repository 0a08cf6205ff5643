// J2. The approver signs off (bob): the badge appears live and the team's
// webhook hears of it; the card carries the evidence; approving resumes the
// graph and moves `champion`; rejecting rolls the canary back; and every
// way around the rules is refused with a clear message and audited.

import assert from 'node:assert/strict';
import { journey, sut, eventually } from '../lib/context.mjs';
import { withPeople } from '../lib/browser.mjs';
import { a2aCi, serviceUrl, serviceToken } from '../lib/system.mjs';
import { forgedApproval } from '../lib/forge.mjs';
import { decideGate, deployFromForm, nodeReaches, openGate, settle, workflowReaches } from '../lib/console.mjs';

const orchestratorUrl = () => serviceUrl(sut.dataDir, 'agent-orchestrator');

/** A decision sent with a person's session straight to the REST API. */
async function tryDecide(person, gate, decision = 'approve') {
  return person.api('POST', `/api/approvals/${gate.workflow}/${gate.gate}`, { decision, comment: 'trying' });
}

journey('j2', 'J2 bob approves with the evidence in front of him; champion moves to v2', { timeout: 900_000 }, async () => {
  await withPeople('j2', sut.base, ['bob', 'frank', 'alice', 'erin', 'dave'], async ({ bob, frank, alice, erin, dave }) => {
    await settle(dave);
    // bob watches his inbox; frank (ml-engineer and approver) releases v2.
    await bob.open('/approvals');
    assert.equal(await bob.page.locator('[data-testid=approvals-badge]').count(), 0, 'no badge before the gate');
    const hooksBefore = sut.webhook.received.length;
    const workflow = await deployFromForm(frank, { version: 2, steps: '50', analysis: '10' });

    // 1. The badge appears live on bob's open page; the webhook hears of it.
    await bob.page.waitForSelector('[data-testid=approvals-badge]', { timeout: 240_000 });
    await bob.page.waitForSelector('[data-testid=gate-card]', { timeout: 30_000 });
    if (!sut.system.attached) {
      await eventually('the gate notification at the webhook', () => sut.webhook.received.slice(hooksBefore)
        .find((m) => /Approval needed/.test(m.body?.text || '') && (m.body?.blocks?.[0]?.text?.text || '').includes(workflow)));
    }
    const gate = await openGate(bob, workflow);

    // 2. The card: requester, gate, validation report, drift, policy, time left.
    const card = bob.page.locator('[data-testid=gate-card]').filter({ has: bob.page.locator(`a[href="/workflows/${workflow}"]`) });
    const text = await card.textContent();
    assert.match(text, /Requested by\s*frank/);
    assert.match(text, /Start the canary of fraud-detector/);
    assert.match(text, /min left/, 'the time left');
    assert.match(text, /Policy[\s\S]*four eyes/, 'the policy that applies');
    const reports = await card.locator('[data-testid=evidence-report]').evaluateAll((ds) => ds.map((d) => d.textContent));
    assert.ok(reports.some((r) => /validation/.test(r)), `a validation report (${reports.length} reports)`);
    assert.ok(reports.some((r) => /drift/i.test(r)), 'the drift scores');
    await bob.shot('j2-approval-card');

    // 5. Around the rules: refused, each with its reason, each audited.
    // frank requested it: four-eyes (his buttons are off, and the API says why).
    await frank.open('/approvals');
    assert.match(await frank.page.textContent('[data-testid=why-not]'), /another approver must decide \(four-eyes\)/);
    let r = await tryDecide(frank, gate);
    assert.equal(r.status, 403, r.text);
    assert.match(r.json.detail, /four-eyes|own request/i);
    // alice is no approver.
    r = await tryDecide(alice, gate);
    assert.equal(r.status, 403, r.text);
    assert.match(r.json.detail, /approver/);
    // erin may look, not decide.
    r = await tryDecide(erin, gate);
    assert.equal(r.status, 403, r.text);
    // A forged approval straight to the orchestrator over A2A.
    const ci = await serviceToken(sut.dataDir, 'orchestrator', 'a2a:invoke');
    const jwks = await (await fetch(`${sut.base}/.well-known/jwks.json`)).json();
    const forged = await a2aCi(['answer', orchestratorUrl(), ci, workflow,
      forgedApproval({ issuer: sut.base, kid: jwks.keys[0].kid, workflow, gate: gate.gate })]);
    assert.equal(forged.accepted, false, 'the forged approval was taken');
    assert.match(forged.error, /signature|verif/i);

    // 3. bob approves with a comment: the graph resumes live.
    await bob.open(`/workflows/${workflow}`);
    await decideGate(bob, workflow, 'approve', 'validation and drift look fine');
    // The replayed approval: bob's own token, read back from the task's history.
    const seen = await a2aCi(['tokens', orchestratorUrl(), ci, workflow]);
    assert.ok(seen.approval_tokens.length >= 1, 'the approval is in the task history');
    const replay = await a2aCi(['answer', orchestratorUrl(), ci, workflow, seen.approval_tokens[0]]);
    assert.equal(replay.accepted, false, 'a replayed approval was taken');
    assert.match(replay.error, /already|replay|used/i);

    await bob.open(`/workflows/${workflow}`);
    await nodeReaches(bob.page, 'canary-50', ['working', 'completed'], 120_000);
    await nodeReaches(bob.page, 'approve-promotion', 'input-required', 240_000);
    // The promotion card charts canary vs stable over the analysis window.
    await bob.open('/approvals');
    const promotion = bob.page.locator('[data-testid=gate-card]').filter({ hasText: 'Promote fraud-detector' });
    await promotion.waitFor({ timeout: 60_000 });
    const charts = await promotion.locator('svg').evaluateAll((ss) => ss.map((s) => s.getAttribute('aria-label') || s.textContent));
    assert.ok(charts.some((c) => /Error rate, canary vs stable/.test(c)), `the canary chart (${charts.join(' | ')})`);
    assert.ok(charts.some((c) => /latency/i.test(c)) && charts.some((c) => /Traffic share/.test(c)));
    await bob.shot('j2-promotion-card');
    await decideGate(bob, workflow, 'approve', 'canary is healthy');
    await bob.open(`/workflows/${workflow}`);
    assert.equal(await workflowReaches(bob.page, 'completed', 240_000), 'completed');

    // champion now points at v2.
    await bob.open('/models');
    assert.equal(await bob.page.locator('[data-testid=version-row][data-version="2"] [data-alias=champion]').count(), 1, 'champion → v2');
    assert.equal(await bob.page.locator('[data-testid=version-row][data-version="1"] [data-alias=champion]').count(), 0);

    // Every refusal is in the audit log.
    await dave.open(`/audit?outcome=refused`);
    const audit = await dave.page.textContent('[data-testid=audit]');
    for (const who of ['frank', 'alice', 'erin']) assert.match(audit, new RegExp(`${who}[\\s\\S]*?decide|decide[\\s\\S]*?${who}`), `${who}'s refusal audited`);
    assert.match(audit, /approval-refused/, "the orchestrator's refusals of the forged and replayed tokens");
  });
});

journey('j2', 'J2 bob rejects at the promotion gate: the canary is rolled back and the workflow ends rejected', { timeout: 900_000 }, async () => {
  await withPeople('j2', sut.base, ['bob', 'alice'], async ({ bob, alice }) => {
    // v1 is no longer champion: alice proposes it again.
    const workflow = await deployFromForm(alice, { version: 1, steps: '50', analysis: '10' });
    await openGate(bob, workflow);
    await decideGate(bob, workflow, 'approve', 'go ahead with the canary');
    await bob.open(`/workflows/${workflow}`);
    await nodeReaches(bob.page, 'approve-promotion', 'input-required', 300_000);
    await decideGate(bob, workflow, 'reject', 'latency is not good enough');
    await bob.open(`/workflows/${workflow}`);
    assert.equal(await workflowReaches(bob.page, 'rejected', 180_000), 'rejected');
    assert.match(await bob.page.textContent('main'), /latency is not good enough/, 'the comment is on the workflow');
    // Traffic is back on stable (v2) alone.
    await bob.open('/deployments');
    await eventually('traffic back on v2 alone', async () => {
      const rows = await bob.page.$$eval('[data-testid=deployment][data-model=fraud-detector] [data-testid=deployment-row]',
        (trs) => trs.map((tr) => [tr.dataset.version, tr.dataset.weight]));
      return rows.length === 1 && rows[0][0] === '2' && rows[0][1] === '100';
    }, { timeoutMs: 60_000 });
  });
});

journey('j2', 'J2 an approval after the gate expired is refused and audited; the release takes the reject path', { timeout: 600_000 }, async () => {
  await withPeople('j2', sut.base, ['bob', 'alice', 'dave'], async ({ bob, alice, dave }) => {
    // A release whose gates stay open 20 s (the API allows asking for less than the policy).
    const started = await alice.api('POST', '/api/workflows', {
      goal: 'deploy', model: 'fraud-detector', version: 1, steps: [50], analysis_seconds: 10, gate_expiry_seconds: 20,
    });
    assert.equal(started.status, 201, started.text);
    const workflow = started.json.id;
    const gate = await openGate(bob, workflow);
    const wait = Date.parse(gate.expires_at) - Date.now() + 1000;
    if (wait > 0) await new Promise((ok) => setTimeout(ok, wait));
    const r = await tryDecide(bob, gate);
    assert.equal(r.status, 409, r.text);
    assert.match(r.json.detail, /expired/);
    await bob.open(`/workflows/${workflow}`);
    assert.equal(await workflowReaches(bob.page, ['rejected', 'failed'], 120_000), 'rejected');
    await dave.open('/audit?actor=bob&outcome=refused');
    assert.match(await dave.page.textContent('[data-testid=audit]'), /expired/);
  });
});
