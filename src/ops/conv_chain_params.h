/* The chain of inference convolutions (ops/conv_chain.c documents the op
 * and the tensors[] its backend kernels get). */
#ifndef ED_OPS_CONV_CHAIN_PARAMS_H
#define ED_OPS_CONV_CHAIN_PARAMS_H

#include "core/ed_internal.h"

#define ED_CHAIN_MAX 32   /* convolutions per kernel call; longer chains run in pieces */

typedef struct ed__chain_params {
    int n;                    /* convolutions, 2..ED_CHAIN_MAX */
    int pad;                  /* every convolution: stride 1, padding pad, kernel 2 pad + 1 */
    int relu[ED_CHAIN_MAX];   /* a ReLU after convolution i */
} ed__chain_params;

#endif
