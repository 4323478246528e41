/* attention.h - placeholder, owned by its module author */
#ifndef S2S_ATTENTION_H
#define S2S_ATTENTION_H
#endif
