/* Typed loops for adaptive_pool.c (see typed.h). One (n, c) plane per
 * iteration of the parallel loop. Window i of n over a dim of size L spans
 * [floor(i*L/n), ceil((i+1)*L/n)), PyTorch's start_index/end_index.
 * Dividing by the height, then the width, rounds as PyTorch's kernel does. */

static void K(adaptive_avg_fwd)(const T *x, T *y, int64_t planes, int64_t H, int64_t W, int64_t OH, int64_t OW)
{
    ED_PARALLEL_FOR
    for (int64_t p = 0; p < planes; p++) {
        const T *xp = x + p * H * W;
        for (int64_t oh = 0; oh < OH; oh++) {
            int64_t h0 = oh * H / OH, h1 = ((oh + 1) * H + OH - 1) / OH;
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t w0 = ow * W / OW, w1 = ((ow + 1) * W + OW - 1) / OW;
                T s = 0;
                for (int64_t ih = h0; ih < h1; ih++)
                    for (int64_t iw = w0; iw < w1; iw++) s += xp[ih * W + iw];
                y[(p * OH + oh) * OW + ow] = s / (T)(h1 - h0) / (T)(w1 - w0);
            }
        }
    }
}

static void K(adaptive_avg_bwd)(const T *gy, T *gx, int64_t planes, int64_t H, int64_t W, int64_t OH, int64_t OW)
{
    ED_PARALLEL_FOR
    for (int64_t p = 0; p < planes; p++) {
        T *gp = gx + p * H * W;
        for (int64_t oh = 0; oh < OH; oh++) {
            int64_t h0 = oh * H / OH, h1 = ((oh + 1) * H + OH - 1) / OH;
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t w0 = ow * W / OW, w1 = ((ow + 1) * W + OW - 1) / OW;
                T g = gy[(p * OH + oh) * OW + ow] / (T)(h1 - h0) / (T)(w1 - w0);
                for (int64_t ih = h0; ih < h1; ih++)
                    for (int64_t iw = w0; iw < w1; iw++) gp[ih * W + iw] += g;
            }
        }
    }
}
