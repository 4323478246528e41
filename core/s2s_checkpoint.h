/*
 * s2s_checkpoint.h - a safetensors file (docs/checkpoint-format.md §1-2),
 * read whole into private anonymous memory and validated before anyone
 * sees it.
 *
 * s2s_checkpoint_open checks the whole container (header length, JSON,
 * dtypes, shapes, offsets in bounds, tensors tiling the data section with no
 * overlap, hole or trailing byte) and never reads outside its buffer,
 * whatever the file holds. Nothing it returns is backed by the file: the
 * file may be rewritten or truncated at any time after open. It knows nothing about
 * models: s2s_model checks names and shapes against the config.
 *
 * Thread safety: immutable after open; concurrent readers are fine.
 */
#ifndef S2S_CHECKPOINT_H
#define S2S_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "s2s_error.h"

typedef enum { S2S_DTYPE_F32, S2S_DTYPE_F16, S2S_DTYPE_BF16 } s2s_dtype;

#define S2S_MAX_RANK 4

typedef struct {
	const char *name; /* borrowed from the checkpoint */
	s2s_dtype dtype;
	int rank;
	int64_t shape[S2S_MAX_RANK];
	int64_t numel;
	const void *data; /* inside the checkpoint's read-only buffer; aligned to the dtype
	                     size; NULL after s2s_checkpoint_drop_data */
	size_t nbytes;
} s2s_tensor_info;

typedef struct s2s_checkpoint s2s_checkpoint;

/*
 * Reads `path` whole (one open, fstat, read; S2S_EIO if the file changes
 * meanwhile) and validates it. Caller owns *out; close with
 * s2s_checkpoint_close.
 */
int s2s_checkpoint_open(const char *path, s2s_checkpoint **out, s2s_error *err);
/* Same, for a caller-owned buffer that must outlive the checkpoint (tests, fuzzing). */
int s2s_checkpoint_open_buffer(const void *buf, size_t len, s2s_checkpoint **out, s2s_error *err);
void s2s_checkpoint_close(s2s_checkpoint *ck); /* NULL is a no-op */

int s2s_checkpoint_tensor_count(const s2s_checkpoint *ck);
/* i-th tensor in header order; borrowed, valid until close. */
const s2s_tensor_info *s2s_checkpoint_tensor_at(const s2s_checkpoint *ck, int i);
/* Tensor by name, or NULL. Borrowed, valid until close. */
const s2s_tensor_info *s2s_checkpoint_tensor(const s2s_checkpoint *ck, const char *name);
/* Metadata string by key, or NULL. Borrowed, valid until close. */
const char *s2s_checkpoint_meta(const s2s_checkpoint *ck, const char *key);
/* Whole file bytes (for checksums); NULL and 0 after s2s_checkpoint_drop_data. */
const void *s2s_checkpoint_bytes(const s2s_checkpoint *ck, size_t *len);
/*
 * Frees the file's bytes once nothing points into them (a model packs
 * every tensor into its own buffers at load), keeping names, shapes and metadata;
 * tensor data pointers become NULL. No effect on a caller's buffer. Not
 * thread-safe: call before sharing the checkpoint.
 */
void s2s_checkpoint_drop_data(s2s_checkpoint *ck);

#endif
