// Real-browser tests of the seq2seqd dashboard (issue 5). Emits TAP.
//
// Starts the real seq2seqd binary on a loopback port (built-in models from
// $S2S_SRCDIR/models, plus a golden fixture when fewer than two ship, and
// --recent_translations=20), drives Debian's chromium headless through
// playwright-core, and checks what the page shows against what the API
// returned for the same request: nothing expected is hard-coded.
//
// Run through test_dashboard.sh, which installs playwright-core into the
// build tree and passes its location in S2S_PLAYWRIGHT. Node 18 or later.
import fs from 'node:fs';
import path from 'node:path';
import {isDeepStrictEqual} from 'node:util';
import {
  SRCDIR, CHROMIUM, NBEST_INPUT, diag, check, eq, test, startDaemon, api, launchBrowser, closeBrowser,
  translateVia, shot, run,
} from './harness.mjs';

// A second model when only one is built in: a random-weight golden fixture
// with a BPE tokenizer (so subword and word level differ) and examples.
const FIXTURE = 'lstm_additive_luong_feed_bpe';
const HYP_ROWS = '#nbest tr.hyp';

/* ---------- the daemon ---------- */

function modelsToServe() {
  const dir = path.join(SRCDIR, 'models');
  const out = fs.readdirSync(dir).filter((f) => f.endsWith('.safetensors')).sort()
    .map((f) => [f.slice(0, -'.safetensors'.length), path.join(dir, f)]);
  if (out.length < 2) out.push(['fixture-bpe', path.join(SRCDIR, 'tests/fixtures', FIXTURE + '.safetensors')]);
  return out;
}

/* ---------- the page ---------- */

/** What the heatmap shows: cells, labels, the index of the shown hypothesis. */
function readHeatmap(page) {
  return page.evaluate((HYP_ROWS) => {
    const cells = [...document.querySelectorAll('#heatmap svg rect.cell')].map((c) => ({
      row: c.getAttribute('data-row'), col: c.getAttribute('data-col'), weight: c.getAttribute('data-weight'),
      active: c.classList.contains('active')}));
    const rows = [...document.querySelectorAll(HYP_ROWS)];
    let shown = rows.findIndex((r) => r.getAttribute('aria-selected') === 'true');
    if (shown < 0) shown = 0;
    return {
      cells,
      srcLabels: [...document.querySelectorAll('#heatmap svg text.src-label')].map((t) => t.textContent),
      srcTokens: [...document.querySelectorAll('#heatmap svg text.src-label')].map((t) => t.getAttribute('data-token')),
      tgtTokens: [...document.querySelectorAll('#heatmap svg text.tgt-label')].map((t) => t.getAttribute('data-token')),
      srcLow: [...document.querySelectorAll('#heatmap svg text.src-label')].map((t) => t.classList.contains('low')),
      tgtLabels: [...document.querySelectorAll('#heatmap svg text.tgt-label')].map((t) => t.textContent),
      shown,
    };
  }, HYP_ROWS);
}

/* What a label shows for a token (issue 13): SentencePiece's word-start mark
 * U+2581 dropped (rotated, it reads as "/"), a lone mark shown as "␣". */
function shownLabel(t) {
  const s = t.split('\u2581').join(' ').trim();
  return s === '' ? '\u2423' : s;
}

/* Row and column labels of a hypothesis's matrix, by its attention level. */
function axes(result, hyp) {
  const word = hyp.attention_level === 'word';
  return {rows: word ? hyp.target_words : hyp.tokens, cols: word ? result.source_words : result.source_tokens};
}

function checkHeatmapMatches(hm, result, hyp, what) {
  const {rows, cols} = axes(result, hyp);
  check(Array.isArray(hyp.attention), `${what}: the API returned no attention matrix`);
  eq(hm.cells.length, rows.length * cols.length, `${what}: number of rect.cell (|rows| x |cols| = ${rows.length} x ${cols.length})`);
  eq(hm.srcTokens, cols, `${what}: text.src-label data-token`);
  eq(hm.tgtTokens, rows, `${what}: text.tgt-label data-token`);
  eq(hm.srcLabels, cols.map(shownLabel), `${what}: text.src-label`);
  eq(hm.tgtLabels, rows.map(shownLabel), `${what}: text.tgt-label`);
  const seen = new Set();
  for (const c of hm.cells) {
    check(c.row !== null && c.col !== null && c.weight !== null, `${what}: a cell lacks data-row/data-col/data-weight: ${JSON.stringify(c)}`);
    const i = Number(c.row), j = Number(c.col);
    check(Number.isInteger(i) && Number.isInteger(j) && i >= 0 && j >= 0 && i < rows.length && j < cols.length,
      `${what}: cell index out of range: ${JSON.stringify(c)}`);
    seen.add(`${i},${j}`);
    const want = hyp.attention[i][j];
    const got = Number.parseFloat(c.weight);
    check(Math.abs(got - want) <= 1e-6, `${what}: cell (${i},${j}) data-weight ${c.weight}, API attention ${want}`);
  }
  eq(seen.size, rows.length * cols.length, `${what}: distinct (row, col) cells`);
}


/* ---------- the tests ---------- */

async function main() {
  const {port, base} = await startDaemon({models: modelsToServe(), args: ['--recent_translations=20']});
  const origin = `http://127.0.0.1:${port}`;
  const models = (await api(base, '/v1/models')).json.models;
  check(models.length >= 2, `need two models, the daemon serves ${models.map((m) => m.name)}`);

  const {context, pwVersion} = await launchBrowser({acceptDownloads: true});
  diag(`playwright-core ${pwVersion}, ${CHROMIUM} ${context.browser() ? context.browser().version() : ''}, daemon on ${origin}, models ${models.map((m) => m.name).join(', ')}`);

  // Every request the browser makes, and every error it reports, all run long.
  const requests = [];
  const consoleErrors = [];
  const pageErrors = [];
  context.on('request', (r) => requests.push(r.url()));
  const page = context.pages()[0] || await context.newPage();
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  const local = (u) => u.startsWith(origin + '/') || u.startsWith(`blob:${origin}/`) || u.startsWith('data:');

  const modelA = models.find((m) => m.default) || models[0];
  const modelB = models.find((m) => m !== modelA);
  let translated = []; // sentences translated through the page, for the live view
  let lastOk = null; // {body, json} of the last successful translation

  await test('page loads at / with only local requests, no console errors, title names seq2seqd', async () => {
    const resp = await page.goto(origin + '/', {waitUntil: 'load'});
    eq(resp.status(), 200, 'GET / status');
    await page.waitForFunction(() => document.querySelectorAll('#model option').length > 0);
    await page.waitForLoadState('networkidle');
    const title = await page.title();
    check(title.includes('seq2seqd'), `title ${JSON.stringify(title)} does not contain "seq2seqd"`);
    const external = requests.filter((u) => !local(u));
    check(external.length === 0, `requests outside ${origin}: ${external.join(', ')}`);
    check(requests.some((u) => u === origin + '/'), 'the page request was not recorded');
    check(consoleErrors.length === 0, `console errors: ${consoleErrors.join(' | ')}`);
    check(pageErrors.length === 0, `page errors: ${pageErrors.join(' | ')}`);
  });

  await test('#model lists exactly GET /v1/models; examples are the model\'s; a click fills #source', async () => {
    const opts = await page.$$eval('#model option', (os) => os.map((o) => o.value));
    eq(opts, models.map((m) => m.name), '#model options');
    const sel = await page.inputValue('#model');
    const m = models.find((x) => x.name === sel);
    check(m, `selected model ${sel} is not in /v1/models`);
    eq(sel, modelA.name, 'the default model is selected');
    const ex = await page.$$eval('#examples button.example', (bs) => bs.map((b) => b.textContent.trim()));
    eq(ex, m.examples, `examples of ${sel}`);
    check(ex.length >= 2, `model ${sel} has fewer than two examples to click`);
    await page.fill('#source', '');
    await page.click(`#examples button.example >> nth=${ex.length - 1}`);
    eq(await page.inputValue('#source'), ex[ex.length - 1], '#source after clicking the last example');
    await page.click('#examples button.example >> nth=1');
    eq(await page.inputValue('#source'), ex[1], '#source after clicking the second example');
  });

  await test('translate: #translation and the n-best table are the API\'s answer', async () => {
    const sentence = modelA.examples[0];
    const {body, json, status} = await translateVia(page, {'#source': sentence, '#beam': '3', [NBEST_INPUT]: '2'});
    eq(status, 200, `POST /v1/translate status (${JSON.stringify(json)})`);
    // Later tests look at this answer even if a check below fails.
    lastOk = {body, json};
    translated.push(sentence);
    eq(body.text !== undefined ? body.text : body.sentences && body.sentences[0], sentence, 'sentence sent');
    eq(body.options && body.options.beam_size, 3, 'options.beam_size sent');
    eq(body.options && body.options.n_best, 2, 'options.n_best sent');
    eq(body.model, modelA.name, 'model sent');
    const hyps = json.results[0].hypotheses;
    eq(hyps.length, 2, 'hypotheses returned for n_best 2');
    check(await page.isVisible('#translation'), '#translation is not visible');
    eq((await page.textContent('#translation')).trim(), hyps[0].text, '#translation');
    const rows = await page.$$eval(HYP_ROWS, (trs) => trs.map((tr) => tr.textContent));
    eq(rows.length, hyps.length, `${HYP_ROWS} count`);
    rows.forEach((t, k) => {
      check(t.includes(hyps[k].text), `n-best row ${k + 1} ${JSON.stringify(t)} lacks the text ${JSON.stringify(hyps[k].text)}`);
      const nums = (t.match(/-?\d+(?:\.\d+)?(?:e-?\d+)?/g) || []).map(Number);
      check(nums.some((n) => Math.abs(n - hyps[k].score) <= 0.0051 + 1e-3 * Math.abs(hyps[k].score)),
        `n-best row ${k + 1} ${JSON.stringify(t)} does not show its score ${hyps[k].score}`);
    });
  });

  await test('heatmap: |tokens| x |source_tokens| cells with the API\'s weights and labels (subword)', async () => {
    check(lastOk, 'no translation to look at');
    check(await page.isChecked('#level-subword'), '#level-subword is not checked by default');
    eq(lastOk.body.options.attention, true, 'options.attention sent');
    const r = lastOk.json.results[0];
    let hm = await readHeatmap(page);
    eq(hm.shown, 0, 'hypothesis shown after a translation');
    eq(r.hypotheses[0].attention_level || 'subword', 'subword', 'attention_level of the answer');
    checkHeatmapMatches(hm, r, r.hypotheses[0], 'hypothesis 1');
    await shot(page, `dashboard-translate-${modelA.name}.png`);
    // The n-best table picks the hypothesis on the map.
    await page.click(`${HYP_ROWS} >> nth=1`);
    hm = await readHeatmap(page);
    eq(hm.shown, 1, 'hypothesis shown after clicking the second n-best row');
    checkHeatmapMatches(hm, r, r.hypotheses[1], 'hypothesis 2');
    await page.click(`${HYP_ROWS} >> nth=0`);
    hm = await readHeatmap(page);
    checkHeatmapMatches(hm, r, r.hypotheses[0], 'hypothesis 1 again');
    const file = await shot(page, 'dashboard-translate.png');
    if (process.env.S2S_SCREENSHOT_DIR) {
      fs.mkdirSync(process.env.S2S_SCREENSHOT_DIR, {recursive: true});
      fs.copyFileSync(file, path.join(process.env.S2S_SCREENSHOT_DIR, 'dashboard-translate.png'));
    }
  });

  await test('hover: #tooltip shows the cell\'s exact API weight and its two tokens', async () => {
    check(lastOk, 'no translation to look at');
    const r = lastOk.json.results[0];
    const h = r.hypotheses[0];
    const {rows, cols} = axes(r, h);
    const i = Math.min(2, rows.length - 1), j = Math.min(3, cols.length - 1);
    check(!(await page.isVisible('#tooltip')), '#tooltip is visible before any hover');
    await page.hover(`#heatmap rect.cell[data-row="${i}"][data-col="${j}"]`);
    await page.waitForSelector('#tooltip', {state: 'visible'});
    const tip = await page.textContent('#tooltip');
    const w = String(h.attention[i][j]);
    check(tip.includes(w), `tooltip ${JSON.stringify(tip)} lacks the weight ${w}`);
    const rest = tip.replace(w, ' ');
    check(rest.includes(rows[i]), `tooltip ${JSON.stringify(tip)} lacks the target token ${JSON.stringify(rows[i])}`);
    check(rest.includes(cols[j]), `tooltip ${JSON.stringify(tip)} lacks the source token ${JSON.stringify(cols[j])}`);
    await shot(page, 'dashboard-tooltip.png');
    // Another cell: the tooltip follows.
    const i2 = rows.length - 1, j2 = 0;
    await page.hover(`#heatmap rect.cell[data-row="${i2}"][data-col="${j2}"]`);
    await page.waitForFunction((s) => document.querySelector('#tooltip').textContent.includes(s), String(h.attention[i2][j2]));
    await page.mouse.move(1, 1);
  });

  let wordResp = null;
  await test('word level: #level-word asks again with attention_level "word"; |target_words| x |source_words| cells', async () => {
    check(lastOk, 'no translation to look at');
    const {body, json, status} = await translateVia(page, {}, () => page.click('#level-word'));
    eq(status, 200, 'status');
    wordResp = {body, json};
    eq(body.options.attention_level, 'word', 'options.attention_level sent');
    eq(body.text !== undefined ? body.text : body.sentences[0], lastOk.body.text !== undefined ? lastOk.body.text : lastOk.body.sentences[0], 'same sentence');
    const r = json.results[0];
    const h = r.hypotheses[0];
    eq(h.attention_level, 'word', 'attention_level of the answer');
    const hm = await readHeatmap(page);
    eq(hm.cells.length, h.target_words.length * r.source_words.length, 'cells = |target_words| x |source_words|');
    checkHeatmapMatches(hm, r, h, 'word level');
  });

  await test('keyboard: focus #heatmap, ArrowRight and ArrowDown move rect.cell.active, #tooltip follows', async () => {
    check(wordResp || lastOk, 'no translation to look at');
    const {json} = wordResp || lastOk;
    const r = json.results[0];
    const h = r.hypotheses[0];
    const {rows, cols} = axes(r, h);
    check(rows.length >= 2 && cols.length >= 2, `matrix ${rows.length}x${cols.length} too small to move in`);
    await page.mouse.move(1, 1);
    await page.focus('#heatmap');
    eq(await page.evaluate(() => document.activeElement && document.activeElement.id), 'heatmap', 'focused element');
    eq(await page.getAttribute('#heatmap', 'tabindex'), '0', '#heatmap tabindex');
    const active = async () => (await readHeatmap(page)).cells.filter((c) => c.active).map((c) => [Number(c.row), Number(c.col)]);
    await page.keyboard.press('Home');
    let a = await active();
    eq(a.length, 1, 'active cells after focus and Home');
    const [r0, c0] = a[0];
    const c1 = c0 + 1 < cols.length ? c0 + 1 : c0 - 1;
    await page.keyboard.press(c1 > c0 ? 'ArrowRight' : 'ArrowLeft');
    a = await active();
    eq(a, [[r0, c1]], 'active cell after ArrowRight');
    let tip = await page.textContent('#tooltip');
    check(await page.isVisible('#tooltip'), '#tooltip hidden after a key');
    check(tip.includes(String(h.attention[r0][c1])), `tooltip ${JSON.stringify(tip)} lacks weight ${h.attention[r0][c1]} of (${r0},${c1})`);
    const r1 = r0 + 1 < rows.length ? r0 + 1 : r0 - 1;
    await page.keyboard.press(r1 > r0 ? 'ArrowDown' : 'ArrowUp');
    a = await active();
    eq(a, [[r1, c1]], 'active cell after ArrowDown');
    tip = await page.textContent('#tooltip');
    check(tip.includes(String(h.attention[r1][c1])), `tooltip ${JSON.stringify(tip)} lacks weight ${h.attention[r1][c1]} of (${r1},${c1})`);
    check(tip.includes(rows[r1]) && tip.includes(cols[c1]), `tooltip ${JSON.stringify(tip)} lacks the labels ${rows[r1]} / ${cols[c1]}`);
  });

  await test('low attention: src-label.low are the words whose coverage is below #threshold', async () => {
    check(wordResp, 'no word-level translation to look at');
    const r = wordResp.json.results[0];
    check(Array.isArray(r.coverage), `the API returned no coverage: ${JSON.stringify(r.coverage)}`);
    const distinct = [...new Set(r.coverage)].sort((x, y) => x - y);
    check(distinct.length >= 2, `coverage ${JSON.stringify(r.coverage)} has one value: no threshold splits it`);
    // Every split of the coverage values: a threshold between each two
    // neighbours (equal to none), and one above all of them.
    const thresholds = distinct.slice(1).map((v, k) => Number(((distinct[k] + v) / 2).toPrecision(6)));
    thresholds.push(Number((distinct[distinct.length - 1] + 1).toPrecision(6)));
    for (const t of thresholds.filter((x) => !distinct.includes(x))) {
      const byCoverage = r.source_words.filter((_, j) => r.coverage[j] < t);
      // The daemon's own list for that threshold, for the same request.
      const body = structuredClone(wordResp.body);
      body.options.coverage_threshold = t;
      const direct = await api(base, '/v1/translate', body);
      eq(direct.status, 200, 'direct API status');
      const daemonLow = direct.json.results[0].low_coverage_words;
      eq(byCoverage, daemonLow, `low_coverage_words at threshold ${t} (daemon) vs coverage < ${t}`);
      await page.fill('#threshold', String(t));
      await page.evaluate(() => new Promise((res) => requestAnimationFrame(() => requestAnimationFrame(res))));
      const hm = await readHeatmap(page);
      const uiLow = hm.srcLabels.filter((_, j) => hm.srcLow[j]);
      eq(uiLow, daemonLow, `source labels with class "low" at threshold ${t} (coverage ${JSON.stringify(r.coverage)})`);
      const ui = wordResp.body.options;
      if (ui.coverage_threshold === undefined && t === thresholds[0] && !isDeepStrictEqual(r.low_coverage_words, uiLow)) {
        diag(`note: the page sends no options.coverage_threshold, so its own response's low_coverage_words (threshold 0.5) ${JSON.stringify(r.low_coverage_words)} differ from the words it marks at ${t}: ${JSON.stringify(uiLow)}`);
      }
    }
    await page.fill('#threshold', '0.5');
  });

  await test('switch model: examples change; the heatmap has the new answer\'s dimensions', async () => {
    // Back to subword level for the first model, then the other model.
    if (!(await page.isChecked('#level-subword'))) await translateVia(page, {}, () => page.click('#level-subword'));
    await page.selectOption('#model', modelB.name);
    await page.waitForFunction((want) => JSON.stringify([...document.querySelectorAll('#examples button.example')].map((b) => b.textContent.trim())) === want,
      JSON.stringify(modelB.examples)).catch(() => {});
    const ex = await page.$$eval('#examples button.example', (bs) => bs.map((b) => b.textContent.trim()));
    eq(ex, modelB.examples, `examples after switching to ${modelB.name}`);
    check(!isDeepStrictEqual(ex, modelA.examples), 'the two models have the same examples: the switch is not visible');
    const sentence = modelB.examples[modelB.examples.length - 1];
    const {body, json, status} = await translateVia(page, {'#source': sentence, '#beam': '3', [NBEST_INPUT]: '2'});
    eq(status, 200, `status (${JSON.stringify(json)})`);
    translated.push(sentence);
    eq(body.model, modelB.name, 'model sent');
    eq(json.model, modelB.name, 'model answered');
    const r = json.results[0];
    const h = r.hypotheses[0];
    eq((await page.textContent('#translation')).trim(), h.text, '#translation');
    const hm = await readHeatmap(page);
    const {rows, cols} = axes(r, h);
    eq([hm.tgtLabels.length, hm.srcLabels.length], [rows.length, cols.length], 'heatmap rows x columns');
    checkHeatmapMatches(hm, r, h, modelB.name);
    // However few the columns, the legend and the target labels fit the map.
    const overflow = await page.$eval('#heatmap svg', (svg) => {
      const w = svg.width.baseVal.value;
      return [...svg.querySelectorAll('.legend text, .legend rect, text.tgt-label')]
        .map((e) => [e.textContent, e.getBBox()]).filter(([, b]) => b.x < -0.5 || b.x + b.width > w + 0.5)
        .map(([t, b]) => `${JSON.stringify(t)} spans ${b.x.toFixed(0)}..${(b.x + b.width).toFixed(0)} of ${w}`);
    });
    eq(overflow, [], 'heatmap parts outside the SVG');
    await shot(page, `dashboard-translate-${modelB.name}.png`);
    // And back to the first model.
    await page.selectOption('#model', modelA.name);
    const {status: s2} = await translateVia(page, {'#source': modelA.examples[0], '#beam': '3', [NBEST_INPUT]: '2'});
    eq(s2, 200, 'translate with the first model again');
  });

  await test('errors: the API\'s code and message in #error (role=alert); no stale result', async () => {
    if ((await page.inputValue('#model')) !== modelA.name) await page.selectOption('#model', modelA.name);
    if (!(await page.isVisible('#result'))) await translateVia(page, {'#source': modelA.examples[0], '#beam': '3', [NBEST_INPUT]: '2'});
    check(await page.isVisible('#result'), 'precondition: a result is shown');
    const {json, status} = await translateVia(page, {'#source': modelA.examples[0], '#beam': '1000', [NBEST_INPUT]: '2'});
    check(status >= 400, `beam 1000 answered ${status}`);
    const err = json.error;
    check(err && err.code && err.message, `error body ${JSON.stringify(json)}`);
    eq(err.code, 'invalid_field', 'API error code for beam 1000');
    await page.waitForSelector('#error', {state: 'visible'});
    eq(await page.getAttribute('#error', 'role'), 'alert', '#error role');
    let text = await page.textContent('#error');
    check(text.includes(err.code), `#error ${JSON.stringify(text)} lacks the code ${err.code}`);
    check(text.includes(err.message), `#error ${JSON.stringify(text)} lacks the message ${JSON.stringify(err.message)}`);
    check(!(await page.isVisible('#translation')) && !(await page.isVisible('#heatmap svg')),
      'the previous translation or heatmap is still shown next to the error');
    await shot(page, 'dashboard-error.png');
    const e2 = await translateVia(page, {'#source': '', '#beam': '3'});
    eq(e2.json.error && e2.json.error.code, 'empty_input', 'API error code for an empty source');
    await page.waitForSelector('#error', {state: 'visible'});
    text = await page.textContent('#error');
    check(text.includes('empty_input'), `#error ${JSON.stringify(text)} lacks empty_input`);
    check(text.includes(e2.json.error.message), `#error ${JSON.stringify(text)} lacks the message ${JSON.stringify(e2.json.error.message)}`);
    check(!text.includes('invalid_field'), `#error ${JSON.stringify(text)} still shows the previous error`);
    // A good request clears the error.
    const ok = await translateVia(page, {'#source': modelA.examples[0], '#beam': '3', [NBEST_INPUT]: '2'});
    eq(ok.status, 200, 'status after the errors');
    check(!(await page.isVisible('#error')), '#error still visible after a successful translation');
    eq((await page.textContent('#translation')).trim(), ok.json.results[0].hypotheses[0].text, '#translation after the errors');
    lastOk = ok;
  });

  await test('exports: JSON is the result shown, SVG has the cells, PNG is a PNG', async () => {
    if (!lastOk || !(await page.isVisible('#result')) || (await page.inputValue('#model')) !== modelA.name) {
      await page.selectOption('#model', modelA.name);
      lastOk = await translateVia(page, {'#source': modelA.examples[0], '#beam': '3', [NBEST_INPUT]: '2'});
    }
    check(await page.isVisible('#result'), 'no result shown');
    const r = lastOk.json.results[0];
    const nCells = (await readHeatmap(page)).cells.length;
    const grab = async (sel) => {
      const [dl] = await Promise.all([page.waitForEvent('download'), page.click(sel)]);
      const p = await dl.path();
      check(p, `${sel}: download failed: ${await dl.failure()}`);
      return {name: dl.suggestedFilename(), data: fs.readFileSync(p)};
    };
    const j = await grab('#export-json');
    check(j.name.endsWith('.json'), `JSON export named ${j.name}`);
    const doc = JSON.parse(j.data.toString('utf8'));
    const got = doc.result !== undefined ? doc.result : doc.results ? doc.results[0] : doc;
    check(isDeepStrictEqual(got, r), `exported JSON's result differs from the API's results[0]: ${JSON.stringify(got).slice(0, 300)}`);
    if (doc.model !== undefined) eq(doc.model, lastOk.json.model, 'exported model');
    const s = await grab('#export-svg');
    check(s.name.endsWith('.svg'), `SVG export named ${s.name}`);
    const svg = s.data.toString('utf8');
    check(/<svg[\s>]/.test(svg), 'SVG export has no <svg> element');
    const rects = svg.match(/<rect\b[^>]*\bclass="cell[ "][^>]*>/g) || [];
    eq(rects.length, nCells, 'rect.cell in the SVG export');
    const A = r.hypotheses[0].attention;
    for (const t of rects) {
      const attr = (n) => {
        const m = new RegExp(`\\b${n}="([^"]*)"`).exec(t);
        return m ? Number(m[1]) : NaN;
      };
      const i = attr('data-row'), k = attr('data-col'), w = attr('data-weight');
      check(A[i] !== undefined && Math.abs(w - A[i][k]) <= 1e-6, `SVG export cell ${t} differs from the API attention`);
    }
    const p = await grab('#export-png');
    check(p.name.endsWith('.png'), `PNG export named ${p.name}`);
    eq([...p.data.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
    const w = p.data.readUInt32BE(16), h = p.data.readUInt32BE(20);
    check(w > 0 && h > 0 && p.data.length > 1000, `PNG ${w}x${h}, ${p.data.length} bytes`);
  });

  await test('protected spans: #format and #glossary reach the API; spans listed; sentinel rows/columns outlined', async () => {
    const enfr = models.find((m) => m.name === 'en-fr');
    check(enfr, 'the built-in en-fr model is not served');
    await page.selectOption('#model', 'en-fr');
    await page.selectOption('#format', 'auto');
    await page.fill('#glossary', 'file manager = gestionnaire de fichiers\nFirefox =');
    const src = 'Click <b>Save</b> to open %s in the file manager';
    const res = await translateVia(page, {'#source': src, '#beam': '5', [NBEST_INPUT]: '1'});
    eq(res.status, 200, 'status');
    eq(res.body.options.format, 'auto', 'request options.format');
    eq(res.body.options.glossary, {'file manager': 'gestionnaire de fichiers', 'Firefox': null}, 'request options.glossary');
    const r = res.json.results[0], h = r.hypotheses[0];
    eq((await page.textContent('#translation')).trim(), h.text, '#translation');
    for (const piece of ['<b>', '</b>', '%s', 'gestionnaire de fichiers']) {
      check(h.text.split(piece).length === 2, `the translation ${JSON.stringify(h.text)} lacks ${piece} or has it twice`);
    }
    check(await page.isVisible('#spans'), '#spans is hidden');
    const line = await page.textContent('#spans');
    for (const sp of r.spans) check(line.includes(sp.text), `#spans ${JSON.stringify(line)} lacks ${sp.text}`);
    const marks = await page.evaluate(() => ({
      src: [...document.querySelectorAll('#heatmap svg text.src-label')].map((t) => [t.classList.contains('span'), t.textContent]),
      tgt: [...document.querySelectorAll('#heatmap svg text.tgt-label')].map((t) => [t.classList.contains('span'), t.textContent]),
      bands: document.querySelectorAll('#heatmap svg rect.span-band').length,
    }));
    const wantCols = new Map(r.spans.filter((sp) => sp.source_token !== null).map((sp) => [sp.source_token, sp.text]));
    const wantRows = new Map();
    r.spans.forEach((sp, k) => { if (h.span_tokens[k] !== null) wantRows.set(h.span_tokens[k], sp.output ?? sp.text); });
    marks.src.forEach(([on, text], j) => {
      eq(on, wantCols.has(j), `source column ${j} (${text}) highlighted`);
      if (on) eq(text, wantCols.get(j), `source column ${j} label`);
    });
    marks.tgt.forEach(([on, text], i) => {
      eq(on, wantRows.has(i), `target row ${i} (${text}) highlighted`);
      if (on) eq(text, wantRows.get(i), `target row ${i} label`);
    });
    eq(marks.bands, wantCols.size + wantRows.size, 'rect.span-band count');
    // Every label inside the map's picture (a turned one used to be cut).
    const outside = await page.$eval('#heatmap svg', (svg) => {
      const box = svg.getBoundingClientRect();
      return [...svg.querySelectorAll('text.src-label, text.tgt-label')].map((t) => [t.textContent, t.getBoundingClientRect()])
        .filter(([, b]) => b.left < box.left - 0.5 || b.right > box.right + 0.5 || b.top < box.top - 0.5)
        .map(([t, b]) => `${JSON.stringify(t)} at ${b.left.toFixed(0)}..${b.right.toFixed(0)} x ${b.top.toFixed(0)} (map ${box.left.toFixed(0)}..${box.right.toFixed(0)} x ${box.top.toFixed(0)})`);
    });
    eq(outside, [], 'labels outside the heatmap');
    if (r.protection === 'sentinels') check(wantCols.size >= 3 && wantRows.size >= 3, 'sentinel spans not in the matrix');
    await shot(page, 'dashboard-spans.png');
    await page.selectOption('#format', 'text');
    await page.fill('#glossary', '');
    lastOk = null;
  });

  await test('live view: #tab-live shows four charts with numeric [data-latest] and the recent translations', async () => {
    await page.click('#tab-live');
    await page.waitForFunction(() => location.hash === '#live');
    await page.waitForSelector('#view-live', {state: 'visible'});
    check(!(await page.isVisible('#view-translate')), '#view-translate still visible in the live view');
    // Some traffic while the charts fill.
    for (let k = 0; k < 3; k++) await api(base, '/v1/translate', {model: modelA.name, text: modelA.examples[k % modelA.examples.length]});
    const charts = ['svg#chart-throughput', '#chart-queue', '#chart-rows', '#chart-latency'];
    try {
      await page.waitForFunction((sels) => sels.every((s) => {
        const e = document.querySelector(`${s} [data-latest]`);
        return e && e.getAttribute('data-latest') !== '' && Number.isFinite(Number(e.getAttribute('data-latest')));
      }), charts, {timeout: 15000});
    } catch (e) {
      const got = await page.evaluate((sels) => sels.map((s) => {
        const c = document.querySelector(s);
        const d = c && c.querySelector('[data-latest]');
        return `${s}: ${c ? 'present' : 'missing'}, data-latest=${d ? JSON.stringify(d.getAttribute('data-latest')) : 'none'}`;
      }), charts);
      throw new Fail('charts without a numeric [data-latest] after 15 s: ' + got.join('; '));
    }
    // The charts draw what they sampled: keep traffic flowing until the
    // throughput line has several samples and has risen above zero, then
    // check that every chart has a line and a dot on its newest sample.
    let risen = false;
    for (let k = 0; k < 20 && !risen; k++) {
      await api(base, '/v1/translate', {model: modelA.name, text: modelA.examples[k % modelA.examples.length]});
      await new Promise((r) => setTimeout(r, 250));
      risen = await page.evaluate(() => {
        const pl = document.querySelector('#chart-throughput path.series');
        if (!pl) return false;
        const pts = pl.getAttribute('d').match(/[ML]/g) || [];
        const v = Number(document.querySelector('#chart-throughput [data-latest]').getAttribute('data-latest'));
        return pts.length >= 3 && v > 0;
      });
    }
    check(risen, 'the throughput chart never showed 3+ samples with a latest value above 0 under traffic');
    const drawn = await page.evaluate((sels) => sels.map((s) => {
      const c = document.querySelector(s);
      return [s, c.querySelectorAll('path.series').length, c.querySelectorAll('circle.latest-dot').length];
    }), charts);
    for (const [s, lines, dots] of drawn) {
      const want = s === '#chart-latency' ? 2 : 1;
      check(lines === want && dots === want, `${s}: ${lines} line(s) and ${dots} dot(s), want ${want} of each`);
    }
    const sources = new Set(translated);
    try {
      await page.waitForFunction((want) => [...document.querySelectorAll('#recent tbody tr')].some((tr) =>
        want.some((s) => tr.textContent.includes(s))), [...sources], {timeout: 5000});
    } catch (e) {
      const rows = await page.$$eval('#recent tbody tr', (trs) => trs.map((tr) => tr.textContent));
      throw new Fail(`#recent tbody has no row with ${JSON.stringify([...sources])}: ${JSON.stringify(rows)}`);
    }
    const recent = (await api(base, '/v1/recent')).json;
    check(recent.enabled === true, `/v1/recent: ${JSON.stringify(recent).slice(0, 200)}`);
    const nRows = await page.$$eval('#recent tbody tr', (trs) => trs.length);
    check(nRows >= 1 && nRows <= recent.capacity, `${nRows} recent rows for a buffer of ${recent.capacity}`);
    await shot(page, 'dashboard-live.png');
  });

  await test('narrow screen (390 px): no horizontal overflow, the heatmap scrolls, every control is labelled', async () => {
    await page.setViewportSize({width: 390, height: 844});
    await page.click('#tab-translate');
    await page.waitForSelector('#view-translate', {state: 'visible'});
    // A long example gives a heatmap wider than the screen.
    await page.selectOption('#model', modelA.name);
    const long = [...modelA.examples].sort((x, y) => y.length - x.length)[0];
    let {status} = await translateVia(page, {'#source': long, '#beam': '3', [NBEST_INPUT]: '2'});
    eq(status, 200, 'translate status');
    if ((await page.$eval('#heatmap svg', (e) => e.getBoundingClientRect().width)) <= 390) {
      ({status} = await translateVia(page, {'#source': modelA.examples.join(' ')}));
      eq(status, 200, 'translate status (all examples)');
    }
    const m = await page.evaluate(() => {
      const svg = document.querySelector('#heatmap svg');
      let scroller = null;
      for (let e = svg && svg.parentElement; e && e !== document.body; e = e.parentElement) {
        const ox = getComputedStyle(e).overflowX;
        if ((ox === 'auto' || ox === 'scroll') && e.scrollWidth > e.clientWidth) {
          scroller = e.id || e.className;
          break;
        }
      }
      const unlabelled = [...document.querySelectorAll('input, select, textarea')].filter((c) => {
        if (c.type === 'hidden') return false;
        if (c.getAttribute('aria-label') || c.getAttribute('aria-labelledby')) return false;
        if (c.id && document.querySelector(`label[for="${CSS.escape(c.id)}"]`)) return false;
        return !c.closest('label');
      }).map((c) => c.id || c.outerHTML.slice(0, 60));
      const ids = [...document.querySelectorAll('[id]')].map((e) => e.id);
      const duplicateIds = [...new Set(ids.filter((id, k) => ids.indexOf(id) !== k))];
      return {duplicateIds, doc: document.documentElement.scrollWidth, body: document.body.scrollWidth,
        svgWidth: svg ? svg.getBoundingClientRect().width : 0, scroller, unlabelled};
    });
    check(m.doc <= 391 && m.body <= 391, `page is wider than 390 px: documentElement ${m.doc}, body ${m.body}`);
    check(m.svgWidth > 390, `heatmap only ${m.svgWidth} px wide: the test needs a wider one`);
    check(m.scroller, 'no scrolling container around the heatmap');
    check(m.unlabelled.length === 0, `controls without a label: ${m.unlabelled.join(', ')}`);
    if (m.duplicateIds.length) diag(`note: ids used more than once: ${m.duplicateIds.join(', ')}`);
    await shot(page, 'dashboard-narrow.png');
    await page.click('#tab-live');
    await page.waitForSelector('#view-live', {state: 'visible'});
    const w = await page.evaluate(() => document.documentElement.scrollWidth);
    check(w <= 391, `live view is ${w} px wide at 390 px`);
    await shot(page, 'dashboard-narrow-live.png');
  });

  await test('the whole run: every request stayed on the daemon; no uncaught page errors', async () => {
    const external = requests.filter((u) => !local(u));
    check(external.length === 0, `requests outside ${origin}: ${external.join(', ')}`);
    check(pageErrors.length === 0, `page errors: ${pageErrors.join(' | ')}`);
    const csp = consoleErrors.filter((t) => /Content Security Policy|Refused to/i.test(t));
    check(csp.length === 0, `CSP violations: ${csp.join(' | ')}`);
  });

  await closeBrowser();
}
await run(main);
