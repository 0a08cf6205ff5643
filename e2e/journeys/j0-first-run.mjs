// J0. First run: one command starts everything with progress shown; the URL
// sends a person to the IdP and then to the overview, whose numbers are
// live; Ctrl-C stops every process; a second start keeps the data and takes
// seconds.

import assert from 'node:assert/strict';
import { journey, sut, eventually } from '../lib/context.mjs';
import { withPeople } from '../lib/browser.mjs';
import { services, alive, startSystem, stopSystem } from '../lib/system.mjs';

journey('j0', 'J0 first run: everything starts, sign-in lands on a live overview, Ctrl-C and a restart keep the data', { timeout: 600_000 }, async () => {
  const first = sut.first;

  // 1. Every process of the system, each under the one supervisor.
  const running = services(sut.dataDir);
  const count = (kind) => running.filter((s) => s.kind === kind).length;
  assert.equal(count('postgres'), 1, 'Postgres');
  assert.equal(count('prometheus'), 1, 'Prometheus');
  assert.equal(count('idp'), 1, 'the dev IdP');
  assert.equal(count('mcp'), 7, 'seven MCP servers');
  assert.equal(count('agent'), 7, 'seven agents (orchestrator and six specialists)');
  assert.equal(count('control-plane'), 1, 'the control plane');
  assert.equal(count('traffic'), 1, 'the demo traffic');

  // It shows progress while it starts: never silent for a minute.
  let longest = 0;
  for (let i = 1; i < first.lines.length; i++) {
    longest = Math.max(longest, first.lines[i].at - first.lines[i - 1].at);
  }
  longest = Math.max(longest, first.lines[0].at - first.started);
  assert.ok(longest < 60_000, `silent for ${(longest / 1000).toFixed(0)} s while starting`);
  // When ready: the URL and the demo log-ins.
  const printed = first.lines.map((l) => l.line).join('\n');
  assert.match(printed, /✔ mlops is ready at http:\/\/127\.0\.0\.1:\d+/);
  assert.match(printed, /sign in as alice, bob, carol, dave, erin.*password: demo/);

  // 2. The URL sends an unknown browser to the IdP, then to the overview.
  await withPeople('j0', sut.base, ['alice'], async ({ alice }) => {
    const page = alice.page;
    assert.equal(new URL(page.url()).pathname, '/', 'signed in, alice lands on the overview');
    assert.equal(await page.textContent('h1'), 'Overview');
    await alice.axe('/');
    for (const heading of ['Active workflows', 'Deployments and their health', 'Drift alerts']) {
      assert.ok(await page.getByRole('heading', { name: heading }).isVisible(), `the overview shows ${heading}`);
    }
    assert.match(await page.textContent('[data-testid=stat-approvals]'), /\d+ waiting for approval/);
    // The champion serves traffic, and its numbers fill in without a reload.
    await eventually('a live request rate for fraud-detector on the overview', async () => {
      const rps = await page.textContent('[data-testid=health-row][data-model=fraud-detector] [data-testid=rps]');
      return Number.parseFloat(rps) > 0;
    }, { timeoutMs: 60_000 });
    await alice.shot('j0-overview');
  });

  // 3. Ctrl-C stops every process cleanly.
  const exit = await stopSystem(sut.system);
  assert.equal(exit.code, 0, `mlops up exited with ${exit.code ?? exit.signal}`);
  await eventually('every child process gone after Ctrl-C', () => running.every((s) => !alive(s.pid)), { timeoutMs: 10_000 });

  // Running it again keeps the data and starts in seconds.
  sut.system = await startSystem({ dataDir: first.dataDir, port: first.port, notifyWebhook: sut.webhook.url });
  const seconds = (sut.system.ready - sut.system.started) / 1000;
  console.log(`# restart: ready in ${seconds.toFixed(1)} s (first start ${((first.ready - first.started) / 1000).toFixed(0)} s)`);
  assert.ok(seconds < 60, `the second start took ${seconds.toFixed(0)} s`);
  await withPeople('j0', sut.base, ['dave'], async ({ dave }) => {
    await dave.open('/audit?actor=alice&action=sign-in');
    const rows = await dave.page.locator('[data-testid=audit] tbody tr').count();
    assert.ok(rows >= 1, "alice's sign-in from before the restart is still in the audit log");
  });
});
