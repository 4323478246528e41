/* decoder.h - placeholder, owned by its module author */
#ifndef S2S_DECODER_H
#define S2S_DECODER_H
#endif
