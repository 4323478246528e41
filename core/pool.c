/* pool.c - see pool.h. */
#include "config.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "pool.h"

/* More helpers than this would not help a product of these sizes. */
#define S2S__POOL_MAX 63
/*
 * How long a helper spins after a job before it sleeps. A decoder step
 * issues its products tens of microseconds apart, and a futex wake-up
 * costs about as much as a small product: spinning across that gap keeps
 * a step's products back to back, sleeping after it keeps an idle worker
 * at 0 % CPU.
 */
#define S2S__SPIN_NS 200000L

typedef struct {
	pthread_mutex_t busy; /* held by the one caller that owns the helpers */
	pthread_mutex_t lock; /* guards sleepers and the condition */
	pthread_cond_t wake;
	int helpers;        /* started so far; only grows (under busy) */
	atomic_uint gen;    /* bumped once per job */
	atomic_int pending; /* helpers that have not finished the current job */
	int sleepers;       /* under lock */
	/* The current job, written under busy before gen is bumped. */
	s2s__range_fn fn;
	void *ctx;
	int n, parts;
} s2s__pool;

static s2s__pool pool = {
    .busy = PTHREAD_MUTEX_INITIALIZER,
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/* Part p of [0, n) cut into `parts`: the same cut for the same n and parts. */
void s2s__part_range(int n, int parts, int p, int *begin, int *end)
{
	*begin = (int)((long)n * p / parts);
	*end = (int)((long)n * (p + 1) / parts);
}

/* Waits until gen moves past `seen`: spins, then sleeps on the condition. */
static unsigned wait_job(unsigned seen)
{
	long start = now_ns();
	for (unsigned spins = 0;; spins++) {
		unsigned g = atomic_load_explicit(&pool.gen, memory_order_acquire);
		if (g != seen)
			return g;
		cpu_relax();
		if ((spins & 255) == 255 && now_ns() - start > S2S__SPIN_NS)
			break;
	}
	pthread_mutex_lock(&pool.lock);
	pool.sleepers++;
	/* Re-checked under the lock, which the caller takes after bumping gen:
	 * either this sees the new gen or the caller sees a sleeper. */
	while (atomic_load_explicit(&pool.gen, memory_order_acquire) == seen)
		pthread_cond_wait(&pool.wake, &pool.lock);
	pool.sleepers--;
	pthread_mutex_unlock(&pool.lock);
	return atomic_load_explicit(&pool.gen, memory_order_acquire);
}

/*
 * The generation each helper was started at: a new helper must wait for
 * the job after it, not read gen itself, or a job published before it
 * first looked would never be acknowledged.
 */
static unsigned start_gen[S2S__POOL_MAX + 1];

static void *helper_main(void *arg)
{
	int index = (int)(long)arg; /* 1 .. helpers; the caller is part 0 */
	unsigned seen = start_gen[index];
	for (;;) {
		seen = wait_job(seen);
		if (index < pool.parts) {
			int b, e;
			s2s__part_range(pool.n, pool.parts, index, &b, &e);
			pool.fn(pool.ctx, b, e);
		}
		atomic_fetch_sub_explicit(&pool.pending, 1, memory_order_acq_rel);
	}
	return NULL;
}

/* Starts helpers up to `want` (called under busy); returns how many run. */
static int ensure_helpers(int want)
{
	if (want > S2S__POOL_MAX)
		want = S2S__POOL_MAX;
	while (pool.helpers < want) {
		pthread_t t;
		pthread_attr_t attr;
		if (pthread_attr_init(&attr) != 0)
			break;
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		start_gen[pool.helpers + 1] = atomic_load(&pool.gen);
		int rc = pthread_create(&t, &attr, helper_main, (void *)(long)(pool.helpers + 1));
		pthread_attr_destroy(&attr);
		if (rc != 0)
			break; /* fewer helpers: the work is still split over those that run */
		pool.helpers++;
	}
	return pool.helpers;
}

void s2s__parallel_for(int n, int threads, s2s__range_fn fn, void *ctx)
{
	if (threads > n)
		threads = n;
	if (threads <= 1 || pthread_mutex_trylock(&pool.busy) != 0) {
		if (n > 0)
			fn(ctx, 0, n);
		return;
	}
	int parts = ensure_helpers(threads - 1) + 1;
	if (parts > threads)
		parts = threads;
	pool.fn = fn;
	pool.ctx = ctx;
	pool.n = n;
	pool.parts = parts;
	atomic_store_explicit(&pool.pending, pool.helpers, memory_order_relaxed);
	atomic_fetch_add_explicit(&pool.gen, 1, memory_order_acq_rel);
	pthread_mutex_lock(&pool.lock);
	if (pool.sleepers)
		pthread_cond_broadcast(&pool.wake);
	pthread_mutex_unlock(&pool.lock);

	int b, e;
	s2s__part_range(n, parts, 0, &b, &e);
	fn(ctx, b, e);
	/* Yield now and then: under valgrind, or with more threads than cores,
	 * the helper may need this core to finish. */
	for (unsigned spins = 1; atomic_load_explicit(&pool.pending, memory_order_acquire) > 0;
	     spins++) {
		cpu_relax();
		if ((spins & 1023) == 0)
			sched_yield();
	}
	pthread_mutex_unlock(&pool.busy);
}

/* Adapts a part function to a range one: the part index from the cut. */
typedef struct {
	s2s__part_fn fn;
	void *ctx;
	int n, parts;
} s2s__parts_job;

static void run_part(void *ctx, int begin, int end)
{
	const s2s__parts_job *j = ctx;
	/* parallel_for cut [0, parts) into parts pieces of one: begin is the part. */
	for (int p = begin; p < end; p++) {
		int b, e;
		s2s__part_range(j->n, j->parts, p, &b, &e);
		j->fn(j->ctx, b, e, p);
	}
}

void s2s__parallel_parts(int n, int threads, int max_parts, s2s__part_fn fn, void *ctx)
{
	int parts = threads < max_parts ? threads : max_parts;
	if (parts > n)
		parts = n;
	if (parts <= 1) {
		if (n > 0)
			fn(ctx, 0, n, 0);
		return;
	}
	s2s__parts_job j = {.fn = fn, .ctx = ctx, .n = n, .parts = parts};
	s2s__parallel_for(parts, parts, run_part, &j);
}
