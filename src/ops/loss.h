/* Shared by the loss ops (loss_ce.c, loss_regression.c, loss_dice.c).
 *
 * Each loss first writes one double per loss term (a target position, an
 * element, an (n, c) pair) into scratch memory, then ed__loss_output turns
 * that into the op's result: the terms themselves (reduction none) or their
 * sum, divided by a denominator for the mean. Sums run in fixed chunks added
 * in order, so a result does not depend on the thread count. */
#ifndef ED_OPS_LOSS_H
#define ED_OPS_LOSS_H

#include "core/ed_internal.h"

/* Terms per chunk of a deterministic sum. */
#define ED_LOSS_CHUNK 4096

/* args or PyTorch's defaults when args is NULL; checks the reduction. */
ed_status ed__loss_args(const ed_loss_args *args, const char *op, ed_loss_args *out);

/* Sum of v[0..n) in double: fixed chunks, partial sums added in order. */
double ed__loss_sum(const double *v, int64_t n);

/* "[1, 0, 3]": the multi-index of flat position i in shape (buf >= 96). */
const char *ed__loss_pos(int64_t i, int ndim, const int64_t *shape, char *buf);

/* Make the result: for ED_REDUCTION_NONE a tensor of `shape` holding v,
 * otherwise a 0-d tensor holding sum(v) / denom (denom 1 for sum). A
 * non-finite result is ED_E_NAN naming the first non-finite term. *out is
 * left NULL on failure. */
ed_status ed__loss_output(const char *op, ed_dtype dt, ed_reduction red, const double *v, int ndim,
                          const int64_t *shape, double denom, ed_tensor **out);

#endif
