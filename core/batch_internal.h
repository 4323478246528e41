/*
 * batch_internal.h - test hooks into s2s_batch (not for the daemon).
 */
#ifndef S2S_BATCH_INTERNAL_H
#define S2S_BATCH_INTERNAL_H

#include "s2s_decode.h"

/*
 * Called after every decoder step for every live row, before selection:
 * `user` is the sentence's user pointer, `step` 0-based, `live_index` the
 * row's hypothesis index within its sentence, `logits` (V) borrowed for the
 * call only.
 */
typedef void (*s2s__logits_hook)(void *ctx, void *user, int step, int live_index,
                                 const float *logits, int V);

void s2s__batch_set_logits_hook(s2s_batch *b, s2s__logits_hook fn, void *ctx);

#endif
