/*
 * fuzz_settings.c - libFuzzer harness for seq2seqd's configuration
 * (daemon/settings.c): the config file syntax, command-line flags and
 * SEQ2SEQD_* variables, through s2sd_config_load as main() calls it, then
 * s2sd_config_print and s2sd_config_deinit. No event loop, no models opened.
 *
 * Input layout: everything before the first NUL byte is the config file
 * (handed over as --config=/proc/self/fd/N of a memfd); the rest is a list
 * of NUL-separated arguments. An argument of the form SEQ2SEQD_X=V is set in
 * the environment for the call instead (and removed afterwards). Arguments
 * that would name another config file (--config) are dropped: reading
 * arbitrary paths (/dev/zero...) is not what is being tested.
 *
 * Checked besides the sanitizers: a successful load gives values inside the
 * table's bounds, and printing the result and loading the printed text
 * again gives the same configuration.
 */
#include "fuzz_util.h"

#include <ctype.h>

#include "settings.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ARGS 64

static FILE *devnull;

static void release(void)
{
	if (devnull)
		fclose(devnull);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	devnull = fopen("/dev/null", "w");
	FUZZ_CHECK(devnull, "cannot open /dev/null");
	atexit(release);
	/* The harness's own inputs are the only source. */
	unsetenv("SEQ2SEQD_CONFIG");
	unsetenv("SEQ2SEQD_MODELS");
	return 0;
}

static void check_bounds(const s2sd_config *c)
{
	FUZZ_CHECK(c->port >= 1 && c->port <= 65535, "port %d", c->port);
	FUZZ_CHECK(c->workers >= 1 && c->workers <= 256, "workers %d", c->workers);
	FUZZ_CHECK(c->max_body_bytes >= 64, "max_body_bytes %d", c->max_body_bytes);
	FUZZ_CHECK(c->max_beam >= 1 && c->max_beam <= 64, "max_beam %d", c->max_beam);
	FUZZ_CHECK(c->max_sentences >= 1, "max_sentences %d", c->max_sentences);
	FUZZ_CHECK(c->log_level >= 3 && c->log_level <= 7, "log_level %d", c->log_level);
	FUZZ_CHECK(c->bind && c->data_dir && c->admin_key, "string option left NULL");
	FUZZ_CHECK(c->n_models >= 0 && (c->n_models == 0 || c->models), "models");
	for (int i = 0; i < c->n_models; i++)
		FUZZ_CHECK(c->models[i].name && *c->models[i].name && c->models[i].path &&
				   *c->models[i].path,
			   "model %d", i);
}

/* Whether `v` survives "key = v" in the config file (trimmed, '#' starts a comment). */
static bool file_writable(const char *v)
{
	size_t n = strlen(v);
	for (size_t i = 0; i < n; i++)
		if (v[i] == '#' || v[i] == '\n' || v[i] == '\r')
			return false;
	return n == 0 || (!isspace((unsigned char)v[0]) && !isspace((unsigned char)v[n - 1]));
}

/* Printing, then loading what was printed, must give the same configuration. */
static void check_roundtrip(const s2sd_config *c)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	FUZZ_CHECK(f, "open_memstream");
	s2sd_config_print(c, f);
	fclose(f);
	/* admin_key prints as "(set)"; a value with '#', a line break or edge
	 * white space cannot be written in the file syntax at all. Skip those. */
	bool writable = !*c->admin_key;
	for (int i = 0; writable && i < c->n_models; i++)
		writable = file_writable(c->models[i].path);
	writable = writable && file_writable(c->bind) && file_writable(c->data_dir);
	if (writable) {
		char path[64], arg[80];
		int fd = fuzz_memfd(text, len, path, sizeof path);
		FUZZ_CHECK(fd >= 0, "memfd");
		snprintf(arg, sizeof arg, "--config=%s", path);
		char *argv[] = {"seq2seqd", arg, NULL};
		s2sd_config again;
		FUZZ_CHECK(s2sd_config_load(&again, 2, argv, devnull) == S2SD_CONFIG_RUN,
			   "the printed configuration does not load:\n%s", text);
		char *text2 = NULL;
		size_t len2 = 0;
		f = open_memstream(&text2, &len2);
		FUZZ_CHECK(f, "open_memstream");
		s2sd_config_print(&again, f);
		fclose(f);
		FUZZ_CHECK(len == len2 && !memcmp(text, text2, len), "print/load/print differs:\n%s\n---\n%s",
			   text, text2);
		free(text2);
		s2sd_config_deinit(&again);
		close(fd);
	}
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t flen = nul ? (size_t)(nul - data) : size;
	char path[64], arg[80];
	int fd = fuzz_memfd(data, flen, path, sizeof path);
	if (fd < 0)
		return 0;
	snprintf(arg, sizeof arg, "--config=%s", path);

	/* argv: program name, --config=memfd, then the input's arguments. */
	char *args = nul ? fuzz_strndup(nul + 1, size - flen - 1) : NULL;
	char *argv[MAX_ARGS + 3] = {"seq2seqd", arg};
	char *envs[MAX_ARGS];
	int argc = 2, nenv = 0;
	if (args) {
		const char *end = args + (size - flen - 1);
		for (char *a = args; a <= end && argc < MAX_ARGS + 2; a += strlen(a) + 1) {
			if (!strncmp(a, "--config", 8) && (a[8] == '\0' || a[8] == '='))
				continue;
			char *eq = strchr(a, '=');
			if (!strncmp(a, "SEQ2SEQD_", 9) && eq) {
				*eq = '\0'; /* SEQ2SEQD_CONFIG would name another file: dropped */
				if (strcmp(a, "SEQ2SEQD_CONFIG") && setenv(a, eq + 1, 1) == 0)
					envs[nenv++] = a;
				continue;
			}
			argv[argc++] = a;
		}
	}
	argv[argc] = NULL;

	s2sd_config c;
	if (s2sd_config_load(&c, argc, argv, devnull) == S2SD_CONFIG_RUN) {
		check_bounds(&c);
		for (int i = 0; i < nenv; i++) /* the round trip reads the file only */
			unsetenv(envs[i]);
		nenv = 0;
		check_roundtrip(&c);
	}
	s2sd_config_deinit(&c);
	for (int i = 0; i < nenv; i++)
		unsetenv(envs[i]);
	free(args);
	close(fd);
	return 0;
}
