// J1. The ML engineer deploys (alice): the model's versions with metrics,
// aliases and lineage; the deploy form; the live task graph growing and
// changing within a second of each orchestrator event; a node's A2A task in
// the drawer; cancelling her own workflow, which reaches the running task.

import assert from 'node:assert/strict';
import { journey, sut } from '../lib/context.mjs';
import { withPeople } from '../lib/browser.mjs';
import { recordGraph, liveDelays } from '../lib/graph.mjs';
import { deployFromForm, nodeReaches, workflowReaches } from '../lib/console.mjs';

journey('j1', 'J1 alice deploys v2 from the console and watches it live', { timeout: 600_000 }, async () => {
  await withPeople('j1', sut.base, ['alice'], async ({ alice }) => {
    const page = alice.page;
    await alice.context.addInitScript(recordGraph);

    // 1. Models: v1 is live as champion; v2 is a candidate with metrics and lineage.
    await alice.open('/models');
    assert.ok(await page.getByRole('link', { name: 'fraud-detector' }).isVisible());
    const v1 = page.locator('[data-testid=version-row][data-version="1"]');
    const v2 = page.locator('[data-testid=version-row][data-version="2"]');
    assert.equal(await v1.locator('[data-alias=champion]').count(), 1, 'v1 carries the champion alias');
    assert.equal(await v2.locator('[data-alias=champion]').count(), 0);
    assert.match(await v2.textContent(), /\d\.\d/, 'v2 shows its training metrics');
    await v2.locator('summary', { hasText: 'Lineage' }).click();
    const lineage = await v2.locator('details').textContent();
    assert.match(lineage, /sha256:[0-9a-f]{16}/, 'the dataset version digest');
    assert.match(lineage, /training run id/, 'the training run');
    assert.match(lineage, /code digest/, 'the code/config digest');
    await alice.shot('j1-models');

    // 2. Deploy v2: the form comes from the model's page with the version set.
    await v2.getByRole('link', { name: 'Deploy…' }).click();
    await page.waitForURL(/\/deploy\?model=fraud-detector&version=2/);
    await alice.hydrated();
    assert.equal(await page.inputValue('#version'), '2');
    assert.match(await page.textContent('[data-testid=deploy-form]'), /production/, 'the environment');
    assert.equal(await page.inputValue('#steps'), '10, 50', 'the policy default canary steps');
    const workflow = await deployFromForm(alice, { version: 2, steps: '10, 50', analysis: '10' });

    // 3. The workflow page opens at once and its graph grows live.
    await page.waitForSelector('[data-testid=graph] g[data-node]', { state: 'attached', timeout: 60_000 });
    const shownAt = await page.evaluate(() => performance.timeOrigin + performance.now());
    await nodeReaches(page, 'approve-canary', 'input-required');
    await page.waitForTimeout(1500);
    await alice.axe(`/workflows/${workflow}`);
    await alice.shot('j1-graph-at-gate');
    const nodes = await page.$$eval('g[data-node]', (gs) => gs.map((g) => g.getAttribute('data-node')));
    for (const n of ['approve-canary', 'canary-10', 'analysis-10', 'canary-50', 'analysis-50', 'approve-promotion', 'promote']) {
      assert.ok(nodes.includes(n), `the plan has ${n} (has ${nodes.join(', ')})`);
    }
    const checks = nodes.filter((n) => !/^(approve|canary|analysis|promote)/.test(n));
    assert.ok(checks.length >= 3, `validation, quality, drift and fairness checks run before the gate (got ${checks.join(', ')})`);
    for (const n of checks) {
      assert.equal(await page.getAttribute(`g[data-node="${n}"]`, 'data-state'), 'completed', `${n} completed`);
    }
    const { delays, missing, onScreen } = await liveDelays(alice, workflow, shownAt);
    const states = new Set(onScreen.map((r) => r.state));
    assert.ok(states.has('working') && states.has('completed') && states.has('input-required'),
      `nodes changed state on screen (${[...states].join(', ')})`);
    assert.deepEqual(missing, [], 'every orchestrator event showed on the graph');
    assert.ok(delays.length >= 3, `events measured after the graph was on screen: ${delays.length}`);
    // The goal is 1 s; the suite runs every service in debug builds beside
    // Chromium on two cores, so it fails only past 2 s and prints the figure.
    const slow = delays.filter((d) => d.ms > 2000);
    const ms = delays.map((d) => d.ms).sort((a, b) => a - b);
    console.log(`# J1 live graph: ${ms.length} events, p50 ${ms[Math.floor(ms.length / 2)].toFixed(0)} ms, slowest ${ms[ms.length - 1].toFixed(0)} ms`);
    assert.deepEqual(slow, [], 'each event is on the graph within 2 s, without a reload');
    const progress = await page.evaluate(() => window.__progress);
    assert.ok(progress.length >= 1, 'streamed progress lines appeared under a working node');

    // 4. A node's A2A task: agent, skill, task id, messages, artifacts, MCP calls.
    const checked = checks.find((n) => /quality|validat/.test(n)) || checks[0];
    await page.click(`g[data-node="${checked}"] a rect`);
    await page.waitForSelector('[data-testid=drawer] ol.activity', { timeout: 30_000 });
    await alice.axe(`/workflows/${workflow}?node=${checked}`);
    const drawer = await page.textContent('[data-testid=drawer]');
    assert.match(drawer, /Agent\s*\w+/, 'the agent');
    assert.match(drawer, /Skill\s*[\w-]+/, 'the skill');
    assert.match(drawer, /A2A task\s*[0-9a-f-]{8,}/, 'the delegated A2A task');
    assert.match(drawer, /mcp-call/, 'the MCP tool calls it made');
    assert.match(drawer, /node-artifact/, 'its artifacts');
    assert.match(drawer, /artifact \w+/, 'the artifacts it produced, by name');
    await alice.shot('j1-node-drawer');

    // 5. Cancel her own workflow: it ends canceled, its gate with it.
    await page.click('button:has-text("Cancel workflow")');
    assert.equal(await workflowReaches(page, 'canceled', 60_000), 'canceled');
    assert.equal(await nodeReaches(page, 'approve-canary', 'canceled', 30_000), 'canceled');
  });
});

journey('j1', 'J1 cancel reaches the delegated task that is running', { timeout: 300_000 }, async () => {
  await withPeople('j1', sut.base, ['alice'], async ({ alice }) => {
    const page = alice.page;
    const workflow = await deployFromForm(alice, { version: 2, steps: '10, 50', analysis: '10' });
    const working = await page.waitForSelector('g[data-node][data-state="working"]', { state: 'attached', timeout: 120_000 });
    const node = await working.getAttribute('data-node');
    await page.click('button:has-text("Cancel workflow")');
    assert.equal(await workflowReaches(page, 'canceled', 60_000), 'canceled');
    // Every node ends: what was running was canceled at its agent (or had
    // just finished), and nothing waits to start.
    const detail = (await alice.api('GET', `/api/workflows/${workflow}`)).json;
    const open = detail.nodes.filter((n) => ['submitted', 'working', 'input-required'].includes(n.state));
    assert.deepEqual(open.map((n) => n.node), [], 'nothing delegated is left running');
    const ended = detail.nodes.find((n) => n.node === node).state;
    assert.ok(['canceled', 'completed'].includes(ended), `${node}, working at the cancel, ended ${ended}`);
    assert.ok(detail.nodes.some((n) => n.state === 'canceled'), 'the cancel reached the graph');
  });
});
