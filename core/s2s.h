/*
 * s2s.h - libs2s, the seq2seqd inference core, in one include.
 *
 * libs2s loads a Seq2Seq-with-attention checkpoint trained in PyTorch
 * (docs/checkpoint-format.md) and translates with it exactly as the PyTorch
 * reference module would. It has no HTTP and no event loop; it reads JSON
 * only for checkpoint headers.
 *
 *   s2s_model *m;                         // s2s_model.h: load, share, unref
 *   s2s_model_open(path, &m, &err);
 *   s2s_tokens tok;                       // s2s_tokenizer.h: text -> ids
 *   s2s_tokenize(s2s_model_src_tokenizer(m), s2s_model_src_vocab(m), text, len, &tok, &err);
 *   s2s_result *r;                        // s2s_decode.h: greedy / beam, batched
 *   s2s_translate_ids(m, (const int32_t *const[]){tok.ids}, &tok.n, 1, &opts, &r, &err);
 *
 * Errors: every call returns a negative S2S_E* code (s2s_error.h) and fills
 * an optional s2s_error with a sentence naming what was wrong.
 */
#ifndef S2S_H
#define S2S_H

#include "s2s_checkpoint.h"
#include "s2s_config.h"
#include "s2s_decode.h"
#include "s2s_error.h"
#include "s2s_kernels.h"
#include "s2s_model.h"
#include "s2s_tokenizer.h"
#include "s2s_vocab.h"

#endif
