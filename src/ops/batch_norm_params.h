/* The params a batch_norm backend kernel receives (ops/batch_norm.c
 * documents the tensors[] order). */
#ifndef ED_OPS_BATCH_NORM_PARAMS_H
#define ED_OPS_BATCH_NORM_PARAMS_H

#include <stdint.h>

typedef struct bn_params {
    int training;
    double momentum;
    double eps;
    int64_t N, C, S;   /* x viewed as (N, C, S) */
    int relu;          /* ed__batch_norm_relu: y = max(bn(x), 0); no backend kernel takes it */
} bn_params;

#endif
