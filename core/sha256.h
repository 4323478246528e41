/* sha256.h - placeholder, owned by its module author */
#ifndef S2S_SHA256_H
#define S2S_SHA256_H
#endif
