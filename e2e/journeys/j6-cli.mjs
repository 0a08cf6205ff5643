// J6. CI and the command line: the same release without a browser, with
// personal API tokens, under the same rules as the console; and a CI job's
// goal sent straight to the orchestrator, which the console shows too.

import assert from 'node:assert/strict';
import { journey, sut, eventually } from '../lib/context.mjs';
import { withPeople } from '../lib/browser.mjs';
import { a2aCi, mlops, serviceToken, serviceUrl } from '../lib/system.mjs';
import { settle } from '../lib/console.mjs';

journey('j6', 'J6 deploy, approvals, approve and status from the command line', { timeout: 600_000 }, async () => {
  await withPeople('j6', sut.base, ['alice', 'bob', 'carol'], async ({ alice, bob, carol }) => {
    await settle(carol);
    // Personal API tokens, made while signed in.
    const made = await alice.api('POST', '/api/tokens', { name: 'ci', scopes: ['read', 'workflows:write'] });
    assert.equal(made.status, 201, made.text);
    const aliceToken = made.json.token;
    const bobToken = (await bob.api('POST', '/api/tokens', { name: 'laptop', scopes: ['read', 'approvals:write'] })).json.token;
    const api = (token) => ['--url', sut.base, '--token', token];

    // The version to release is whichever of v1 and v2 is not champion
    // now (J2, when it ran first, made v2 champion).
    await alice.open('/models');
    const championIsV1 = await alice.page
      .locator('[data-testid=version-row][data-version="1"] [data-alias=champion]').count();
    const candidate = championIsV1 ? '2' : '1';

    // mlops deploy prints the URL and follows the release to its gate.
    const deploy = await mlops(['deploy', 'fraud-detector', '--version', candidate, '--strategy', 'canary',
      '--steps', '50', '--analysis-seconds', '10', ...api(aliceToken)]);
    assert.equal(deploy.code, 0, deploy.stderr);
    const url = deploy.stdout.match(/http:\/\/127\.0\.0\.1:\d+\/workflows\/(\S+)/);
    assert.ok(url, `the workflow URL:\n${deploy.stdout}`);
    const workflow = url[1];
    assert.match(deploy.stdout + deploy.stderr, /approv|gate|input-required/i, 'it followed the release to its gate');

    // mlops approvals lists it; the rules apply to the CLI as to the browser.
    const listed = await mlops(['approvals', ...api(bobToken)]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.ok(listed.stdout.includes(workflow), listed.stdout);
    const own = await mlops(['approve', workflow, '--comment', 'my own', ...api(aliceToken)]);
    assert.notEqual(own.code, 0, 'alice may not approve');
    assert.match(own.stderr, /approver/);
    const approved = await mlops(['approve', workflow, '--comment', 'LGTM from the terminal', ...api(bobToken)]);
    assert.equal(approved.code, 0, approved.stderr);

    // mlops status shows the graph and follows it (to the promotion gate).
    const status = await mlops(['status', workflow, ...api(aliceToken)], { timeoutMs: 300_000 });
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /canary-50/);
    assert.match(status.stdout, /approve-promotion/);
    // mlops reject at the promotion gate: the canary is taken out again.
    await eventually('the promotion gate open', async () => {
      const gates = (await bob.api('GET', '/api/approvals')).json || [];
      return gates.some((g) => g.workflow === workflow && g.gate === 'approve-promotion' && g.state === 'open');
    }, { timeoutMs: 180_000, everyMs: 1000 });
    const rejected = await mlops(['reject', workflow, '--comment', 'not today', ...api(bobToken)]);
    assert.equal(rejected.code, 0, rejected.stderr);
    await eventually('the release rejected and its canary rolled back', async () => {
      const w = (await alice.api('GET', `/api/workflows/${workflow}`)).json;
      return w.state === 'rejected';
    }, { timeoutMs: 120_000, everyMs: 1000 });

    // A CI job sends the goal straight to the orchestrator over A2A with a
    // service token (the official Python SDK). It shows up in the console
    // like any other workflow, with its graph and its requester.
    const ci = await serviceToken(sut.dataDir, 'orchestrator', 'a2a:invoke');
    const sent = await a2aCi(['goal', serviceUrl(sut.dataDir, 'agent-orchestrator'), ci, JSON.stringify({
      goal: 'deploy', model: 'fraud-detector', version: Number(candidate), steps: [50], analysis_seconds: 10,
    })]);
    assert.ok(sent.task_id, 'the orchestrator took the goal');
    await alice.open('/workflows');
    const row = alice.page.locator(`[data-testid=workflows] tr:has(a[href="/workflows/${sent.task_id}"])`);
    await row.waitFor({ timeout: 60_000 });
    assert.match(await row.textContent(), /deploy[\s\S]*service:operator/, 'listed with the service that sent it');
    await row.locator('a').click();
    await alice.page.waitForURL(`**/workflows/${sent.task_id}`);
    await alice.page.waitForSelector('g[data-node="approve-canary"]', { state: 'attached', timeout: 120_000 });
    await alice.shot('j6-ci-workflow');
    // Tidy up: an admin cancels it from the console.
    const canceled = await carol.api('POST', `/api/workflows/${sent.task_id}/cancel`, {});
    assert.ok(canceled.status < 300, canceled.text);
  });
});
