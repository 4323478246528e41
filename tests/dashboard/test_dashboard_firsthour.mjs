// Real-browser tests of the dashboard's first-hour fixes (issue 13). Emits TAP.
//
// The test owns its daemon: it starts the real seq2seqd with the two
// built-in models (dates, character level; en-fr, SentencePiece subwords)
// and a recent-translations buffer larger than the page lists, looks at the
// live view while it is idle, and at the end restarts it on the same port
// with another model set while the page stays open. Chromium (Debian's)
// headless through playwright-core, as test_dashboard.mjs. What the page
// should show is derived from what the API answered for the same request.
//
// Run through test_dashboard_firsthour.sh. Node 18 or later.
import {
  SRCDIR, NBEST_INPUT, diag, Fail, check, eq, test, sleep, freePort, startDaemon as start, stopDaemon, api,
  launchBrowser, closeBrowser, frames, translateVia as translate, shot, run,
} from './harness.mjs';
import path from 'node:path';

const RECENT_CAP = 20; // rows the live view lists at most (app.js RECENT_SHOWN)
const RECENT_BUFFER = 100; // the daemon's buffer: more than the page lists
const CELL_MIN = 26; // the cell side before issue 13, and now the least
const THRESHOLD = 0.5; // the page's default low-attention threshold
const WORD_START = '\u2581';
const MODELS_A = [['dates', 'models/dates.safetensors'], ['en-fr', 'models/en-fr.safetensors']];
// After the restart: another set, so that a stale list is visible.
const MODELS_B = [['dates-v2', 'models/dates.safetensors']];

/* ---------- the daemon ---------- */

/* Starts seq2seqd on `port` serving `models` ([name, file under SRCDIR]) and
 * waits for /readyz; the port may have been another daemon's a moment ago. */
async function startDaemon(port, models, logName) {
  const served = models.map(([name, file]) => [name, path.join(SRCDIR, file)]);
  return (await start({port, models: served, args: [`--recent_translations=${RECENT_BUFFER}`], logName})).base;
}

/* ---------- the page ---------- */

/** Fills the form, translates through the page; resolves to the request body
 * and the answer once the page has drawn it. */
async function translateVia(page, fields = {}) {
  const {body, json, status} = await translate(page, fields);
  check(status === 200, `translate answered ${status}: ${JSON.stringify(json)}`);
  return {body, json};
}

/* The heatmap's column and row labels: text, token, classes, whether a
 * word-start dot goes with them, and the computed transform. */
function readLabels(page) {
  return page.evaluate(() => {
    const svg = document.querySelector('#heatmap svg');
    const one = (t, key) => ({
      text: t.textContent, token: t.getAttribute('data-token'),
      low: t.classList.contains('low'), start: t.classList.contains('word-start'),
      dot: !!svg.querySelector(`circle.word-start-mark[${key}="${t.getAttribute(key)}"]`),
      transform: getComputedStyle(t).transform,
    });
    return {
      src: [...svg.querySelectorAll('text.src-label')].map((t) => one(t, 'data-col')),
      tgt: [...svg.querySelectorAll('text.tgt-label')].map((t) => one(t, 'data-row')),
    };
  });
}

/* Source word of each source token, by the word-start rule of docs/api.md. */
function wordOf(tokens) {
  let w = -1;
  return tokens.map((t, k) => (k === 0 || t.startsWith(WORD_START) ? ++w : w));
}

/* ---------- the tests ---------- */

async function main() {
  const port = await freePort();
  let base = await startDaemon(port, MODELS_A, 'seq2seqd-a.log');
  const origin = base;

  const {context} = await launchBrowser();
  const pageErrors = [];
  const page = context.pages()[0] || await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  diag(`daemon on ${origin}, models ${MODELS_A.map((m) => m[0]).join(', ')}`);

  await test('live view, idle daemon: latency and rows/step say "no traffic" (no 0.00), time ticks drawn', async () => {
    await page.goto(origin + '/#live', {waitUntil: 'load'});
    await page.waitForSelector('#view-live', {state: 'visible'});
    // Two scrapes at least: the first has nothing to subtract from.
    await page.waitForFunction(() => document.querySelectorAll('#chart-latency text.latest').length === 2, null, {timeout: 5000});
    await sleep(2200);
    const charts = await page.evaluate(() => ['#chart-throughput', '#chart-queue', '#chart-rows', '#chart-latency'].map((s) => {
      const c = document.querySelector(s);
      return {s, latest: [...c.querySelectorAll('text.latest')].map((t) => [t.textContent, t.getAttribute('data-latest')]),
        ticks: c.querySelectorAll('line.time-tick').length,
        labels: [...c.querySelectorAll('text.time-label')].map((t) => t.textContent),
        xs: [...c.querySelectorAll('line.time-tick')].map((l) => Number(l.getAttribute('x1')))};
    }));
    for (const c of charts) {
      check(c.ticks >= 5, `${c.s}: ${c.ticks} time ticks`);
      eq(c.labels.length, c.ticks, `${c.s}: a label per time tick`);
      check(c.labels.includes('now'), `${c.s}: no "now" among ${JSON.stringify(c.labels)}`);
      check(c.xs.every((x, k) => k === 0 || x > c.xs[k - 1]), `${c.s}: ticks not left to right: ${c.xs}`);
      eq(c.latest.length, c.s === '#chart-latency' ? 2 : 1, `${c.s}: latest values`);
    }
    for (const c of charts.filter((x) => x.s === '#chart-latency' || x.s === '#chart-rows')) {
      for (const [text, v] of c.latest) {
        check(!/\d/.test(text.split(':').slice(1).join(':')), `${c.s}: ${JSON.stringify(text)} shows a number with no traffic`);
        check(text.includes('—') && text.includes('no traffic'), `${c.s}: ${JSON.stringify(text)} does not say "— no traffic"`);
        eq(v, '', `${c.s}: data-latest with no traffic`);
      }
      eq(await page.$$eval(`${c.s} path.series`, (p) => p.length), 0, `${c.s}: lines drawn with no traffic`);
    }
    await shot(page, 'dashboard-live-idle.png');
  });

  await test(`recent translations: ${RECENT_CAP + 10} made, the newest ${RECENT_CAP} listed, the box scrolls`, async () => {
    const sources = [];
    for (let k = 1; k <= RECENT_CAP + 10; k++) {
      const text = `2026/${1 + (k % 12)}/${k}`;
      sources.push(text);
      const r = await api(base, '/v1/translate', {model: 'dates', text});
      eq(r.status, 200, `translate ${text}`);
    }
    const rec = (await api(base, '/v1/recent')).json;
    check(rec.items.length > RECENT_CAP, `the daemon keeps ${rec.items.length}: the test needs more than ${RECENT_CAP}`);
    const newest = sources[sources.length - 1];
    await page.waitForFunction((s) => {
      const tr = document.querySelector('#recent tbody tr');
      return tr && tr.querySelector('.recent-source').textContent === s;
    }, newest, {timeout: 5000});
    const got = await page.evaluate(() => {
      const wrap = document.querySelector('#recent-wrap');
      return {rows: [...document.querySelectorAll('#recent tbody tr .recent-source')].map((t) => t.textContent),
        client: wrap.clientHeight, scroll: wrap.scrollHeight, status: document.querySelector('#recent-status').textContent};
    });
    eq(got.rows, rec.items.slice(0, RECENT_CAP).map((it) => it.source), 'rows listed (newest first)');
    eq(got.rows[0], newest, 'first row');
    check(got.scroll > got.client && got.client <= 420, `#recent-wrap: ${got.client} px shown of ${got.scroll}: does not scroll`);
    check(got.status.includes(String(RECENT_CAP)) && got.status.includes(String(rec.total)), `#recent-status ${JSON.stringify(got.status)}`);
    // The live charts now have values: the latency chart shows a number.
    await page.waitForFunction(() => [...document.querySelectorAll('#chart-latency text.latest')]
      .some((t) => t.getAttribute('data-latest') !== ''), null, {timeout: 5000});
  });

  await page.click('#tab-translate');
  await page.waitForSelector('#view-translate', {state: 'visible'});
  await page.waitForFunction(() => document.querySelectorAll('#model option').length === 2);

  await test('labels: no ▁ in any label; word starts carry class word-start and a dot; single characters upright', async () => {
    await page.selectOption('#model', 'en-fr');
    const src = 'Save changes to the document before closing?';
    const {json} = await translateVia(page, {'#source': src, '#beam': '3', [NBEST_INPUT]: '1'});
    const r = json.results[0], h = r.hypotheses[0];
    check(r.source_tokens.some((t) => t.startsWith(WORD_START)), 'precondition: no source token starts with ▁');
    const en = await readLabels(page);
    await page.selectOption('#model', 'dates');
    const dj = (await translateVia(page, {'#source': 'monday, march 1st 2021', '#beam': '1', [NBEST_INPUT]: '1'})).json;
    check(dj.results[0].source_tokens.includes(WORD_START), 'precondition: the dates model has no lone ▁ token');
    const dates = await readLabels(page);
    for (const [what, labels, tokens] of [['en-fr columns', en.src, r.source_tokens], ['en-fr rows', en.tgt, h.tokens],
      ['dates columns', dates.src, dj.results[0].source_tokens], ['dates rows', dates.tgt, dj.results[0].hypotheses[0].tokens]]) {
      eq(labels.map((l) => l.token), tokens, `${what}: data-token`);
      labels.forEach((l, k) => {
        const t = tokens[k];
        check(!l.text.includes(WORD_START), `${what} ${k}: label ${JSON.stringify(l.text)} contains ▁`);
        const start = t.startsWith(WORD_START);
        eq([l.start, l.dot], [start, start], `${what} ${k} (${JSON.stringify(t)}): [class word-start, dot]`);
        const want = t === WORD_START ? '\u2423' : t.replace(WORD_START, '');
        eq(l.text, want, `${what} ${k}: label of ${JSON.stringify(t)}`);
      });
    }
    // Columns: a label of one character is upright, a longer one turned.
    const upright = (tf) => tf === 'none' || tf === 'matrix(1, 0, 0, 1, 0, 0)';
    for (const [what, labels] of [['en-fr', en.src], ['dates', dates.src]]) {
      for (const l of labels) {
        const one = [...l.text].length === 1;
        check(one === upright(l.transform), `${what}: label ${JSON.stringify(l.text)} has transform ${l.transform}`);
      }
    }
    check(en.src.some((l) => [...l.text].length === 1) && en.src.some((l) => [...l.text].length > 1),
      'precondition: en-fr columns of one and of several characters');
    check(dates.src.every((l) => [...l.text].length === 1), 'the dates model\'s columns are not all single characters');
    await shot(page, 'dashboard-labels-dates.png');
  });

  await test('low attention, subword level: dates flags few characters; en-fr still flags a dropped word', async () => {
    await page.selectOption('#model', 'dates');
    eq(Number(await page.inputValue('#threshold')), THRESHOLD, 'default #threshold');
    const examples = (await api(base, '/v1/models')).json.models.find((m) => m.name === 'dates').examples;
    let chars = 0, flagged = 0, perChar = 0;
    for (const ex of examples) {
      const {json} = await translateVia(page, {'#source': ex, '#beam': '1', [NBEST_INPUT]: '1'});
      const r = json.results[0], A = r.hypotheses[0].attention;
      const w = wordOf(r.source_tokens);
      eq(Math.max(...w) + 1, r.coverage.length, `${ex}: words by ▁ vs the daemon's coverage`);
      const want = w.map((k) => r.coverage[k] < THRESHOLD);
      const got = (await readLabels(page)).src.map((l) => l.low);
      eq(got, want, `${ex}: columns flagged (their word's coverage ${JSON.stringify(r.coverage)} < ${THRESHOLD})`);
      chars += got.length;
      flagged += got.filter(Boolean).length;
      // What judging each character alone flagged before issue 13.
      perChar += r.source_tokens.filter((_, j) => A.reduce((s, row) => s + row[j], 0) < THRESHOLD).length;
    }
    diag(`dates examples: ${flagged} of ${chars} characters flagged (judged one by one: ${perChar})`);
    check(flagged * 4 <= chars, `${flagged} of ${chars} characters of the dates examples flagged: more than a quarter`);
    check(perChar > 2 * flagged, `judged one by one ${perChar} characters would be flagged, now ${flagged}: the test shows nothing`);
    // en-fr: "the" is dropped ("du" stands for "to the"): its coverage is
    // near 0 and its column is flagged and listed.
    await page.selectOption('#model', 'en-fr');
    const {json} = await translateVia(page, {'#source': 'Save changes to the document before closing?', '#beam': '5', [NBEST_INPUT]: '1'});
    const r = json.results[0];
    check(r.low_coverage_words.length >= 1, `precondition: en-fr dropped no word here (coverage ${JSON.stringify(r.coverage)})`);
    const w = wordOf(r.source_tokens);
    const labels = (await readLabels(page)).src;
    eq(labels.map((l) => l.low), w.map((k) => r.coverage[k] < THRESHOLD), 'en-fr columns flagged');
    const line = await page.textContent('#low-attention');
    for (const word of r.low_coverage_words) check(line.includes(word), `#low-attention ${JSON.stringify(line)} lacks ${word}`);
  });

  await test('cells grow with the box: wider at 1280 px than at 800 px, never under 26 px, the map fits', async () => {
    await page.selectOption('#model', 'dates');
    await translateVia(page, {'#source': 'the 23rd of november 2026', '#beam': '1', [NBEST_INPUT]: '1'});
    const measure = () => page.evaluate(() => {
      const c = document.querySelector('#heatmap rect.cell');
      const svg = document.querySelector('#heatmap svg');
      return {cell: c.getBoundingClientRect().width + 1, svg: svg.getBoundingClientRect().width,
        box: document.querySelector('#heatmap-wrap').clientWidth};
    });
    const wide = await measure();
    await page.setViewportSize({width: 800, height: 900});
    await page.waitForFunction((w) => document.querySelector('#heatmap rect.cell').getBoundingClientRect().width + 1 < w, wide.cell, {timeout: 3000})
      .catch(() => {});
    const narrow = await measure();
    await page.setViewportSize({width: 1280, height: 900});
    await page.waitForFunction((w) => document.querySelector('#heatmap rect.cell').getBoundingClientRect().width + 1 === w, wide.cell, {timeout: 3000})
      .catch(() => {});
    const back = await measure();
    diag(`cell side: ${wide.cell} px at 1280 px (box ${wide.box}), ${narrow.cell} px at 800 px (box ${narrow.box})`);
    check(wide.cell > CELL_MIN, `cells ${wide.cell} px in a ${wide.box} px box: not grown`);
    check(wide.cell > narrow.cell, `cells ${wide.cell} px at 1280 px, ${narrow.cell} px at 800 px`);
    check(narrow.cell >= CELL_MIN, `cells ${narrow.cell} px at 800 px`);
    check(wide.svg <= wide.box && narrow.svg <= narrow.box, `map wider than its box: ${wide.svg}/${wide.box}, ${narrow.svg}/${narrow.box}`);
    eq(back.cell, wide.cell, 'cell side after going back to 1280 px');
  });

  await test('n-best: "Normalised" hidden without a length penalty, shown with one; scores on one line at 390 px', async () => {
    await page.selectOption('#model', 'en-fr');
    const src = 'Save changes to the document before closing?';
    const none = await translateVia(page, {'#source': src, '#beam': '5', [NBEST_INPUT]: '3', '#length-penalty': ''});
    check(none.body.options.length_penalty === undefined, `length_penalty sent: ${JSON.stringify(none.body.options)}`);
    const hyps = none.json.results[0].hypotheses;
    check(hyps.every((h) => h.norm_score === h.score), 'precondition: the model has a default length penalty');
    const seen = () => page.evaluate(() => ({head: !document.querySelector('#nbest-norm').hidden &&
      getComputedStyle(document.querySelector('#nbest-norm')).display !== 'none',
    cells: [...document.querySelectorAll('#nbest td.hyp-norm')].map((td) => td.textContent)}));
    eq(await seen(), {head: false, cells: []}, 'Normalised column without a penalty');
    const lp = await translateVia(page, {'#length-penalty': '1'});
    eq(lp.body.options.length_penalty, 1, 'options.length_penalty sent');
    const h2 = lp.json.results[0].hypotheses;
    check(h2.some((h) => h.norm_score.toFixed(3) !== h.score.toFixed(3)), 'precondition: the penalty changed no score');
    eq(await seen(), {head: true, cells: h2.map((h) => h.norm_score.toFixed(3))}, 'Normalised column with penalty 1');
    // Narrow: the text column wraps, the numbers do not.
    await page.setViewportSize({width: 390, height: 844});
    await page.waitForFunction(() => document.documentElement.clientWidth <= 390);
    const lines = await page.evaluate(() => [...document.querySelectorAll('#nbest td.num, #nbest th.num')].map((td) => {
      const range = document.createRange();
      range.selectNodeContents(td);
      const tops = new Set([...range.getClientRects()].filter((q) => q.width > 0).map((q) => Math.round(q.top)));
      return [td.textContent, tops.size];
    }));
    check(lines.length >= 2 * h2.length, `only ${lines.length} score cells`);
    for (const [text, n] of lines) eq(n, 1, `lines of the score cell ${JSON.stringify(text)} at 390 px`);
    const textLines = await page.$eval('#nbest td.hyp-text', (td) => {
      const range = document.createRange();
      range.selectNodeContents(td);
      return new Set([...range.getClientRects()].map((q) => Math.round(q.top))).size;
    });
    check(textLines > 1, 'the hypothesis text fits on one line at 390 px: the test shows nothing');
    await frames(page);
    await shot(page, 'dashboard-nbest-narrow.png');
    await page.setViewportSize({width: 1280, height: 900});
    await page.fill('#length-penalty', '');
  });

  await test('restart: the daemon comes back on the same port with other models; #model follows', async () => {
    eq(await page.$$eval('#model option', (os) => os.map((o) => o.value)), MODELS_A.map((m) => m[0]), '#model before');
    await stopDaemon();
    base = await startDaemon(port, MODELS_B, 'seq2seqd-b.log');
    const want = MODELS_B.map((m) => m[0]);
    try {
      await page.waitForFunction((w) => JSON.stringify([...document.querySelectorAll('#model option')].map((o) => o.value)) === w,
        JSON.stringify(want), {timeout: 15000});
    } catch (e) {
      throw new Fail(`#model after the restart: ${JSON.stringify(await page.$$eval('#model option', (os) => os.map((o) => o.value)))}, expected ${JSON.stringify(want)}`);
    }
    const ex = await page.$$eval('#examples button.example', (bs) => bs.map((b) => b.textContent.trim()));
    const served = (await api(base, '/v1/models')).json.models;
    eq(ex, served[0].examples, 'examples after the restart');
    const {json} = await translateVia(page, {'#source': served[0].examples[0]});
    eq(json.model, want[0], 'model answering after the restart');
    check(!(await page.isVisible('#error')), '#error shown after the restart');
    // Back to the first set; at once a request for a model that is gone:
    // its model_not_found makes the page read the list again, without
    // waiting for the next health check (5 s).
    await stopDaemon();
    base = await startDaemon(port, MODELS_A, 'seq2seqd-c.log');
    const respP = page.waitForResponse((r) => r.url().endsWith('/v1/translate'));
    await page.click('#translate');
    const resp = await respP;
    eq([resp.status(), (await resp.json()).error.code], [404, 'model_not_found'], 'answer for the model that is gone');
    const t0 = Date.now();
    await page.waitForFunction((w) => JSON.stringify([...document.querySelectorAll('#model option')].map((o) => o.value)) === w,
      JSON.stringify(MODELS_A.map((m) => m[0])), {timeout: 15000});
    const ms = Date.now() - t0;
    diag(`#model followed ${ms} ms after model_not_found`);
    check(ms < 2000, `#model took ${ms} ms after model_not_found: not refreshed by the error`);
  });

  await test('no uncaught page errors', async () => {
    eq(pageErrors, [], 'page errors');
  });
  await closeBrowser();
}

await run(main);
