/*
 * anon.h - big, long-lived buffers in their own anonymous mappings.
 *
 * Weights (the checkpoint's bytes while loading, then the packed matrices and F32 vectors) are the only
 * large allocations of the core and live exactly as long as a model. They
 * get their own private anonymous mapping rather than malloc: munmap hands
 * the memory back to the kernel at once, whereas glibc raises its dynamic
 * mmap threshold after a large mmapped chunk is freed, so the next model's
 * buffers come from the heap and a daemon that reloads grows until the
 * arenas happen to shrink (measured: 47 -> 171 MB after 100 reloads).
 *
 * Thread safety: both functions may be called from any thread.
 */
#ifndef S2S_ANON_H
#define S2S_ANON_H

#include <stddef.h>

/* n bytes of zeroed, writable memory, or NULL (also for n == 0). Free with s2s__anon_free. */
void *s2s__anon_alloc(size_t n);
/* Makes a buffer from s2s__anon_alloc read-only (the weights are immutable). */
void s2s__anon_seal(void *p, size_t n);
/* Returns the memory to the kernel; NULL is a no-op. n must be the allocated size. */
void s2s__anon_free(void *p, size_t n);

#endif
