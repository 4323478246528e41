/* s2s_kernels.h - placeholder, owned by its module author */
#ifndef S2S_S2S_KERNELS_H
#define S2S_S2S_KERNELS_H
#endif
