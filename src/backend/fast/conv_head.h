/* The 1x1 few-output-channel conv2d kernel (conv_head.c). */
#ifndef ED_BACKEND_FAST_CONV_HEAD_H
#define ED_BACKEND_FAST_CONV_HEAD_H

#include <stdint.h>

/* Registers the kernels (once; src/backend/registry.c calls it). */
void ed__conv_head_register(void);
/* How many times a forward / backward kernel has run (tests check that
 * this kernel, not oneDNN or the reference, was taken). */
int64_t ed__conv_head_calls(int pass);

#endif
