/*
 * bench_spans - what protecting spans costs next to translating
 * (docs/localisation.md): parse + mask, and render, per sentence, against
 * a greedy and a beam-5 translation of the same masked sentences, all
 * measured in this run on one thread.
 *
 *   bench/bench_spans [MODEL] [ROUNDS]     (default models/en-fr.safetensors, 20)
 *
 * The sentences are UI strings written for this benchmark, each with
 * printf/brace placeholders, markup or an accelerator (format auto).
 */
#include "config.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "s2s_decode.h"
#include "s2s_model.h"
#include "s2s_spans.h"
#include "bench_util.h"

static const char *const SENTENCES[] = {
	"Could not open file %s",
	"Welcome, {name}!",
	"Click <b>Save</b> to continue",
	"%d files selected",
	"Copied %d of %d items to %s",
	"_Open Recent",
	"Delete <i>%s</i> permanently?",
	"Show {count} more results",
	"The folder %1$s already contains %2$s.",
	"Press <kbd>Ctrl</kbd>+<kbd>S</kbd> to save the document",
	"Downloading %s (%d%%)",
	"Connection to {host} was lost",
	"E_xit",
	"Saved &quot;%s&quot;",
	"Remove the selected <b>%d</b> messages from the list?",
	"Your password expires in {days} days",
	"Could not connect to %s: %s",
	"Search in <a href=\"help:search\">the manual</a>",
	"Print %(count)d pages",
	"_Preferences",
};
#define N_SENT ((int)(sizeof SENTENCES / sizeof SENTENCES[0]))

typedef struct {
	s2s_spans sp[N_SENT];
	s2s_masked ms[N_SENT];
} masked_set;

static int mask_all(s2s_model *m, masked_set *s, s2s_error *err)
{
	const s2s_sentinels *sent = s2s_model_sentinels(m);
	for (int i = 0; i < N_SENT; i++) {
		if (s2s_spans_parse(SENTENCES[i], strlen(SENTENCES[i]), S2S_FMT_AUTO, NULL, &s->sp[i],
				    err) < 0 ||
		    s2s_spans_mask(&s->sp[i], s2s_model_src_tokenizer(m), s2s_model_src_vocab(m), sent,
				   &s->ms[i], err) < 0)
			return -1;
	}
	return 0;
}

static void unmask_all(masked_set *s)
{
	for (int i = 0; i < N_SENT; i++) {
		s2s_masked_deinit(&s->ms[i]);
		s2s_spans_deinit(&s->sp[i]);
	}
}

/* Decodes every sentence alone (its own constraint); fills res. */
static int decode_all(s2s_model *m, masked_set *s, int beam, s2s_result **res, s2s_error *err)
{
	for (int i = 0; i < N_SENT; i++) {
		s2s_decode_options o;
		s2s_decode_options_init(&o);
		o.beam_size = beam;
		o.sentinel_ph = s->ms[i].sentinel_path ? s->ms[i].n_ph : 0;
		o.sentinel_pairs = s->ms[i].sentinel_path ? s->ms[i].n_pairs : 0;
		const int32_t *ids = s->ms[i].tok.ids;
		int n = s->ms[i].tok.n;
		if (s2s_translate_ids(m, &ids, &n, 1, &o, &res[i], err) < 0)
			return -1;
	}
	return 0;
}

static int render_all(s2s_model *m, masked_set *s, s2s_result **res, s2s_error *err)
{
	for (int i = 0; i < N_SENT; i++) {
		const s2s_hypothesis *h = &res[i]->hyps[0];
		const char *pieces[512];
		int n = h->n > 0 && h->ids[h->n - 1] == 3 ? h->n - 1 : h->n;
		for (int k = 0; k < n && k < 512; k++)
			pieces[k] = s2s_vocab_token(s2s_model_tgt_vocab(m), h->ids[k]);
		s2s_rendered r;
		if (n > 512 || s2s_spans_render(&s->sp[i], &s->ms[i], s2s_model_tgt_tokenizer(m),
						s2s_model_sentinels(m), pieces, h->ids, n, h->attention,
						s->ms[i].tok.n, &r, err) < 0)
			return -1;
		s2s_rendered_deinit(&r);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "models/en-fr.safetensors";
	int rounds = argc > 2 ? atoi(argv[2]) : 20;
	s2s_model *m;
	s2s_error err = {0};
	openblas_set_num_threads(1);
	if (rounds < 1 || s2s_model_open(path, &m, &err) < 0) {
		fprintf(stderr, "bench_spans: %s\n", rounds < 1 ? "ROUNDS must be >= 1" : err.message);
		return 2;
	}
	masked_set *s = calloc(1, sizeof *s);
	s2s_result *res[N_SENT] = {0};
	double t_mask = 0, t_render = 0, t_greedy = 0, t_beam = 0;
	int rc = s ? 0 : -1;
	for (int r = 0; r < rounds && rc == 0; r++) {
		double t0 = now_s();
		rc = mask_all(m, s, &err);
		double t1 = now_s();
		if (rc == 0 && (rc = decode_all(m, s, 5, res, &err)) == 0) {
			double t2 = now_s();
			for (int i = 0; i < N_SENT; i++)
				s2s_result_free(res[i]);
			rc = decode_all(m, s, 1, res, &err);
			double t3 = now_s();
			rc = rc ? rc : render_all(m, s, res, &err);
			double t4 = now_s();
			t_mask += t1 - t0, t_beam += t2 - t1, t_greedy += t3 - t2, t_render += t4 - t3;
		}
		for (int i = 0; i < N_SENT; i++) {
			s2s_result_free(res[i]);
			res[i] = NULL;
		}
		unmask_all(s);
	}
	if (rc < 0) {
		fprintf(stderr, "bench_spans: %s\n", err.message);
		free(s);
		s2s_model_unref(m);
		return 1;
	}
	double per = 1e6 / ((double)rounds * N_SENT);
	const s2s_sentinels *sent = s2s_model_sentinels(m);
	printf("bench_spans: %s, %d UI strings x %d rounds, format auto, 1 thread, sentinels %d/%d\n",
	       path, N_SENT, rounds, sent->n_ph, sent->n_pairs);
	printf("  parse + mask   %8.1f us/sentence\n", t_mask * per);
	printf("  render         %8.1f us/sentence\n", t_render * per);
	printf("  greedy decode  %8.1f us/sentence: protection costs %.2f %% of it\n", t_greedy * per,
	       100.0 * (t_mask + t_render) / t_greedy);
	printf("  beam 5 decode  %8.1f us/sentence: protection costs %.2f %% of it\n", t_beam * per,
	       100.0 * (t_mask + t_render) / t_beam);
	free(s);
	s2s_model_unref(m);
	return 0;
}
