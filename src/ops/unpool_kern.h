/* Typed loops for unpool.c (see typed.h). One (n, c) plane per iteration
 * of the parallel loop; indices were checked to lie in [0, OHW) before. */

/* y is zero-filled; within a plane later inputs overwrite earlier ones at
 * a repeated index, as PyTorch's serial loop does. */
static void K(unpool_fwd)(const T *x, const int64_t *ind, T *y, int64_t planes, int64_t HW, int64_t OHW)
{
    ED_PARALLEL_FOR
    for (int64_t p = 0; p < planes; p++)
        for (int64_t i = 0; i < HW; i++) {
            int64_t j = ind[p * HW + i];
            if (j >= 0 && j < OHW) y[p * OHW + j] = x[p * HW + i];
        }
}

/* gx += gy gathered at the indices (every input that pointed at an output
 * gets its gradient, even one overwritten in the forward, as PyTorch). */
static void K(unpool_bwd)(const T *gy, const int64_t *ind, T *gx, int64_t planes, int64_t HW, int64_t OHW)
{
    ED_PARALLEL_FOR
    for (int64_t p = 0; p < planes; p++)
        for (int64_t i = 0; i < HW; i++) {
            int64_t j = ind[p * HW + i];
            if (j >= 0 && j < OHW) gx[p * HW + i] += gy[p * OHW + j];
        }
}
