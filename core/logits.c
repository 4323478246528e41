/* logits.c - see logits.h (docs/checkpoint-format.md §7.1, §7.5). */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "logits.h"
#include "s2s_vocab.h"

bool s2s__procs_from(s2s__procs *p, const s2s_decode_options *o, const int32_t *suppress)
{
	p->repetition_penalty = o->repetition_penalty;
	p->ngram = o->no_repeat_ngram_size;
	p->disable_unk = o->disable_unk;
	p->min_length = o->min_length;
	p->suppress = suppress;
	p->n_suppress = o->n_suppress;
	return p->repetition_penalty != 1.0f || p->ngram > 0 || p->disable_unk ||
	       p->min_length > 0 || p->n_suppress > 0;
}

static int s2s__cmp_id(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
	return (x > y) - (x < y);
}

/* CTRL: each distinct id of h once, divided when positive, multiplied otherwise. */
static void s2s__repetition(float *z, float theta, const int32_t *h, int len, int32_t *scratch)
{
	memcpy(scratch, h, (size_t)len * sizeof(int32_t));
	qsort(scratch, (size_t)len, sizeof(int32_t), s2s__cmp_id);
	for (int u = 0; u < len; u++) {
		if (u > 0 && scratch[u] == scratch[u - 1])
			continue;
		float *v = &z[scratch[u]];
		*v = *v > 0.0f ? *v / theta : *v * theta;
	}
}

/*
 * Masks every w that would complete an n-gram already in h: the n-grams
 * h[u..u+N) whose first N-1 tokens equal the last N-1 of h (N = 1: all of h).
 */
static void s2s__ngram_block(float *z, int N, const int32_t *h, int len)
{
	if (len < N)
		return; /* no N-gram yet (and the tail pointer below would precede h) */
	const int32_t *tail = h + len - (N - 1);
	for (int u = 0; u + N <= len; u++)
		if (memcmp(h + u, tail, (size_t)(N - 1) * sizeof(int32_t)) == 0)
			z[h[u + N - 1]] = -INFINITY;
}

static bool s2s__any_finite(const float *z, int V)
{
	for (int w = 0; w < V; w++)
		if (z[w] > -INFINITY)
			return true;
	return false;
}

void s2s__procs_apply(const s2s__procs *p, float *z, int V, const int32_t *h, int len,
                      int32_t *scratch)
{
	if (p->repetition_penalty != 1.0f)
		s2s__repetition(z, p->repetition_penalty, h, len, scratch);
	float eos = z[S2S_EOS];
	if (p->ngram > 0)
		s2s__ngram_block(z, p->ngram, h, len);
	for (int k = 0; k < p->n_suppress; k++)
		z[p->suppress[k]] = -INFINITY;
	if (p->disable_unk)
		z[S2S_UNK] = -INFINITY;
	if (len < p->min_length)
		z[S2S_EOS] = -INFINITY;
	/* A row must always be able to end (§7.1): </s> comes back if nothing is left. */
	if (!(z[S2S_EOS] > -INFINITY) && !s2s__any_finite(z, V))
		z[S2S_EOS] = eos;
}

/*
 * A key whose ascending unsigned order is descending log-probability
 * (finite floats; -0 counts as +0, as == does).
 */
static uint32_t s2s__desc_key(float lp)
{
	union {
		float f;
		uint32_t u;
	} v = {.f = lp + 0.0f};
	uint32_t asc = v.u & 0x80000000u ? ~v.u : v.u | 0x80000000u;
	return ~asc;
}

/*
 * Stable LSD radix sort of c[0..n) by s2s__desc_key (tmp: n entries): the
 * ids arrive ascending, so ties keep the lower id first. Four byte passes
 * instead of a comparison sort: sampling over the whole vocabulary sorts
 * it at every step.
 */
static void s2s__rank(s2s__cand *c, s2s__cand *tmp, int n)
{
	s2s__cand *from = c, *to = tmp;
	for (int shift = 0; shift < 32; shift += 8) {
		int count[257] = {0};
		for (int i = 0; i < n; i++)
			count[((s2s__desc_key(from[i].lp) >> shift) & 0xff) + 1]++;
		for (int b = 0; b < 256; b++)
			count[b + 1] += count[b];
		for (int i = 0; i < n; i++)
			to[count[(s2s__desc_key(from[i].lp) >> shift) & 0xff]++] = from[i];
		s2s__cand *x = from;
		from = to;
		to = x;
	}
	/* Four passes: the result is back in c. */
}

int s2s__top_allowed(const float *z, float mx, float lse, const unsigned char *ban, int V, int k,
                     s2s__cand *out, s2s__cand *tmp)
{
	int n = 0;
	for (int w = 0; w < V; w++) {
		float lp = (z[w] - mx) - lse; /* exactly the selection's expression */
		if (!(lp > -INFINITY) || (ban && ban[w]))
			continue;
		if (k == 0) {
			out[n++] = (s2s__cand){lp, w};
			continue;
		}
		if (n == k && !(lp > out[n - 1].lp))
			continue; /* ids arrive ascending: an equal later id ranks after */
		int pos = n < k ? n++ : k - 1;
		while (pos > 0 && out[pos - 1].lp < lp) {
			out[pos] = out[pos - 1];
			pos--;
		}
		out[pos] = (s2s__cand){lp, w};
	}
	if (k == 0)
		s2s__rank(out, tmp, n);
	return n;
}

double s2s__uniform(uint64_t seed, int t)
{
	uint64_t x = seed + (uint64_t)(t + 1) * 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	x = x ^ (x >> 31);
	return (double)(x >> 11) * 0x1.0p-53;
}

int s2s__sample_pick(const s2s__cand *c, int n, float tau, float p, double u, double *w)
{
	double top = (double)(c[0].lp / tau);
	for (int i = 0; i < n; i++)
		w[i] = exp((double)(c[i].lp / tau) - top);
	int keep = n;
	if (p < 1.0f) {
		double s = 0.0, run = 0.0;
		for (int i = 0; i < n; i++)
			s += w[i];
		double need = (double)p * s;
		for (int i = 0; i < n; i++) {
			run += w[i];
			if (run >= need) {
				keep = i + 1;
				break;
			}
		}
	}
	double s = 0.0, run = 0.0;
	for (int i = 0; i < keep; i++)
		s += w[i];
	double target = u * s;
	for (int i = 0; i < keep; i++) {
		run += w[i];
		if (run > target)
			return i;
	}
	return keep == n ? n : keep - 1; /* n: "the last kept id" may lie in the caller's tail */
}

/*
 * Weights below 2^-54 change no running sum (each sum is >= 1, the best
 * weight being exp(0) = 1): exp(-38) < 2^-54. Those ids are left out of
 * the ranking, which is what makes whole-vocabulary sampling cheap.
 */
#define S2S__NEGLIGIBLE (-38.0)

int s2s__sampling_candidates(const float *z, float mx, float lse, const unsigned char *ban, int V,
                             float tau, s2s__cand *out, s2s__cand *tmp, s2s__cand *worst,
                             int *n_tail)
{
	float best = -INFINITY;
	for (int w = 0; w < V; w++) {
		float lp = (z[w] - mx) - lse;
		if (lp > best && !(ban && ban[w]))
			best = lp;
	}
	double top = (double)(best / tau);
	int n = 0;
	*n_tail = 0;
	for (int w = 0; w < V; w++) {
		float lp = (z[w] - mx) - lse;
		if (!(lp > -INFINITY) || (ban && ban[w]))
			continue;
		if ((double)(lp / tau) - top >= S2S__NEGLIGIBLE) {
			out[n++] = (s2s__cand){lp, w};
		} else if ((*n_tail)++ == 0 || !(lp > worst->lp)) {
			*worst = (s2s__cand){lp, w}; /* last in ranking order: lowest, then highest id */
		}
	}
	s2s__rank(out, tmp, n);
	return n;
}
