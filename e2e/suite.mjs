// The end-to-end suite: every journey of JOURNEYS.md in Debian's Chromium
// against one `mlops up` (real IdP, Postgres, Prometheus, agents, MCP
// servers and demo traffic), in the order a day with the product goes.
// Then every page once more for axe-core.
//
//   node suite.mjs            (cargo xtask test runs it after the workspace tests)
//   E2E_ONLY=j1,j2 node suite.mjs   (J0 always runs: it starts what the others use)
//
// Screenshots and failure traces go to e2e/artifacts/.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sut } from './lib/context.mjs';
import { axeFindings, withPeople } from './lib/browser.mjs';
// Static imports, in order: node:test runs tests in the order they are
// declared, and the system's before/after hooks wrap them all. J3 injects
// drift, which every release's drift check sees for the next hour of
// traffic, so it comes after the other releases; J5 reads the audit log
// everyone wrote, so it comes last.
import './journeys/j0-first-run.mjs';
import './journeys/j1-deploy.mjs';
import './journeys/j2-approve.mjs';
import './journeys/j4-bad-canary.mjs';
import './journeys/j6-cli.mjs';
import './journeys/j3-drift.mjs';
import './journeys/j5-audit-lineage.mjs';

test('every page hydrates with no serious or critical axe-core violation', { timeout: 300_000 }, async () => {
  await withPeople('pages', sut.base, ['dave'], async ({ dave }) => {
    const list = (await dave.api('GET', '/api/workflows?limit=1')).json;
    const pages = ['/', '/workflows', '/approvals', '/deploy', '/models', '/models?model=fraud-detector&version=2',
      '/deployments', '/monitoring', '/agents', '/audit'];
    if (list.length) pages.push(`/workflows/${list[0].id}`);
    for (const p of pages) {
      const response = await dave.open(p);
      assert.equal(response.status(), 200, `${p}: HTTP ${response.status()}`);
    }
    if (list.length) {
      const node = (await dave.api('GET', `/api/workflows/${list[0].id}`)).json.nodes[0]?.node;
      if (node) await dave.open(`/workflows/${list[0].id}?node=${encodeURIComponent(node)}`);
    }
  });
  assert.deepEqual(axeFindings, [], 'axe-core: serious or critical violations');
});
