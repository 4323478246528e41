/*
 * seq2seq-translate - translates stdin lines with a seq2seqd checkpoint.
 *
 *   seq2seq-translate -m model.safetensors [--beam 5] [--json] < input.txt
 *
 * Each input line is tokenized with the model's source tokenizer, lines are
 * translated `--batch` at a time in one s2s_translate_ids call, and each
 * line's output is written in input order: the detokenized best hypothesis
 * (or the `--n-best` hypotheses, one line each), optionally prefixed by the
 * normalised score, or one JSON object per input line with `--json`.
 *
 * With --format or --glossary, placeholders, markup and glossary terms are
 * protected (s2s_spans.h, docs/localisation.md): each line is masked, lines
 * are decoded in groups of equal sentinel counts (results do not depend on
 * the batch), and every hypothesis is rendered with its spans put back.
 *
 * Decoding controls (docs/checkpoint-format.md §7.1-7.6) have the API's names
 * as flags (--min-length, --sampling-topk, ...). --prefix-file gives line i a
 * target prefix; --score FILE scores line i of FILE as the translation of
 * input line i (forced decoding) instead of translating. Lines with their own
 * prefix, target or seed are decoded one at a time (a batch would give the
 * same result: results never depend on the batch).
 *
 * A line that cannot be translated (invalid UTF-8, too long) is reported on
 * stderr with its line number and gives an empty output so that output line
 * i still belongs to input line i; the exit status is then 1. Bad options
 * or a bad model exit with status 2 before reading any input.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "heatmap.h"
#include "s2s_decode.h"
#include "s2s_model.h"
#include "s2s_spans.h"
#include "s2s_tokenizer.h"
#include "s2s_vocab.h"

#define EXIT_USAGE 2
#define CLI_DONE (-1) /* parse_args: --help or --version answered, exit 0 */

typedef struct {
	const char *model_path;
	s2s_load_options load;
	s2s_decode_options dec;
	int batch;
	bool scores;
	bool attention;
	int color;       /* heatmap cells in colour (--color; auto by default) */
	bool json;
	bool replace_unk;
	unsigned given; /* S2S_DEC_* bits of the options on the command line */
	unsigned formats;      /* --format: S2S_FMT_* bits */
	const char *glossary_path;
	s2s_glossary glossary; /* --glossary, loaded by main */
	/* issue-14 controls that need the model or a file */
	const char *suppress_list; /* --suppress: comma-separated target tokens */
	int32_t *suppress;         /* their ids (owned), dec.suppress points here */
	const char *prefix_path;   /* --prefix-file */
	const char *score_path;    /* --score */
	FILE *prefix_f, *score_f;  /* opened by main, read in step with stdin */
	bool seed_given;
} cli_options;

/* One input line on its way through a batch; all fields owned here. */
typedef struct {
	long lineno;
	char *source;    /* the input line without its newline */
	s2s_tokens tok;  /* plain tokens: without protection, or a passthrough */
	bool protect;    /* spans and masked are set */
	s2s_spans spans;
	s2s_masked masked;
	s2s_result *res; /* NULL: empty line or failed */
	bool failed;
	char *target;    /* --score: the target text (owned) */
	s2s_tokens prefix; /* --prefix-file or --score: target tokens forced first */
	uint64_t seed;   /* sampling: --seed + (line number - 1) */
} cli_line;

/* Whether the command line asked for protected spans. */
static bool protecting(const cli_options *o)
{
	return o->formats != 0 || o->glossary_path != NULL;
}

/* The tokens line l is decoded from. */
static const s2s_tokens *line_tokens(const cli_line *l)
{
	return l->protect && !l->masked.passthrough ? &l->masked.tok : &l->tok;
}

static void usage(FILE *f)
{
	fputs("usage: seq2seq-translate -m MODEL [options] < input > output\n"
	      "Translates each stdin line with a seq2seqd checkpoint.\n\n"
	      "  -m, --model PATH     checkpoint (.safetensors), required\n"
	      "  -b, --beam N         beam size, 1 (greedy, default) .. 64\n"
	      "  -n, --n-best K       hypotheses per line, 1 .. beam (default 1);\n"
	      "                       in text mode each gets its own output line\n"
	      "  -a, --alpha A        GNMT length penalty alpha (default 0 = none)\n"
	      "      --max-len-a A    max steps = min(max-len, floor(A*n) + B) (default 2.0)\n"
	      "      --max-len-b B    (default 10)\n"
	      "      --max-len N      (default 256)\n"
	      "      --batch N        lines translated together (default 32)\n"
	      "      --quantize Q     weights as stored (none, default) or int8: per-row int8,\n"
	      "                       faster, output may differ slightly (docs/inference.md)\n"
	      "  -s, --scores         prefix each text line with its normalised score and a tab\n"
	      "      --attention      draw each hypothesis's attention as a text heatmap under\n"
	      "                       its line (source tokens across, target tokens down);\n"
	      "                       with --json, add the matrices to the JSON instead\n"
	      "      --color WHEN     heatmap cells in 256 colours: auto (default: on a\n"
	      "                       terminal unless NO_COLOR is set), always, never\n"
	      "  -j, --json           one JSON object per input line, named as the HTTP API\n"
	      "                       names them: source, source_tokens, hypotheses (text,\n"
	      "                       tokens, ids, score, norm_score, logprobs, attention)\n"
	      "  -u, --replace-unk    replace <unk> by the most attended source token\n"
	      "  -f, --format LIST    protect spans: text (default), printf, brace, xml, html,\n"
	      "                       accelerator, auto; comma-separated (docs/localisation.md)\n"
	      "  -g, --glossary FILE  forced terms: 'source<TAB>target' lines (empty target:\n"
	      "                       keep the source term) or a JSON object {source: target|null}\n"
	      "Decoding controls (docs/checkpoint-format.md §7, as in the HTTP API):\n"
	      "      --min-length N           </s> banned before N tokens\n"
	      "      --repetition-penalty X   CTRL penalty on tokens already generated (1 = none)\n"
	      "      --no-repeat-ngram-size N no n-gram of size N twice (0 = none)\n"
	      "      --suppress LIST          comma-separated target tokens never generated\n"
	      "      --disable-unk            never generate <unk>\n"
	      "      --coverage-penalty B     GNMT coverage penalty beta (0 = none)\n"
	      "      --length-penalty-type T  wu (default), avg or none\n"
	      "      --sampling-topk K        sample from the K best (0 = all; 1 = no sampling)\n"
	      "      --sampling-topp P        nucleus within the top K, (0, 1]\n"
	      "      --sampling-temperature T (default 1)\n"
	      "      --seed S                 sampling seed; line i uses S + i - 1 (default:\n"
	      "                               drawn, printed on stderr)\n"
	      "      --prefix-file FILE       line i of FILE is the target prefix of input line i\n"
	      "      --return-alternatives K  (--json) the K best tokens after the prefix\n"
	      "      --score FILE             score line i of FILE as the translation of input\n"
	      "                               line i: 'score<TAB>norm_score' lines, or JSON\n"
	      "  -h, --help           this text\n"
	      "  -V, --version        print the version\n\n"
	      "An empty input line gives an empty output line ({\"hypotheses\":[]} with --json).\n"
	      "Exit status: 0 ok, 1 some lines failed (reported on stderr), 2 bad usage or model.\n",
	      f);
}

/* Parses a whole-string integer in [lo, hi]; false on anything else. */
static bool parse_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return false;
	*out = (int)v;
	return true;
}

static bool parse_float(const char *s, float lo, float hi, float *out)
{
	char *end;
	errno = 0;
	float v = strtof(s, &end);
	if (errno || end == s || *end || !(v >= lo && v <= hi))
		return false;
	*out = v;
	return true;
}

enum {
	OPT_MAX_LEN_A = 256,
	OPT_MAX_LEN_B,
	OPT_MAX_LEN,
	OPT_BATCH,
	OPT_ATTENTION,
	OPT_QUANTIZE,
	OPT_COLOR,
	OPT_MIN_LENGTH,
	OPT_REPETITION_PENALTY,
	OPT_NO_REPEAT_NGRAM,
	OPT_SUPPRESS,
	OPT_DISABLE_UNK,
	OPT_COVERAGE_PENALTY,
	OPT_LP_TYPE,
	OPT_TOPK,
	OPT_TOPP,
	OPT_TEMPERATURE,
	OPT_SEED,
	OPT_PREFIX_FILE,
	OPT_ALTERNATIVES,
	OPT_SCORE
};

static const struct option long_options[] = {
	{"model", required_argument, NULL, 'm'},
	{"beam", required_argument, NULL, 'b'},
	{"n-best", required_argument, NULL, 'n'},
	{"alpha", required_argument, NULL, 'a'},
	{"max-len-a", required_argument, NULL, OPT_MAX_LEN_A},
	{"max-len-b", required_argument, NULL, OPT_MAX_LEN_B},
	{"max-len", required_argument, NULL, OPT_MAX_LEN},
	{"batch", required_argument, NULL, OPT_BATCH},
	{"quantize", required_argument, NULL, OPT_QUANTIZE},
	{"scores", no_argument, NULL, 's'},
	{"attention", no_argument, NULL, OPT_ATTENTION},
	{"color", required_argument, NULL, OPT_COLOR},
	{"json", no_argument, NULL, 'j'},
	{"replace-unk", no_argument, NULL, 'u'},
	{"format", required_argument, NULL, 'f'},
	{"glossary", required_argument, NULL, 'g'},
	{"min-length", required_argument, NULL, OPT_MIN_LENGTH},
	{"repetition-penalty", required_argument, NULL, OPT_REPETITION_PENALTY},
	{"no-repeat-ngram-size", required_argument, NULL, OPT_NO_REPEAT_NGRAM},
	{"suppress", required_argument, NULL, OPT_SUPPRESS},
	{"disable-unk", no_argument, NULL, OPT_DISABLE_UNK},
	{"coverage-penalty", required_argument, NULL, OPT_COVERAGE_PENALTY},
	{"length-penalty-type", required_argument, NULL, OPT_LP_TYPE},
	{"sampling-topk", required_argument, NULL, OPT_TOPK},
	{"sampling-topp", required_argument, NULL, OPT_TOPP},
	{"sampling-temperature", required_argument, NULL, OPT_TEMPERATURE},
	{"seed", required_argument, NULL, OPT_SEED},
	{"prefix-file", required_argument, NULL, OPT_PREFIX_FILE},
	{"return-alternatives", required_argument, NULL, OPT_ALTERNATIVES},
	{"score", required_argument, NULL, OPT_SCORE},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

static const char *option_name(int c)
{
	for (const struct option *o = long_options; o->name; o++)
		if (o->val == c)
			return o->name;
	return "?";
}

/* A float in (lo, hi]: the open lower bound of penalties and temperatures. */
static bool parse_positive(const char *s, float hi, float *out)
{
	return parse_float(s, 0.0f, hi, out) && *out > 0.0f;
}

static bool parse_seed(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-')
		return false;
	*out = v;
	return true;
}

static bool parse_lp_type(const char *s, int *out)
{
	static const char *const names[] = {"wu", "avg", "none"}; /* s2s_length_penalty_type */
	for (int i = 0; i < 3; i++)
		if (!strcmp(s, names[i])) {
			*out = i;
			return true;
		}
	return false;
}

/* The issue-14 decoding controls; -1 when c is none of them. */
static int apply_control(cli_options *o, int c, const char *arg)
{
	s2s_decode_options *d = &o->dec;
	switch (c) {
	case OPT_MIN_LENGTH: return parse_int(arg, 0, 100000, &d->min_length);
	case OPT_REPETITION_PENALTY: return parse_positive(arg, 100.0f, &d->repetition_penalty);
	case OPT_NO_REPEAT_NGRAM: return parse_int(arg, 0, S2S_MAX_NGRAM, &d->no_repeat_ngram_size);
	case OPT_SUPPRESS: o->suppress_list = arg; return true;
	case OPT_DISABLE_UNK: d->disable_unk = true; return true;
	case OPT_COVERAGE_PENALTY: return parse_float(arg, 0.0f, 100.0f, &d->coverage_penalty);
	case OPT_LP_TYPE: return parse_lp_type(arg, &d->length_penalty_type);
	case OPT_TOPK: return parse_int(arg, 0, 1 << 24, &d->sampling_topk);
	case OPT_TOPP: return parse_positive(arg, 1.0f, &d->sampling_topp);
	case OPT_TEMPERATURE: return parse_positive(arg, 100.0f, &d->sampling_temperature);
	case OPT_SEED: o->seed_given = true; return parse_seed(arg, &d->seed);
	case OPT_PREFIX_FILE: o->prefix_path = arg; return true;
	case OPT_ALTERNATIVES: return parse_int(arg, 0, 64, &d->return_alternatives);
	case OPT_SCORE: o->score_path = arg; return true;
	default: return -1;
	}
}

/* Applies one option; false (after a message) when its value is bad. */
static bool apply_option(cli_options *o, int c, const char *arg)
{
	bool ok = true;
	int r = apply_control(o, c, arg);
	if (r >= 0) {
		if (!r)
			fprintf(stderr, "seq2seq-translate: invalid value '%s' for --%s\n", arg,
				option_name(c));
		return r;
	}
	switch (c) {
	case 'm': o->model_path = arg; break;
	case 'b': ok = parse_int(arg, 1, 64, &o->dec.beam_size); break;
	case 'n': ok = parse_int(arg, 1, 64, &o->dec.n_best); break;
	case 'a': ok = parse_float(arg, 0.0f, 100.0f, &o->dec.length_penalty); break;
	case OPT_MAX_LEN_A: ok = parse_float(arg, 0.0f, 1000.0f, &o->dec.max_len_a); break;
	case OPT_MAX_LEN_B: ok = parse_int(arg, 0, 100000, &o->dec.max_len_b); break;
	case OPT_MAX_LEN: ok = parse_int(arg, 1, 100000, &o->dec.max_len); break;
	case OPT_BATCH: ok = parse_int(arg, 1, 4096, &o->batch); break;
	case OPT_QUANTIZE: ok = s2s_quantize_parse(arg, &o->load.quantize) == 0; break;
	case 's': o->scores = true; break;
	case OPT_ATTENTION: o->attention = true; break;
	case OPT_COLOR: ok = (o->color = s2st_heatmap_color(arg, stdout)) >= 0; break;
	case 'j': o->json = true; break;
	case 'u': o->replace_unk = true; break;
	case 'f': ok = s2s_format_parse(arg, &o->formats, NULL) == 0; break;
	case 'g': o->glossary_path = arg; break;
	default: return false;
	}
	static const struct {
		int c;
		unsigned bit;
	} bits[] = {{'b', S2S_DEC_BEAM_SIZE},       {'n', S2S_DEC_N_BEST},
		    {'a', S2S_DEC_LENGTH_PENALTY},  {OPT_MAX_LEN_A, S2S_DEC_MAX_LEN_A},
		    {OPT_MAX_LEN_B, S2S_DEC_MAX_LEN_B}, {OPT_MAX_LEN, S2S_DEC_MAX_LEN}};
	for (size_t i = 0; i < sizeof bits / sizeof bits[0]; i++)
		if (bits[i].c == c)
			o->given |= bits[i].bit;
	if (!ok)
		fprintf(stderr, "seq2seq-translate: invalid value '%s' for --%s\n", arg,
			option_name(c));
	return ok;
}

/* Returns 0 to go on, or the exit status to leave with now. */
static int parse_args(int argc, char **argv, cli_options *o)
{
	memset(o, 0, sizeof *o);
	s2s_decode_options_init(&o->dec);
	o->batch = 32;
	o->color = s2st_heatmap_color("auto", stdout);
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "m:b:n:a:f:g:sjuhV", long_options, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return CLI_DONE;
		}
		if (c == 'V') {
			printf("seq2seq-translate (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
			return CLI_DONE;
		}
		if (c == '?' || c == ':') {
			fprintf(stderr, "seq2seq-translate: unknown option or missing value: %s\n",
				argv[optind - 1]);
			return EXIT_USAGE;
		}
		if (!apply_option(o, c, optarg))
			return EXIT_USAGE;
	}
	if (optind < argc) {
		fprintf(stderr, "seq2seq-translate: unexpected argument '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (!o->model_path) {
		fputs("seq2seq-translate: -m MODEL is required (see --help)\n", stderr);
		return EXIT_USAGE;
	}
	/* Attention is only paid for when something consumes it (spans are put back by it). */
	o->dec.attention = o->replace_unk || o->attention || protecting(o) ||
			   o->dec.coverage_penalty > 0;
	if (o->dec.return_alternatives > 0 && !o->json) {
		fputs("seq2seq-translate: --return-alternatives needs --json\n", stderr);
		return EXIT_USAGE;
	}
	if ((o->prefix_path || o->score_path) && protecting(o)) {
		fputs("seq2seq-translate: --prefix-file and --score do not go with --format or "
		      "--glossary\n", stderr);
		return EXIT_USAGE;
	}
	if (o->prefix_path && o->score_path) {
		fputs("seq2seq-translate: --score forces the whole target; --prefix-file does not "
		      "go with it\n", stderr);
		return EXIT_USAGE;
	}
	return 0;
}

/* --suppress: each comma-separated token looked up in the target vocabulary. 0 or EXIT_USAGE. */
static int resolve_suppress(const s2s_model *m, cli_options *o)
{
	if (!o->suppress_list)
		return 0;
	char *list = strdup(o->suppress_list), *save = NULL;
	int n = 0;
	o->suppress = calloc(strlen(o->suppress_list) + 1, sizeof *o->suppress);
	if (!list || !o->suppress) {
		free(list);
		fputs("seq2seq-translate: out of memory\n", stderr);
		return EXIT_USAGE;
	}
	const s2s_vocab *v = s2s_model_tgt_vocab(m);
	for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		int32_t id = s2s_vocab_lookup(v, t, strlen(t));
		if (id == S2S_UNK && strcmp(t, s2s_vocab_token(v, S2S_UNK))) {
			fprintf(stderr, "seq2seq-translate: --suppress: '%s' is not a token of the "
				"target vocabulary\n", t);
			free(list);
			return EXIT_USAGE;
		}
		o->suppress[n++] = id;
	}
	free(list);
	o->dec.suppress = o->suppress;
	o->dec.n_suppress = n;
	return 0;
}

/* A seed for sampling without --seed: from /dev/urandom, within 2^53 like the API's. */
static uint64_t draw_seed(void)
{
	uint64_t x = 0;
	FILE *f = fopen("/dev/urandom", "rb");
	if (!f || fread(&x, sizeof x, 1, f) != 1)
		x = (uint64_t)time(NULL);
	if (f)
		fclose(f);
	return x & (((uint64_t)1 << 53) - 1);
}

/*
 * Options the command line did not give come from the checkpoint's decoding
 * defaults (seq2seqd.decoding); then the whole set is checked. 0 or EXIT_USAGE.
 */
static int finish_options(const s2s_model *m, cli_options *o)
{
	s2s_decode_options def;
	unsigned set = s2s_model_decode_defaults(m, &def);
	s2s_decode_options_merge(&o->dec, o->given, &def, set);
	if (!(o->given & S2S_DEC_N_BEST) && o->dec.n_best > o->dec.beam_size)
		o->dec.n_best = o->dec.beam_size;
	bool sampling = o->dec.sampling_topk != 1;
	/* a checkpoint's default beam yields to sampling and to scoring; an explicit one is refused */
	if ((sampling || o->score_path) && !(o->given & S2S_DEC_BEAM_SIZE))
		o->dec.beam_size = o->dec.n_best = 1;
	if (o->score_path)
		o->dec.force_eos = true;
	if (sampling && !o->seed_given) {
		o->dec.seed = draw_seed();
		fprintf(stderr, "seq2seq-translate: sampling with --seed %llu\n",
			(unsigned long long)o->dec.seed);
	}
	if (resolve_suppress(m, o) != 0)
		return EXIT_USAGE;
	s2s_error err = {0};
	if (s2s_decode_options_check(&o->dec, &err) < 0) {
		fprintf(stderr, "seq2seq-translate: %s\n", err.message);
		return EXIT_USAGE;
	}
	return 0;
}

/*
 * The target token strings of a hypothesis, with <unk> replaced by the
 * attended source piece when asked. Returns a malloc'd array of borrowed
 * strings (from the vocabulary or `src`), or NULL on allocation failure.
 */
static const char **hyp_tokens(const s2s_model *m, const s2s_hypothesis *h, const cli_line *l,
			       bool replace_unk)
{
	const s2s_tokens *src = line_tokens(l);
	/* a sentinel's piece ("<ph0>") is not text: an <unk> aligned to one stays */
	const bool *is_text = l->protect && !l->masked.passthrough ? l->masked.is_text : NULL;
	const char **t = calloc((size_t)h->n + 1, sizeof *t);
	int32_t *from = replace_unk && h->attention ? malloc(((size_t)h->n + 1) * sizeof *from) : NULL;
	if (!t || (replace_unk && h->attention && !from)) {
		free(t);
		free(from);
		return NULL;
	}
	if (from)
		s2s_hypothesis_unk_sources(h, src->n, from);
	for (int i = 0; i < h->n; i++) {
		t[i] = s2s_vocab_token(s2s_model_tgt_vocab(m), h->ids[i]);
		if (from && from[i] >= 0 && from[i] < src->n && (!is_text || is_text[from[i]]))
			t[i] = src->pieces[from[i]];
	}
	free(from);
	return t;
}

/* Detokenized text of a hypothesis, specials dropped; caller frees. */
static char *hyp_text(const s2s_model *m, const s2s_hypothesis *h, const char **tokens)
{
	const char **keep = malloc(((size_t)h->n + 1) * sizeof *keep);
	if (!keep)
		return NULL;
	int k = 0;
	for (int i = 0; i < h->n; i++) {
		int32_t id = h->ids[i];
		if (id == S2S_PAD || id == S2S_BOS || id == S2S_EOS)
			continue;
		keep[k++] = tokens[i];
	}
	char *s = s2s_detokenize(s2s_model_tgt_tokenizer(m), keep, k);
	free(keep);
	return s;
}

/*
 * The output text of hypothesis h of line l: detokenized, or with the
 * protected spans put back (a passthrough renders as its source). Caller
 * frees; NULL on allocation failure. *span_token, when given, receives the
 * rendered span positions (caller frees).
 */
static char *line_text(const s2s_model *m, const cli_line *l, const s2s_hypothesis *h,
		       const char **tokens, int32_t **span_token)
{
	if (!l->protect)
		return hyp_text(m, h, tokens);
	int n = h->n > 0 && h->ids[h->n - 1] == S2S_EOS ? h->n - 1 : h->n;
	s2s_rendered r = {0};
	s2s_error err = {0};
	if (s2s_spans_render(&l->spans, &l->masked, s2s_model_tgt_tokenizer(m),
			     s2s_model_sentinels(m), tokens, h->ids, n, h->attention,
			     line_tokens(l)->n, &r, &err) < 0)
		return NULL;
	char *text = r.text;
	r.text = NULL;
	if (span_token) {
		*span_token = r.span_token;
		r.span_token = NULL;
	}
	s2s_rendered_deinit(&r);
	return text;
}

/* JSON has no NaN or infinity (jansson refuses them): those become null. */
static json_t *json_float(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static json_t *json_floats(const float *v, int n)
{
	json_t *a = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(a, json_float(v[i]));
	return a;
}

static json_t *json_hyp(const s2s_hypothesis *h, const char **tokens, const char *text, int n_src,
			bool attention)
{
	json_t *ids = json_array(), *toks = json_array();
	for (int i = 0; i < h->n; i++) {
		json_array_append_new(ids, json_integer(h->ids[i]));
		json_array_append_new(toks, json_string(tokens[i] ? tokens[i] : ""));
	}
	json_t *o = json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:b}", "text", text, "tokens", toks,
			      "ids", ids, "score", json_float(h->score), "norm_score",
			      json_float(h->norm_score), "logprobs", json_floats(h->logprobs, h->n),
			      "finished", h->finished);
	if (attention && o) {
		json_t *rows = json_null();
		if (h->attention) {
			rows = json_array();
			for (int i = 0; i < h->n; i++)
				json_array_append_new(
					rows, json_floats(h->attention + (size_t)i * n_src, n_src));
		}
		json_object_set_new(o, "attention", rows);
	}
	return o;
}

static int draw_heatmap(const cli_options *o, const cli_line *l, const s2s_hypothesis *h,
			const char **tokens, const int32_t *where);

/* The API's per-result additions: "seed", "prefix_tokens", "alternatives". */
static void json_controls(const s2s_model *m, const cli_options *o, const cli_line *l,
			  json_t *line)
{
	if (o->dec.sampling_topk != 1)
		json_object_set_new(line, "seed", json_integer((json_int_t)l->seed));
	if (o->prefix_f)
		json_object_set_new(line, "prefix_tokens", json_integer(l->prefix.n));
	if (o->dec.return_alternatives <= 0)
		return;
	json_t *alts = json_array();
	for (int k = 0; alts && l->res && k < l->res->n_alternatives; k++) {
		const s2s_alternative *a = &l->res->alternatives[k];
		json_array_append_new(alts, json_pack("{s:s, s:i, s:o}", "token",
						      s2s_vocab_token(s2s_model_tgt_vocab(m), a->id),
						      "id", (int)a->id, "logprob",
						      json_float(a->logprob)));
	}
	json_object_set_new(line, "alternatives", alts);
}

/*
 * --score --json: one object per line with the names of POST /v1/score
 * (source, source_tokens, target, tokens, ids, logprobs, score, norm_score,
 * and attention with --attention). False on allocation failure.
 */
static bool emit_score_json(const s2s_model *m, const cli_options *o, const cli_line *l)
{
	const s2s_hypothesis *h = l->res && l->res->n_hyps > 0 ? &l->res->hyps[0] : NULL;
	json_t *src = json_array();
	for (int i = 0; src && i < l->tok.n; i++)
		json_array_append_new(src, json_string(l->tok.pieces[i]));
	json_t *line = json_pack("{s:I, s:s, s:o, s:s}", "line", (json_int_t)l->lineno, "source",
				 l->source ? l->source : "", "source_tokens", src, "target",
				 l->target ? l->target : "");
	const char **tokens = h ? hyp_tokens(m, h, l, false) : NULL;
	json_t *j = h && tokens ? json_hyp(h, tokens, "", l->tok.n, o->attention) : NULL;
	if (line && j) {
		json_object_del(j, "text");
		json_object_del(j, "finished");
		json_object_update(line, j);
	}
	if (line && !h)
		json_object_set_new(line, "error", json_true());
	json_decref(j);
	free(tokens);
	char *s = line ? json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
	if (s)
		puts(s);
	free(s);
	json_decref(line);
	return s != NULL && (!h || tokens);
}

/* --score in text: 'score<TAB>norm_score' (an empty line for a failed one), heatmap with --attention. */
static bool emit_score_text(const s2s_model *m, const cli_options *o, const cli_line *l)
{
	const s2s_hypothesis *h = l->res && l->res->n_hyps > 0 ? &l->res->hyps[0] : NULL;
	if (!h) {
		puts("");
		return true;
	}
	printf("%.6f\t%.6f\n", (double)h->score, (double)h->norm_score);
	if (!o->attention)
		return true;
	const char **tokens = hyp_tokens(m, h, l, false);
	bool ok = tokens && draw_heatmap(o, l, h, tokens, NULL) == 0;
	free(tokens);
	return ok;
}

/* Writes the JSON line of one input line; false on allocation failure. */
static bool emit_json(const s2s_model *m, const cli_options *o, const cli_line *l)
{
	json_t *hyps = json_array(), *src = json_array(), *src_ids = json_array();
	const s2s_tokens *tok = line_tokens(l);
	for (int i = 0; i < tok->n; i++) {
		json_array_append_new(src, json_string(tok->pieces[i]));
		json_array_append_new(src_ids, json_integer(tok->ids[i]));
	}
	bool ok = hyps && src && src_ids;
	for (int i = 0; ok && l->res && i < l->res->n_hyps; i++) {
		const s2s_hypothesis *h = &l->res->hyps[i];
		const char **tokens = hyp_tokens(m, h, l, o->replace_unk);
		int32_t *where = NULL;
		char *text = tokens ? line_text(m, l, h, tokens, &where) : NULL;
		json_t *j = text ? json_hyp(h, tokens, text, tok->n, o->attention) : NULL;
		for (int k = 0; j && where && k < l->spans.n; k++) {
			json_t *a = json_object_get(j, "span_tokens");
			if (!a)
				json_object_set_new(j, "span_tokens", a = json_array());
			json_array_append_new(a, where[k] >= 0 ? json_integer(where[k]) : json_null());
		}
		ok = j && json_array_append_new(hyps, j) == 0;
		free(where);
		free(text);
		free(tokens);
	}
	json_t *line = json_pack("{s:I, s:s, s:o, s:o, s:o}", "line", (json_int_t)l->lineno,
				 "source", l->source ? l->source : "", "source_tokens", src,
				 "source_ids", src_ids, "hypotheses", hyps);
	if (line && l->failed)
		json_object_set_new(line, "error", json_true());
	if (line)
		json_controls(m, o, l, line);
	char *s = ok && line ? json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
	if (s)
		puts(s);
	free(s);
	json_decref(line);
	return s != NULL;
}

/*
 * --attention without --json: hypothesis h's attention as a text heatmap,
 * its score above it and a blank line after it. A target row that renders
 * a protected span is labelled with the span in brackets. 0, or -1 on
 * allocation failure.
 */
static int draw_heatmap(const cli_options *o, const cli_line *l,
			const s2s_hypothesis *h, const char **tokens, const int32_t *where)
{
	const s2s_tokens *src = line_tokens(l);
	const char **rows = malloc(((size_t)h->n + 1) * sizeof *rows);
	char **names = calloc((size_t)l->spans.n + 1, sizeof *names);
	int rc = rows && names ? 0 : -1;
	for (int i = 0; rc == 0 && i < h->n; i++)
		rows[i] = tokens[i];
	for (int k = 0; rc == 0 && where && k < l->spans.n; k++) {
		if (where[k] < 0 || where[k] >= h->n)
			continue;
		const s2s_span *sp = &l->spans.spans[k];
		size_t len = sp->output ? strlen(sp->output) : sp->len;
		const char *txt = sp->output ? sp->output : l->spans.text + sp->start;
		if (!(names[k] = malloc(len + 3)))
			rc = -1;
		else {
			snprintf(names[k], len + 3, "[%.*s]", (int)len, txt);
			rows[where[k]] = names[k];
		}
	}
	if (rc == 0) {
		printf("  score %.4f, normalised %.4f\n", (double)h->score, (double)h->norm_score);
		s2st_heatmap hm = {(const char *const *)src->pieces, src->n, rows, h->n,
				   h->attention, o->color != 0};
		rc = s2st_heatmap_write(&hm, stdout);
		putchar('\n');
	}
	for (int k = 0; names && k < l->spans.n; k++)
		free(names[k]);
	free(names);
	free(rows);
	return rc;
}

/* Writes the text line(s) of one input line; false on allocation failure. */
static bool emit_text(const s2s_model *m, const cli_options *o, const cli_line *l)
{
	if (!l->res) { /* empty or failed: keep the output aligned with the input */
		for (int i = 0; i < o->dec.n_best; i++)
			puts("");
		return true;
	}
	for (int i = 0; i < l->res->n_hyps; i++) {
		const s2s_hypothesis *h = &l->res->hyps[i];
		const char **tokens = hyp_tokens(m, h, l, o->replace_unk);
		int32_t *where = NULL;
		char *text = tokens ? line_text(m, l, h, tokens, o->attention ? &where : NULL) : NULL;
		if (!text) {
			free(tokens);
			return false;
		}
		if (o->scores)
			printf("%.6f\t", (double)h->norm_score);
		puts(text);
		bool drawn = !o->attention || draw_heatmap(o, l, h, tokens, where) == 0;
		free(where);
		free(text);
		free(tokens);
		if (!drawn)
			return false;
	}
	for (int i = l->res->n_hyps; i < o->dec.n_best; i++)
		puts("");
	return true;
}

/* Whether lines carry options of their own (prefix, target, seed): decoded one by one. */
static bool per_line(const cli_options *o)
{
	return o->prefix_f || o->score_f || o->dec.sampling_topk != 1;
}

/* Whether line l takes part in the group of sentinel counts (ph, pairs). */
static bool in_group(const cli_line *l, int ph, int pairs)
{
	bool sent = l->protect && l->masked.sentinel_path;
	return (sent ? l->masked.n_ph : 0) == ph && (sent ? l->masked.n_pairs : 0) == pairs;
}

/*
 * Translates the non-empty, tokenized lines of one group of sentinel counts
 * (lines with protected spans decode under their own constraint; a batch
 * gives what each line alone gives, so grouping changes no result). When the
 * batch call fails (one bad sentence fails the whole call), each line is
 * retried alone so only the culprit is lost. Returns the number of failed
 * lines, or -1 on allocation failure.
 */
static int translate_group(s2s_model *m, const cli_options *o, cli_line *lines, int n, int ph,
			   int pairs)
{
	const int32_t **src = malloc((size_t)n * sizeof *src);
	int *lens = malloc((size_t)n * sizeof *lens);
	int *which = malloc((size_t)n * sizeof *which);
	s2s_result **res = calloc((size_t)n, sizeof *res);
	int count = 0, failed = 0;
	s2s_decode_options dec = o->dec;
	dec.sentinel_ph = ph;
	dec.sentinel_pairs = pairs;
	if (!src || !lens || !which || !res) {
		free(src), free(lens), free(which), free(res);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		if (lines[i].failed || line_tokens(&lines[i])->n == 0 || lines[i].res ||
		    !in_group(&lines[i], ph, pairs))
			continue;
		src[count] = line_tokens(&lines[i])->ids;
		lens[count] = line_tokens(&lines[i])->n;
		which[count++] = i;
	}
	s2s_error err = {0};
	if (count > 0 && !per_line(o) && s2s_translate_ids(m, src, lens, count, &dec, res, &err) >= 0) {
		for (int k = 0; k < count; k++)
			lines[which[k]].res = res[k];
	} else {
		for (int k = 0; k < count; k++) {
			cli_line *l = &lines[which[k]];
			s2s_error_clear(&err);
			dec.prefix = l->prefix.n > 0 ? l->prefix.ids : NULL;
			dec.n_prefix = l->prefix.n;
			dec.seed = l->seed;
			if (s2s_translate_ids(m, &src[k], &lens[k], 1, &dec, &l->res, &err) < 0) {
				fprintf(stderr, "seq2seq-translate: line %ld: %s\n", l->lineno,
					err.message[0] ? err.message : s2s_strerror(err.code));
				l->res = NULL;
				l->failed = true;
				failed++;
			}
		}
	}
	free(src), free(lens), free(which), free(res);
	return failed;
}

/* Translates a batch's lines, one group per distinct sentinel count pair. */
static int translate_batch(s2s_model *m, const cli_options *o, cli_line *lines, int n)
{
	int failed = 0;
	for (int i = 0; i < n; i++) {
		const cli_line *l = &lines[i];
		if (l->failed || l->res || line_tokens(l)->n == 0)
			continue;
		bool sent = l->protect && l->masked.sentinel_path;
		int r = translate_group(m, o, lines, n, sent ? l->masked.n_ph : 0,
					sent ? l->masked.n_pairs : 0);
		if (r < 0)
			return -1;
		failed += r;
		if (!l->res && !l->failed)
			return -1; /* cannot happen: the group included line i */
	}
	return failed;
}

/* Masks line l's protected spans (docs/localisation.md); false after reporting. */
static bool protect_line(const s2s_model *m, const cli_options *o, const char *text, size_t len,
			 cli_line *l, s2s_error *err)
{
	l->protect = true;
	if (s2s_spans_parse(text, len, o->formats, &o->glossary, &l->spans, err) < 0 ||
	    s2s_spans_mask(&l->spans, s2s_model_src_tokenizer(m), s2s_model_src_vocab(m),
			   s2s_model_sentinels(m), &l->masked, err) < 0)
		return false;
	/* nothing but spans: the model still runs on the plain text (the output is the source) */
	return !l->masked.passthrough ||
	       s2s_tokenize(s2s_model_src_tokenizer(m), s2s_model_src_vocab(m), text, len, &l->tok,
			    err) == 0;
}

/*
 * Line `lineno` of --prefix-file or --score, tokenized with the target
 * tokenizer into l->prefix (the target text kept in l->target). False after
 * a message: the file ended early, or the line does not tokenize, or a
 * score target is empty.
 */
static bool read_target(const s2s_model *m, const cli_options *o, cli_line *l)
{
	FILE *f = o->score_f ? o->score_f : o->prefix_f;
	const char *path = o->score_f ? o->score_path : o->prefix_path;
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n = getline(&buf, &cap, f);
	s2s_error err = {0};
	bool ok = n >= 0;
	if (!ok)
		fprintf(stderr, "seq2seq-translate: line %ld: %s has no line %ld\n", l->lineno, path,
			l->lineno);
	while (ok && n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	if (ok && s2s_tokenize(s2s_model_tgt_tokenizer(m), s2s_model_tgt_vocab(m), buf, (size_t)n,
			       &l->prefix, &err) < 0) {
		fprintf(stderr, "seq2seq-translate: %s:%ld: %s\n", path, l->lineno, err.message);
		ok = false;
	}
	if (ok && o->score_f && l->prefix.n == 0) {
		fprintf(stderr, "seq2seq-translate: %s:%ld: the target is empty\n", path, l->lineno);
		ok = false;
	}
	if (ok && o->score_f)
		l->target = buf;
	else
		free(buf);
	return ok;
}

/* Tokenizes one input line into l; a failure marks it failed (reported). */
static void tokenize_line(const s2s_model *m, const cli_options *o, char *text, size_t len,
			  long lineno, cli_line *l)
{
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		len--;
	memset(l, 0, sizeof *l);
	l->lineno = lineno;
	l->seed = o->dec.seed + (uint64_t)(lineno - 1);
	/* read in step with stdin, also for an empty input line */
	if ((o->prefix_f || o->score_f) && !read_target(m, o, l))
		l->failed = true;
	s2s_error err = {0};
	/* kept for the JSON "source" and for heatmap labels (NULL only when out of memory) */
	l->source = strndup(text, len);
	bool ok = protecting(o) && len > 0
			  ? protect_line(m, o, text, len, l, &err)
			  : s2s_tokenize(s2s_model_src_tokenizer(m), s2s_model_src_vocab(m), text,
					 len, &l->tok, &err) == 0;
	if (!ok) {
		fprintf(stderr, "seq2seq-translate: line %ld: %s\n", lineno, err.message);
		l->failed = true;
	}
	if (o->score_f && len == 0 && !l->failed) {
		fprintf(stderr, "seq2seq-translate: line %ld: an empty source cannot be scored\n",
			lineno);
		l->failed = true;
	}
}

/* Frees what a line holds. */
static void line_deinit(cli_line *l)
{
	s2s_result_free(l->res);
	free(l->source);
	free(l->target);
	s2s_tokens_deinit(&l->tok);
	s2s_tokens_deinit(&l->prefix);
	if (l->protect) {
		s2s_masked_deinit(&l->masked);
		s2s_spans_deinit(&l->spans);
	}
}

/* Translates and prints one batch, then frees it. Returns failed lines or -1. */
static int flush_batch(s2s_model *m, const cli_options *o, cli_line *lines, int n)
{
	int failed = 0;
	for (int i = 0; i < n; i++)
		failed += lines[i].failed;
	int r = translate_batch(m, o, lines, n);
	bool ok = r >= 0;
	for (int i = 0; i < n; i++) {
		if (ok && o->score_f)
			ok = o->json ? emit_score_json(m, o, &lines[i])
				     : emit_score_text(m, o, &lines[i]);
		else if (ok)
			ok = o->json ? emit_json(m, o, &lines[i]) : emit_text(m, o, &lines[i]);
		line_deinit(&lines[i]);
	}
	fflush(stdout);
	return ok ? failed + r : -1;
}

static int run(s2s_model *m, const cli_options *o)
{
	cli_line *lines = calloc((size_t)o->batch, sizeof *lines);
	char *buf = NULL;
	size_t cap = 0;
	ssize_t len;
	long lineno = 0;
	int n = 0, failed = 0, r = 0;
	if (!lines)
		goto oom;
	while ((len = getline(&buf, &cap, stdin)) >= 0) {
		tokenize_line(m, o, buf, (size_t)len, ++lineno, &lines[n++]);
		if (n == o->batch) {
			if ((r = flush_batch(m, o, lines, n)) < 0)
				goto oom;
			failed += r;
			n = 0;
		}
	}
	if (n > 0) {
		if ((r = flush_batch(m, o, lines, n)) < 0)
			goto oom;
		failed += r;
	}
	free(buf);
	free(lines);
	return failed > 0 ? EXIT_FAILURE : EXIT_SUCCESS;
oom:
	fputs("seq2seq-translate: out of memory\n", stderr);
	free(buf);
	free(lines);
	return EXIT_FAILURE;
}

/* A JSON object {source: target | null} into g. 0, or -1 after a message. */
static int glossary_json(const char *path, s2s_glossary *g)
{
	json_error_t je;
	json_t *root = json_load_file(path, 0, &je), *v;
	const char *k;
	s2s_error err = {0};
	if (!json_is_object(root)) {
		fprintf(stderr, "seq2seq-translate: %s: %s\n", path,
			root ? "a JSON glossary is an object {source: target or null}" : je.text);
		json_decref(root);
		return -1;
	}
	json_object_foreach(root, k, v) {
		if ((!json_is_string(v) && !json_is_null(v)) ||
		    s2s_glossary_add(g, k, json_string_value(v), &err) < 0) {
			fprintf(stderr, "seq2seq-translate: %s: term \"%s\": %s\n", path, k,
				err.message[0] ? err.message : "the target must be a string or null");
			json_decref(root);
			return -1;
		}
	}
	json_decref(root);
	return 0;
}

/* 'source<TAB>target' lines into g (empty target: keep the term). 0, or -1 after a message. */
static int glossary_tsv(FILE *f, const char *path, s2s_glossary *g)
{
	char *line = NULL;
	size_t cap = 0;
	long no = 0;
	int rc = 0;
	s2s_error err = {0};
	while (rc == 0 && getline(&line, &cap, f) >= 0) {
		no++;
		line[strcspn(line, "\r\n")] = 0;
		if (!line[0] || line[0] == '#')
			continue;
		char *tab = strchr(line, '\t');
		if (tab)
			*tab++ = 0;
		if (s2s_glossary_add(g, line, tab && *tab ? tab : NULL, &err) < 0) {
			fprintf(stderr, "seq2seq-translate: %s:%ld: %s\n", path, no, err.message);
			rc = -1;
		}
	}
	free(line);
	return rc;
}

/* Loads --glossary: JSON when the file starts with '{', else TSV. 0 or EXIT_USAGE. */
static int load_glossary(cli_options *o)
{
	if (!o->glossary_path)
		return 0;
	FILE *f = fopen(o->glossary_path, "r");
	if (!f) {
		fprintf(stderr, "seq2seq-translate: %s: %s\n", o->glossary_path, strerror(errno));
		return EXIT_USAGE;
	}
	int c;
	while ((c = getc(f)) == ' ' || c == '\n' || c == '\t' || c == '\r')
		;
	int rc;
	if (c == '{') {
		fclose(f);
		rc = glossary_json(o->glossary_path, &o->glossary);
	} else {
		rewind(f);
		rc = glossary_tsv(f, o->glossary_path, &o->glossary);
		fclose(f);
	}
	return rc < 0 ? EXIT_USAGE : 0;
}

/* Opens --prefix-file / --score. 0 or EXIT_USAGE. */
static int open_targets(cli_options *o)
{
	const char *path = o->score_path ? o->score_path : o->prefix_path;
	if (!path)
		return 0;
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "seq2seq-translate: %s: %s\n", path, strerror(errno));
		return EXIT_USAGE;
	}
	if (o->score_path)
		o->score_f = f;
	else
		o->prefix_f = f;
	return 0;
}

int main(int argc, char **argv)
{
	cli_options o;
	int rc = parse_args(argc, argv, &o);
	if (rc != 0)
		return rc == CLI_DONE ? EXIT_SUCCESS : rc;
	s2s_model *m = NULL;
	s2s_error err = {0};
	if (s2s_model_open_with(o.model_path, &o.load, &m, &err) < 0) {
		fprintf(stderr, "seq2seq-translate: cannot load model %s: %s\n", o.model_path,
			err.message[0] ? err.message : s2s_strerror(err.code));
		return EXIT_USAGE;
	}
	rc = finish_options(m, &o);
	if (rc == 0)
		rc = load_glossary(&o);
	if (rc == 0)
		rc = open_targets(&o);
	if (rc == 0)
		rc = run(m, &o);
	if (o.prefix_f)
		fclose(o.prefix_f);
	if (o.score_f)
		fclose(o.score_f);
	free(o.suppress);
	s2s_glossary_deinit(&o.glossary);
	s2s_model_unref(m);
	return rc;
}
