/*
 * beam.h - one sentence's search (docs §7): its live hypotheses, their
 * history, the top-B selection after each step and the final hypotheses.
 * Greedy is beam search with B = 1 (the arg-max with the lowest id on ties is
 * exactly the first candidate in §7's order).
 *
 * Thread safety: an s2s__search is owned by the thread running its batch.
 */
#ifndef S2S_BEAM_H
#define S2S_BEAM_H

#include <stdbool.h>
#include <stdint.h>

#include "logits.h"
#include "s2s_decode.h"
#include "s2s_spans.h"

typedef struct {
	int t, k; /* step (0-based) and slot of the last token */
	float score, norm;
	bool finished;
} s2s__final;

typedef struct {
	int B, T, n_src, V;
	float alpha;       /* length penalty */
	int t;             /* steps done */
	int live;          /* live hypotheses (rows) */
	float *live_score; /* (B) */
	int32_t *live_tok; /* (B) last token of each live hypothesis */
	int *live_parent;  /* (B) live index at the previous step each live row came from */
	int *live_slot;    /* (B) slot in the last step's history of each live hypothesis */
	/* History, per step: B slots and B live rows; grown by doubling. */
	int cap;
	int32_t *tok; /* (cap, B) token of slot k */
	float *logp;  /* (cap, B) its log-probability */
	int *par;     /* (cap, B) live index (at that step) it extends */
	int *lslot;   /* (cap, B) slot at step t-1 of live row i at step t */
	bool keep_attn;
	float *alpha_tmp; /* (B, n_src) scratch when attention is computed but not kept */
	float *attn;      /* (cap, B, n_src) attention of live row i at step t, or NULL */
	s2s__final *fin;  /* (2 B) */
	int nfin;
	/* Sentinel constraint (docs/localisation.md §6); table NULL: none. */
	const s2s_sentinels *table;
	int n_ph, n_pairs;
	unsigned char *ban; /* (V) 1 = not selectable for the row being selected */
	int32_t *hist;      /* (T) a live row's tokens so far */
	int32_t *banned;    /* (table ph + 2 pairs + 1) ids set in ban for the current row */
	int *stack;         /* (n_pairs) open pairs, innermost last */
	unsigned char *seen; /* (n_ph + 2 n_pairs) emitted: ph k, then open k, then close k */
	/* Top-B scratch. */
	float *cand_score;
	int *cand_flat;
	float *cand_logp;
	/* The sentence's §7.1-7.6 controls (docs/checkpoint-format.md). */
	int lp_type;          /* s2s_length_penalty_type */
	float beta;           /* coverage penalty; > 0 keeps the attention history */
	bool proc;            /* some §7.1 processor is on: s2s__search_process has work */
	s2s__procs procs;     /* its suppress points into `suppress` */
	int32_t *suppress;    /* (n_suppress) owned copy */
	int32_t *prefix;      /* (n_prefix) owned copy */
	int n_prefix;
	bool force_eos;
	bool sampling;        /* sampling_topk != 1 (B == 1) */
	int topk;
	float topp, tau;
	uint64_t seed;
	int n_alt_want;       /* return_alternatives */
	int n_alt;            /* recorded at step n_prefix */
	s2s__cand *alt;       /* (n_alt_want) */
	s2s__cand *pool;      /* (V) sampling's ranked candidates */
	double *weights;      /* (V) sampling weights */
	int32_t *rhist;       /* (B, T) live row i's history, filled by s2s__search_histories */
	int32_t *rscratch;    /* (B, T) the processors' scratch per row */
	float *cov;           /* (n_src) coverage sums */
	size_t *cov_row;      /* (T) attention offsets of a hypothesis' steps */
} s2s__search;

/*
 * Prepares a search with live = [<s>] for the options o (checked; suppress
 * and prefix are copied), T steps. `attn`: the model computes attention; its
 * history is kept when o->attention asks for it in the results or the
 * coverage penalty needs it (else rows write into a scratch block that each
 * step overwrites). S2S_ENOMEM.
 */
int s2s__search_init(s2s__search *s, const s2s_decode_options *o, int T, int n_src, int V,
                     bool attn);
void s2s__search_deinit(s2s__search *s);
/*
 * Turns the sentinel constraint on for a search just initialised: the
 * sentence holds n_ph placeholders and n_pairs tag pairs of `table` (the
 * model's; borrowed for the search's life); 0 and 0 bans every sentinel.
 * S2S_ENOMEM.
 */
int s2s__search_constrain(s2s__search *s, const s2s_sentinels *table, int n_ph, int n_pairs);

/* Makes room in the history for step s->t (amortised doubling). S2S_ENOMEM. */
int s2s__search_reserve(s2s__search *s);
/* Where live row i writes its attention at step s->t (NULL for a model without attention). */
float *s2s__search_attn_row(s2s__search *s, int live_index);

/*
 * Before a step's logits are processed: each live row's history into
 * s->rhist (only needed when s->proc). Not thread-safe for one search.
 */
void s2s__search_histories(s2s__search *s);
/*
 * §7.1 on live row i's logits z (V) of step s->t. Touches only row i's
 * buffers, so the rows of one search may be processed on several threads.
 */
void s2s__search_process(s2s__search *s, int i, float *z);

/* One row's log-softmax statistics (s2s__logsoftmax_stats), computed before selection. */
typedef struct {
	float max, lse;
	int arg;
} s2s__row_stats;

/*
 * Consumes the logits (live, V) of step s->t, with each live row's
 * statistics in stats (live): selects the next live set (top
 * B by score, ties to the smaller flat index), moves hypotheses ending in
 * </s> (and, at step T, all) to the finished list. Afterwards live_parent[i]
 * is the previous live row that new live row i continues. Returns true when
 * the search is over.
 */
bool s2s__search_step(s2s__search *s, const float *logits, const s2s__row_stats *stats);

/* Builds the n_best hypotheses into r (caller-owned result). S2S_ENOMEM. */
int s2s__search_result(const s2s__search *s, int n_best, bool with_attn, s2s_result *r);

#endif
