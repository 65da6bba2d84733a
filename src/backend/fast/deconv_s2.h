/* The stride == kernel transposed-convolution kernel (deconv_s2.c). */
#ifndef ED_BACKEND_FAST_DECONV_S2_H
#define ED_BACKEND_FAST_DECONV_S2_H

#include <stdint.h>

/* Registers the kernels (once; src/backend/registry.c calls it). */
void ed__deconv_s2_register(void);
/* How many times a forward / backward kernel has run (tests check that the
 * fast path, not oneDNN or the reference, was taken). */
int64_t ed__deconv_s2_calls(int pass);

#endif
