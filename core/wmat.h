/*
 * wmat.h - weight matrices packed once at load, and the products with them.
 *
 * Every two-dimensional weight of a model (embeddings included) is held as
 * an s2s__wmat: its rows regrouped into panels that the micro-kernels read
 * front to back, in the element type the checkpoint stored (F32, F16 and
 * BF16 are used in place and converted in registers) or, when asked for at
 * load, quantised to int8 with one scale per row. OpenBLAS re-packed every
 * weight matrix on every call; these never change, so they are packed once.
 *
 * Layout of the float types (F32, F16, BF16): ceil(n / 16) panels; panel p
 * holds rows 16p .. 16p+15 as k groups of 16 elements, so element (r, kk)
 * is at panels[(r / 16) * 16 * k + kk * 16 + r % 16]. Rows past n are
 * zero. The I8 layout is private to wmat_i8.c (see there).
 *
 * Numerics: every output c[i][j] is one sequential chain of fused
 * multiply-adds over kk = 0 .. k-1 from zero (then beta * c + sum),
 * whatever m is, whichever rows share the call and however many threads
 * run it: a row's result does not depend on its batch, bit for bit. The
 * baseline x86-64 path (no FMA) runs the same chain with separate
 * multiply and add; a process uses one path for all calls.
 *
 * Ownership: an s2s__wmat does not own its storage; the model allocates
 * s2s__wmat_bytes() of anonymous memory per matrix, packs into it and
 * frees it when the model goes. Thread safety: packing writes only its
 * destination; the products read the matrix and may run on several
 * threads at once (see s2s__kernel_threads).
 */
#ifndef S2S_WMAT_H
#define S2S_WMAT_H

#include <stddef.h>
#include <stdint.h>

#include "s2s_checkpoint.h"

typedef enum {
	S2S__W_F32 = 0,
	S2S__W_F16,
	S2S__W_BF16,
	S2S__W_I8, /* symmetric, per-row scale; see wmat_i8.c */
} s2s__wtype;

#define S2S__WMAT_NR 16 /* rows per panel of the float layouts */

typedef struct {
	int n, k;            /* the matrix is (n, k): it maps x (k) to W x (n) */
	s2s__wtype type;
	const void *panels;  /* the packed storage, s2s__wmat_bytes(type, n, k) bytes */
	const float *scales; /* I8: n per-row scales inside the storage; else NULL */
} s2s__wmat;

/* Bytes of packed storage for an (n, k) matrix of `type` (a multiple of 64). */
size_t s2s__wmat_bytes(s2s__wtype type, int n, int k);

/*
 * Packs the row-major (n, k) matrix `src`, whose elements are `src_dtype`
 * (F32, F16 or BF16), into `dst` (s2s__wmat_bytes(type, n, k) bytes,
 * 64-byte aligned, zeroed) as `type`, and fills *w to describe it.
 * F32/F16/BF16 from the same dtype copy the bits; F16/BF16 to F32 widens
 * exactly; I8 quantises (row scale = max |w| / 127, rounded to nearest).
 * Returns 0, or -1 with *bad_index = the first element (row-major index)
 * that is not finite (nothing else can fail).
 */
int s2s__wmat_pack(s2s__wmat *w, void *dst, s2s__wtype type, const void *src,
                   s2s_dtype src_dtype, int n, int k, int64_t *bad_index);

/* Row r of W as floats into out (k); for I8 the dequantised row. */
void s2s__wmat_row(const s2s__wmat *w, int r, float *out);

/*
 * c (m, n) = a (m, k) . W^T + beta * c, beta 0 or 1 (c must be initialised
 * when beta is 1). a and c are row-major with row strides k and n.
 * I8: each row of a is quantised on the fly with its own scale (see
 * wmat_i8.c), so the result depends on the row alone, as above.
 */
void s2s__matmul_w(float *c, const float *a, const s2s__wmat *w, int m, float beta);

/*
 * Threads the products use: OpenBLAS's setting (openblas_set_num_threads,
 * OPENBLAS_NUM_THREADS), so the daemon's blas_threads and every existing
 * knob keep their meaning. Work is split by panels; a call that finds the
 * helper threads busy with another caller runs alone.
 */
int s2s__kernel_threads(void);

/* The float kernels in use: "avx2" (AVX2+FMA+F16C) or "generic" (forced by S2S_KERNELS=generic). */
const char *s2s__wmat_isa(void);

#endif
