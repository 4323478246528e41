/* encoder.h - placeholder, owned by its module author */
#ifndef S2S_ENCODER_H
#define S2S_ENCODER_H
#endif
