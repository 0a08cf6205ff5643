// The system under test, started the way a person starts it: `mlops up`
// with the demo, a fresh data dir and free ports. One system serves the
// whole suite; journeys share it in order (see suite.mjs).

import { spawn, execFile } from 'node:child_process';
import { createServer } from 'node:http';
import { chmodSync, mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer as netServer } from 'node:net';

const here = dirname(fileURLToPath(import.meta.url));
export const e2eDir = resolve(here, '..');
export const artifacts = join(e2eDir, 'artifacts');

/** The `mlops` binary the tests built (MLOPS_BIN, else <target>/debug/mlops). */
export function mlopsBin() {
  if (process.env.MLOPS_BIN) return process.env.MLOPS_BIN;
  const target = process.env.CARGO_TARGET_DIR || join(e2eDir, '..', 'target');
  return join(target, 'debug', 'mlops');
}

export async function freePort() {
  return new Promise((ok, fail) => {
    const s = netServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

/**
 * A receiver for the control plane's notification webhook (Slack-compatible
 * JSON), as a team's chat would be.
 */
export async function webhookReceiver() {
  const received = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      try { received.push({ at: Date.now(), body: JSON.parse(body) }); } catch { received.push({ at: Date.now(), raw: body }); }
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${server.address().port}/hooks/chat`,
    received,
    close: () => new Promise((ok) => server.close(ok)),
  };
}

/**
 * Starts `mlops up` and resolves when it prints its ready line. Every line
 * it prints is kept with its time, so J0 can check what a person saw.
 */
export async function startSystem({ dataDir, port, notifyWebhook, timeoutMs = 900_000 }) {
  const args = ['up', '--port', String(port), '--data-dir', dataDir];
  if (notifyWebhook) args.push('--notify-webhook', notifyWebhook);
  const env = { ...process.env };
  delete env.DATABASE_URL;
  const started = Date.now();
  const child = spawn(mlopsBin(), args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  const log = [];
  const take = (stream, name) => {
    let rest = '';
    stream.on('data', (chunk) => {
      rest += chunk.toString();
      let i;
      while ((i = rest.indexOf('\n')) >= 0) {
        const line = rest.slice(0, i);
        rest = rest.slice(i + 1);
        const entry = { at: Date.now(), stream: name, line };
        lines.push(entry);
        log.push(`${new Date(entry.at).toISOString()} ${name} ${line}`);
        if (process.env.E2E_VERBOSE) console.error(`[up] ${line}`);
      }
    });
  };
  take(child.stdout, 'stdout');
  take(child.stderr, 'stderr');
  const exited = new Promise((ok) => child.once('exit', (code, signal) => ok({ code, signal })));
  const url = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`mlops up printed no ready line within ${timeoutMs / 1000} s`)), timeoutMs);
    const poll = setInterval(() => {
      const ready = lines.find((l) => l.line.startsWith('✔ mlops is ready at '));
      if (ready) {
        clearTimeout(timer);
        clearInterval(poll);
        ok(ready.line.slice('✔ mlops is ready at '.length).split(/\s+/)[0]);
      }
    }, 100);
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      clearInterval(poll);
      fail(new Error(`mlops up exited (${code ?? signal}) before it was ready:\n${log.slice(-40).join('\n')}`));
    });
  });
  return { url, child, lines, log, started, ready: Date.now(), exited, dataDir, port };
}

/** Ctrl-C, as a person stops it; resolves with how it exited. */
export async function stopSystem(system, timeoutMs = 60_000) {
  if (system.child.exitCode !== null || system.child.signalCode !== null) return system.exited;
  system.child.kill('SIGINT');
  const timer = new Promise((_, fail) => setTimeout(() => fail(new Error('mlops up did not stop within 60 s of Ctrl-C')), timeoutMs));
  return Promise.race([system.exited, timer]);
}

export function freshDataDir() {
  const root = mkdtempSync(join(tmpdir(), 'mlops-e2e-'));
  // Postgres runs as its own user and must reach its cluster below here.
  chmodSync(root, 0o755);
  return join(root, 'data');
}

/** `services.json`: every service `mlops up` runs, with its pid and URL. */
export function services(dataDir) {
  return JSON.parse(readFileSync(join(dataDir, 'services.json'), 'utf8'));
}

export function serviceUrl(dataDir, kind) {
  const s = services(dataDir).find((x) => x.kind === kind || x.name === kind);
  if (!s) throw new Error(`no ${kind} in services.json`);
  return s.url;
}

export function alive(pid) {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

/** Runs the `mlops` CLI; resolves with its exit code and output. */
export function mlops(args, { env = {}, timeoutMs = 600_000 } = {}) {
  return new Promise((ok) => {
    execFile(mlopsBin(), args, { env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => ok({ code: error ? (error.code ?? 1) : 0, stdout, stderr }));
  });
}

export { existsSync };

/** Runs e2e/lib/a2a_ci.py (the official Python A2A SDK) with the venv's Python. */
export function a2aCi(args) {
  const python = process.env.MLOPS_PYTHON || 'python3';
  return new Promise((ok, fail) => {
    execFile(python, [join(e2eDir, 'lib', 'a2a_ci.py'), ...args], { timeout: 180_000, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
        if (!line) return fail(new Error(`a2a_ci.py ${args[0]} failed: ${error?.message}\n${stdout}\n${stderr}`));
        ok(JSON.parse(line.slice('RESULT '.length)));
      });
  });
}

/** A short-lived service token from `mlops token`, as an operator mints one. */
export async function serviceToken(dataDir, audience, scope) {
  const r = await mlops(['token', '--audience', audience, '--scope', scope, '--data-dir', dataDir]);
  if (r.code !== 0) throw new Error(`mlops token: ${r.stderr}`);
  return r.stdout.trim();
}
