/*
 * logits.h - the decoding controls that act on one row's logits or
 * log-probabilities (docs/checkpoint-format.md §7.1 and §7.5): the logit
 * processors (repetition penalty, n-gram blocking, masks), the ranked
 * allowed ids (alternatives, top-k) and the seeded sampling draw.
 *
 * Pure functions of their arguments: any thread may call them on its own
 * buffers, which is what keeps a row's result independent of its batch.
 */
#ifndef S2S_LOGITS_H
#define S2S_LOGITS_H

#include <stdbool.h>
#include <stdint.h>

#include "s2s_decode.h"

/* The §7.1 processors of one sentence; all off: s2s__procs_active false. */
typedef struct {
	float repetition_penalty; /* 1: off */
	int ngram;                /* no_repeat_ngram_size; 0: off */
	bool disable_unk;
	int min_length;
	const int32_t *suppress; /* (n_suppress) borrowed from the search's copy */
	int n_suppress;
} s2s__procs;

/* Fills p from o (suppress borrowed from `suppress`); returns whether any is on. */
bool s2s__procs_from(s2s__procs *p, const s2s_decode_options *o, const int32_t *suppress);

/*
 * Applies §7.1 to the logits z (V) of a row whose history is h[0..len)
 * (tokens emitted so far, prefix included). scratch: len ints, clobbered.
 * Afterwards at least one logit is finite (</s> is unmasked if needed).
 */
void s2s__procs_apply(const s2s__procs *p, float *z, int V, const int32_t *h, int len,
                      int32_t *scratch);

/* An id with its log-probability. */
typedef struct {
	float lp;
	int32_t id;
} s2s__cand;

/*
 * The k allowed ids (ban NULL or ban[w] == 0, log-probability finite) with
 * the highest log-probability (z[w] - mx) - lse, descending, ties by lower
 * id; k == 0: all of them. out: (k) entries, or (V) when k == 0, with tmp
 * (V) scratch (unused for k > 0). Returns how many were found.
 */
int s2s__top_allowed(const float *z, float mx, float lse, const unsigned char *ban, int V, int k,
                     s2s__cand *out, s2s__cand *tmp);

/* §7.5's u(seed, t): splitmix64 of seed + (t + 1) * golden gamma, in [0, 1). */
double s2s__uniform(uint64_t seed, int t);

/*
 * s2s__top_allowed with k == 0 for sampling at temperature tau, less the
 * tail of ids whose §7.5 weight is below 2^-54 (they change no sum of
 * weights): *n_tail of them, *worst the last of them in ranking order.
 */
int s2s__sampling_candidates(const float *z, float mx, float lse, const unsigned char *ban, int V,
                             float tau, s2s__cand *out, s2s__cand *tmp, s2s__cand *worst,
                             int *n_tail);

/*
 * §7.5's draw from the ranked candidates c[0..n) (n >= 1, from
 * s2s__top_allowed): temperature tau, top-p p, uniform u. w: (n) scratch.
 * Returns the index into c of the chosen id, or n when no running sum
 * passed the target with all n kept: the last kept id, which is c[n - 1]
 * unless the caller left a tail out (s2s__sampling_candidates).
 */
int s2s__sample_pick(const s2s__cand *c, int n, float tau, float p, double u, double *w);

#endif
