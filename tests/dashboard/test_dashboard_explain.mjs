// Real-browser tests of the dashboard's issue-14 additions, as TAP: the
// Advanced decoding options reach POST /v1/translate and their results are
// shown (the seed of a sample, clickable alternatives that extend the
// prefix), a 422 names its field, and explain mode: POST /v1/score of "Your
// translation" beside the model's best, with divergence and low-probability
// marks. Expected values come from the API answers the page received (and
// from the API directly), not from hard-coded numbers.
//
// Starts its own seq2seqd (the built-in en-fr and dates models) on a
// loopback port; run through test_dashboard_explain.sh (test_dashboard.sh's
// tools and its shared playwright-core install). Node 18 or later.
import fs from 'node:fs';
import path from 'node:path';
import {
  SRCDIR, SHOTS, NBEST_INPUT, check, eq, test, startDaemon, launchBrowser, closeBrowser, frames, translateVia, shot,
  run,
} from './harness.mjs';

// The page's default low-probability threshold (app.js LOW_P, the box's value).
const LOW_P = 0.1;

/* ---------- the daemon ---------- */

// The built-in models: en-fr (subword, attention) is the one explained.
function modelsToServe() {
  return [['en-fr', path.join(SRCDIR, 'models/en-fr.safetensors')], ['dates', path.join(SRCDIR, 'models/dates.safetensors')]];
}

/* ---------- the page ---------- */

/* Clicks Score and waits for the /v1/score answer to be drawn. */
async function scoreVia(page) {
  const respP = page.waitForResponse((r) => r.url().endsWith('/v1/score') && r.request().method() === 'POST');
  await page.click('#score');
  const resp = await respP;
  const body = JSON.parse(resp.request().postData());
  const json = await resp.json();
  await page.waitForFunction(() => !document.querySelector('#score').disabled &&
    document.querySelector('#explain').getAttribute('aria-busy') !== 'true');
  await frames(page);
  return {body, json, status: resp.status()};
}

const ADVANCED_BOXES = ['#coverage-penalty', '#min-length', '#repetition-penalty', '#no-repeat', '#suppress',
  '#topk', '#topp', '#temperature', '#seed', '#prefix', '#alternatives-k', '#length-penalty'];

/* Every Advanced box back to empty (nothing sent). */
async function clearAdvanced(page) {
  await page.evaluate(() => { document.querySelector('#advanced').open = true; });
  for (const sel of ADVANCED_BOXES) await page.fill(sel, '');
  await page.selectOption('#lp-type', '');
  await page.setChecked('#disable-unk', false);
}

/* The token chips of one explain strip. */
function readStrip(page, sel) {
  return page.$$eval(`${sel} .tok`, (cs) => cs.map((c) => ({
    token: c.dataset.token, logprob: c.dataset.logprob, p: Number(c.dataset.p),
    low: c.classList.contains('low'), diverge: c.classList.contains('diverge'), first: c.classList.contains('diverge-first'),
    shown: c.querySelector('.p').textContent})));
}

const indexes = (xs, f) => xs.map((x, k) => (f(x, k) ? k : -1)).filter((k) => k >= 0);

/* ---------- the tests ---------- */

async function main() {
  const {port, base} = await startDaemon({models: modelsToServe()});
  const origin = `http://127.0.0.1:${port}`;
  const {context} = await launchBrowser();
  const requests = [];
  const pageErrors = [];
  const consoleErrors = [];
  context.on('request', (r) => requests.push(r.url()));
  const page = context.pages()[0] || await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
  const SRC = 'Save the file as';

  await test('page loads; the Advanced options are a closed disclosure, every box labelled', async () => {
    const resp = await page.goto(origin + '/', {waitUntil: 'load'});
    eq(resp.status(), 200, 'GET / status');
    await page.waitForFunction(() => document.querySelectorAll('#model option').length > 0);
    await page.selectOption('#model', 'en-fr');
    eq(await page.evaluate(() => document.querySelector('#advanced').open), false, '#advanced open at load');
    check(!(await page.isVisible('#topk')), '#topk visible before opening Advanced');
    await page.click('#advanced summary');
    check(await page.isVisible('#topk'), '#topk hidden after opening Advanced');
    const unlabelled = await page.evaluate(() => [...document.querySelectorAll('#advanced input, #advanced select, #explain input, #explain textarea')]
      .filter((c) => !(c.id && document.querySelector(`label[for="${CSS.escape(c.id)}"]`))).map((c) => c.id || c.outerHTML.slice(0, 60)));
    eq(unlabelled, [], 'controls without a label');
  });

  await test('every deterministic option is sent with its type; the translation shown is the answer', async () => {
    await clearAdvanced(page);
    await page.selectOption('#lp-type', 'avg');
    await page.setChecked('#disable-unk', true);
    const {body, json, status} = await translateVia(page, {'#source': SRC, '#beam': '5', [NBEST_INPUT]: '2',
      '#length-penalty': '0.6', '#coverage-penalty': '0.2', '#min-length': '2', '#repetition-penalty': '1.2',
      '#no-repeat': '3', '#suppress': '▁ce  ▁les', '#prefix': 'Enregistrer', '#alternatives-k': '4'});
    eq(status, 200, `status (${JSON.stringify(json).slice(0, 300)})`);
    const o = body.options;
    eq([o.beam_size, o.n_best, o.length_penalty, o.length_penalty_type, o.coverage_penalty, o.min_length,
      o.repetition_penalty, o.no_repeat_ngram_size, o.suppress, o.disable_unk, o.prefix, o.return_alternatives],
    [5, 2, 0.6, 'avg', 0.2, 2, 1.2, 3, ['▁ce', '▁les'], true, 'Enregistrer', 4], 'options sent');
    for (const k of ['sampling_topk', 'sampling_topp', 'sampling_temperature', 'seed']) check(!(k in o), `${k} sent from an empty box`);
    const r = json.results[0];
    eq((await page.textContent('#translation')).trim(), r.hypotheses[0].text, '#translation');
    check(r.hypotheses[0].text.startsWith('Enregistrer'), `the translation ${r.hypotheses[0].text} does not start with the prefix`);
    for (const h of r.hypotheses) check(!h.tokens.includes('▁ce') && !h.tokens.includes('▁les'), `a suppressed token in ${h.tokens}`);
    check(!(await page.isVisible('#seed-line')), 'a seed is shown without sampling');
    eq(r.alternatives.length, 4, 'alternatives returned');
    const shown = await page.$$eval('#alternatives-list button.alternative', (bs) => bs.map((b) => [b.dataset.token, b.querySelector('.p').textContent]));
    eq(shown.map((x) => x[0]), r.alternatives.map((a) => a.token), 'alternative buttons (tokens, best first)');
    shown.forEach(([, p], k) => {
      const want = Math.exp(r.alternatives[k].logprob);
      check(Math.abs(Number(p) - want) <= 0.0006, `alternative ${k} shows p ${p}, exp(logprob) is ${want}`);
    });
  });

  await test('alternatives: a click appends the token to the prefix and translates again with it', async () => {
    await clearAdvanced(page);
    const first = await translateVia(page, {'#source': SRC, '#beam': '1', [NBEST_INPUT]: '1', '#prefix': 'Enregistrer', '#alternatives-k': '5'});
    eq(first.status, 200, 'status');
    const r0 = first.json.results[0];
    const n0 = r0.prefix_tokens;
    check(n0 >= 1, `prefix_tokens ${n0}`);
    // The second best, so that the continuation is not what greedy said anyway.
    const pick = r0.alternatives.findIndex((a, k) => k > 0 && a.token.startsWith('\u2581') && !/^<.*>$/.test(a.token));
    check(pick > 0, `no word-start alternative but the best in ${JSON.stringify(r0.alternatives)}`);
    const tok = r0.alternatives[pick].token;
    const word = tok.slice(1);
    // A source edited since is not what the alternatives were for: the click
    // asks again for the translated sentence, only the prefix longer.
    await page.fill('#source', 'Show the toolbar');
    const second = await translateVia(page, {}, () => page.click(`#alternatives-list button.alternative >> nth=${pick}`));
    eq(second.status, 200, 'status after the click');
    eq({...second.body, options: {...second.body.options, prefix: null}}, {...first.body, options: {...first.body.options, prefix: null}},
      'the request after the click, but for the prefix');
    eq(second.body.options.prefix, `Enregistrer ${word}`, 'prefix sent after the click');
    eq(await page.inputValue('#prefix'), `Enregistrer ${word}`, '#prefix after the click');
    const r1 = second.json.results[0];
    eq(r1.prefix_tokens, n0 + 1, 'prefix_tokens after appending one token');
    eq(r1.hypotheses[0].tokens.slice(0, n0 + 1), [...r0.hypotheses[0].tokens.slice(0, n0), tok], 'the new hypothesis starts with the longer prefix');
    eq((await page.textContent('#translation')).trim(), r1.hypotheses[0].text, '#translation after the click');
    const shown = await page.$$eval('#alternatives-list button.alternative', (bs) => bs.map((b) => b.dataset.token));
    eq(shown, r1.alternatives.map((a) => a.token), 'alternatives after the click are the new answer\'s');
    check((await page.textContent('#alternatives-title')).includes(`Enregistrer ${word}`), 'the alternatives title does not name the new prefix');
  });

  await test('sampling: top-k/top-p/temperature sent; the returned seed is shown and reproduces the sample', async () => {
    await clearAdvanced(page);
    const a = await translateVia(page, {'#source': SRC, '#beam': '1', [NBEST_INPUT]: '1', '#topk': '0', '#topp': '0.9', '#temperature': '1.5'});
    eq(a.status, 200, `status (${JSON.stringify(a.json).slice(0, 300)})`);
    eq([a.body.options.sampling_topk, a.body.options.sampling_topp, a.body.options.sampling_temperature], [0, 0.9, 1.5], 'sampling options sent');
    check(!('seed' in a.body.options), 'a seed was sent from the empty box');
    const seed = a.json.results[0].seed;
    check(Number.isInteger(seed) && seed >= 0, `seed returned: ${seed}`);
    check(await page.isVisible('#seed-line'), '#seed-line hidden after a sample');
    check((await page.textContent('#seed-text')).includes(String(seed)), `#seed-text does not show ${seed}`);
    await page.click('#reuse-seed');
    eq(await page.inputValue('#seed'), String(seed), '#seed after "Reuse this seed"');
    const b = await translateVia(page);
    eq(b.body.options.seed, seed, 'seed sent');
    eq(b.json.results[0].seed, seed, 'seed answered');
    eq(b.json.results[0].hypotheses[0].tokens, a.json.results[0].hypotheses[0].tokens, 'the same seed gives the same sample');
    eq((await page.textContent('#translation')).trim(), a.json.results[0].hypotheses[0].text, '#translation of the replayed sample');
  });

  await test('422: a bad option is shown with the daemon\'s message naming the field, and its box is marked', async () => {
    await clearAdvanced(page);
    const bad = await translateVia(page, {'#source': SRC, '#beam': '1', '#topk': '0', '#topp': '1.5'});
    eq(bad.status, 422, 'status');
    const msg = bad.json.error.message;
    check(msg.includes('sampling_topp'), `the daemon's message ${msg} does not name sampling_topp`);
    await page.waitForSelector('#error', {state: 'visible'});
    const text = await page.textContent('#error');
    check(text.includes(bad.json.error.code) && text.includes(msg), `#error ${JSON.stringify(text)} lacks ${bad.json.error.code}: ${msg}`);
    check(!(await page.isVisible('#result')), 'the previous result is still shown beside the error');
    eq(await page.getAttribute('#topp', 'aria-invalid'), 'true', '#topp aria-invalid');
    eq(await page.$$eval('[aria-invalid=true]', (es) => es.map((e) => e.id)), ['topp'], 'boxes marked invalid');
    const sup = await translateVia(page, {'#topk': '', '#topp': '', '#suppress': 'zzzqqq'});
    eq(sup.status, 422, 'status of an unknown suppress token');
    const text2 = await page.textContent('#error');
    check(text2.includes(sup.json.error.message) && sup.json.error.message.includes('zzzqqq'), `#error ${JSON.stringify(text2)} / ${sup.json.error.message}`);
    const ok = await translateVia(page, {'#suppress': ''});
    eq(ok.status, 200, 'status after clearing');
    check(!(await page.isVisible('#error')), '#error still shown after a good request');
    eq(await page.$$eval('[aria-invalid=true]', (es) => es.length), 0, 'boxes still marked invalid');
  });

  /* Explain with the model's own best: exactly its score, no marks. */
  async function explainOwn(fields, what) {
    await clearAdvanced(page);
    const t = await translateVia(page, {'#source': SRC, ...fields});
    eq(t.status, 200, `${what}: translate status`);
    const best = t.json.results[0].hypotheses[0];
    await page.click('#edit');
    eq(await page.inputValue('#mine'), best.text, `${what}: #mine after Edit`);
    const s = await scoreVia(page);
    eq(s.status, 200, `${what}: score status (${JSON.stringify(s.json).slice(0, 300)})`);
    eq([s.body.text, s.body.target, s.body.model], [SRC, best.text, 'en-fr'], `${what}: score request`);
    for (const k of ['length_penalty', 'length_penalty_type', 'coverage_penalty']) eq(s.body.options[k], t.body.options[k], `${what}: score options.${k}`);
    const mine = s.json.results[0];
    eq(mine.tokens, best.tokens, `${what}: scored tokens`);
    // Exactly: the same number printed by the daemon.
    eq([mine.score, mine.norm_score], [best.score, best.norm_score], `${what}: score and norm_score of the model's own best`);
    const cells = await page.$$eval('#explain-scores td[data-value]', (ts) => Object.fromEntries(ts.map((c) => [c.id, c.dataset.value])));
    eq(cells, {'best-score': String(best.score), 'mine-score': String(best.score), 'best-norm': String(best.norm_score),
      'mine-norm': String(best.norm_score)}, `${what}: the scores shown`);
    eq(await page.textContent('#mine-score'), await page.textContent('#best-score'), `${what}: printed scores`);
    eq((await page.textContent('#diff-score')).replace('−', '-'), '+0.000', `${what}: difference`);
    for (const side of ['#best-tokens', '#mine-tokens']) {
      const chips = await readStrip(page, side);
      eq(chips.map((c) => c.token), best.tokens, `${what}: ${side} tokens`);
      eq(indexes(chips, (c) => c.diverge || c.first), [], `${what}: ${side} divergence marks`);
    }
    const chips = await readStrip(page, '#mine-tokens');
    chips.forEach((c, k) => check(Math.abs(c.p - Math.exp(mine.logprobs[k])) < 1e-12, `${what}: token ${k} p ${c.p} vs exp(${mine.logprobs[k]})`));
    eq(indexes(chips, (c) => c.low), indexes(mine.logprobs, (lp) => Math.exp(lp) < LOW_P), `${what}: low tokens`);
    // Its heatmap: one row per scored token, the API's weights.
    const cellsMine = await page.$$eval('#mine-map rect.cell', (cs) => cs.map((c) => [Number(c.dataset.row), Number(c.dataset.col), Number(c.dataset.weight)]));
    eq(cellsMine.length, mine.tokens.length * mine.source_tokens.length, `${what}: cells of your heatmap`);
    for (const [i, j, w] of cellsMine) check(Math.abs(w - mine.attention[i][j]) <= 1e-6, `${what}: cell (${i},${j}) ${w} vs ${mine.attention[i][j]}`);
    check((await page.textContent('#explain-summary')).includes('same tokens'), `${what}: summary ${await page.textContent('#explain-summary')}`);
    return {t, s};
  }

  await test('explain: the model\'s own best (greedy) scores exactly as translated, no divergence marks', async () => {
    await explainOwn({'#beam': '1', [NBEST_INPUT]: '1'}, 'greedy');
  });

  await test('explain: the model\'s own best (beam 5, length penalty 0.6, avg, coverage 0.2) scores exactly as translated', async () => {
    await page.selectOption('#lp-type', 'avg');
    await explainOwn({'#beam': '5', [NBEST_INPUT]: '3', '#length-penalty': '0.6', '#coverage-penalty': '0.2'}, 'beam');
  });

  await test('explain: one word replaced is marked at its token, with a low-probability highlight', async () => {
    await clearAdvanced(page);
    const t = await translateVia(page, {'#source': SRC, '#beam': '1', [NBEST_INPUT]: '1'});
    const best = t.json.results[0].hypotheses[0];
    check(best.tokens.includes('\u2581fichier'), `the test expects "fichier" in the model's translation, got ${best.text}`);
    await page.click('#edit');
    await page.fill('#mine', best.text.replace('fichier', 'dossier'));
    const s = await scoreVia(page);
    eq(s.status, 200, 'score status');
    const mine = s.json.results[0];
    const at = mine.tokens.indexOf('\u2581dossier');
    check(at >= 0, `"dossier" is not one token: ${mine.tokens}`);
    eq(mine.tokens.length, best.tokens.length, 'the edit kept the token count');
    const chips = await readStrip(page, '#mine-tokens');
    eq(chips.map((c) => c.token), mine.tokens, 'your tokens shown');
    eq(indexes(chips, (c) => c.diverge), [at], 'your tokens marked as differing');
    eq(indexes(chips, (c) => c.first), [at], 'the first difference');
    const bestChips = await readStrip(page, '#best-tokens');
    eq(indexes(bestChips, (c) => c.diverge), [at], 'the model\'s tokens marked as differing');
    const wantLow = indexes(mine.logprobs, (lp) => Math.exp(lp) < LOW_P);
    check(wantLow.includes(at), `p of "dossier" is ${Math.exp(mine.logprobs[at])}: not below ${LOW_P}`);
    eq(indexes(chips, (c) => c.low), wantLow, 'low-probability tokens');
    check(chips[at].shown === (Math.exp(mine.logprobs[at]) >= 0.001 ? Math.exp(mine.logprobs[at]).toFixed(3) : Math.exp(mine.logprobs[at]).toExponential(1)),
      `p shown ${chips[at].shown} for logprob ${mine.logprobs[at]}`);
    const colour = await page.$eval(`#mine-tokens .tok[data-k="${at}"]`, (c) => getComputedStyle(c).color);
    const plain = await page.$eval('#mine-tokens .tok[data-k="0"]', (c) => getComputedStyle(c).color);
    check(colour !== plain || wantLow.includes(0), `the low token is drawn like the others (${colour})`);
    eq([await page.$eval('#mine-score', (c) => c.dataset.value), await page.$eval('#best-score', (c) => c.dataset.value)],
      [String(mine.score), String(best.score)], 'the two scores side by side');
    check(mine.score < best.score, `your score ${mine.score} is not below the model's ${best.score}`);
    const sum = await page.textContent('#explain-summary');
    check(sum.includes(`token ${at + 1}`) && sum.includes('dossier'), `summary ${sum}`);
    // A threshold above every p flags every token; 0 flags none.
    await page.fill('#prob-threshold', '1.01');
    await frames(page);
    eq(indexes(await readStrip(page, '#mine-tokens'), (c) => c.low), mine.tokens.map((_, k) => k), 'low tokens at threshold 1.01');
    await page.fill('#prob-threshold', '0');
    await frames(page);
    eq(indexes(await readStrip(page, '#mine-tokens'), (c) => c.low), [], 'low tokens at threshold 0');
    await page.fill('#prob-threshold', String(LOW_P));
    await frames(page);
    // The README's picture: the explain section alone (the form above it is
    // the translate view's), nothing focused; the whole page beside it.
    await page.evaluate(() => document.activeElement && document.activeElement.blur());
    await shot(page, 'dashboard-explain-page.png');
    fs.mkdirSync(SHOTS, {recursive: true});
    const file = path.join(SHOTS, 'dashboard-explain.png');
    await page.locator('#explain').screenshot({path: file});
    if (process.env.S2S_SCREENSHOT_DIR) {
      fs.mkdirSync(process.env.S2S_SCREENSHOT_DIR, {recursive: true});
      fs.copyFileSync(file, path.join(process.env.S2S_SCREENSHOT_DIR, 'dashboard-explain.png'));
    }
  });

  await test('explain: a score error (empty target) is shown with its message; a new translation clears the old score', async () => {
    await page.fill('#mine', '');
    const s = await scoreVia(page);
    eq(s.status, 422, 'status of an empty target');
    await page.waitForSelector('#explain-error', {state: 'visible'});
    const text = await page.textContent('#explain-error');
    check(text.includes(s.json.error.code) && text.includes(s.json.error.message), `#explain-error ${JSON.stringify(text)}`);
    check(s.json.error.message.includes('target'), `the message ${s.json.error.message} does not name the target`);
    check(!(await page.isVisible('#explain-result')), 'an old score is shown beside the error');
    await page.click('#edit');
    const ok = await scoreVia(page);
    eq(ok.status, 200, 'score status');
    check(await page.isVisible('#explain-result') && !(await page.isVisible('#explain-error')), 'the score is not shown again');
    await translateVia(page, {'#source': 'Delete the selected items'});
    check(!(await page.isVisible('#explain-result')), 'the score of the previous sentence is still shown');
  });

  await test('explain at word level: your heatmap is |target_words| x |source_words| with the API\'s weights', async () => {
    await clearAdvanced(page);
    await translateVia(page, {'#source': SRC, '#beam': '1', [NBEST_INPUT]: '1'});
    const t = await translateVia(page, {}, () => page.click('#level-word'));
    eq(t.body.options.attention_level, 'word', 'translate attention_level');
    await page.click('#edit');
    await page.fill('#mine', (await page.inputValue('#mine')).replace('fichier', 'dossier'));
    const s = await scoreVia(page);
    eq(s.status, 200, 'score status');
    eq(s.body.options.attention_level, 'word', 'score attention_level');
    const mine = s.json.results[0];
    const cols = t.json.results[0].source_words;
    const cells = await page.$$eval('#mine-map rect.cell', (cs) => cs.map((c) => [Number(c.dataset.row), Number(c.dataset.col), Number(c.dataset.weight)]));
    eq(cells.length, mine.target_words.length * cols.length, 'cells of your word-level heatmap');
    for (const [i, j, w] of cells) check(Math.abs(w - mine.attention[i][j]) <= 1e-6, `cell (${i},${j}) ${w} vs ${mine.attention[i][j]}`);
    const rows = await page.$$eval('#mine-map text.tgt-label', (ts) => ts.map((x) => x.dataset.token));
    eq(rows, mine.target_words, 'row labels');
    // The chips stay per token: probabilities belong to tokens.
    eq((await readStrip(page, '#mine-tokens')).map((c) => c.token), mine.tokens, 'chips at word level');
    await page.click('#level-subword');
    await page.waitForFunction(() => !document.querySelector('#translate').disabled);
  });

  await test('explain: a translation decoded with a repetition penalty carries a note that the scores do not compare', async () => {
    await clearAdvanced(page);
    const t = await translateVia(page, {'#source': SRC, '#beam': '1', [NBEST_INPUT]: '1', '#repetition-penalty': '1.5'});
    eq(t.status, 200, 'status');
    await page.click('#edit');
    await scoreVia(page);
    check(await page.isVisible('#explain-note'), '#explain-note hidden');
    check((await page.textContent('#explain-note')).includes('repetition_penalty'), `#explain-note: ${await page.textContent('#explain-note')}`);
    await clearAdvanced(page);
    await translateVia(page);
    await page.click('#edit');
    await scoreVia(page);
    check(!(await page.isVisible('#explain-note')), '#explain-note shown without such options');
  });

  await test('narrow screen (390 px), Advanced open and a score shown: nothing wider than the screen', async () => {
    await page.setViewportSize({width: 390, height: 844});
    await page.evaluate(() => { document.querySelector('#advanced').open = true; });
    await page.click('#edit');
    await scoreVia(page);
    await frames(page);
    const w = await page.evaluate(() => [document.documentElement.scrollWidth, document.body.scrollWidth]);
    const wide = await page.evaluate(() => [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > 391 && e.offsetParent !== null)
      .map((e) => `${e.tagName}#${e.id}.${e.className && e.className.baseVal === undefined ? e.className : ''} ${e.getBoundingClientRect().right.toFixed(0)}`).slice(0, 12));
    check(w[0] <= 391 && w[1] <= 391, `page is ${w} px wide at 390 px: ${wide.join(', ')}`);
    await shot(page, 'dashboard-explain-narrow.png');
    await page.setViewportSize({width: 1280, height: 900});
  });

  await test('the whole run: every request stayed on the daemon; no page errors', async () => {
    const external = requests.filter((u) => !(u.startsWith(origin + '/') || u.startsWith('data:') || u.startsWith(`blob:${origin}/`)));
    eq(external, [], 'requests outside the daemon');
    eq(pageErrors, [], 'page errors');
    eq(consoleErrors.filter((t) => /Content Security Policy|Refused to/i.test(t)), [], 'CSP violations');
  });

  await closeBrowser();
}

await run(main);
