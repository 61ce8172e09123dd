// harness.mjs — what both browser tests (run.mjs, pages.mjs) share: the
// build's sessio-shop binary ($SESSIO_BUILD_DIR, default build-test/), the
// ok/FAIL checks and their tally, and starting and stopping the shop on a
// free 127.0.0.1 port with its log in a file and a sanitizer check at stop.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
export const buildDir = path.resolve(root, process.env.SESSIO_BUILD_DIR || 'build-test');
export const binary = path.join(buildDir, 'apps', 'shop', 'sessio-shop');
const START_TIMEOUT_MS = 15000;

let passed = 0;
let failed = 0;

export function check(name, cond, detail = '') {
  if (cond) {
    passed++;
    console.log(`ok    ${name}`);
  } else {
    failed++;
    console.log(`FAIL  ${name}${detail ? ': ' + detail : ''}`);
  }
  return !!cond;
}

// Prints "N passed, N failed" and exits 1 when anything failed.
export function finish() {
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// Starts the shop on the memory store with its order data in 'dataDir' and
// its log (stderr) in 'errPath', plus 'args'; retries on another port when
// the free port was taken before the shop could listen on it. Resolves to
// { proc, base, errPath } once /healthz answers 200.
export async function startShop({ dataDir, errPath, args = [] }) {
  if (!fs.existsSync(binary)) throw new Error(`sessio-shop not found at ${binary}`);
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const errFd = fs.openSync(errPath, 'w');
    const proc = spawn(binary, ['--listen', `127.0.0.1:${port}`, '--store', 'memory:',
      '--data', dataDir, ...args], { stdio: ['ignore', errFd, errFd] });
    fs.closeSync(errFd);
    let exited = null;
    proc.on('exit', (code, sig) => { exited = code ?? sig; });
    const base = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline && exited === null) {
      try {
        const r = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(500) });
        if (r.status === 200) return { proc, base, errPath };
      } catch { /* not up yet */ }
      await new Promise((r) => setTimeout(r, 50)); // polling for readiness only
    }
    proc.kill('SIGKILL');
    const err = fs.readFileSync(errPath, 'utf8');
    if (attempt >= 3 || !/cannot listen/.test(err)) {
      throw new Error(exited !== null
        ? `sessio-shop exited (${exited}) at start:\n${err.slice(-2000)}`
        : `sessio-shop did not answer /healthz within ${START_TIMEOUT_MS} ms: ${err.slice(-1000)}`);
    }
  }
}

// Stops the shop (SIGTERM, SIGKILL after 10 s) and checks that it exited 0
// with no AddressSanitizer, LeakSanitizer or UBSan report in its log.
export async function stopShop(shop) {
  if (!shop) return;
  const { proc } = shop;
  if (proc.exitCode === null && proc.signalCode === null) {
    const done = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    const t = setTimeout(() => proc.kill('SIGKILL'), 10000);
    await done;
    clearTimeout(t);
  }
  const err = fs.readFileSync(shop.errPath, 'utf8');
  check('sessio-shop stopped cleanly, no sanitizer report',
    !/AddressSanitizer|LeakSanitizer|runtime error:/.test(err) && proc.exitCode === 0,
    `exit=${proc.exitCode} signal=${proc.signalCode} ${err.slice(-800)}`);
}
