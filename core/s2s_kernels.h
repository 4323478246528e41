/*
 * s2s_kernels.h - the numeric building blocks of the inference core:
 * activations, recurrent cells, softmax, attention sums. The products
 * with weight matrices are wmat.h's.
 *
 * Conventions (after llama2.c): output first; a weight W of shape (n, k)
 * row-major maps an input row x (k) to W x (n), so a batch of m input rows
 * X (m, k) gives X W^T (m, n). All buffers are contiguous row-major floats
 * owned by the caller; nothing here allocates.
 *
 * Thread safety: pure functions; any thread may call them. OpenBLAS may use
 * its own threads inside one call (OPENBLAS_NUM_THREADS decides).
 */
#ifndef S2S_KERNELS_H
#define S2S_KERNELS_H

#include <stdint.h>

#include "s2s_config.h"

/* y (n) += x (n). */
void s2s__add(float *y, const float *x, int n);

/*
 * tanh to within 2 float ulp-ish (max abs error ~1e-7) as a rational
 * polynomial (the one Eigen uses), vectorisable, unlike libm's tanhf.
 */
void s2s__tanh_inplace(float *x, int n);
float s2s__tanh1(float x);
float s2s__sigmoid1(float x);
/* expf to ~1 ulp, branch-free (Cephes). */
float s2s__expf1(float x);

/*
 * One recurrent cell update for `rows` rows of hidden size `hid`.
 * gx (rows, G*hid) = x W_ih^T, gh (rows, G*hid) = h W_hh^T (no biases yet);
 * h (rows, hid) and, for LSTM, c (rows, hid) are updated in place with
 * exactly torch.nn.{RNN,GRU,LSTM}'s equations. gx and gh are clobbered.
 * Row i of gx is gx + i * gx_stride (so a packed time slice can be used).
 */
void s2s__cell(s2s_cell_kind kind, int rows, int hid, float *gx, int gx_stride, float *gh,
               const float *b_ih, const float *b_hh, float *h, float *c);

/*
 * s2s__cell with the rows split over up to `threads` threads (pool.h):
 * rows are independent, so the result is the same as one call's. c may be
 * NULL unless kind is LSTM.
 */
void s2s__cell_rows(int threads, s2s_cell_kind kind, int rows, int hid, float *gx, int gx_stride,
                    float *gh, const float *b_ih, const float *b_hh, float *h, float *c);

/* Dot product with a fixed summation order (8 partial sums). */
float s2s__dot(const float *a, const float *b, int n);
/* y (n) += a * x (n). */
void s2s__axpy(float *y, float a, const float *x, int n);
/* v . tanh(wq + k) over n entries; tmp holds n floats. */
float s2s__additive_score(const float *v, const float *wq, const float *k, int n, float *tmp);

/* Softmax of x (n) in place (n >= 1); the denominator is summed in double. */
void s2s__softmax_inplace(float *x, int n);

/*
 * Attention context c (K) = sum over j < n of alpha_j * mem_j (mem (n, K)),
 * summed blockwise with block sums in double so the error does not grow
 * with n. blk (K floats) and acc (K doubles) are scratch.
 */
void s2s__context(float *c, const float *alpha, const float *mem, int n, int K, float *blk,
                  double *acc);

/*
 * For one row of logits z (n): *max = max z, *lse = log(sum exp(z - max))
 * (summed in double),
 * so log_softmax(z)_w = (z_w - max) - lse, formed as PyTorch forms it.
 * Returns the arg-max (lowest index on ties).
 */
int s2s__logsoftmax_stats(const float *z, int n, float *max, float *lse);

#endif
