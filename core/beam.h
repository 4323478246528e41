/* beam.h - placeholder, owned by its module author */
#ifndef S2S_BEAM_H
#define S2S_BEAM_H
#endif
