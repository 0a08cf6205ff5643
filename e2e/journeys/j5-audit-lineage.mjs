// J5. Audit and lineage (dave): every kind of action in the audit log,
// filtered; the hash chain verified; a version's lineage from its dataset
// digest to every release and its outcome.

import assert from 'node:assert/strict';
import { journey, sut } from '../lib/context.mjs';
import { withPeople } from '../lib/browser.mjs';

/** The audit table on screen as rows of cells. */
async function auditRows(page) {
  return page.$$eval('[data-testid=audit] tbody tr', (trs) => trs.map((tr) => {
    const c = [...tr.children].map((td) => td.textContent.trim());
    return { at: c[1], actor: c[2], action: c[3], target: c[4], outcome: c[5], detail: c[6] };
  }));
}

journey('j5', 'J5 dave reads the audit log, filters it, verifies its chain, and follows v2 from data to release', { timeout: 300_000 }, async () => {
  await withPeople('j5', sut.base, ['dave'], async ({ dave }) => {
    const page = dave.page;

    // 1. Every action, with actor, time, target and outcome.
    await dave.open('/audit');
    const all = await auditRows(page);
    const actions = new Set(all.map((r) => r.action));
    for (const a of ['sign-in', 'start-workflow', 'decide-gate', 'tool-call', 'approval-refused']) {
      assert.ok(actions.has(a), `the audit log has ${a} (has ${[...actions].join(', ')})`);
    }
    assert.ok(all.some((r) => r.outcome === 'refused'), 'refusals');
    assert.ok(all.some((r) => r.action === 'start-workflow' && /rollback/.test(r.detail)), 'roll backs');
    for (const r of all.slice(0, 20)) {
      assert.ok(r.at && r.actor && r.action && r.outcome, `a complete row: ${JSON.stringify(r)}`);
    }
    await dave.shot('j5-audit');

    // Filtered by actor, then by outcome, with the form a person uses.
    await page.fill('input[name=actor]', 'bob');
    await Promise.all([page.waitForURL(/actor=bob/), page.click('form.filters button[type=submit]')]);
    await dave.hydrated();
    const bobs = await auditRows(page);
    assert.ok(bobs.length > 0 && bobs.every((r) => r.actor === 'bob'), "only bob's rows");
    assert.ok(bobs.some((r) => r.action === 'decide-gate' && r.outcome === 'ok'), "bob's decisions");
    await dave.open('/audit?outcome=refused');
    const refused = await auditRows(page);
    assert.ok(refused.length > 0 && refused.every((r) => r.outcome === 'refused'), 'only refusals');

    // Verify chain.
    await page.click('button:has-text("Verify chain")');
    await page.waitForSelector('[data-testid=verify]', { timeout: 30_000 });
    assert.match(await page.textContent('[data-testid=verify]'), /The chain is intact/);

    // 2. Lineage of v2: dataset digest → training run → checks → releases.
    await dave.open('/models?model=fraud-detector&version=2');
    const lineage = await page.textContent('[data-testid=lineage]');
    assert.match(lineage, /sha256:[0-9a-f]{16}/, 'the dataset version');
    assert.match(lineage, /training run/i, 'the training run');
    assert.match(lineage, /auc|accuracy|f1|precision/i, 'its metrics');
    const releases = page.locator('[data-testid=release]');
    assert.ok(await releases.count() >= 1, 'every release of v2');
    const texts = await releases.evaluateAll((rs) => rs.map((r) => r.textContent));
    assert.ok(texts.some((t) => /completed/.test(t) && /bob/.test(t)), 'the promoted release, with bob’s decisions');
    assert.ok(texts.some((t) => /canceled/.test(t)), "alice's canceled release");
    assert.ok(texts.some((t) => /validat/i.test(t)), 'the validation checks and their outcomes');
    await dave.shot('j5-lineage');
  });
});
