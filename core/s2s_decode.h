/*
 * s2s_decode.h - decoding: greedy and beam search over a batch whose rows
 * may join and leave at every decoder step (continuous batching).
 *
 *   s2s_decode_options o;
 *   s2s_decode_options_init(&o);          // greedy, defaults of docs §7
 *   o.beam_size = 5; o.n_best = 2;
 *
 *   s2s_batch *b;
 *   s2s_batch_new(model, 256, &b, &err);  // row budget 256
 *   s2s_batch_add(b, ids, n, &o, user_ptr, &err);   // any time between steps
 *   while (s2s_batch_active(b) > 0) {
 *           s2s_batch_step(b, &err);      // encodes newcomers, one decoder step
 *           s2s_result *r;
 *           while ((r = s2s_batch_take_finished(b)) != NULL) {
 *                   ... r->user, r->hyps[0].ids ...
 *                   s2s_result_free(r);
 *           }
 *   }
 *   s2s_batch_free(b);
 *
 * A sentence occupies beam_size rows from its add until it finishes or is
 * cancelled. Results do not depend on what else shares the batch: a batch of
 * N sentences gives exactly what N single runs give.
 *
 * Thread safety: an s2s_batch is mutable state owned by one thread at a time
 * (a worker); the model it references is shared read-only. s2s_translate is
 * safe to call from any number of threads with the same model.
 */
#ifndef S2S_DECODE_H
#define S2S_DECODE_H

#include <stdbool.h>
#include <stdint.h>

#include "s2s_error.h"
#include "s2s_model.h"

/* Length normalisation of final scores (docs §7): OpenNMT-py's `wu` and `avg`. */
typedef enum {
	S2S_LP_WU = 0,   /* GNMT: score / ((5 + L) / 6)^alpha (alpha 0: none); the default */
	S2S_LP_AVG = 1,  /* score / L */
	S2S_LP_NONE = 2, /* score */
} s2s_length_penalty_type;

typedef struct {
	int beam_size;        /* 1 = greedy; 1..64 */
	int n_best;           /* hypotheses returned, 1..beam_size */
	float length_penalty; /* GNMT alpha, >= 0; 0 = none */
	float max_len_a;      /* T = min(max_len, floor(a*n) + b) */
	int max_len_b;
	int max_len;          /* caps the output only; sources are capped by S2S_MAX_SOURCE */
	bool attention;       /* return attention matrices */
	/*
	 * Sentinel constraint (s2s_spans.h, docs/localisation.md §6): the source
	 * holds <ph0>..<ph{sentinel_ph-1}> and the pairs <tk>..</tk> for k <
	 * sentinel_pairs; the search emits each exactly once, tags nested, and
	 * </s> only after all of them. 0 and 0 (the default): no constraint.
	 * At most the model's s2s_model_sentinels counts.
	 */
	int sentinel_ph;
	int sentinel_pairs;
	/*
	 * Decoding controls (docs/checkpoint-format.md §7.1-7.6; CTranslate2's
	 * translate_batch options where they exist). s2s_decode_options_init
	 * sets each to its "off" value; every one is per sentence, so a batch
	 * still gives what each sentence alone gives.
	 */
	int length_penalty_type;    /* s2s_length_penalty_type */
	float coverage_penalty;     /* GNMT beta >= 0 (0: none); needs a model with attention */
	int min_length;             /* </s> banned until this many tokens (prefix included); 0..max_len */
	float repetition_penalty;   /* CTRL penalty on logits of tokens already generated; 1 = none; (0, 100] */
	int no_repeat_ngram_size;   /* 0 = none; 1..S2S_MAX_NGRAM: no n-gram of this size twice */
	bool disable_unk;           /* <unk> never generated */
	const int32_t *suppress;    /* (n_suppress) target ids never generated; copied by s2s_batch_add */
	int n_suppress;             /* 0..S2S_MAX_SUPPRESS */
	const int32_t *prefix;      /* (n_prefix) target ids forced first (no </s>); copied by s2s_batch_add */
	int n_prefix;               /* 0..T-1 (T of §7; with force_eos, T is n_prefix + 1) */
	bool force_eos;             /* scoring (forced decoding): after the prefix, </s>; one hypothesis */
	int sampling_topk;          /* 1 = no sampling (the default); 0 = the whole vocabulary; k > 1 */
	float sampling_topp;        /* (0, 1]; < 1 needs sampling_topk != 1 */
	float sampling_temperature; /* > 0 and finite; != 1 needs sampling_topk != 1 */
	uint64_t seed;              /* sampling: the sentence's RNG seed (§7.5) */
	int return_alternatives;    /* 0 = none; k: the top-k tokens at step n_prefix (§7.6), 1..64 */
} s2s_decode_options;

#define S2S_MAX_NGRAM 32
#define S2S_MAX_SUPPRESS 1024

/*
 * Longest source a batch accepts, in tokens. A bound on per-sentence memory
 * (encoder states, attention rows), independent of the output cap max_len:
 * a short output of a long input is legitimate (a summary, a date).
 */
#define S2S_MAX_SOURCE 4096

/* Fills the defaults: greedy, n_best 1, alpha 0, a 2.0, b 10, max_len 256, attention on. */
void s2s_decode_options_init(s2s_decode_options *o);
/*
 * Checks bounds and conflicts (docs/checkpoint-format.md §7.1-7.6);
 * S2S_EINVAL naming the field. What needs the model (target ids of
 * suppress and prefix, sampling_topk <= V, coverage needing attention, the
 * prefix fitting in T) is checked by s2s_batch_add.
 */
int s2s_decode_options_check(const s2s_decode_options *o, s2s_error *err);

/*
 * A checkpoint's decoding defaults (`seq2seqd.decoding`, docs/checkpoint-format.md
 * §2): a model trained elsewhere may decode with other defaults than §7's (the
 * PyTorch tutorial takes exactly 10 steps, OpenNMT-py up to 250). The bits say
 * which fields a checkpoint sets, or which a request gave explicitly.
 */
enum {
	S2S_DEC_BEAM_SIZE = 1u << 0,
	S2S_DEC_N_BEST = 1u << 1,
	S2S_DEC_MAX_LEN = 1u << 2,
	S2S_DEC_MAX_LEN_A = 1u << 3,
	S2S_DEC_MAX_LEN_B = 1u << 4,
	S2S_DEC_LENGTH_PENALTY = 1u << 5,
};
/*
 * Parses seq2seqd.decoding into *o (starting from s2s_decode_options_init) and
 * *set (the fields it names). Keys and bounds are those of the API's options;
 * an unknown key or a bad value is S2S_ECONFIG naming it.
 */
int s2s_decode_defaults_parse(const char *json, s2s_decode_options *o, unsigned *set,
                              s2s_error *err);
/* The model's defaults into *out; returns the fields its checkpoint set (0: none). */
unsigned s2s_model_decode_defaults(const s2s_model *m, s2s_decode_options *out);
/* Copies into dst the fields in `set` but not in `given` (what the caller chose wins). */
void s2s_decode_options_merge(s2s_decode_options *dst, unsigned given,
                              const s2s_decode_options *defaults, unsigned set);

typedef struct {
	int n;             /* tokens, the prefix and the final </s> (when finished) included */
	int32_t *ids;      /* (n) */
	float *logprobs;   /* (n) log-probability of each token */
	float score;       /* sum of logprobs (-inf when a forced token had probability 0) */
	float norm_score;  /* score / lp(n), plus the coverage penalty when asked (§7.2) */
	bool finished;     /* ended with </s> (false: hit the length limit) */
	float *attention;  /* (n, n_src) row-major, or NULL (attention off or model without attention) */
} s2s_hypothesis;

/* One alternative next token (return_alternatives). */
typedef struct {
	int32_t id;
	float logprob; /* its log-probability at that step (after the §7.1 processors) */
} s2s_alternative;

typedef struct {
	void *user;          /* the pointer given to s2s_batch_add */
	int n_src;
	int n_hyps;
	s2s_hypothesis *hyps; /* (n_hyps), best first */
	bool cancelled;      /* never returned for cancelled sentences; reserved */
	int steps;           /* decoder steps taken */
	double encode_ms;    /* wall time of the encoder pass that included this sentence */
	double decode_ms;    /* wall time from first to last decoder step */
	int n_alternatives;  /* return_alternatives: how many (fewer when fewer tokens are allowed) */
	s2s_alternative *alternatives; /* (n_alternatives) best first, ties by lower id; or NULL */
} s2s_result;

/* Frees a result and everything in it. NULL is a no-op. */
void s2s_result_free(s2s_result *r);

typedef struct s2s_batch s2s_batch;

/*
 * Creates an empty batch able to hold `max_rows` decoder rows (beams count
 * one row each) and takes a reference on `model` until s2s_batch_free.
 * All scratch memory is allocated here; steps do not allocate except to grow
 * per-sentence history (amortised) and to build results.
 */
int s2s_batch_new(s2s_model *model, int max_rows, s2s_batch **out, s2s_error *err);
void s2s_batch_free(s2s_batch *b); /* drops unfinished sentences; NULL is a no-op */

/*
 * Queues one sentence of `n` source ids (copied) with its options (copied).
 * The sentence is encoded at the start of the next s2s_batch_step, together
 * with every other newcomer. Returns a handle >= 0 for s2s_batch_cancel,
 * S2S_EFULL when fewer than beam_size rows are free, S2S_EEMPTY when n == 0,
 * S2S_EINVAL for bad options or out-of-range ids, S2S_ETOOLONG when n
 * exceeds S2S_MAX_SOURCE.
 */
int s2s_batch_add(s2s_batch *b, const int32_t *src, int n, const s2s_decode_options *o,
		  void *user, s2s_error *err);

/* Rows not taken by any sentence. */
int s2s_batch_rows_free(const s2s_batch *b);
/* Sentences queued or decoding (not yet taken out as results). */
int s2s_batch_active(const s2s_batch *b);

/*
 * Encodes the newcomers, then runs one decoder step for every decoding row.
 * Sentences that finish move to the finished queue. Returns the number of
 * sentences still decoding, or a negative code (S2S_ENOMEM).
 */
int s2s_batch_step(s2s_batch *b, s2s_error *err);

/* Pops one finished result (caller owns it), or NULL when none is ready. */
s2s_result *s2s_batch_take_finished(s2s_batch *b);

/*
 * Removes a queued or decoding sentence; its rows are free at once and no
 * result is produced. Returns 0, or S2S_ENOTFOUND for an unknown or finished
 * handle.
 */
int s2s_batch_cancel(s2s_batch *b, int handle);

/*
 * Convenience: translates `count` sentences of source ids in one batch
 * (row budget = count * beam_size) and returns their results in order in
 * results[0..count-1] (caller frees each). Sentence i samples with seed
 * o->seed + i, as the daemon numbers a request's sentences (§7.5).
 * Thread-safe for a shared model.
 */
int s2s_translate_ids(s2s_model *model, const int32_t *const *src, const int *lens, int count,
		      const s2s_decode_options *o, s2s_result **results, s2s_error *err);

/*
 * Unknown-word replacement: for each <unk> in hyp (which needs attention),
 * the index of the source token with the highest attention in that step
 * (first on ties), else -1. `out` has hyp->n entries.
 */
void s2s_hypothesis_unk_sources(const s2s_hypothesis *hyp, int n_src, int32_t *out);

#endif
