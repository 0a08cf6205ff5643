// Screenshots of every console page at 1440×900 from a running system, as a
// signed-in person sees them (the README's pictures in docs/screenshots).
//
//   node screenshots.mjs --base http://127.0.0.1:8080 --user dave --out ../docs/screenshots

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Person, closeBrowser } from './lib/browser.mjs';

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

const base = arg('base', 'http://127.0.0.1:8080');
const user = arg('user', 'dave');
const out = arg('out', '../docs/screenshots');

const pages = [
  ['overview', '/'],
  ['workflows', '/workflows'],
  ['approvals', '/approvals'],
  ['deploy', '/deploy'],
  ['models', '/models'],
  ['deployments', '/deployments'],
  ['monitoring', '/monitoring'],
  ['agents', '/agents'],
  ['audit', '/audit'],
];

const person = await Person.signIn(user, base, { journey: 'screenshots' });
const list = (await person.api('GET', '/api/workflows?limit=1')).json;
if (list.length) pages.push(['workflow', `/workflows/${list[0].id}`]);
mkdirSync(out, { recursive: true });
for (const [name, path] of pages) {
  await person.open(path);
  await person.page.screenshot({ path: join(out, `${name}.png`) });
  console.log(`${name.padEnd(12)} ${path}`);
}
await person.close(false);
await closeBrowser();
