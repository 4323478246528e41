/* sched.c - see sched.h. */
#include "sched.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics.h"

typedef struct {
	struct s2sd_sched *sched;
	pthread_t thread;
	s2s_batch *batch; /* owned; for `model` */
	s2s_model *model; /* borrowed through the batch's reference */
	s2sd_item **slots; /* (max_rows) items in the batch */
	int n_slots;
	s2sd_item **done; /* (max_rows) finished this step */
	int n_done;
	int rows; /* rows its batch holds, as of its last admission or step (under mu) */
} worker;

struct s2sd_sched {
	s2sd_sched_options o;
	pthread_mutex_t mu;
	pthread_cond_t work;   /* idle workers wait here for a first sentence */
	pthread_cond_t fill;   /* ... then here, during the admission window */
	int n_idle;            /* workers waiting on `work` */
	int busy_rows;         /* sum of the workers' `rows` */
	s2sd_job *head, *tail; /* jobs with queued items, in arrival order */
	s2sd_job *turn;        /* the job whose turn is next (NULL: head) */
	int n_jobs;            /* in the job queue */
	int queued, queued_rows; /* sentences queued, and their rows */
	s2sd_job *done_head; /* completions for the loop */
	bool stop;
	uv_async_t async;
	s2sd_job_done_cb done_cb;
	void *ud;
	worker *workers;
	int n_workers;
};

uint64_t s2sd_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Under mu: an item is done; the last one of a job queues its completion. Returns true then. */
static bool item_done(s2sd_sched *s, s2sd_item *it)
{
	s2sd_job *j = it->job;
	if (--j->pending > 0)
		return false;
	j->done_next = s->done_head;
	s->done_head = j;
	return true;
}

static void on_async(uv_async_t *h)
{
	s2sd_sched *s = h->data;
	pthread_mutex_lock(&s->mu);
	s2sd_job *j = s->done_head;
	s->done_head = NULL;
	pthread_mutex_unlock(&s->mu);
	while (j) {
		s2sd_job *next = j->done_next;
		s->done_cb(j, s->ud);
		j = next;
	}
}

/* Under mu: takes j off the job queue (its turn passes to the next job). */
static void unlink_job(s2sd_sched *s, s2sd_job *j)
{
	if (s->turn == j)
		s->turn = j->qnext;
	if (j->qprev)
		j->qprev->qnext = j->qnext;
	else
		s->head = j->qnext;
	if (j->qnext)
		j->qnext->qprev = j->qprev;
	else
		s->tail = j->qprev;
	j->qprev = j->qnext = NULL;
	j->in_queue = false;
	s->n_jobs--;
}

/* Under mu: the next queued item of j leaves the queue (and j too after its last one). */
static s2sd_item *pop_item(s2sd_sched *s, s2sd_job *j)
{
	s2sd_item *it = &j->items[j->next_item++];
	s->queued--;
	s->queued_rows -= j->opt.beam_size;
	if (j->next_item == j->n_items)
		unlink_job(s, j);
	return it;
}

/* Under mu: j's queued items expire. Returns how many; *pushed when j completed. */
static int expire_job(s2sd_sched *s, s2sd_job *j, bool *pushed)
{
	int n = 0;
	while (j->in_queue) {
		s2sd_item *it = pop_item(s, j);
		it->expired = true;
		n++;
		*pushed |= item_done(s, it);
	}
	return n;
}

/* Under mu: drops the queued jobs whose deadline has passed. */
static int expire_queued(s2sd_sched *s, uint64_t now, bool *pushed)
{
	int n = 0;
	for (s2sd_job *j = s->head, *next; j; j = next) {
		next = j->qnext;
		if (j->deadline_ns && j->deadline_ns <= now)
			n += expire_job(s, j, pushed);
	}
	return n;
}

int s2sd_sched_submit(s2sd_sched *s, s2sd_job *job)
{
	pthread_mutex_lock(&s->mu);
	if (job->n_items < 1 || s->queued + job->n_items > s->o.queue_length) {
		pthread_mutex_unlock(&s->mu);
		return -1;
	}
	atomic_init(&job->cancelled, false);
	job->pending = job->n_items;
	job->next_item = 0;
	for (int i = 0; i < job->n_items; i++)
		job->items[i].job = job;
	job->in_queue = true;
	job->qnext = NULL;
	job->qprev = s->tail;
	if (s->tail)
		s->tail->qnext = job;
	else
		s->head = job;
	s->tail = job;
	s->n_jobs++;
	s->queued += job->n_items;
	s->queued_rows += job->n_items * job->opt.beam_size;
	/*
	 * One idle worker is enough: it wakes the next itself if it leaves work
	 * behind (wake_idle). Running workers see the queue at their next step,
	 * so waking them (or every idle worker, as a broadcast did) only costs
	 * futex calls on the loop thread and context switches.
	 */
	if (s->n_idle > 0)
		pthread_cond_signal(&s->work);
	if (s->queued_rows >= s->o.max_rows)
		pthread_cond_signal(&s->fill);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

bool s2sd_sched_cancel(s2sd_sched *s, s2sd_job *job)
{
	bool gone = false;
	int dropped = 0;
	pthread_mutex_lock(&s->mu);
	atomic_store(&job->cancelled, true);
	if (job->in_queue) {
		/* no completion for these: the caller learns from `gone` that the job is over */
		while (job->in_queue) {
			pop_item(s, job);
			dropped++;
		}
		job->pending -= dropped;
		gone = job->pending == 0;
	}
	pthread_mutex_unlock(&s->mu);
	s2sd_metrics_cancel(0, dropped);
	return gone;
}

void s2sd_sched_expire(s2sd_sched *s, uint64_t now)
{
	bool pushed = false;
	pthread_mutex_lock(&s->mu);
	int dropped = expire_queued(s, now, &pushed);
	pthread_mutex_unlock(&s->mu);
	s2sd_metrics_cancel(1, dropped);
	if (pushed)
		uv_async_send(&s->async);
}

int s2sd_sched_queue_depth(s2sd_sched *s)
{
	pthread_mutex_lock(&s->mu);
	int n = s->queued;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* Under mu, idle worker: makes the batch serve `m` (a reload or another model). */
static int switch_model(worker *w, s2s_model *m)
{
	s2s_error err = {0};
	s2s_batch *b;
	if (w->batch && w->model == m)
		return 0;
	if (s2s_batch_new(m, w->sched->o.max_rows, &b, &err) < 0) {
		s2sd_log(S2SD_LOG_ERR, "worker: cannot create a batch: %s", err.message);
		return -1;
	}
	s2s_batch_free(w->batch);
	w->batch = b;
	w->model = m;
	return 0;
}

/* Under mu: puts `it` into w's batch (or completes it when the batch refuses it). */
static bool add_to_batch(worker *w, s2sd_item *it, uint64_t now)
{
	s2sd_job *j = it->job;
	s2s_error err = {0};
	s2s_decode_options o = j->opt;
	o.sentinel_ph = it->sentinel_ph;
	o.sentinel_pairs = it->sentinel_pairs;
	o.prefix = it->prefix;
	o.n_prefix = it->n_prefix;
	o.seed = it->seed;
	it->handle = s2s_batch_add(w->batch, it->ids, it->n, &o, it, &err);
	it->queued_ms = (double)(now - j->arrival_ns) / 1e6;
	if (it->handle < 0) {
		s2sd_log(S2SD_LOG_ERR, "worker: sentence rejected by the batch: %s", err.message);
		return item_done(w->sched, it);
	}
	w->slots[w->n_slots++] = it;
	return false;
}

/* Under mu: rows each queued job holds in w's batch, into job->rows_here. */
static void count_rows_here(worker *w)
{
	for (s2sd_job *j = w->sched->head; j; j = j->qnext)
		j->rows_here = 0;
	for (int i = 0; i < w->n_slots; i++)
		w->slots[i]->job->rows_here += w->slots[i]->job->opt.beam_size;
}

/* Rows one job may hold in a batch: row_share % of it, never less than one beam. */
static int job_row_cap(const s2sd_sched *s, const s2sd_job *j)
{
	int share = s->o.step_level && s->o.row_share > 0 ? s->o.row_share : 100;
	int cap = (int)((long)s->o.max_rows * share / 100);
	return cap > j->opt.beam_size ? cap : j->opt.beam_size;
}

/* Under mu: w's batch now holds `rows` rows. */
static void set_rows(worker *w, int rows)
{
	w->sched->busy_rows += rows - w->rows;
	w->rows = rows;
}

/*
 * Under mu: the rows w may fill in this admission. Each worker takes its
 * share of the rows decoding or waiting, (busy + queued) / workers, when the
 * rest will be taken elsewhere soon: by the other running workers at their
 * next step (step batching), or by an idle worker that wake_idle wakes.
 * Otherwise a worker that reaches the queue first would take every row
 * while another core sits idle (measured: 2 workers, 64 connections, the
 * dates model: ~55 % of the 2 CPUs busy). Always at least one sentence.
 */
static int worker_row_budget(const worker *w)
{
	const s2sd_sched *s = w->sched;
	if (s->n_workers < 2 || (!s->o.step_level && s->n_idle == 0))
		return s->o.max_rows;
	int share = (s->busy_rows + s->queued_rows + s->n_workers - 1) / s->n_workers;
	return share < s->o.max_rows ? share : s->o.max_rows;
}

/* Under mu: an idle worker takes what this one left in the queue. */
static void wake_idle(s2sd_sched *s)
{
	if (s->queued > 0 && s->n_idle > 0)
		pthread_cond_signal(&s->work);
}

/*
 * Under mu: moves queued sentences of the batch's model into the batch while
 * rows allow, one sentence per job in turn (round-robin from s->turn). A job
 * at its row cap or of another model is passed over; a sentence that does
 * not fit the free rows ends admission and its job keeps the turn.
 */
static bool admit(worker *w, uint64_t now)
{
	s2sd_sched *s = w->sched;
	bool pushed = false;
	int expired = expire_queued(s, now, &pushed);

	if (s->head && w->n_slots == 0 && switch_model(w, s->head->model) < 0)
		goto out;
	count_rows_here(w);
	int budget = worker_row_budget(w);
	s2sd_job *j = s->turn ? s->turn : s->head;
	for (int passed = 0; s->head && passed < s->n_jobs;) {
		if (!j)
			j = s->head;
		s2sd_job *next = j->qnext;
		int beam = j->opt.beam_size;
		if (j->model != w->model || j->rows_here + beam > job_row_cap(s, j)) {
			passed++;
			j = next;
			continue;
		}
		if (s2s_batch_rows_free(w->batch) < beam ||
		    (w->n_slots > 0 && w->rows + beam > budget)) {
			s->turn = j;
			break;
		}
		s2sd_item *it = pop_item(s, j);
		j->rows_here += beam;
		pushed |= add_to_batch(w, it, now);
		set_rows(w, w->sched->o.max_rows - s2s_batch_rows_free(w->batch));
		s->turn = next;
		passed = 0;
		j = next;
	}
out:
	s2sd_metrics_cancel(1, expired);
	return pushed;
}

/* Without mu: drops rows of cancelled or expired sentences before the next step. */
static void prune(worker *w, uint64_t now)
{
	for (int i = 0; i < w->n_slots;) {
		s2sd_item *it = w->slots[i];
		bool gone = atomic_load(&it->job->cancelled);
		bool late = it->job->deadline_ns && it->job->deadline_ns <= now;
		if (!gone && !late) {
			i++;
			continue;
		}
		s2s_batch_cancel(w->batch, it->handle);
		it->expired = late && !gone;
		s2sd_metrics_cancel(it->expired, 1);
		w->done[w->n_done++] = it;
		w->slots[i] = w->slots[--w->n_slots];
	}
}

static void remove_slot(worker *w, s2sd_item *it)
{
	for (int i = 0; i < w->n_slots; i++)
		if (w->slots[i] == it) {
			w->slots[i] = w->slots[--w->n_slots];
			return;
		}
}

/* Without mu: one decoder step and the sentences it finished. */
static void run_step(worker *w)
{
	s2s_error err = {0};
	int rows = w->sched->o.max_rows - s2s_batch_rows_free(w->batch);
	if (s2s_batch_step(w->batch, &err) < 0) {
		s2sd_log(S2SD_LOG_ERR, "worker: decoder step failed: %s", err.message);
		for (int i = 0; i < w->n_slots; i++) {
			s2s_batch_cancel(w->batch, w->slots[i]->handle);
			w->done[w->n_done++] = w->slots[i];
		}
		w->n_slots = 0;
		return;
	}
	s2sd_metrics_step(rows);
	if (w->sched->o.step_delay_ms)
		nanosleep(&(struct timespec){0, w->sched->o.step_delay_ms * 1000000L}, NULL);
	s2s_result *r;
	while ((r = s2s_batch_take_finished(w->batch)) != NULL) {
		s2sd_item *it = r->user;
		it->result = r;
		int tokens = 0;
		for (int h = 0; h < r->n_hyps; h++)
			tokens += r->hyps[h].n;
		s2sd_metrics_sentence_done(it->job->metrics_model, tokens);
		remove_slot(w, it);
		w->done[w->n_done++] = it;
	}
}

/*
 * Under mu, step-level with a running batch: admit once newcomers can fill a
 * quarter of the free rows, or the oldest has waited an admission window.
 * Encoding newcomers one or two at a time every step costs more than
 * encoding them together a step or two later.
 */
static bool admit_now(worker *w, uint64_t now)
{
	s2sd_sched *s = w->sched;
	int free_rows = s2s_batch_rows_free(w->batch);
	if (!s->head || free_rows == 0)
		return false;
	if (s->queued_rows * 4 >= free_rows)
		return true;
	return now - s->head->arrival_ns >= (uint64_t)s->o.admission_window_ms * 1000000ull;
}

/* Under mu: sleeps until there is work; then (request batching) the admission window. False: stop. */
static bool wait_for_work(worker *w)
{
	s2sd_sched *s = w->sched;
	s->n_idle++;
	while (!s->stop && s->queued == 0)
		pthread_cond_wait(&s->work, &s->mu);
	s->n_idle--;
	if (s->stop)
		return false;
	/*
	 * Step batching lets later sentences join at the next step, so an idle
	 * worker starts at once: waiting for a fuller first batch only left the
	 * core idle while the loop thread was still reading a burst of requests
	 * (measured on an idle 2-core VM, dates model, 64 connections: 3.1k ->
	 * 3.7k sentences/s, CPU use 106 % -> 159 %), and cost a lone request the
	 * whole window. The window still bounds how long newcomers wait to join
	 * a running batch (admit_now).
	 */
	if (s->o.admission_window_ms <= 0 || s->o.step_level)
		return true;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += s->o.admission_window_ms * 1000000L;
	until.tv_sec += until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	while (!s->stop && s->queued_rows < s->o.max_rows &&
	       pthread_cond_timedwait(&s->fill, &s->mu, &until) != ETIMEDOUT)
		;
	return !s->stop;
}

static void *worker_main(void *arg)
{
	worker *w = arg;
	s2sd_sched *s = w->sched;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		if (w->n_slots == 0 && !wait_for_work(w))
			break;
		bool pushed = false;
		uint64_t now = s2sd_now_ns();
		if (w->n_slots == 0 || (s->o.step_level && admit_now(w, now)))
			pushed = admit(w, now);
		wake_idle(s);
		pthread_mutex_unlock(&s->mu);
		if (pushed)
			uv_async_send(&s->async);
		prune(w, s2sd_now_ns());
		if (w->n_slots > 0 || (w->batch && s2s_batch_active(w->batch) > 0))
			run_step(w);
		pthread_mutex_lock(&s->mu);
		set_rows(w, w->batch ? s->o.max_rows - s2s_batch_rows_free(w->batch) : 0);
		pushed = false;
		for (int i = 0; i < w->n_done; i++)
			pushed |= item_done(s, w->done[i]);
		w->n_done = 0;
		if (pushed)
			uv_async_send(&s->async);
		if (s->stop)
			break;
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

static void free_workers(s2sd_sched *s)
{
	for (int i = 0; i < s->n_workers; i++) {
		s2s_batch_free(s->workers[i].batch);
		free(s->workers[i].slots);
		free(s->workers[i].done);
	}
	free(s->workers);
}

int s2sd_sched_new(uv_loop_t *loop, const s2sd_sched_options *o, s2sd_job_done_cb done, void *ud,
		   s2sd_sched **out)
{
	s2sd_sched *s = calloc(1, sizeof *s);
	if (!s)
		return -1;
	s->o = *o;
	s->done_cb = done;
	s->ud = ud;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->work, NULL);
	pthread_cond_init(&s->fill, NULL);
	uv_async_init(loop, &s->async, on_async);
	s->async.data = s;
	s->workers = calloc((size_t)o->workers, sizeof *s->workers);
	if (!s->workers)
		goto err;
	for (int i = 0; i < o->workers; i++) {
		worker *w = &s->workers[i];
		w->sched = s;
		w->slots = calloc((size_t)o->max_rows, sizeof *w->slots);
		w->done = calloc((size_t)o->max_rows * 2, sizeof *w->done);
		if (!w->slots || !w->done || pthread_create(&w->thread, NULL, worker_main, w) != 0)
			goto err;
		s->n_workers++;
	}
	*out = s;
	return 0;
err:
	s2sd_sched_free(s);
	return -1;
}

static void free_sched(uv_handle_t *h)
{
	s2sd_sched *s = h->data;
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->work);
	pthread_cond_destroy(&s->fill);
	free(s);
}

void s2sd_sched_free(s2sd_sched *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_cond_broadcast(&s->work);
	pthread_cond_broadcast(&s->fill);
	pthread_mutex_unlock(&s->mu);
	for (int i = 0; i < s->n_workers; i++)
		pthread_join(s->workers[i].thread, NULL);
	free_workers(s);
	uv_close((uv_handle_t *)&s->async, free_sched);
}
