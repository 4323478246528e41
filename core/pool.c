/* pool.c - see pool.h. */
#include "config.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "pool.h"

/* More helpers than this would not help a product of these sizes. */
#define S2S__POOL_MAX 63
/*
 * Parts per thread of a parallel_for: a few, so that a helper the kernel
 * has not scheduled yet (another process on its core) leaves its share to
 * whoever is running, instead of the caller waiting for it.
 */
#define S2S__PARTS_PER_THREAD 4
/*
 * How long a helper spins after a job before it sleeps. A decoder step
 * issues its products tens of microseconds apart, and a futex wake-up
 * costs about as much as a small product: spinning across that gap keeps
 * a step's products back to back, sleeping after it keeps an idle worker
 * at 0 % CPU.
 */
#define S2S__SPIN_NS 200000L

/*
 * Parts are claimed, not assigned: `claim` packs the job's generation (high
 * 32 bits), its number of parts (16) and the next unclaimed part (16), so
 * a compare-and-swap claims a part of this job only. A helper that wakes
 * late, after its job was done by others, cannot take a part of the next
 * one by mistake, and the caller never waits for a helper that has not
 * started: it waits only for parts someone claimed.
 */
typedef struct {
	pthread_mutex_t busy; /* held by the one caller that owns the helpers */
	pthread_mutex_t lock; /* guards sleepers and the condition */
	pthread_cond_t wake;
	int helpers; /* started so far; only grows (under busy) */
	_Atomic uint64_t claim;
	atomic_uint gen;  /* the last published generation (wake-ups) */
	atomic_int done;  /* parts of the current job finished */
	int sleepers;     /* under lock */
	/* The current job: written before claim is published, read by a
	 * helper only after it claimed a part (so the job is still running). */
	s2s__part_fn fn;
	void *ctx;
	int n;
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

void s2s__part_range(int n, int parts, int p, int *begin, int *end)
{
	*begin = (int)((long)n * p / parts);
	*end = (int)((long)n * (p + 1) / parts);
}

static uint64_t pack_claim(unsigned gen, int parts, int next)
{
	return (uint64_t)gen << 32 | (uint64_t)(unsigned)parts << 16 | (uint64_t)(unsigned)next;
}

/* Claims and runs parts of generation `gen` until none is left. */
static void run_parts(unsigned gen)
{
	uint64_t c = atomic_load_explicit(&pool.claim, memory_order_acquire);
	for (;;) {
		int parts = (int)(c >> 16 & 0xffff), next = (int)(c & 0xffff);
		if ((unsigned)(c >> 32) != gen || next >= parts)
			return;
		if (!atomic_compare_exchange_weak_explicit(&pool.claim, &c, c + 1,
		                                           memory_order_acq_rel,
		                                           memory_order_acquire))
			continue; /* c now holds the current value */
		int b, e;
		s2s__part_range(pool.n, parts, next, &b, &e);
		pool.fn(pool.ctx, b, e, next);
		atomic_fetch_add_explicit(&pool.done, 1, memory_order_release);
		c = atomic_load_explicit(&pool.claim, memory_order_acquire);
	}
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

static void *helper_main(void *arg)
{
	unsigned seen = (unsigned)(uintptr_t)arg;
	for (;;) {
		seen = wait_job(seen);
		run_parts(seen);
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
		/* A new helper waits for the job after the current generation. */
		void *seen = (void *)(uintptr_t)atomic_load(&pool.gen);
		int rc = pthread_create(&t, &attr, helper_main, seen);
		pthread_attr_destroy(&attr);
		if (rc != 0)
			break; /* fewer helpers: the caller claims what they would have */
		pool.helpers++;
	}
	return pool.helpers;
}

/* Runs fn over `parts` parts of [0, n) with up to threads - 1 helpers. */
static void run_job(int n, int parts, int threads, s2s__part_fn fn, void *ctx)
{
	if (parts <= 1 || threads <= 1 || pthread_mutex_trylock(&pool.busy) != 0) {
		for (int p = 0; p < parts; p++) {
			int b, e;
			s2s__part_range(n, parts, p, &b, &e);
			fn(ctx, b, e, p);
		}
		return;
	}
	ensure_helpers(threads - 1);
	pool.fn = fn;
	pool.ctx = ctx;
	pool.n = n;
	atomic_store_explicit(&pool.done, 0, memory_order_relaxed);
	unsigned gen = atomic_load_explicit(&pool.gen, memory_order_relaxed) + 1;
	atomic_store_explicit(&pool.claim, pack_claim(gen, parts, 0), memory_order_release);
	atomic_store_explicit(&pool.gen, gen, memory_order_release);
	pthread_mutex_lock(&pool.lock);
	if (pool.sleepers)
		pthread_cond_broadcast(&pool.wake);
	pthread_mutex_unlock(&pool.lock);

	run_parts(gen);
	/* Parts others claimed may still run; yield now and then, in case the
	 * claimer needs this core (under valgrind, or more threads than cores). */
	for (unsigned spins = 1;
	     atomic_load_explicit(&pool.done, memory_order_acquire) < parts; spins++) {
		cpu_relax();
		if ((spins & 1023) == 0)
			sched_yield();
	}
	pthread_mutex_unlock(&pool.busy);
}

/* Adapts a range function to a part one. */
typedef struct {
	s2s__range_fn fn;
	void *ctx;
} s2s__range_job;

static void run_range(void *ctx, int begin, int end, int part)
{
	(void)part;
	const s2s__range_job *j = ctx;
	j->fn(j->ctx, begin, end);
}

void s2s__parallel_for(int n, int threads, s2s__range_fn fn, void *ctx)
{
	if (n <= 0)
		return;
	if (threads <= 1 || n == 1) {
		fn(ctx, 0, n);
		return;
	}
	int parts = threads * S2S__PARTS_PER_THREAD;
	if (parts > n)
		parts = n;
	s2s__range_job j = {.fn = fn, .ctx = ctx};
	run_job(n, parts, threads, run_range, &j);
}

void s2s__parallel_parts(int n, int threads, int max_parts, s2s__part_fn fn, void *ctx)
{
	if (n <= 0)
		return;
	int parts = threads < max_parts ? threads : max_parts;
	if (parts > n)
		parts = n;
	if (parts < 1)
		parts = 1;
	run_job(n, parts, threads, fn, ctx);
}
