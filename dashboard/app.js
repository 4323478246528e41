/*
 * seq2seqd dashboard: the translate view (attention heatmap) and the live
 * view (metrics over time, recent translations). Plain browser JavaScript,
 * no build step and no third-party code: the daemon serves this file as is
 * under a Content-Security-Policy that allows only its own origin.
 *
 * Every string that comes from the API or the user is put into the page with
 * textContent or setAttribute, never parsed as HTML.
 */
'use strict';

const SVG_NS = 'http://www.w3.org/2000/svg';
const $ = (sel, root = document) => root.querySelector(sel);

const state = {
  models: [],
  request: null, // the body of the last successful translate request
  result: null, // results[0] of its response
  modelName: '',
  hyp: 0, // index of the hypothesis on the heatmap
  explain: null, // {request, result}: the last POST /v1/score of "Your translation"
  active: null, // {row, col} of the highlighted cell
  mapBox: 0, // width of #heatmap-wrap the heatmap was drawn for
};

/* ---------- API ---------- */

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/* GET (body undefined) or POST JSON; resolves to the parsed body or throws ApiError. */
async function api(path, body) {
  const init = body === undefined ? {} : {
    method: 'POST',
    headers: {'Content-Type': 'application/json'},
    body: JSON.stringify(body),
  };
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'network', 'the daemon did not answer (' + e.message + ')');
  }
  let json = null;
  try {
    json = await resp.json();
  } catch (e) {
    if (resp.ok) throw new ApiError(resp.status, 'bad_response', 'the response is not JSON');
  }
  if (!resp.ok) {
    const err = json && json.error ? json.error : {};
    throw new ApiError(resp.status, err.code || 'http_' + resp.status,
      err.message || resp.statusText);
  }
  return json;
}

/* ---------- small helpers ---------- */

function el(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function svgEl(tag, attrs = {}, text) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/* The value typed in a number box: a number when it is one, else the raw
 * text, so that the daemon (not the page) decides what is valid and says why. */
function numberField(id) {
  const raw = $(id).value.trim();
  const n = Number(raw);
  return raw !== '' && Number.isFinite(n) ? n : raw;
}

function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = el('a', {href: url, download: name});
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function showError(err) {
  const box = $('#error');
  box.replaceChildren();
  const head = err.status ? `${err.code} (HTTP ${err.status})` : err.code;
  box.append(el('strong', {class: 'code'}, head), el('span', {class: 'message'}, ': ' + err.message));
  box.hidden = false;
}

function clearError() {
  $('#error').hidden = true;
  $('#error').replaceChildren();
}

/* ---------- models and examples ---------- */

function currentModel() {
  return state.models.find((m) => m.name === $('#model').value) || null;
}

function renderModelInfo() {
  const m = currentModel();
  const box = $('#examples');
  box.replaceChildren();
  if (!m) return;
  const lp = m.decoding && Number.isFinite(m.decoding.length_penalty) ? m.decoding.length_penalty : 0;
  $('#length-penalty').placeholder = String(lp);
  const a = m.architecture || {};
  const parts = [a.cell && a.cell.toUpperCase(), a.attention && a.attention !== 'none' ? a.attention + ' attention' : 'no attention',
    m.parameters ? (m.parameters / 1e6).toFixed(2) + 'M parameters' : ''];
  $('#model-info').textContent = [m.description, parts.filter(Boolean).join(', ')].filter(Boolean).join(' — ');
  for (const ex of m.examples || []) {
    const b = el('button', {type: 'button', class: 'example'}, ex);
    b.addEventListener('click', () => {
      $('#source').value = ex;
      $('#source').focus();
    });
    box.append(b);
  }
  if (!(m.examples || []).length) box.append(el('span', {class: 'muted'}, 'This model has no built-in examples.'));
}

/* What identifies a model list: names, defaults and examples. */
function modelsKey(models) {
  return JSON.stringify(models.map((m) => [m.name, !!m.default, m.examples || [], m.loaded_at || '']));
}

/* Fills #model from GET /v1/models. On a refresh (the daemon restarted or
 * reloaded, or a request named a model it no longer has) the selection is
 * kept when the model is still served; an unchanged list is left alone so
 * that an open <select> is not disturbed. Resolves to true when it changed. */
async function loadModels() {
  let models;
  try {
    const list = await api('/v1/models');
    models = list.models || [];
  } catch (e) {
    if (!state.models.length) showError(e);
    return false;
  }
  if (state.models.length && modelsKey(models) === modelsKey(state.models)) return false;
  const sel = $('#model');
  const was = sel.value;
  state.models = models;
  sel.replaceChildren();
  for (const m of models) sel.append(el('option', {value: m.name}, m.name));
  const keep = models.find((m) => m.name === was) || models.find((m) => m.default) || models[0];
  if (keep) sel.value = keep.name;
  renderModelInfo();
  const m = currentModel();
  if (m && m.examples && m.examples.length && !$('#source').value) $('#source').value = m.examples[0];
  return true;
}

/* ---------- translate ---------- */

function level() {
  return $('#level-word').checked ? 'word' : 'subword';
}

/* The glossary box as the API's object: "source = target" lines, "term =" keeps the term. */
function glossary() {
  const g = {};
  for (const line of $('#glossary').value.split('\n')) {
    const at = line.indexOf('=');
    if (at < 0 || !line.slice(0, at).trim()) continue;
    const target = line.slice(at + 1).trim();
    g[line.slice(0, at).trim()] = target === '' ? null : target;
  }
  return g;
}

function requestBody() {
  const body = {
    model: $('#model').value,
    text: $('#source').value,
    options: {
      beam_size: numberField('#beam'),
      n_best: numberField('#nbest'),
      attention: true,
      attention_level: level(),
      coverage: true,
    },
  };
  // Empty: the model's own default, not sent.
  if ($('#length-penalty').value.trim() !== '') body.options.length_penalty = numberField('#length-penalty');
  if ($('#format').value !== 'text') body.options.format = $('#format').value;
  const g = glossary();
  if (Object.keys(g).length) body.options.glossary = g;
  Object.assign(body.options, advancedOptions());
  return body;
}

/* The "Advanced" boxes (issue 14) as API options: option name -> element.
 * A box left empty is not sent, so the daemon's default applies; a value is
 * sent as typed (a number when it is one) and the daemon judges it. */
const ADVANCED = {
  length_penalty_type: '#lp-type',
  coverage_penalty: '#coverage-penalty',
  min_length: '#min-length',
  repetition_penalty: '#repetition-penalty',
  no_repeat_ngram_size: '#no-repeat',
  suppress: '#suppress',
  disable_unk: '#disable-unk',
  sampling_topk: '#topk',
  sampling_topp: '#topp',
  sampling_temperature: '#temperature',
  seed: '#seed',
  prefix: '#prefix',
  return_alternatives: '#alternatives-k',
};
// The form boxes of the other options, for marking the field a 422 names.
const FIELDS = {...ADVANCED, beam_size: '#beam', n_best: 'input#nbest', length_penalty: '#length-penalty',
  format: '#format', glossary: '#glossary'};

function advancedOptions() {
  const o = {};
  for (const [name, sel] of Object.entries(ADVANCED)) {
    const e = $(sel);
    if (e.type === 'checkbox') {
      if (e.checked) o[name] = true;
    } else if (name === 'suppress') {
      const list = e.value.split(/\s+/).filter(Boolean);
      if (list.length) o[name] = list;
    } else if (name === 'prefix') {
      // Sent as written: spaces are part of how the target tokenizer cuts it.
      if (e.value.trim() !== '') o[name] = e.value;
    } else if (e.value.trim() !== '') {
      o[name] = e.tagName === 'SELECT' ? e.value : numberField(sel);
    }
  }
  return o;
}

/* A 422 names the option it rejects ("options.sampling_topp"): its box is
 * marked invalid (and the Advanced section opened when it is there). */
function markFields(message) {
  for (const e of document.querySelectorAll('[aria-invalid]')) e.removeAttribute('aria-invalid');
  const named = new Set([...String(message || '').matchAll(/options\.([a-z_]+)/g)].map((m) => m[1]));
  for (const name of named) {
    const sel = FIELDS[name];
    if (!sel) continue;
    $(sel).setAttribute('aria-invalid', 'true');
    if (ADVANCED[name]) $('#advanced').open = true;
  }
}

async function translate(body) {
  const btn = $('#translate');
  btn.disabled = true;
  $('#result').setAttribute('aria-busy', 'true');
  try {
    const resp = await api('/v1/translate', body);
    clearError();
    markFields('');
    state.request = body;
    state.result = resp.results[0];
    state.modelName = resp.model;
    state.hyp = 0;
    state.active = null;
    // A score of the previous sentence's translation explains nothing here.
    state.explain = null;
    $('#explain-result').hidden = true;
    clearExplainError();
    renderResult();
  } catch (e) {
    // The old result must not pass for the answer to this request.
    state.result = null;
    $('#result').hidden = true;
    showError(e);
    markFields(e.message);
    // The daemon restarted or reloaded with other models: the list is stale.
    if (e.code === 'model_not_found' || e.code === 'network') loadModels();
  } finally {
    btn.disabled = false;
    $('#result').removeAttribute('aria-busy');
  }
}

function renderResult() {
  const r = state.result;
  $('#result').hidden = false;
  const hyps = r.hypotheses || [];
  $('#translation').textContent = hyps.length ? hyps[0].text : '(no hypothesis: the deadline passed)';
  renderSpans(r, hyps[state.hyp]);
  renderControls(r);
  const body = $('#nbest tbody');
  body.replaceChildren();
  // Without a length penalty the normalised score is the score: a second
  // column with the same numbers says nothing, so it is shown only when a
  // hypothesis's two scores differ as printed.
  const norm = hyps.some((h) => h.norm_score.toFixed(3) !== h.score.toFixed(3));
  $('#nbest-norm').hidden = !norm;
  hyps.forEach((h, i) => {
    const tr = el('tr', {class: 'hyp', tabindex: '0', 'aria-selected': String(i === state.hyp)});
    tr.append(el('td', {}, String(i + 1)), el('td', {class: 'hyp-text'}, h.text),
      el('td', {class: 'hyp-score num'}, h.score.toFixed(3)));
    if (norm) tr.append(el('td', {class: 'hyp-norm num'}, h.norm_score.toFixed(3)));
    const pick = () => {
      state.hyp = i;
      state.active = null;
      renderResult();
      $('#nbest tbody').children[i].focus();
    };
    tr.addEventListener('click', pick);
    tr.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' || ev.key === ' ') {
        ev.preventDefault();
        pick();
      }
    });
    body.append(tr);
  });
  renderHeatmap();
}

/* ---------- seed and alternatives (issue 14) ---------- */

/* p = exp(log-probability), as printed beside tokens; null (a forced token
 * the model gives probability 0, -inf in the engine) is 0. */
function prob(lp) {
  return lp === null || lp === undefined ? 0 : Math.exp(lp);
}

function fmtP(p) {
  return p >= 0.001 || p === 0 ? p.toFixed(3) : p.toExponential(1);
}

/* The prefix with one more target token: a token with the word-start mark
 * starts a new word (a space before it, unless the prefix is empty or
 * already ends with one), any other continues the last word. The marks
 * inside a token are spaces (a lone mark, in a character-level model, is
 * one space). */
function appendToken(prefix, token) {
  const text = token.split(WORD_START).join(' ');
  if (!token.startsWith(WORD_START) || (text.trim() === '' && prefix !== '')) return prefix + text;
  return prefix === '' || /\s$/.test(prefix) ? prefix + text.slice(1) : prefix + text;
}

function renderControls(r) {
  const seeded = r.seed !== undefined;
  $('#seed-line').hidden = !seeded;
  if (seeded) {
    $('#seed-text').textContent = `Sampled with seed ${r.seed}: the same seed and options give the same translation.`;
    $('#seed-line').dataset.seed = String(r.seed);
  }
  const alts = Array.isArray(r.alternatives) ? r.alternatives : null;
  $('#alternatives').hidden = !alts;
  const list = $('#alternatives-list');
  list.replaceChildren();
  if (!alts) return;
  const prefix = state.request.options.prefix || '';
  $('#alternatives-title').textContent = (prefix ? `Next token after "${prefix}"` : 'First token') +
    ' (probability); a click appends it to the prefix and translates again:';
  for (const a of alts) {
    const special = /^<.*>$/.test(a.token); // </s>, <unk>: no text to append
    const b = el('button', {type: 'button', class: 'alternative', 'data-token': a.token, 'data-logprob': String(a.logprob)});
    b.append(el('span', {class: 'alt-token'}, special ? a.token : tokenLabel(a.token).text),
      el('span', {class: 'p'}, fmtP(prob(a.logprob))));
    if (special) {
      b.disabled = true;
      b.title = a.token === '</s>' ? 'the end of the sentence' : 'not a word';
    } else {
      // The same request (sentence, model, options) with the longer prefix:
      // what the alternatives were computed for, whatever the boxes say now.
      b.addEventListener('click', () => {
        const body = structuredClone(state.request);
        body.options.prefix = appendToken(prefix, a.token);
        $('#prefix').value = body.options.prefix;
        translate(body);
      });
    }
    list.append(b);
  }
  if (!alts.length) list.append(el('span', {class: 'muted'}, 'none (the prefix leaves no step)'));
}

/* ---------- protected spans (docs/localisation.md) ---------- */

const SENTINEL = /^<\/?(ph|t)\d+>$/;
const WORD_START = '\u2581'; // SentencePiece's mark of a token that starts a word
const HOW = {sentinels: 'kept by the model (sentinels)', alignment: 'put back by attention',
  passthrough: 'nothing to translate: the source is the output', none: 'none found'};

/* One line under the translation: what was protected and how. */
function renderSpans(r, h) {
  const p = $('#spans');
  p.hidden = !r.spans;
  if (!r.spans) return;
  const list = r.spans.map((s) => s.text).join(' ');
  const acc = r.accelerator ? ` · accelerator ${r.accelerator.marker}${r.accelerator.char}` : '';
  p.textContent = `Protected: ${list || '—'} (${HOW[r.protection] || r.protection})${acc}`;
  p.dataset.protection = r.protection;
}

/* Heatmap rows and columns that stand for protected spans: index -> span text. */
function spanLines(d) {
  const rows = new Map(), cols = new Map();
  if (!d.r.spans) return {rows, cols};
  const tword = targetWordOf(d.h.tokens);
  d.r.spans.forEach((s, k) => {
    const t = (d.h.span_tokens || [])[k];
    // a glossary row shows what was written, its column the source term
    if (t !== null && t !== undefined) rows.set(d.lvl === 'word' ? tword[t] : t, s.output ?? s.text);
    if (s.source_token === null) return;
    if (d.lvl === 'word') {
      // masked sources make each sentinel a word of its own, shown as its span
      const j = d.cols.indexOf(s.text);
      if (j >= 0) cols.set(j, s.text);
    } else {
      cols.set(s.source_token, s.text);
    }
  });
  return {rows, cols};
}

/* ---------- attention heatmap ---------- */

/* Sequential colour scale, light (0) to dark blue (1). */
const STOPS = [[247, 251, 255], [198, 219, 239], [107, 174, 214], [33, 113, 181], [8, 48, 107]];

function colour(w) {
  const x = Math.min(1, Math.max(0, w)) * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(x));
  const f = x - i;
  const c = STOPS[i].map((v, k) => Math.round(v + f * (STOPS[i + 1][k] - v)));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

/* Target word of each target token, by the daemon's rule (docs/api.md):
 * a token starting with U+2581 starts a word, and </s> is a word of its own. */
function targetWordOf(tokens) {
  const out = [];
  let w = -1;
  tokens.forEach((t, k) => {
    const sentinel = SENTINEL.test(t) || (k > 0 && SENTINEL.test(tokens[k - 1]));
    if (w < 0 || t === '</s>' || (k > 0 && tokens[k - 1] === '</s>') || sentinel || t.startsWith(WORD_START)) w++;
    out.push(w);
  });
  return out;
}

/* Total attention each column (source token or word) received. For the best
 * hypothesis at word level this is the daemon's own `coverage`; otherwise it
 * is summed from the matrix shown (word rows are averages over their tokens,
 * so they are weighted by token count to get back to token totals). */
function columnCoverage(r, h, lvl, best) {
  const A = h.attention;
  if (lvl === 'word' && best && Array.isArray(r.coverage)) return r.coverage;
  const weight = lvl === 'word' ? countTokensPerWord(h.tokens) : A.map(() => 1);
  return A[0].map((_, j) => A.reduce((s, row, i) => s + weight[i] * row[j], 0));
}

function countTokensPerWord(tokens) {
  const counts = [];
  for (const w of targetWordOf(tokens)) counts[w] = (counts[w] || 0) + 1;
  return counts;
}

/* Source word (index into source_words) of each source token, by the rule
 * the daemon groups them with: a token starting with U+2581 starts a word,
 * and a sentinel is a word of its own. null when that does not give the
 * daemon's word count (a tokenizer without word-start marks). */
function sourceWordOf(r) {
  const toks = r.source_tokens || [];
  const out = [];
  let w = -1;
  toks.forEach((t, k) => {
    const sentinel = SENTINEL.test(t) || (k > 0 && SENTINEL.test(toks[k - 1]));
    if (w < 0 || sentinel || t.startsWith(WORD_START)) w++;
    out.push(w);
  });
  return Array.isArray(r.source_words) && w + 1 === r.source_words.length ? out : null;
}

/* Which columns to flag as low attention, and the words they make up.
 * Low attention is a property of a word: a word the model may have
 * dropped. Judging each piece on its own flags most characters of a
 * character-level model (a date's "monday" spreads its attention over six
 * letters, none of which gets 0.5), so at subword level a column is flagged
 * when the word it belongs to got less than the threshold in all (the
 * daemon's `coverage` for the best hypothesis, the sum of the word's
 * columns otherwise), as the word level and `low_coverage_words` do. */
function lowColumns(r, lvl, cols, cov, threshold, best) {
  const none = {low: cov.map(() => false), words: []};
  if (!Number.isFinite(threshold)) return none;
  const word = lvl === 'word' ? null : sourceWordOf(r);
  if (!word) {
    const low = cov.map((c) => c < threshold);
    return {low, words: cols.filter((_, j) => low[j])};
  }
  const sum = [];
  word.forEach((w, j) => { sum[w] = (sum[w] || 0) + cov[j]; });
  const byWord = best && Array.isArray(r.coverage) && r.coverage.length === sum.length ? r.coverage : sum;
  const low = word.map((w) => byWord[w] < threshold);
  return {low, words: r.source_words.filter((_, w) => byWord[w] < threshold)};
}

function heatmapData() {
  const r = state.result;
  const d = mapData(r, (r.hypotheses || [])[state.hyp], state.hyp === 0);
  if (d) {
    d.wrap = $('#heatmap-wrap');
    d.gradId = 'attn-scale';
  }
  return d;
}

/* What a heatmap of hypothesis h of result r shows (null without attention).
 * `best`: h is the best hypothesis, whose coverage the daemon computed. */
function mapData(r, h, best) {
  if (!h || !Array.isArray(h.attention)) return null;
  const lvl = h.attention_level || 'subword';
  const rows = lvl === 'word' ? h.target_words : h.tokens;
  const cols = lvl === 'word' ? r.source_words : r.source_tokens;
  const threshold = Number($('#threshold').value);
  const cov = columnCoverage(r, h, lvl, best);
  const {low, words: lowWords} = lowColumns(r, lvl, cols, cov, threshold, best);
  // rows and cols become labels; tokRows and tokCols stay the API's tokens
  const d = {r, h, lvl, rows, cols, tokRows: rows, tokCols: cols, A: h.attention, cov, low, lowWords};
  // Sentinel rows and columns are labelled with their spans and highlighted.
  d.spans = spanLines(d);
  d.rows = rows.map((t, i) => d.spans.rows.get(i) ?? t);
  d.cols = cols.map((c, j) => d.spans.cols.get(j) ?? c);
  return d;
}

// Cell side: at least CELL_MIN (a long sentence scrolls sideways), growing
// with the width the map has up to CELL_MAX (a short one fills the box
// without turning into a few huge tiles).
const CELL_MIN = 26;
const CELL_MAX = 44;
const CHAR = 7.2; // approximate width of one label character at 12px
const ROTATE = -50; // degrees: column labels longer than one character

function labelWidth(labels) {
  return Math.ceil(Math.max(2, ...labels.map((s) => [...s].length)) * CHAR) + 10;
}

/* A token as a label. SentencePiece's word-start mark U+2581 is dropped:
 * rotated, it reads as "/" in most fonts. The label says instead that the
 * token starts a word (`start`), which the map shows as a light dot; a mark
 * standing alone (a space, in a character-level model) shows as "␣". */
function tokenLabel(t) {
  if (!t.includes(WORD_START)) return {text: t, start: false};
  const text = t.split(WORD_START).join(' ').trim();
  return {text: text === '' ? '\u2423' : text, start: t.startsWith(WORD_START)};
}

/* The cell side for a map of `n` columns after `left` pixels of labels, from
 * the width the map's box has now. */
function cellSize(n, left, wrap) {
  const pad = 2 * 6 + 20; // #heatmap's padding and the map's right margin
  const avail = wrap ? wrap.clientWidth - pad - left : 0;
  return Math.max(CELL_MIN, Math.min(CELL_MAX, Math.floor(avail / Math.max(1, n))));
}

function buildSvg(d) {
  // The text shown (a span's own text on its sentinel), the mark from the token.
  const label = (shown, token) => ({text: tokenLabel(shown).text, start: token.startsWith(WORD_START)});
  const cols = d.cols.map((c, j) => label(c, d.tokCols[j]));
  const rows = d.rows.map((t, i) => label(t, d.tokRows[i]));
  // Single characters stay upright: turned, a letter is harder to read and
  // saves no room.
  const turned = cols.map((c) => [...c.text].length > 1);
  const left = labelWidth(rows.map((r) => r.text)) + 4; // + the word-start dot
  const tall = cols.filter((_, j) => turned[j]).map((c) => c.text);
  // sin 50° of the longest turned label, bold (span labels) a little wider
  const top = tall.length ? Math.ceil(labelWidth(tall) * 0.8) + 10 : 24;
  const CELL = cellSize(d.cols.length, left, d.wrap);
  // The legend is at least 120 px wide plus its 'weight' label: a map of a
  // few columns must still leave room for it.
  const lw = Math.max(120, Math.min(240, d.cols.length * CELL));
  // A turned label reaches cos 50° of its length right of its column: the
  // last ones may end past the map (bold span labels are a little wider).
  const reach = Math.max(0, ...cols.map((c, j) => (turned[j] ? (j + 0.5) * CELL + [...c.text].length * CHAR * 1.1 * 0.643 : 0)));
  const width = left + Math.ceil(Math.max(d.cols.length * CELL + 20, lw + 60, reach + 8));
  const height = top + d.rows.length * CELL + 60;
  const svg = svgEl('svg', {xmlns: SVG_NS, width, height, viewBox: `0 0 ${width} ${height}`,
    'font-family': 'DejaVu Sans, Verdana, sans-serif', 'font-size': 12, role: 'img', 'data-cell': CELL,
    'aria-label': `Attention of ${d.rows.length} target by ${d.cols.length} source ${d.lvl === 'word' ? 'words' : 'tokens'}`});
  svg.append(svgEl('rect', {x: 0, y: 0, width, height, fill: '#ffffff'}));
  const bands = svgEl('g', {class: 'span-bands'}); // drawn over the cells
  const MARK = '#9aa3ad'; // the word-start dot: lighter than any label
  cols.forEach((c, j) => {
    const x = left + j * CELL + CELL / 2;
    const span = d.spans.cols.has(j);
    if (span) {
      bands.append(svgEl('rect', {class: 'span-band', 'pointer-events': 'none', x: left + j * CELL, y: top, width: CELL - 1,
        height: d.rows.length * CELL, fill: 'none', stroke: '#7b1fa2', 'stroke-width': 2}));
    }
    const cls = 'src-label' + (d.low[j] ? ' low' : '') + (span ? ' span' : '') + (c.start ? ' word-start' : '');
    const at = turned[j] ? {x, y: top - 6, transform: `rotate(${ROTATE} ${x} ${top - 6})`} : {x, y: top - 7, 'text-anchor': 'middle'};
    svg.append(svgEl('text', {class: cls, 'data-col': j, 'data-token': d.tokCols[j], ...at,
      fill: span ? '#7b1fa2' : d.low[j] ? '#b30000' : '#222222',
      'font-weight': d.low[j] || span ? 'bold' : 'normal'}, c.text));
    if (c.start) svg.append(svgEl('circle', {class: 'word-start-mark', 'data-col': j, cx: x, cy: top - 2.5, r: 1.6, fill: MARK}));
  });
  rows.forEach((t, i) => {
    const span = d.spans.rows.has(i);
    if (span) {
      bands.append(svgEl('rect', {class: 'span-band', 'pointer-events': 'none', x: left, y: top + i * CELL, width: d.cols.length * CELL,
        height: CELL - 1, fill: 'none', stroke: '#7b1fa2', 'stroke-width': 2}));
    }
    svg.append(svgEl('text', {class: 'tgt-label' + (span ? ' span' : '') + (t.start ? ' word-start' : ''), 'data-row': i,
      'data-token': d.tokRows[i], x: left - 8, y: top + i * CELL + CELL / 2 + 4, 'text-anchor': 'end',
      fill: span ? '#7b1fa2' : '#222222', 'font-weight': span ? 'bold' : 'normal'}, t.text));
    if (t.start) svg.append(svgEl('circle', {class: 'word-start-mark', 'data-row': i, cx: left - 4, cy: top + i * CELL + CELL / 2, r: 1.6, fill: MARK}));
  });
  const cells = svgEl('g', {class: 'cells'});
  d.A.forEach((row, i) => row.forEach((w, j) => {
    cells.append(svgEl('rect', {class: 'cell', x: left + j * CELL, y: top + i * CELL, width: CELL - 1,
      height: CELL - 1, fill: colour(w), 'data-row': i, 'data-col': j, 'data-weight': String(w)}));
  }));
  svg.append(cells, bands);
  svg.append(legend(left, top + d.rows.length * CELL + 18, lw, d.gradId));
  return svg;
}

function legend(x, y, w, id) {
  const g = svgEl('g', {class: 'legend'});
  const defs = svgEl('defs');
  const grad = svgEl('linearGradient', {id, x1: 0, x2: 1, y1: 0, y2: 0});
  STOPS.forEach((_, k) => grad.append(svgEl('stop', {offset: k / (STOPS.length - 1), 'stop-color': colour(k / (STOPS.length - 1))})));
  defs.append(grad);
  g.append(defs, svgEl('rect', {x, y, width: w, height: 12, fill: `url(#${id})`, stroke: '#888888'}));
  for (const v of [0, 0.25, 0.5, 0.75, 1]) {
    g.append(svgEl('text', {x: x + v * w, y: y + 26, 'text-anchor': 'middle', fill: '#222222', 'font-size': 11}, String(v)));
  }
  g.append(svgEl('text', {x: x + w + 8, y: y + 10, fill: '#222222', 'font-size': 11}, 'weight'));
  return g;
}

function renderHeatmap() {
  const box = $('#heatmap');
  box.replaceChildren();
  $('#tooltip').hidden = true;
  const d = heatmapData();
  $('#export-png').disabled = $('#export-svg').disabled = !d;
  if (!d) {
    const h = (state.result.hypotheses || [])[state.hyp];
    box.append(el('p', {class: 'muted'}, h ? 'This model has no attention to show.' : 'No hypothesis.'));
    $('#low-attention').textContent = '';
    return;
  }
  state.mapBox = $('#heatmap-wrap').clientWidth;
  box.append(buildSvg(d));
  const lowWords = d.lowWords;
  $('#low-attention').textContent = lowWords.length
    ? `Little attention (< ${$('#threshold').value}): ${lowWords.join(' ')}`
    : `Every source word received at least ${$('#threshold').value} attention.`;
  $('#low-attention').classList.toggle('warn', lowWords.length > 0);
  if (state.active) setActive(state.active.row, state.active.col);
}

function setActive(row, col) {
  const d = heatmapData();
  if (!d) return;
  row = Math.max(0, Math.min(d.rows.length - 1, row));
  col = Math.max(0, Math.min(d.cols.length - 1, col));
  state.active = {row, col};
  const box = $('#heatmap');
  for (const e of box.querySelectorAll('.active')) e.classList.remove('active');
  const cell = box.querySelector(`rect.cell[data-row="${row}"][data-col="${col}"]`);
  cell.classList.add('active');
  box.querySelector(`text.tgt-label[data-row="${row}"]`).classList.add('active');
  box.querySelector(`text.src-label[data-col="${col}"]`).classList.add('active');
  const tip = $('#tooltip');
  tip.replaceChildren(el('span', {class: 'tip-tokens'}, `${d.rows[row]} ← ${d.cols[col]}`),
    el('span', {class: 'tip-weight'}, cell.getAttribute('data-weight')));
  tip.hidden = false;
  // Place the tip beside the cell, inside the scrolling wrapper.
  const wrap = $('#heatmap-wrap').getBoundingClientRect();
  const c = cell.getBoundingClientRect();
  tip.style.left = `${c.right - wrap.left + $('#heatmap-wrap').scrollLeft + 6}px`;
  tip.style.top = `${c.top - wrap.top + $('#heatmap-wrap').scrollTop}px`;
}

function hideTip() {
  $('#tooltip').hidden = true;
  for (const e of $('#heatmap').querySelectorAll('.active')) e.classList.remove('active');
}

function onHeatmapKey(ev) {
  const moves = {ArrowRight: [0, 1], ArrowLeft: [0, -1], ArrowDown: [1, 0], ArrowUp: [-1, 0]};
  const a = state.active || {row: 0, col: 0};
  if (ev.key in moves) {
    ev.preventDefault();
    const [dr, dc] = state.active ? moves[ev.key] : [0, 0];
    setActive(a.row + dr, a.col + dc);
  } else if (ev.key === 'Home') {
    ev.preventDefault();
    setActive(a.row, 0);
  } else if (ev.key === 'End') {
    ev.preventDefault();
    setActive(a.row, Infinity);
  } else if (ev.key === 'Escape') {
    state.active = null;
    hideTip();
  }
}

/* ---------- explain mode (issue 14) ---------- */

// A token whose probability is below this (the box, 0.1 by default) is
// highlighted: the model gives it less than a one-in-ten chance there.
const LOW_P = 0.1;
// Options of the translation that change the model's probabilities: the
// daemon's score of a given text applies none of them (docs/api.md).
const PROCESSORS = ['repetition_penalty', 'no_repeat_ngram_size', 'suppress', 'disable_unk', 'min_length'];

function explainError(err) {
  const box = $('#explain-error');
  box.replaceChildren();
  const head = err.status ? `${err.code} (HTTP ${err.status})` : err.code;
  box.append(el('strong', {class: 'code'}, head), el('span', {class: 'message'}, ': ' + err.message));
  box.hidden = false;
}

function clearExplainError() {
  $('#explain-error').hidden = true;
  $('#explain-error').replaceChildren();
}

function bestHyp() {
  return state.result && (state.result.hypotheses || [])[0];
}

function editBest() {
  const h = bestHyp();
  if (!h) return;
  $('#mine').value = h.text;
  $('#mine').focus();
}

/* POST /v1/score of the translated source and the text in "Your
 * translation", with the translation's length and coverage penalties and
 * attention level, so that the two scores are comparable. */
async function scoreMine() {
  if (!state.result || !state.request || !bestHyp()) {
    explainError(new ApiError(0, 'no_translation', 'translate a sentence first: your translation is compared with the model\'s best'));
    return;
  }
  const o = state.request.options;
  const options = {attention: true, attention_level: o.attention_level || 'subword'};
  for (const k of ['length_penalty', 'length_penalty_type', 'coverage_penalty']) if (o[k] !== undefined) options[k] = o[k];
  const body = {model: state.modelName, text: state.request.text, target: $('#mine').value, options};
  const btn = $('#score');
  btn.disabled = true;
  $('#explain').setAttribute('aria-busy', 'true');
  try {
    const resp = await api('/v1/score', body);
    if (!Array.isArray(resp.results[0].tokens)) throw new ApiError(200, 'truncated', 'the deadline passed before the target was scored');
    clearExplainError();
    state.explain = {request: body, result: resp.results[0]};
    renderExplain();
  } catch (e) {
    state.explain = null;
    $('#explain-result').hidden = true;
    explainError(e);
  } finally {
    btn.disabled = false;
    $('#explain').removeAttribute('aria-busy');
  }
}

/* Where your tokens part from the model's best: position by position (the
 * model's probabilities of a token depend on the tokens before it, so a
 * position is the natural unit). diverge[k]: token k of `mine` is not the
 * model's token k (or the model's best ended before); first: the first
 * such k, -1 when the two are the same sequence. */
function divergence(best, mine) {
  const diverge = mine.map((t, k) => t !== best[k]);
  let first = diverge.indexOf(true);
  if (first < 0 && best.length !== mine.length) first = mine.length; // cannot happen: both end with </s>
  return {diverge, first};
}

function fmtScore(v) {
  return v === null || v === undefined ? '−∞' : v.toFixed(3);
}

function scoreCell(sel, v) {
  $(sel).textContent = fmtScore(v);
  $(sel).dataset.value = v === null ? 'null' : String(v);
}

/* The tokens of one side with their probabilities, marked. */
function renderStrip(box, tokens, logprobs, diverge, first, threshold) {
  box.replaceChildren();
  tokens.forEach((t, k) => {
    const p = prob(logprobs[k]);
    const low = Number.isFinite(threshold) && p < threshold;
    const cls = ['tok', low ? 'low' : '', diverge[k] ? 'diverge' : '', k === first ? 'diverge-first' : ''].filter(Boolean).join(' ');
    const lab = tokenLabel(t);
    const chip = el('span', {class: cls, 'data-k': String(k), 'data-token': t, 'data-p': String(p),
      'data-logprob': logprobs[k] === null ? 'null' : String(logprobs[k])});
    const why = [low ? `probability below ${threshold}` : '', k === first ? 'first difference from the other translation' : diverge[k] ? 'differs from the other translation here' : ''].filter(Boolean);
    chip.title = `${t}: p = ${fmtP(p)} (log-probability ${logprobs[k] === null ? '−∞' : logprobs[k]})${why.length ? '; ' + why.join('; ') : ''}`;
    // The word-start dot, as on the heatmap's labels: "b", "an", "ane" are one word.
    const text = el('span', {class: 'tok-text'});
    if (lab.start) text.append(el('span', {class: 'ws', 'aria-hidden': 'true'}, '\u00b7'));
    text.append(lab.text);
    chip.append(text, el('span', {class: 'p'}, fmtP(p)));
    box.append(chip);
  });
}

/* One heatmap of the explain view, in its own box; the cells carry a
 * title (the browser's tooltip) with their tokens and weight. */
function renderExplainMap(box, wrap, r, h, best, gradId) {
  box.replaceChildren();
  const d = mapData(r, h, best);
  if (!d) {
    box.append(el('p', {class: 'muted'}, 'This model has no attention to show.'));
    return;
  }
  d.wrap = wrap;
  d.gradId = gradId;
  const svg = buildSvg(d);
  for (const c of svg.querySelectorAll('rect.cell')) {
    const i = Number(c.dataset.row), j = Number(c.dataset.col);
    c.append(svgEl('title', {}, `${d.rows[i]} ← ${d.cols[j]}: ${c.getAttribute('data-weight')}`));
  }
  box.append(svg);
}

function renderExplain() {
  const best = bestHyp();
  const x = state.explain;
  if (!best || !x) return;
  const mine = x.result;
  $('#explain-result').hidden = false;
  const typed = $('#prob-threshold').value.trim();
  const threshold = typed !== '' && Number.isFinite(Number(typed)) ? Number(typed) : LOW_P;
  const dm = divergence(best.tokens, mine.tokens);
  const db = divergence(mine.tokens, best.tokens);
  scoreCell('#best-score', best.score);
  scoreCell('#mine-score', mine.score);
  scoreCell('#best-norm', best.norm_score);
  scoreCell('#mine-norm', mine.norm_score);
  const diff = (a, b) => (a === null || b === null ? '—' : (b - a >= 0 ? '+' : '') + (b - a).toFixed(3));
  $('#diff-score').textContent = diff(best.score, mine.score);
  $('#diff-norm').textContent = diff(best.norm_score, mine.norm_score);
  $('#explain-source').textContent = `Source: ${state.request.text}`;
  $('#best-text').textContent = best.text;
  $('#mine-text').textContent = mine.target;
  renderStrip($('#best-tokens'), best.tokens, best.logprobs, db.diverge, db.first, threshold);
  renderStrip($('#mine-tokens'), mine.tokens, mine.logprobs, dm.diverge, dm.first, threshold);
  const lowN = mine.logprobs.filter((lp) => prob(lp) < threshold).length;
  const f = dm.first;
  $('#explain-summary').textContent = f < 0
    ? `The same tokens as the model's best${lowN ? `; ${lowN} of them below p = ${threshold}` : ''}.`
    : `Yours parts from the model's best at token ${f + 1} ("${tokenLabel(mine.tokens[f]).text}" where the model has ` +
      `${best.tokens[f] === undefined ? 'nothing' : `"${tokenLabel(best.tokens[f]).text}"`}); ${dm.diverge.filter(Boolean).length} of ` +
      `your ${mine.tokens.length} tokens differ by position; ${lowN} below p = ${threshold}.`;
  const o = state.request.options;
  const used = PROCESSORS.filter((k) => o[k] !== undefined);
  const notes = [];
  if (used.length) notes.push(`The model's best was decoded with ${used.join(', ')}: its probabilities include their changes, the score of your text does not.`);
  if (o.format !== undefined || o.glossary !== undefined) notes.push('The model translated the source with its protected spans masked; your text is scored against the source as written.');
  $('#explain-note').hidden = !notes.length;
  $('#explain-note').textContent = notes.join(' ');
  // The score answer has no source_words: the source is the translated one.
  const r = {source_tokens: mine.source_tokens, source_words: state.result.source_words};
  renderExplainMap($('#best-map'), $('#best-map-wrap'), state.result, best, true, 'attn-scale-best');
  renderExplainMap($('#mine-map'), $('#mine-map-wrap'), r, mine, false, 'attn-scale-mine');
}

/* ---------- exports ---------- */

function exportName(ext) {
  const lvl = heatmapData() ? heatmapData().lvl : level();
  return `attention-${state.modelName}-${lvl}-hyp${state.hyp + 1}.${ext}`;
}

function svgText() {
  const svg = $('#heatmap svg').cloneNode(true);
  for (const e of svg.querySelectorAll('.active')) e.classList.remove('active');
  return '<?xml version="1.0" encoding="UTF-8"?>\n' + new XMLSerializer().serializeToString(svg);
}

function exportSvg() {
  download(new Blob([svgText()], {type: 'image/svg+xml'}), exportName('svg'));
}

function exportPng() {
  const svg = $('#heatmap svg');
  const w = Number(svg.getAttribute('width')), h = Number(svg.getAttribute('height'));
  const url = URL.createObjectURL(new Blob([svgText()], {type: 'image/svg+xml'}));
  const img = new Image();
  img.onload = () => {
    const canvas = el('canvas', {width: w * 2, height: h * 2});
    const ctx = canvas.getContext('2d');
    ctx.scale(2, 2);
    ctx.drawImage(img, 0, 0);
    URL.revokeObjectURL(url);
    canvas.toBlob((blob) => download(blob, exportName('png')), 'image/png');
  };
  img.onerror = () => showError(new ApiError(0, 'export_failed', 'the browser could not render the SVG'));
  img.src = url;
}

function exportJson() {
  // Exactly the API's result for this sentence, plus what produced it.
  const doc = {model: state.modelName, request: state.request, result: state.result};
  download(new Blob([JSON.stringify(doc, null, 2)], {type: 'application/json'}), exportName('json'));
}

/* ---------- live view ---------- */

const live = {timer: null, last: null, series: {throughput: [], queue: [], rows: [], latency: [], p95: []}, keep: 300};

/* Prometheus text format -> Map of "name{labels}" -> value (labels as written). */
function parseMetrics(text) {
  const m = new Map();
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const sp = line.lastIndexOf(' ');
    m.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return m;
}

const TRANSLATE = 'route="/v1/translate"';

function sumWhere(m, prefix, filter) {
  let s = 0;
  for (const [k, v] of m) if (k.startsWith(prefix) && (!filter || k.includes(filter))) s += v;
  return s;
}

/* Cumulative latency buckets of the translate route: [[le, count], ...] ascending. */
function latencyBuckets(m) {
  const out = [];
  for (const [k, v] of m) {
    if (!k.startsWith('seq2seqd_http_request_duration_seconds_bucket{') || !k.includes(TRANSLATE)) continue;
    const le = /le="([^"]+)"/.exec(k)[1];
    out.push([le === '+Inf' ? Infinity : Number(le), v]);
  }
  return out.sort((a, b) => a[0] - b[0]);
}

/* p-quantile of the requests between two scrapes, by linear interpolation in its bucket. */
function quantile(prev, cur, p) {
  const d = cur.map(([le, c], i) => [le, c - (prev[i] ? prev[i][1] : 0)]);
  const total = d.length ? d[d.length - 1][1] : 0;
  if (total <= 0) return null;
  const want = p * total;
  let lo = 0, below = 0;
  for (const [le, c] of d) {
    if (c >= want) {
      if (!Number.isFinite(le)) return lo;
      return lo + (le - lo) * ((want - below) / Math.max(1e-9, c - below));
    }
    lo = le;
    below = c;
  }
  return lo;
}

function sample(m, t) {
  return {
    t,
    sentences: sumWhere(m, 'seq2seqd_sentences_total{'), /* every model */
    tokensPerS: m.get('seq2seqd_tokens_per_second') || 0,
    queue: m.get('seq2seqd_queue_depth') || 0,
    rowsSum: m.get('seq2seqd_batch_rows_sum') || 0,
    rowsCount: m.get('seq2seqd_batch_rows_count') || 0,
    latSum: sumWhere(m, 'seq2seqd_http_request_duration_seconds_sum', TRANSLATE),
    latCount: sumWhere(m, 'seq2seqd_http_request_duration_seconds_count', TRANSLATE),
    buckets: latencyBuckets(m),
    loaded: m.get('seq2seqd_models_loaded') || 0,
    draining: m.get('seq2seqd_draining') || 0,
  };
}

function push(name, t, v) {
  const s = live.series[name];
  s.push([t, v]);
  // The window is the last live.keep seconds (a tab left in the background
  // stops polling: what it sampled before may be older than that).
  while (s.length > live.keep || (s.length && s[0][0] < t - live.keep)) s.shift();
}

async function pollMetrics() {
  let text;
  try {
    const resp = await fetch('/metrics');
    if (!resp.ok) throw new Error('HTTP ' + resp.status);
    text = await resp.text();
  } catch (e) {
    $('#live-status').textContent = 'Metrics unavailable: ' + e.message;
    return;
  }
  const s = sample(parseMetrics(text), Date.now() / 1000);
  const p = live.last;
  live.last = s;
  $('#live-status').textContent = `${s.loaded} model(s) loaded${s.draining ? ', draining' : ''}; ` +
    `${s.tokensPerS.toFixed(0)} tokens/s; updated ${new Date().toLocaleTimeString()}`;
  if (p) {
    const dt = Math.max(1e-3, s.t - p.t);
    const steps = s.rowsCount - p.rowsCount;
    const reqs = s.latCount - p.latCount;
    push('throughput', s.t, (s.sentences - p.sentences) / dt);
    push('queue', s.t, s.queue);
    // No decoder step or no request in the interval: there is no value (a
    // gap in the line, "—"), not a zero: an idle daemon is not 0 ms fast.
    push('rows', s.t, steps > 0 ? (s.rowsSum - p.rowsSum) / steps : null);
    push('latency', s.t, reqs > 0 ? 1000 * (s.latSum - p.latSum) / reqs : null);
    const q = quantile(p.buckets, s.buckets, 0.95);
    push('p95', s.t, q === null ? null : 1000 * q);
  }
  // Drawn from the first scrape on: the axes and time ticks show before
  // there is anything to plot.
  drawChart('#chart-throughput', [live.series.throughput], ['sentences/s']);
  drawChart('#chart-queue', [live.series.queue], ['queued']);
  drawChart('#chart-rows', [live.series.rows], ['rows/step']);
  drawChart('#chart-latency', [live.series.latency, live.series.p95], ['mean ms', 'p95 ms']);
}

const CW = 560, CH = 150, PAD = {l: 44, r: 10, t: 10, b: 22};
const LINE_COLOURS = ['#2171b5', '#d94801'];

function fmt(v) {
  if (Number.isInteger(v)) return String(v); // a queue depth, an idle 0
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2);
}

const TICK_S = 60; // a time tick each minute of the window

/* One series as a path: a move at each sample after a gap (null), so that
 * intervals without a value are not joined over; a lone point is a dot. */
function seriesPath(s, x, y) {
  let d = '';
  let joined = false;
  for (const [t, v] of s) {
    if (v === null) {
      joined = false;
      continue;
    }
    d += `${joined ? 'L' : 'M'}${x(t).toFixed(1)},${y(v).toFixed(1)} `;
    if (!joined) d += 'h0.01 ';
    joined = true;
  }
  return d.trim();
}

function drawChart(sel, series, names) {
  const svg = $(sel);
  svg.setAttribute('viewBox', `0 0 ${CW} ${CH}`);
  svg.replaceChildren();
  // The window ends now, whether or not there were samples.
  const t1 = Date.now() / 1000;
  const t0 = t1 - live.keep;
  const values = series.flat().map((p) => p[1]).filter((v) => v !== null);
  // Nothing above zero yet: a scale of 0 to 1 rather than 0 to 0.
  const vmax = values.length ? Math.max(...values) : 0;
  const ymax = vmax > 0 ? vmax * 1.1 : 1;
  const x = (t) => PAD.l + (CW - PAD.l - PAD.r) * (t - t0) / (t1 - t0);
  const y = (v) => CH - PAD.b - (CH - PAD.t - PAD.b) * v / ymax;
  svg.append(svgEl('line', {x1: PAD.l, y1: CH - PAD.b, x2: CW - PAD.r, y2: CH - PAD.b, stroke: '#999'}),
    svgEl('line', {x1: PAD.l, y1: PAD.t, x2: PAD.l, y2: CH - PAD.b, stroke: '#999'}),
    svgEl('text', {x: PAD.l - 4, y: PAD.t + 8, 'text-anchor': 'end', 'font-size': 10}, fmt(ymax)),
    svgEl('text', {x: PAD.l - 4, y: CH - PAD.b, 'text-anchor': 'end', 'font-size': 10}, '0'));
  for (let k = live.keep / TICK_S; k >= 0; k--) {
    const tx = x(t1 - k * TICK_S);
    svg.append(svgEl('line', {class: 'time-tick', x1: tx, y1: CH - PAD.b, x2: tx, y2: CH - PAD.b + 4, stroke: '#999'}),
      svgEl('text', {class: 'time-label', x: tx, y: CH - 6, 'font-size': 10, fill: '#5f6368',
        'text-anchor': k === 0 ? 'end' : k === live.keep / TICK_S ? 'start' : 'middle'}, k === 0 ? 'now' : `−${k} min`));
  }
  series.forEach((s, k) => {
    const known = s.filter((p) => p[1] !== null);
    const last = known.length ? known[known.length - 1] : null;
    const now = s.length ? s[s.length - 1][1] : null;
    if (last) {
      svg.append(svgEl('path', {class: 'series', fill: 'none', stroke: LINE_COLOURS[k], 'stroke-width': 2,
        'stroke-linecap': 'round', 'stroke-linejoin': 'round', d: seriesPath(s, x, y)}));
      // A dot on the newest value: the chart shows something from the first
      // sample on, before there are two points to join.
      svg.append(svgEl('circle', {class: 'latest-dot', r: 3, fill: LINE_COLOURS[k],
        cx: x(last[0]).toFixed(1), cy: y(last[1]).toFixed(1)}));
    }
    // The newest interval had no value: say so, with the last one seen.
    const text = now !== null ? fmt(now) : last ? `— (last ${fmt(last[1])})` : '— no traffic';
    svg.append(svgEl('text', {class: 'latest', 'data-latest': last ? String(last[1]) : '', x: PAD.l + 6 + k * 190, y: PAD.t + 12,
      fill: LINE_COLOURS[k], 'font-size': 12, 'font-weight': 'bold'}, `${names[k]}: ${text}`));
  });
}

const RECENT_SHOWN = 20;

async function pollRecent() {
  let rec;
  try {
    rec = await api('/v1/recent');
  } catch (e) {
    $('#recent-status').textContent = 'Recent translations unavailable: ' + e.message;
    return;
  }
  const body = $('#recent tbody');
  body.replaceChildren();
  if (!rec.enabled) {
    $('#recent-status').textContent = 'Recent translations are off: they hold user text. ' +
      'Set recent_translations = N in seq2seqd.conf to keep the last N in memory.';
    return;
  }
  // Newest first; only the newest RECENT_SHOWN, so that a large buffer does
  // not make the page grow without bound (the table also scrolls).
  const shown = rec.items.slice(0, RECENT_SHOWN);
  $('#recent-status').textContent = shown.length
    ? `The newest ${shown.length} of ${rec.total} translations (the daemon keeps ${rec.capacity}).`
    : `No translation yet (the daemon keeps the last ${rec.capacity}).`;
  for (const it of shown) {
    const tr = el('tr');
    tr.append(el('td', {}, new Date(it.time_ms).toLocaleTimeString()), el('td', {}, it.model),
      el('td', {class: 'recent-source'}, it.source), el('td', {class: 'recent-translation'}, it.translation),
      el('td', {}, it.latency_ms.toFixed(1)));
    body.append(tr);
  }
}

function startLive() {
  if (live.timer) return;
  const tick = () => {
    if (!document.hidden) {
      pollMetrics();
      pollRecent();
    }
  };
  tick();
  live.timer = setInterval(tick, 1000);
}

function stopLive() {
  clearInterval(live.timer);
  live.timer = null;
}

/* ---------- views and health ---------- */

function showView() {
  const liveView = location.hash === '#live';
  $('#view-translate').hidden = liveView;
  $('#view-live').hidden = !liveView;
  $(liveView ? '#tab-live' : '#tab-translate').setAttribute('aria-current', 'page');
  $(liveView ? '#tab-translate' : '#tab-live').removeAttribute('aria-current');
  if (liveView) startLive();
  else stopLive();
}

const HEALTH_MS = 5000; // how often the page checks /readyz and the model list

async function checkHealth() {
  try {
    const r = await api('/readyz');
    $('#health').textContent = `ready · ${r.models} model(s)`;
    $('#health').className = 'health ok';
    // The daemon may have restarted or reloaded with other models since the
    // page loaded: a list that changed is shown again (an unchanged one is
    // left alone).
    // (Also a first list that could not be read when the page loaded.)
    await loadModels();
  } catch (e) {
    $('#health').textContent = `not ready: ${e.message}`;
    $('#health').className = 'health bad';
  }
}

function init() {
  $('#translate-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    translate(requestBody());
  });
  $('#source').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
      ev.preventDefault();
      translate(requestBody());
    }
  });
  $('#model').addEventListener('change', () => {
    renderModelInfo();
    const m = currentModel();
    if (m && m.examples && m.examples.length) $('#source').value = m.examples[0];
  });
  // A new level needs the daemon's matrix for it: ask again for the same sentence.
  for (const id of ['#level-subword', '#level-word']) {
    $(id).addEventListener('change', () => {
      if (state.request) {
        const body = structuredClone(state.request);
        body.options.attention_level = level();
        translate(body);
      }
    });
  }
  $('#threshold').addEventListener('input', () => {
    if (state.result) renderHeatmap();
    if (state.explain) renderExplain();
  });
  $('#prob-threshold').addEventListener('input', () => state.explain && renderExplain());
  $('#edit').addEventListener('click', editBest);
  $('#score').addEventListener('click', scoreMine);
  $('#mine').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
      ev.preventDefault();
      scoreMine();
    }
  });
  $('#reuse-seed').addEventListener('click', () => {
    $('#seed').value = $('#seed-line').dataset.seed;
    $('#advanced').open = true;
  });
  // The cells follow the width of the box: draw again when it changes (the
  // box is as wide as the page allows, whatever the map inside it).
  new ResizeObserver(() => {
    const w = $('#heatmap-wrap').clientWidth;
    if (w > 0 && w !== state.mapBox && state.result && !$('#result').hidden) {
      renderHeatmap();
      if (state.explain) renderExplain();
    }
  }).observe($('#heatmap-wrap'));
  const map = $('#heatmap');
  map.addEventListener('mouseover', (ev) => {
    const c = ev.target.closest('rect.cell');
    if (c) setActive(Number(c.dataset.row), Number(c.dataset.col));
  });
  map.addEventListener('mouseleave', hideTip);
  map.addEventListener('keydown', onHeatmapKey);
  map.addEventListener('focus', () => state.result && setActive(state.active ? state.active.row : 0,
    state.active ? state.active.col : 0));
  map.addEventListener('blur', hideTip);
  $('#export-png').addEventListener('click', exportPng);
  $('#export-svg').addEventListener('click', exportSvg);
  $('#export-json').addEventListener('click', exportJson);
  window.addEventListener('hashchange', showView);
  showView();
  checkHealth();
  setInterval(checkHealth, HEALTH_MS);
  loadModels();
}

document.addEventListener('DOMContentLoaded', init);
