/*
 * sched.h - the admission queue and the worker pool.
 *
 * The loop thread submits jobs (one request: one or more sentences, one
 * model, one set of options). N worker threads each own one s2s_batch and
 * pull sentences from the shared queue into it:
 *   - step-level batching: between any two decoder steps, as long as the
 *     batch has free rows (continuous batching);
 *   - request-level batching: only when the batch is empty; the batch then
 *     runs to completion.
 * With request-level batching, an idle worker that sees a first sentence
 * waits up to the admission window for more before its first step; with
 * step-level batching it starts at once (later sentences join at the next
 * steps) and takes only its share of the work when other workers can take
 * the rest, so every core decodes. When every sentence of a job is done
 * (finished, cancelled or past its deadline) the job is handed back to the
 * loop thread through a locked list and one uv_async.
 *
 * Fairness: the queue holds jobs, not sentences. Admission takes one
 * sentence from each waiting job in turn (round-robin, the turn carried over
 * from one admission to the next), so a request of 64 sentences does not hold
 * back a one-sentence request that arrived after it. With step-level
 * batching a job may moreover hold at most row_share % of a worker's rows
 * (never less than one beam), so a newcomer finds free rows at the next step
 * even while a heavy job decodes. A sentence that does not fit the free rows
 * stops admission (its job keeps its turn), so large beams are not starved.
 *
 * Threads: s2sd_sched_new/submit/cancel/expire/queue_depth/free are
 * loop-thread only; the completion callback runs on the loop thread.
 */
#ifndef S2SD_SCHED_H
#define S2SD_SCHED_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "s2s.h"

typedef struct s2sd_job s2sd_job;

typedef struct s2sd_item {
	s2sd_job *job;
	const int32_t *ids; /* borrowed from the job's owner; immutable until completion */
	int n;
	int sentinel_ph, sentinel_pairs; /* this sentence's sentinel constraint (s2s_decode_options) */
	/* this sentence's target prefix (a scored target with opt.force_eos), borrowed like ids */
	const int32_t *prefix;
	int n_prefix;
	uint64_t seed; /* sampling: this sentence's seed (the request's seed + its index) */
	s2s_result *result; /* owned by the item after completion; NULL: not finished */
	bool expired;       /* dropped at the deadline */
	double queued_ms;   /* arrival -> admitted into a batch */
	/* scheduler private */
	int handle;
} s2sd_item;

struct s2sd_job {
	s2s_model *model; /* borrowed: the owner holds a reference until it frees the job */
	s2s_decode_options opt;
	uint64_t arrival_ns;
	uint64_t deadline_ns; /* CLOCK_MONOTONIC; 0 = none */
	int n_items;
	s2sd_item *items; /* (n_items), owner-allocated */
	void *user;
	int metrics_model; /* s2sd_metrics_model() slot its sentences are counted under */
	/* scheduler private, under the scheduler mutex unless noted */
	int pending;           /* items not done */
	int next_item;         /* items[next_item..n_items) are queued */
	bool in_queue;         /* in the job queue (some item queued) */
	s2sd_job *qprev, *qnext; /* the job queue, in arrival order */
	int rows_here;         /* scratch of one admission: rows held in that worker's batch */
	atomic_bool cancelled; /* the client went away (read without the mutex) */
	s2sd_job *done_next;
};

typedef struct s2sd_sched s2sd_sched;
typedef void (*s2sd_job_done_cb)(s2sd_job *job, void *ud);

typedef struct {
	int workers;
	bool step_level;
	int max_rows;
	int admission_window_ms;
	int queue_length; /* sentences */
	int step_delay_ms;
	int row_share; /* step-level: % of max_rows one job may hold in a batch; 0 or 100: no cap */
} s2sd_sched_options;

int s2sd_sched_new(uv_loop_t *loop, const s2sd_sched_options *o, s2sd_job_done_cb done, void *ud,
		   s2sd_sched **out);
/* Joins the workers (abandoning unfinished work) and closes the async handle. */
void s2sd_sched_free(s2sd_sched *s);

/* Queues every item of `job`. 0, or -1 when the queue has no room for all of them. */
int s2sd_sched_submit(s2sd_sched *s, s2sd_job *job);
/*
 * The client left: drops the job's queued items and makes workers drop the
 * rest at their next step. Returns true when no completion will be delivered
 * for the job (the caller may free it now), false when one still will.
 */
bool s2sd_sched_cancel(s2sd_sched *s, s2sd_job *job);
/* Drops queued items whose deadline has passed (the loop calls it periodically). */
void s2sd_sched_expire(s2sd_sched *s, uint64_t now_ns);
int s2sd_sched_queue_depth(s2sd_sched *s);

uint64_t s2sd_now_ns(void);

#endif
