// What the real-browser dashboard tests share (test_dashboard.mjs,
// test_dashboard_firsthour.mjs, test_dashboard_explain.mjs): TAP output and
// checks, starting and stopping the real seq2seqd, launching Debian's
// chromium through playwright-core, the page helpers every test uses, and
// the run itself (watchdog, harness failures, the daemon log, cleanup).
//
// The tests run through test_dashboard.sh, which installs playwright-core
// into the build tree and passes its location in S2S_PLAYWRIGHT.
import {spawn} from 'node:child_process';
import {createRequire} from 'node:module';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {isDeepStrictEqual} from 'node:util';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const SRCDIR = process.env.S2S_SRCDIR || path.resolve(HERE, '../..');
export const BUILDDIR = process.env.S2S_BUILDDIR || process.cwd();
export const BINARY = path.join(BUILDDIR, 'seq2seqd');
export const CHROMIUM = process.env.S2S_CHROMIUM || '/usr/bin/chromium';
export const PLAYWRIGHT = process.env.S2S_PLAYWRIGHT || path.join(BUILDDIR, 'tests/dashboard/npm/node_modules/playwright-core');
export const SHOTS = path.join(BUILDDIR, 'tests/dashboard/screenshots');
// The n-best box: the page also gives the n-best table id="nbest" (the box
// comes first), so the input is named by its tag.
export const NBEST_INPUT = 'input#nbest';
export const TIMEOUT_MS = 10000; // per browser action or wait
export const WATCHDOG_MS = 180000; // the whole run

export const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 's2s-dashboard-'));
let daemon = null;
let context = null;
let nTest = 0;
let failed = 0;

/* ---------- TAP ---------- */

export function tap(line) {
  process.stdout.write(line + '\n');
}

export function diag(text) {
  // eslint-disable-next-line no-control-regex
  for (const l of String(text).replace(/\x1b\[[0-9;]*m/g, '').split('\n')) tap('# ' + l);
}

export class Fail extends Error {}

export function check(cond, msg) {
  if (!cond) throw new Fail(msg);
}

export function eq(got, want, what) {
  check(isDeepStrictEqual(got, want), `${what}: got ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
}

export async function test(name, fn) {
  nTest++;
  try {
    await fn();
    tap(`ok ${nTest} - ${name}`);
  } catch (e) {
    failed++;
    tap(`not ok ${nTest} - ${name}`);
    diag(e instanceof Fail ? e.message : e.stack || String(e));
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* ---------- the daemon ---------- */

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const {port} = s.address();
      s.close(() => resolve(port));
    });
  });
}

/* Starts seq2seqd on `port` (a free one by default; it may have been another
 * daemon's a moment ago) serving `models` ([name, file]) with `args` added,
 * and waits for /readyz. Resolves to {port, base}. */
export async function startDaemon({models, args: extra = [], port, logName = 'seq2seqd.log'}) {
  if (port === undefined) port = await freePort();
  const args = ['--config=/dev/null', `--port=${port}`, '--bind=127.0.0.1', `--data_dir=${SRCDIR}`,
    ...extra, '--workers=1', '--drain_timeout_s=1'];
  for (const [name, file] of models) args.push('--model', `${name}=${file}`);
  const env = {...process.env};
  for (const k of Object.keys(env)) {
    if (k.startsWith('SEQ2SEQD_') || ['NOTIFY_SOCKET', 'LISTEN_FDS', 'LISTEN_PID', 'WATCHDOG_USEC'].includes(k)) delete env[k];
  }
  const logPath = path.join(tmp, logName);
  const log = fs.openSync(logPath, 'w');
  daemon = spawn(BINARY, args, {env, stdio: ['ignore', log, log]});
  daemon.logPath = logPath;
  const base = `http://127.0.0.1:${port}`;
  const end = Date.now() + 20000;
  while (Date.now() < end) {
    if (daemon.exitCode !== null) throw new Error(`seq2seqd exited with ${daemon.exitCode}:\n${daemonLog()}`);
    try {
      const r = await fetch(base + '/readyz');
      if (r.status === 200) return {port, base};
    } catch (e) { /* not listening yet */ }
    await sleep(100);
  }
  throw new Error('seq2seqd did not become ready:\n' + daemonLog());
}

export function daemonLog() {
  try {
    return fs.readFileSync(daemon.logPath, 'utf8').split('\n').slice(-40).join('\n');
  } catch (e) {
    return '(no log)';
  }
}

export async function stopDaemon() {
  if (!daemon || daemon.exitCode !== null) return;
  const exited = new Promise((r) => daemon.once('exit', r));
  daemon.kill('SIGTERM');
  await Promise.race([exited, sleep(5000)]);
  if (daemon.exitCode === null) {
    daemon.kill('SIGKILL');
    await Promise.race([exited, sleep(2000)]);
  }
}

function cleanup() {
  if (daemon && daemon.exitCode === null) daemon.kill('SIGKILL');
  fs.rmSync(tmp, {recursive: true, force: true});
}

export async function api(base, p, body) {
  const r = await fetch(base + p, body === undefined ? {} : {
    method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)});
  return {status: r.status, json: await r.json()};
}

/* ---------- the browser ---------- */

/* Launches headless chromium with a fresh profile; `opts` are added to
 * launchPersistentContext's. Resolves to {context, pwVersion}. */
export async function launchBrowser(opts = {}) {
  const require = createRequire(path.join(PLAYWRIGHT, 'package.json'));
  const {chromium} = require(PLAYWRIGHT);
  const pwVersion = JSON.parse(fs.readFileSync(path.join(PLAYWRIGHT, 'package.json'), 'utf8')).version;
  context = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(tmp, 'chromium-profile-')), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    viewport: {width: 1280, height: 900},
    timeout: 30000,
    ...opts,
  });
  context.setDefaultTimeout(TIMEOUT_MS);
  return {context, pwVersion};
}

export async function closeBrowser() {
  if (context) await context.close();
  context = null;
}

/* ---------- the page ---------- */

/* Two animation frames: the DOM has been painted. */
export async function frames(page) {
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}

/* The page has handled the last answer: the button is enabled again and the
 * result region is not busy; then two frames for the DOM to be painted. */
export async function settle(page) {
  await page.waitForFunction(() => !document.querySelector('#translate').disabled &&
    document.querySelector('#result').getAttribute('aria-busy') !== 'true');
  await frames(page);
}

/** Fills the translate form, submits it (clicks `trigger`, the Translate
 * button by default) and returns the request body the page sent and the JSON
 * the daemon answered (status too), once the page has finished rendering it.
 * `fields` values are strings for the inputs. */
export async function translateVia(page, fields = {}, trigger) {
  for (const [sel, v] of Object.entries(fields)) await page.fill(sel, v);
  const respP = page.waitForResponse((r) => r.url().endsWith('/v1/translate') && r.request().method() === 'POST');
  await (trigger ? trigger() : page.click('#translate'));
  const resp = await respP;
  const body = JSON.parse(resp.request().postData());
  const json = await resp.json();
  await settle(page);
  return {body, json, status: resp.status()};
}

export async function shot(page, name, opts = {}) {
  fs.mkdirSync(SHOTS, {recursive: true});
  const file = path.join(SHOTS, name);
  await page.screenshot({path: file, fullPage: true, ...opts});
  return file;
}

/* ---------- the run ---------- */

/* Runs `main` under the watchdog, reports an exception out of it as a failed
 * test, stops the browser and the daemon, prints the plan and sets the exit
 * status. */
export async function run(main) {
  const watchdog = setTimeout(() => {
    tap(`not ok ${nTest + 1} - watchdog: the run took longer than ${WATCHDOG_MS / 1000} s`);
    tap(`1..${nTest + 1}`);
    cleanup();
    process.exit(1);
  }, WATCHDOG_MS);

  try {
    await main();
  } catch (e) {
    nTest++;
    failed++;
    tap(`not ok ${nTest} - harness: ${String(e.message || e).split('\n')[0]}`);
    diag(e.stack || String(e));
    if (daemon) diag('seq2seqd log:\n' + daemonLog());
  }
  if (context) await context.close().catch(() => {});
  await stopDaemon();
  if (failed && daemon) diag('seq2seqd log (tail):\n' + daemonLog());
  tap(`1..${nTest}`);
  clearTimeout(watchdog);
  cleanup();
  process.exitCode = failed ? 1 : 0;
}
