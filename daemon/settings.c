/*
 * settings.c - the option table and its three sources (see settings.h).
 *
 * Defaults are written as strings and go through the same parser as user
 * values, so a default can never violate its own bounds unnoticed.
 */
#include "settings.h"

#include <config.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#ifndef S2S_PKGDATADIR
#define S2S_PKGDATADIR "/usr/local/share/seq2seqd"
#endif
#ifndef S2S_SYSCONFDIR
#define S2S_SYSCONFDIR "/usr/local/etc"
#endif

typedef enum { OPT_INT, OPT_STR, OPT_BOOL, OPT_ENUM } opt_type;

typedef struct {
	const char *name;
	opt_type type;
	size_t off;
	const char *def;
	long min, max;
	const char *const *choices; /* OPT_ENUM: value = index, or level numbers below */
	const char *help;
} opt_row;

static const char *const batching_choices[] = {"request", "step", NULL};
/* Indexed by s2s_quantize (models.c checks the two agree). */
static const char *const quantize_choices[] = {"none", "int8", NULL};
/* Indexed by syslog level, so the parsed index is the level itself. */
static const char *const level_choices[] = {"", "", "", "err", "warning", "notice", "info", "debug", NULL};

#define O(f) offsetof(s2sd_config, f)
static const opt_row opt_table[] = {
	{"bind", OPT_STR, O(bind), "127.0.0.1", 0, 0, NULL, "address to listen on"},
	{"port", OPT_INT, O(port), "8080", 1, 65535, NULL, "TCP port"},
	{"max_connections", OPT_INT, O(max_connections), "256", 1, 65535, NULL, "simultaneous connections"},
	{"idle_timeout_s", OPT_INT, O(idle_timeout_s), "30", 1, 3600, NULL, "keep-alive idle timeout (s)"},
	{"max_connections_per_ip", OPT_INT, O(max_connections_per_ip), "128", 0, 65535, NULL, "simultaneous connections from one address (0: unlimited, e.g. behind a proxy)"},
	{"header_timeout_s", OPT_INT, O(header_timeout_s), "10", 1, 3600, NULL, "time to send a request's headers (s)"},
	{"body_timeout_s", OPT_INT, O(body_timeout_s), "20", 1, 3600, NULL, "time to send a request's body (s)"},
	{"cancel_on_eof", OPT_BOOL, O(cancel_on_eof), "false", 0, 0, NULL, "a client's half-close (FIN) cancels its request"},
	{"data_dir", OPT_STR, O(data_dir), S2S_PKGDATADIR, 0, 0, NULL, "directory with models/*.safetensors"},
	{"workers", OPT_INT, O(workers), "2", 1, 256, NULL, "worker threads"},
	{"blas_threads", OPT_INT, O(blas_threads), "1", 0, 256, NULL, "threads per product, the core's kernels and OpenBLAS (0: OPENBLAS_NUM_THREADS)"},
	{"batching", OPT_ENUM, O(batching_step), "step", 0, 0, batching_choices, "step or request"},
	{"quantize", OPT_ENUM, O(quantize), "none", 0, 0, quantize_choices, "weights as stored (none) or int8 with one scale per row: faster, output may change slightly"},
	{"max_rows", OPT_INT, O(max_rows), "64", 1, 4096, NULL, "decoder rows per worker batch"},
	{"admission_window_ms", OPT_INT, O(admission_window_ms), "2", 0, 1000, NULL, "request batching: an idle worker waits this long for more sentences; step batching: the longest a sentence waits to join a running batch (ms)"},
	{"queue_length", OPT_INT, O(queue_length), "1024", 1, 1000000, NULL, "sentences waiting for a batch"},
	{"max_body_bytes", OPT_INT, O(max_body_bytes), "1048576", 64, 67108864, NULL, "largest request body"},
	{"max_sentences", OPT_INT, O(max_sentences), "64", 1, 65536, NULL, "sentences per request"},
	{"max_tokens", OPT_INT, O(max_tokens), "256", 1, 4096, NULL, "source tokens per sentence"},
	{"max_beam", OPT_INT, O(max_beam), "8", 1, 64, NULL, "largest beam size"},
	{"default_deadline_ms", OPT_INT, O(default_deadline_ms), "30000", 0, 600000, NULL, "deadline when none is given (ms, 0 none)"},
	{"max_deadline_ms", OPT_INT, O(max_deadline_ms), "60000", 0, 600000, NULL, "longest deadline a request gets; larger ones and none are clamped to it (ms, 0 no maximum)"},
	{"allow_no_deadline", OPT_BOOL, O(allow_no_deadline), "false", 0, 0, NULL, "let requests ask for no deadline (deadline_ms 0) despite max_deadline_ms"},
	{"max_request_cost", OPT_INT, O(max_request_cost), "65536", 1, 2147483647, NULL, "decoder row-steps per request: sum of beam_size x longest output per sentence (422 beyond)"},
	{"request_row_share", OPT_INT, O(request_row_share), "50", 1, 100, NULL, "percent of a worker's max_rows one request may hold while decoding (step batching)"},
	{"drain_timeout_s", OPT_INT, O(drain_timeout_s), "30", 0, 3600, NULL, "drain time on SIGTERM (s)"},
	{"admin_key", OPT_STR, O(admin_key), "", 0, 0, NULL, "admin API key (empty: admin off)"},
	{"log_level", OPT_ENUM, O(log_level), "info", 0, 0, level_choices, "err, warning, notice, info, debug"},
	{"access_log", OPT_BOOL, O(access_log), "true", 0, 0, NULL, "one log line per request"},
	{"dashboard", OPT_BOOL, O(dashboard), "true", 0, 0, NULL, "serve the web dashboard at /"},
	{"recent_translations", OPT_INT, O(recent_translations), "0", 0, 10000, NULL, "recent translations kept for the dashboard (0: off; holds user text)"},
	{"debug_step_delay_ms", OPT_INT, O(debug_step_delay_ms), "0", 0, 1000, NULL, "tests only: sleep per decoder step"},
};
#undef O
#define N_OPTS (sizeof opt_table / sizeof opt_table[0])

/* The table's spelling of c: '-' and '_' are one (`--max-rows` is `max_rows`), case is not. */
static char fold(char c)
{
	return c == '-' ? '_' : (char)tolower((unsigned char)c);
}

static bool same_name(const char *a, const char *name, size_t len)
{
	if (strlen(a) != len)
		return false;
	for (size_t k = 0; k < len; k++)
		if (fold(a[k]) != fold(name[k]))
			return false;
	return true;
}

static const opt_row *opt_find(const char *name, size_t len)
{
	for (size_t i = 0; i < N_OPTS; i++)
		if (same_name(opt_table[i].name, name, len))
			return &opt_table[i];
	return NULL;
}

/* Edit distance of a and b[0..bl) with fold(), capped at 9 (enough to rank suggestions). */
static int distance(const char *a, const char *b, size_t bl)
{
	size_t al = strlen(a);
	int row[64];
	if (al >= 63 || bl >= 63)
		return 9;
	for (size_t j = 0; j <= bl; j++)
		row[j] = (int)j;
	for (size_t i = 1; i <= al; i++) {
		int diag = row[0];
		row[0] = (int)i;
		for (size_t j = 1; j <= bl; j++) {
			int up = row[j], best = diag + (fold(a[i - 1]) != fold(b[j - 1]));
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	return row[bl] > 9 ? 9 : row[bl];
}

/*
 * " (did you mean NAME?)" for the option closest to an unknown one, within
 * a third of its length (at least 1, at most 3 edits), else "". `fmt`
 * spells the suggestion as the caller's source does ("--%s", "SEQ2SEQD_%s").
 */
static const char *did_you_mean(const char *name, size_t len, const char *fmt, bool upper)
{
	static _Thread_local char buf[112];
	int best = 4, limit = (int)(len / 3 < 1 ? 1 : len / 3 > 3 ? 3 : len / 3);
	const char *pick = NULL;
	for (size_t i = 0; i < N_OPTS; i++) {
		int d = distance(opt_table[i].name, name, len);
		if (d < best && d <= limit) {
			best = d;
			pick = opt_table[i].name;
		}
	}
	if (!pick)
		return "";
	char spelled[64];
	size_t k = 0;
	for (; pick[k] && k + 1 < sizeof spelled; k++)
		spelled[k] = upper ? (char)toupper((unsigned char)pick[k]) : pick[k];
	spelled[k] = '\0';
	char what[80];
	snprintf(what, sizeof what, fmt, spelled);
	snprintf(buf, sizeof buf, " (did you mean %s?)", what);
	return buf;
}

static void allowed(const opt_row *o, char *buf, size_t n)
{
	if (o->type == OPT_INT) {
		snprintf(buf, n, "an integer in %ld..%ld", o->min, o->max);
	} else if (o->type == OPT_BOOL) {
		snprintf(buf, n, "true or false");
	} else if (o->type == OPT_STR) {
		snprintf(buf, n, "a string");
	} else {
		size_t k = (size_t)snprintf(buf, n, "one of");
		for (int i = 0; o->choices[i] && k < n; i++)
			if (o->choices[i][0])
				k += (size_t)snprintf(buf + k, n - k, " %s", o->choices[i]);
	}
}

/* Parses `value` into the field of row `o`. `where` names the source for the message. */
static int opt_set(s2sd_config *c, const opt_row *o, const char *value, const char *where)
{
	char *field = (char *)c + o->off;
	char want[160];

	if (o->type == OPT_STR) {
		char *dup = strdup(value);
		if (!dup)
			return -1;
		free(*(char **)field);
		*(char **)field = dup;
		return 0;
	}
	if (o->type == OPT_INT) {
		char *end;
		errno = 0;
		long v = strtol(value, &end, 10);
		if (!errno && end != value && *end == '\0' && v >= o->min && v <= o->max) {
			*(int *)field = (int)v;
			return 0;
		}
	} else if (o->type == OPT_BOOL) {
		if (!strcmp(value, "true") || !strcmp(value, "yes") || !strcmp(value, "1") ||
		    !strcmp(value, "false") || !strcmp(value, "no") || !strcmp(value, "0")) {
			*(bool *)field = value[0] == 't' || value[0] == 'y' || value[0] == '1';
			return 0;
		}
	} else {
		for (int i = 0; o->choices[i]; i++)
			if (o->choices[i][0] && !strcmp(o->choices[i], value)) {
				*(int *)field = i;
				return 0;
			}
	}
	allowed(o, want, sizeof want);
	fprintf(stderr, "seq2seqd: %s: invalid value \"%s\" for %s: must be %s\n", where, value,
		o->name, want);
	return -1;
}

static bool valid_model_name(const char *s, size_t len)
{
	if (len < 1 || len > 64)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
			return false;
	return true;
}

/* Declares (or redeclares) model `name` of `nlen` bytes at `path`. */
static int model_set(s2sd_config *c, const char *name, size_t nlen, const char *path,
		     const char *where)
{
	if (!valid_model_name(name, nlen) || !*path) {
		fprintf(stderr, "seq2seqd: %s: invalid model \"%.*s\" = \"%s\": the name must be 1-64 characters from [A-Za-z0-9._-] and the path non-empty\n",
			where, (int)nlen, name, path);
		return -1;
	}
	for (int i = 0; i < c->n_models; i++)
		if (strlen(c->models[i].name) == nlen && !strncmp(c->models[i].name, name, nlen)) {
			char *p = strdup(path);
			if (!p)
				return -1;
			free(c->models[i].path);
			c->models[i].path = p;
			return 0;
		}
	s2sd_model_decl *m = realloc(c->models, (size_t)(c->n_models + 1) * sizeof *m);
	if (!m)
		return -1;
	c->models = m;
	m[c->n_models].name = strndup(name, nlen);
	m[c->n_models].path = strdup(path);
	m[c->n_models].id = -1;
	c->n_models++;
	return 0;
}

/* model_id.NAME = ID (file) or --model_id NAME=ID: OpenNMT-py's conf.json "id". */
static int model_id_set(s2sd_config *c, const char *name, size_t nlen, const char *value,
			const char *where)
{
	char *end;
	errno = 0;
	long id = strtol(value, &end, 10);
	if (!valid_model_name(name, nlen) || end == value || *end || errno || id < 0 ||
	    id > 1000000000) {
		fprintf(stderr, "seq2seqd: %s: invalid model_id.%.*s = \"%s\": the name must be 1-64 characters from [A-Za-z0-9._-] and the id an integer from 0 to 1000000000\n",
			where, (int)nlen, name, value);
		return -1;
	}
	for (int i = 0; i < c->n_model_ids; i++)
		if (strlen(c->model_ids[i].name) == nlen && !strncmp(c->model_ids[i].name, name, nlen)) {
			c->model_ids[i].id = (int)id;
			return 0;
		}
	s2sd_model_id_decl *m = realloc(c->model_ids, (size_t)(c->n_model_ids + 1) * sizeof *m);
	if (!m)
		return -1;
	c->model_ids = m;
	if (!(m[c->n_model_ids].name = strndup(name, nlen)))
		return -1;
	m[c->n_model_ids].id = (int)id;
	c->n_model_ids++;
	return 0;
}

/* "NAME=ID" form used by --model_id. */
static int model_id_assign(s2sd_config *c, const char *spec, const char *where)
{
	const char *eq = strchr(spec, '=');
	if (!eq) {
		fprintf(stderr, "seq2seqd: %s: invalid model id \"%s\": must be NAME=ID\n", where, spec);
		return -1;
	}
	return model_id_set(c, spec, (size_t)(eq - spec), eq + 1, where);
}

/* "NAME=PATH" form used by --model and SEQ2SEQD_MODELS. */
static int model_assign(s2sd_config *c, const char *spec, size_t len, const char *where)
{
	const char *eq = memchr(spec, '=', len);
	if (!eq) {
		fprintf(stderr, "seq2seqd: %s: invalid model \"%.*s\": must be NAME=PATH\n", where,
			(int)len, spec);
		return -1;
	}
	char *path = strndup(eq + 1, len - (size_t)(eq + 1 - spec));
	int rc = path ? model_set(c, spec, (size_t)(eq - spec), path, where) : -1;
	free(path);
	return rc;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int file_line(s2sd_config *c, char *line, const char *where)
{
	char *hash = strchr(line, '#');
	if (hash)
		*hash = '\0';
	char *s = trim(line);
	if (!*s)
		return 0;
	char *eq = strchr(s, '=');
	if (!eq) {
		fprintf(stderr, "seq2seqd: %s: expected `key = value`, got \"%s\"\n", where, s);
		return -1;
	}
	*eq = '\0';
	char *key = trim(s), *value = trim(eq + 1);
	if (!strncmp(key, "model.", 6))
		return model_set(c, key + 6, strlen(key + 6), value, where);
	if (!strncmp(key, "model_id.", 9) || !strncmp(key, "model-id.", 9))
		return model_id_set(c, key + 9, strlen(key + 9), value, where);
	const opt_row *o = opt_find(key, strlen(key));
	if (!o) {
		fprintf(stderr, "seq2seqd: %s: unknown option \"%s\"%s (see seq2seqd --help)\n", where,
			key, did_you_mean(key, strlen(key), "\"%s\"", false));
		return -1;
	}
	return opt_set(c, o, value, where);
}

static int load_file(s2sd_config *c, const char *path, bool must_exist)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		if (!must_exist && errno == ENOENT)
			return 0;
		fprintf(stderr, "seq2seqd: cannot open config file %s: %s\n", path, strerror(errno));
		return -1;
	}
	c->config_path = strdup(path);
	/* getline, not a fixed buffer: fgets cut lines past 4095 bytes and parsed
	 * the tail as a line of its own (a long comment could set an option). */
	char *line = NULL, where[4200];
	size_t cap = 0;
	int rc = 0;
	for (int no = 1; rc == 0 && getline(&line, &cap, f) >= 0; no++) {
		snprintf(where, sizeof where, "%s:%d", path, no);
		rc = file_line(c, line, where);
	}
	free(line);
	fclose(f);
	return rc;
}

static void usage(FILE *out)
{
	fprintf(out, "Usage: seq2seqd [OPTION]...\n"
		     "Serve Seq2Seq translation models over HTTP/JSON.\n\n"
		     "  --config=FILE      read FILE (default " S2S_SYSCONFDIR "/seq2seqd.conf if it exists)\n"
		     "  --check-config     validate the configuration and models, print it, exit\n"
		     "  --model NAME=PATH  serve the checkpoint PATH as NAME (repeatable)\n"
		     "  --model_id NAME=ID the id of NAME on /translator/translate (OpenNMT-py's\n"
		     "                     conf.json \"id\"; default: the model's index)\n"
		     "  --help, --version\n\n"
		     "Every option below is also --NAME=VALUE (dashes or underscores), and\n"
		     "SEQ2SEQD_NAME in the environment:\n");
	for (size_t i = 0; i < N_OPTS; i++) {
		char want[160];
		allowed(&opt_table[i], want, sizeof want);
		fprintf(out, "  --%-22s %s; %s (default \"%s\")\n", opt_table[i].name,
			opt_table[i].help, want, opt_table[i].def);
	}
}

static int set_defaults(s2sd_config *c)
{
	memset(c, 0, sizeof *c);
	for (size_t i = 0; i < N_OPTS; i++)
		if (opt_set(c, &opt_table[i], opt_table[i].def, "default") < 0)
			return -1;
	return 0;
}

/* Splits "--key=value" or "--key value"; advances *i past a consumed value. */
static int flag_value(int argc, char **argv, int *i, const char **key, size_t *klen,
		      const char **value)
{
	const char *a = argv[*i] + 2;
	const char *eq = strchr(a, '=');
	*key = a;
	*klen = eq ? (size_t)(eq - a) : strlen(a);
	if (eq) {
		*value = eq + 1;
		return 0;
	}
	if (*i + 1 >= argc) {
		fprintf(stderr, "seq2seqd: option --%s needs a value\n", a);
		return -1;
	}
	*value = argv[++*i];
	return 0;
}

static int load_flags(s2sd_config *c, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *key, *value;
		size_t klen;
		if (strncmp(argv[i], "--", 2) != 0) {
			fprintf(stderr, "seq2seqd: unexpected argument \"%s\" (see --help)\n", argv[i]);
			return -1;
		}
		if (!strcmp(argv[i], "--check-config")) {
			c->check_only = true;
			continue;
		}
		if (flag_value(argc, argv, &i, &key, &klen, &value) < 0)
			return -1;
		if (klen == 6 && !strncmp(key, "config", 6))
			continue; /* read before */
		if (klen == 5 && !strncmp(key, "model", 5)) {
			if (model_assign(c, value, strlen(value), "--model") < 0)
				return -1;
			continue;
		}
		if (same_name("model_id", key, klen)) {
			if (model_id_assign(c, value, "--model_id") < 0)
				return -1;
			continue;
		}
		const opt_row *o = opt_find(key, klen);
		if (!o) {
			fprintf(stderr, "seq2seqd: unknown option --%.*s%s (see --help)\n", (int)klen, key,
				did_you_mean(key, klen, "--%s", false));
			return -1;
		}
		if (opt_set(c, o, value, "command line") < 0)
			return -1;
	}
	return 0;
}

extern char **environ;

/* An SEQ2SEQD_ variable that names no option is a mistake to report, not to ignore. */
static int unknown_env(void)
{
	for (char **e = environ; e && *e; e++) {
		if (strncmp(*e, "SEQ2SEQD_", 9) != 0)
			continue;
		const char *name = *e + 9;
		size_t len = strcspn(name, "=");
		if ((len == 6 && !strncmp(name, "MODELS", 6)) || (len == 6 && !strncmp(name, "CONFIG", 6)))
			continue;
		const opt_row *o = opt_find(name, len);
		if (o && strchr(name, '-') == NULL)
			continue;
		fprintf(stderr, "seq2seqd: unknown environment variable SEQ2SEQD_%.*s%s (see seq2seqd --help)\n",
			(int)len, name, did_you_mean(name, len, "SEQ2SEQD_%s", true));
		return -1;
	}
	return 0;
}

static int load_env(s2sd_config *c)
{
	char var[64];
	for (size_t i = 0; i < N_OPTS; i++) {
		size_t k = (size_t)snprintf(var, sizeof var, "SEQ2SEQD_");
		for (const char *p = opt_table[i].name; *p && k + 1 < sizeof var; p++)
			var[k++] = (char)toupper((unsigned char)*p);
		var[k] = '\0';
		const char *v = getenv(var);
		if (v && opt_set(c, &opt_table[i], v, var) < 0)
			return -1;
	}
	if (unknown_env() < 0)
		return -1;
	const char *models = getenv("SEQ2SEQD_MODELS");
	while (models && *models) {
		size_t len = strcspn(models, ",");
		if (len && model_assign(c, models, len, "SEQ2SEQD_MODELS") < 0)
			return -1;
		models += len + (models[len] == ',');
	}
	return 0;
}

/* Pre-scan: --help, --version and the config file path come before everything else. */
static int scan_meta(int argc, char **argv, FILE *out, const char **config, bool *explicit)
{
	*config = getenv("SEQ2SEQD_CONFIG");
	*explicit = *config != NULL;
	if (!*config)
		*config = S2S_SYSCONFDIR "/seq2seqd.conf";
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(out);
			return S2SD_CONFIG_EXIT_OK;
		}
		if (!strcmp(argv[i], "--version") || !strcmp(argv[i], "-V")) {
			fprintf(out, "seq2seqd %s\n", PACKAGE_VERSION);
			return S2SD_CONFIG_EXIT_OK;
		}
		if (!strncmp(argv[i], "--config=", 9)) {
			*config = argv[i] + 9;
			*explicit = true;
		} else if (!strcmp(argv[i], "--config") && i + 1 < argc) {
			*config = argv[++i];
			*explicit = true;
		}
	}
	return S2SD_CONFIG_RUN;
}

int s2sd_config_load(s2sd_config *c, int argc, char **argv, FILE *out)
{
	const char *path;
	bool explicit;

	if (set_defaults(c) < 0)
		return -1;
	int rc = scan_meta(argc, argv, out, &path, &explicit);
	if (rc != S2SD_CONFIG_RUN)
		return rc;
	if (load_file(c, path, explicit) < 0 || load_flags(c, argc, argv) < 0 || load_env(c) < 0)
		return -1;
	return S2SD_CONFIG_RUN;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Collects the sorted *.safetensors file names of `dir`. */
static int list_models(const char *dir, char ***names, int *n)
{
	DIR *d = opendir(dir);
	*names = NULL;
	*n = 0;
	if (!d)
		return errno == ENOENT ? 0 : -1;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (len <= 12 || strcmp(e->d_name + len - 12, ".safetensors") != 0)
			continue;
		char **grown = realloc(*names, (size_t)(*n + 1) * sizeof *grown);
		if (!grown)
			break;
		*names = grown;
		grown[(*n)++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(*names, (size_t)*n, sizeof **names, cmp_str);
	return 0;
}

int s2sd_config_default_models(s2sd_config *c)
{
	char dir[4096], path[8192];
	char **names;
	int n;

	if (c->n_models > 0)
		return 0;
	snprintf(dir, sizeof dir, "%s/models", c->data_dir);
	if (list_models(dir, &names, &n) < 0) {
		fprintf(stderr, "seq2seqd: cannot read %s: %s\n", dir, strerror(errno));
		return -1;
	}
	int rc = 0;
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		if (rc == 0)
			rc = model_set(c, names[i], strlen(names[i]) - 12, path, dir);
		free(names[i]);
	}
	free(names);
	if (rc == 0 && c->n_models == 0) {
		fprintf(stderr, "seq2seqd: no models: declare model.NAME = PATH, pass --model NAME=PATH or put *.safetensors in %s\n", dir);
		return -1;
	}
	return rc;
}

int s2sd_config_resolve_ids(s2sd_config *c)
{
	for (int k = 0; k < c->n_model_ids; k++) {
		const s2sd_model_id_decl *d = &c->model_ids[k];
		int i = 0;
		while (i < c->n_models && strcmp(c->models[i].name, d->name))
			i++;
		if (i == c->n_models) {
			fprintf(stderr, "seq2seqd: model_id.%s = %d: no model named \"%s\" is served\n",
				d->name, d->id, d->name);
			return -1;
		}
		c->models[i].id = d->id;
	}
	for (int i = 0; i < c->n_models; i++)
		if (c->models[i].id < 0)
			c->models[i].id = i;
	for (int i = 0; i < c->n_models; i++)
		for (int j = 0; j < i; j++)
			if (c->models[i].id == c->models[j].id) {
				fprintf(stderr, "seq2seqd: models \"%s\" and \"%s\" both have id %d on /translator/translate; give one of them another model_id.NAME\n",
					c->models[j].name, c->models[i].name, c->models[i].id);
				return -1;
			}
	return 0;
}

void s2sd_config_print(const s2sd_config *c, FILE *out)
{
	for (size_t i = 0; i < N_OPTS; i++) {
		const opt_row *o = &opt_table[i];
		const char *field = (const char *)c + o->off;
		fprintf(out, "%s = ", o->name);
		if (o->type == OPT_STR)
			fputs(!strcmp(o->name, "admin_key") && **(char *const *)field ? "(set)"
											 : *(char *const *)field,
			      out);
		else if (o->type == OPT_INT)
			fprintf(out, "%d", *(const int *)field);
		else if (o->type == OPT_BOOL)
			fputs(*(const bool *)field ? "true" : "false", out);
		else
			fputs(o->choices[*(const int *)field], out);
		fputc('\n', out);
	}
	for (int i = 0; i < c->n_models; i++)
		fprintf(out, "model.%s = %s\n", c->models[i].name, c->models[i].path);
	for (int i = 0; i < c->n_models; i++)
		if (c->models[i].id >= 0)
			fprintf(out, "model_id.%s = %d\n", c->models[i].name, c->models[i].id);
}

void s2sd_config_deinit(s2sd_config *c)
{
	for (size_t i = 0; i < N_OPTS; i++)
		if (opt_table[i].type == OPT_STR)
			free(*(char **)((char *)c + opt_table[i].off));
	for (int i = 0; i < c->n_models; i++) {
		free(c->models[i].name);
		free(c->models[i].path);
	}
	free(c->models);
	for (int i = 0; i < c->n_model_ids; i++)
		free(c->model_ids[i].name);
	free(c->model_ids);
	free(c->config_path);
	memset(c, 0, sizeof *c);
}
