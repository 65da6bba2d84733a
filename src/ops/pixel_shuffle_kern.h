/* Typed loop for pixel_shuffle.c (see typed.h). x is (B, C*r*r, H, W) and
 * y is (B, C, H*r, W*r) with B*C = planes:
 *   y[b, c, h*r + i, w*r + j] = x[b, c*r*r + i*r + j, h, w].
 * Forward copies x into y; backward adds gy back into gx. One output plane
 * per iteration of the parallel loop. */
static void K(pixel_shuffle)(int backward, T *x, T *y, int64_t planes, int64_t H, int64_t W, int64_t r)
{
    ED_PARALLEL_FOR
    for (int64_t p = 0; p < planes; p++) {
        T *xp = x + p * r * r * H * W, *yp = y + p * H * r * W * r;
        for (int64_t i = 0; i < r; i++)
            for (int64_t j = 0; j < r; j++) {
                T *xc = xp + (i * r + j) * H * W;
                for (int64_t h = 0; h < H; h++)
                    for (int64_t w = 0; w < W; w++) {
                        T *yv = yp + (h * r + i) * W * r + w * r + j, *xv = xc + h * W + w;
                        if (backward) *xv += *yv;
                        else *yv = *xv;
                    }
            }
    }
}
