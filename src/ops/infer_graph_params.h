/* The inference graph (ops/infer_graph.c documents the op): what its
 * backend kernels get. */
#ifndef ED_OPS_INFER_GRAPH_PARAMS_H
#define ED_OPS_INFER_GRAPH_PARAMS_H

#include "core/ed_internal.h"

#define ED_GRAPH_MAX 512   /* steps; longer graphs run step by step */

typedef struct ed__graph_params {
    int n;                          /* steps */
    const ed__gstep *steps;
    const int64_t (*shape)[4];      /* shape[v]: value v (0 = x, n = y), checked */
    const int *last_use;            /* last_use[v]: the last step reading value v */
} ed__graph_params;

#endif
