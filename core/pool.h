/*
 * pool.h - the core's own helper threads, for splitting one product.
 *
 * The packed products (wmat.h) replace OpenBLAS's calls, and with them its
 * threads; this is the small replacement. One process-wide set of helper
 * threads is started on first use and lives until exit. A caller hands it
 * a range [0, n), cut into parts that depend only on n and the thread
 * count (so results never depend on timing); the caller and the helpers
 * claim parts until none is left, so a helper that another process keeps
 * off its core leaves its share to the others instead of stalling the
 * caller. Helpers spin briefly after a job and then sleep, so a worker that
 * stops translating costs no CPU.
 *
 * One caller at a time uses the helpers: another thread that calls while
 * they are busy (the daemon's other workers) runs its whole range itself
 * rather than wait, which is what a worker pinned to one core wants anyway.
 *
 * Thread safety: s2s__parallel_for may be called from any thread.
 */
#ifndef S2S_POOL_H
#define S2S_POOL_H

/* Runs fn(ctx, begin, end) on disjoint contiguous ranges covering [0, n). */
typedef void (*s2s__range_fn)(void *ctx, int begin, int end);

/*
 * Runs fn over [0, n) in parts (a few per thread) on up to `threads`
 * threads, the caller included; returns when all are done. threads <= 1
 * or n <= 1 runs fn(ctx, 0, n) inline.
 */
void s2s__parallel_for(int n, int threads, s2s__range_fn fn, void *ctx);

/*
 * For work that needs scratch per part: fn(ctx, begin, end, part) with
 * part in [0, parts) and parts = min(threads, n, max_parts); the caller
 * sizes its scratch for max_parts. Same cut and guarantees as above.
 */
typedef void (*s2s__part_fn)(void *ctx, int begin, int end, int part);
void s2s__parallel_parts(int n, int threads, int max_parts, s2s__part_fn fn, void *ctx);

/* The cut both use: part p of [0, n) in `parts` parts is [*begin, *end). */
void s2s__part_range(int n, int parts, int p, int *begin, int *end);

#endif
