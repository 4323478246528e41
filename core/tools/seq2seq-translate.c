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

#include "s2s_decode.h"
#include "s2s_model.h"
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
	bool json;
	bool replace_unk;
	unsigned given; /* S2S_DEC_* bits of the options on the command line */
} cli_options;

/* One input line on its way through a batch; all fields owned here. */
typedef struct {
	long lineno;
	s2s_tokens tok;
	s2s_result *res; /* NULL: empty line or failed */
	bool failed;
} cli_line;

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
	      "      --attention      include attention matrices (with --json)\n"
	      "  -j, --json           one JSON object per input line: tokens, ids, scores,\n"
	      "                       log-probabilities (and attention)\n"
	      "  -u, --replace-unk    replace <unk> by the most attended source token\n"
	      "  -h, --help           this text\n"
	      "  -V, --version        print the version\n\n"
	      "An empty input line gives an empty output line ({\"hyps\":[]} with --json).\n"
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

enum { OPT_MAX_LEN_A = 256, OPT_MAX_LEN_B, OPT_MAX_LEN, OPT_BATCH, OPT_ATTENTION, OPT_QUANTIZE };

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
	{"json", no_argument, NULL, 'j'},
	{"replace-unk", no_argument, NULL, 'u'},
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

/* Applies one option; false (after a message) when its value is bad. */
static bool apply_option(cli_options *o, int c, const char *arg)
{
	bool ok = true;
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
	case 'j': o->json = true; break;
	case 'u': o->replace_unk = true; break;
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
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "m:b:n:a:sjuhV", long_options, NULL)) != -1) {
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
	/* Attention is only paid for when something consumes it. */
	o->dec.attention = o->replace_unk || (o->json && o->attention);
	return 0;
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
static const char **hyp_tokens(const s2s_model *m, const s2s_hypothesis *h, const s2s_tokens *src,
			       bool replace_unk)
{
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
		if (from && from[i] >= 0 && from[i] < src->n)
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

/* Writes the JSON line of one input line; false on allocation failure. */
static bool emit_json(const s2s_model *m, const cli_options *o, const cli_line *l)
{
	json_t *hyps = json_array(), *src = json_array(), *src_ids = json_array();
	for (int i = 0; i < l->tok.n; i++) {
		json_array_append_new(src, json_string(l->tok.pieces[i]));
		json_array_append_new(src_ids, json_integer(l->tok.ids[i]));
	}
	bool ok = hyps && src && src_ids;
	for (int i = 0; ok && l->res && i < l->res->n_hyps; i++) {
		const s2s_hypothesis *h = &l->res->hyps[i];
		const char **tokens = hyp_tokens(m, h, &l->tok, o->replace_unk);
		char *text = tokens ? hyp_text(m, h, tokens) : NULL;
		ok = text && json_array_append_new(hyps, json_hyp(h, tokens, text, l->tok.n,
								  o->attention)) == 0;
		free(text);
		free(tokens);
	}
	json_t *line = json_pack("{s:I, s:o, s:o, s:o}", "line", (json_int_t)l->lineno,
				 "src_tokens", src, "src_ids", src_ids, "hyps", hyps);
	if (line && l->failed)
		json_object_set_new(line, "error", json_true());
	char *s = ok && line ? json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
	if (s)
		puts(s);
	free(s);
	json_decref(line);
	return s != NULL;
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
		const char **tokens = hyp_tokens(m, h, &l->tok, o->replace_unk);
		char *text = tokens ? hyp_text(m, h, tokens) : NULL;
		if (!text) {
			free(tokens);
			return false;
		}
		if (o->scores)
			printf("%.6f\t", (double)h->norm_score);
		puts(text);
		free(text);
		free(tokens);
	}
	for (int i = l->res->n_hyps; i < o->dec.n_best; i++)
		puts("");
	return true;
}

/*
 * Translates the non-empty, tokenized lines of a batch. When the batch call
 * fails (one bad sentence fails the whole call), each line is retried alone
 * so only the culprit is lost. Returns the number of failed lines.
 */
static int translate_batch(s2s_model *m, const cli_options *o, cli_line *lines, int n)
{
	const int32_t **src = malloc((size_t)n * sizeof *src);
	int *lens = malloc((size_t)n * sizeof *lens);
	int *which = malloc((size_t)n * sizeof *which);
	s2s_result **res = calloc((size_t)n, sizeof *res);
	int count = 0, failed = 0;
	if (!src || !lens || !which || !res) {
		free(src), free(lens), free(which), free(res);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		if (lines[i].failed || lines[i].tok.n == 0)
			continue;
		src[count] = lines[i].tok.ids;
		lens[count] = lines[i].tok.n;
		which[count++] = i;
	}
	s2s_error err = {0};
	if (count > 0 && s2s_translate_ids(m, src, lens, count, &o->dec, res, &err) >= 0) {
		for (int k = 0; k < count; k++)
			lines[which[k]].res = res[k];
	} else {
		for (int k = 0; k < count; k++) {
			cli_line *l = &lines[which[k]];
			s2s_error_clear(&err);
			if (s2s_translate_ids(m, &src[k], &lens[k], 1, &o->dec, &l->res, &err) < 0) {
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

/* Tokenizes one input line into l; a failure marks it failed (reported). */
static void tokenize_line(const s2s_model *m, char *text, size_t len, long lineno, cli_line *l)
{
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		len--;
	memset(l, 0, sizeof *l);
	l->lineno = lineno;
	s2s_error err = {0};
	if (s2s_tokenize(s2s_model_src_tokenizer(m), s2s_model_src_vocab(m), text, len, &l->tok,
			 &err) < 0) {
		fprintf(stderr, "seq2seq-translate: line %ld: %s\n", lineno, err.message);
		l->failed = true;
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
		if (ok)
			ok = o->json ? emit_json(m, o, &lines[i]) : emit_text(m, o, &lines[i]);
		s2s_result_free(lines[i].res);
		s2s_tokens_deinit(&lines[i].tok);
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
		tokenize_line(m, buf, (size_t)len, ++lineno, &lines[n++]);
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
		rc = run(m, &o);
	s2s_model_unref(m);
	return rc;
}
