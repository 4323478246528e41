/*
 * toy_model.h - a hand-built s2s_model with random weights, for tests of
 * the inference core that must not depend on the checkpoint loader.
 */
#ifndef S2S_TOY_MODEL_H
#define S2S_TOY_MODEL_H

#include "model_internal.h"

/* Builds a model for `cfg` (dims filled by the caller) with uniform(-scale, scale) weights. */
s2s_model *toy_model_new(const s2s_config *cfg, unsigned seed, float scale);
/* Frees what toy_model_new made (the test keeps the last reference). */
void toy_model_free(s2s_model *m);

/* A small default config: lstm, additive, luong + input feed, bidirectional. */
s2s_config toy_config(void);

#endif
