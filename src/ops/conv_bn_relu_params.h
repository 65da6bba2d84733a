/* The params a conv_bn_relu backend kernel receives (ops/conv_bn_relu.c
 * documents the tensors[] order). */
#ifndef ED_OPS_CONV_BN_RELU_PARAMS_H
#define ED_OPS_CONV_BN_RELU_PARAMS_H

#include "ops/conv_common.h"

typedef struct ed__cbr_params {
    ed__conv_params conv;   /* stride 1, padding, groups 1; gx_overwrite in backward */
    double momentum, eps;   /* the BatchNorm's, training mode */
    int defer;              /* forward: z stays unwritten (only zcopy is), the op marks it deferred */
    int materialise;        /* forward: only write z from ysave and stats (x, w, running stats untouched) */
    int gg_overwrite, gbe_overwrite;   /* backward: store the gamma / beta gradients (conv.gw_overwrite: weight, bias) */
} ed__cbr_params;

#endif
