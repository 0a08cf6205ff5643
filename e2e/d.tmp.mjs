import { Person, closeBrowser } from '/work/main/e2e/lib/browser.mjs';
const p = await Person.signIn('dave', 'http://127.0.0.1:18080');
const r = (await p.api('GET', '/api/workflows/01a2521d-00e9-7010-a457-548d4f9ecd30')).json;
console.log(r.state, JSON.stringify(r.nodes.map(n => [n.node, n.state])));
await p.close(false); await closeBrowser();
