// Watching a workflow's task graph in the page: every node's state change
// is recorded with the page's clock as it lands in the DOM, so a journey
// can tell what a person saw and how soon after the orchestrator recorded
// it.

/** Runs in every document of a context, before the app. */
export function recordGraph() {
  window.__graph = [];
  window.__progress = [];
  const last = {};
  const scan = () => {
    const t = performance.timeOrigin + performance.now();
    for (const g of document.querySelectorAll('g[data-node]')) {
      const node = g.getAttribute('data-node');
      const state = g.getAttribute('data-state');
      if (last[node] !== state) {
        last[node] = state;
        window.__graph.push({ node, state, t, path: location.pathname });
      }
      const line = g.querySelector('text.node-progress');
      if (line && line.textContent && window.__progress[window.__progress.length - 1]?.text !== line.textContent) {
        window.__progress.push({ node, text: line.textContent, t });
      }
    }
  };
  new MutationObserver(scan).observe(document, {
    subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ['data-state'],
  });
}

// The order a node's states come in: a later one on screen also shows an
// earlier event was applied (two events inside one render coalesce).
const ORDER = ['pending', 'submitted', 'working', 'input-required', 'completed', 'failed', 'canceled', 'rejected'];

/** The state an activity row moved its node to, if it did. */
function stateOf(row) {
  if (row.kind === 'node-state') return row.body.state;
  if (row.kind === 'gate-opened') return 'input-required';
  return null;
}

/**
 * How long each orchestrator event took to show: from when the
 * orchestrator recorded it (`emitted_at`) to when the node's state changed
 * on screen. Only events after the graph was first on screen count: the
 * moment the recorder saw its first node in this workflow's page, or
 * `since` when that is earlier.
 */
export async function liveDelays(person, workflow, since) {
  const page = person.page;
  const onScreen = await page.evaluate(() => window.__graph);
  const here = onScreen.filter((r) => r.path === `/workflows/${workflow}`).map((r) => r.t);
  if (here.length) since = Math.min(since, Math.min(...here));
  const nodes = [...new Set(onScreen.map((r) => r.node))];
  const activity = {};
  for (const n of nodes) {
    const r = await person.api('GET', `/api/workflows/${workflow}/nodes/${encodeURIComponent(n)}/activity`);
    activity[n] = r.json || [];
  }
  const delays = [];
  const missing = [];
  for (const node of nodes) {
    const seen = onScreen.filter((r) => r.node === node && r.path === `/workflows/${workflow}`);
    const events = activity[node]
      .map((row) => ({ state: stateOf(row), at: Date.parse(row.emitted_at || row.at) }))
      .filter((e) => e.state);
    for (const [i, e] of events.entries()) {
      if (e.at <= since) continue;
      const later = new Set(events.slice(i).map((x) => x.state));
      const rank = ORDER.indexOf(e.state);
      const hit = seen.find((s) => s.t >= e.at - 5 && (later.has(s.state) || ORDER.indexOf(s.state) > rank));
      if (!hit) {
        missing.push(`${node} → ${e.state}`);
        continue;
      }
      delays.push({ node, state: e.state, ms: Math.max(0, hit.t - e.at) });
    }
  }
  return { delays, missing, onScreen };
}

/** The state of one node on screen now. */
export async function nodeState(page, node) {
  return page.getAttribute(`g[data-node="${node}"]`, 'data-state').catch(() => null);
}

/** The workflow's own state badge in the page heading. */
export async function workflowState(page) {
  return (await page.textContent('h1 .state'))?.trim();
}
