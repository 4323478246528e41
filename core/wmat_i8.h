/*
 * wmat_i8.h - the int8 weight matrices of wmat.h (type S2S__W_I8).
 *
 * Internal to the core: wmat.c calls these when a matrix is, or is to be
 * packed as, S2S__W_I8; nothing else should. The layout, the quantisation
 * rules and the kernels are described at the top of wmat_i8.c.
 *
 * Thread safety: as wmat.h (packing writes only its destination; products
 * and rows only read the matrix and may run on many threads at once). The
 * kernel choice is made once per process, on first use, and is thread-safe.
 */
#ifndef S2S_WMAT_I8_H
#define S2S_WMAT_I8_H

#include <stddef.h>
#include <stdint.h>

#include "s2s_checkpoint.h"
#include "wmat.h"

/*
 * The largest k an int8 matrix may have: the int32 dot products cannot
 * overflow below it (65536 * 127 * 127 < 2^31), and one quantised
 * activation row always fits the product's fixed buffer. A caller with a
 * wider matrix keeps it in a float type (packing a wider one is a
 * programmer error and asserts).
 */
#define S2S__I8_MAX_K 65536

/* Bytes of packed storage for an (n, k) int8 matrix, scales included
 * (a multiple of 64). n >= 1, 1 <= k <= S2S__I8_MAX_K. */
size_t s2s__i8_bytes(int n, int k);

/*
 * Quantises the row-major (n, k) matrix src (F32, F16 or BF16 elements,
 * little-endian, as in a checkpoint) into dst (s2s__i8_bytes(n, k) bytes,
 * 64-byte aligned) and fills *w (type, n, k, panels, scales). dst need not
 * be zeroed: every byte, padding included, is written. Returns 0, or -1
 * with *bad_index = the row-major index of the first element that is not
 * finite (dst is then unspecified).
 */
int s2s__i8_pack(s2s__wmat *w, void *dst, const void *src, s2s_dtype src_dtype, int n, int k,
                 int64_t *bad_index);

/* Row r (0 <= r < n) dequantised into out (k floats): q * scale. */
void s2s__i8_row(const s2s__wmat *w, int r, float *out);

/*
 * c (m, n) = a (m, k) . W^T + beta * c (beta 0 or 1; c initialised when
 * beta is 1), each row of a quantised on the fly with its own scale, so a
 * row's result depends on that row alone, bit for bit, whatever m, the
 * threads (s2s__kernel_threads()) and the instruction set used. m >= 0.
 * A row of a holding a NaN or an infinity gives a row of NaN.
 */
void s2s__i8_matmul(float *c, const float *a, const s2s__wmat *w, int m, float beta);

/*
 * The kernel this process uses: "scalar", "avx2" or "vnni". Chosen on first
 * use from the CPU; S2S_I8_ISA=scalar|avx2|vnni in the environment forces
 * one the CPU has (one it lacks is ignored). For tests and diagnostics.
 */
const char *s2s__i8_isa(void);

#endif
