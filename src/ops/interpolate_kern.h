/* Typed loops for interpolate.c (see typed.h). Source indices and weights
 * are tabulated once per dim, then each (n, c) plane is one iteration of
 * the parallel loop. */

/* a*b + c rounded once, as PyTorch's compiled kernels compute the source
 * coordinate and the backward accumulation (contracted to FMA); matching it
 * makes the weights and the input gradient bit-identical to torch's. */
#define K_FMA(a, b, c) (sizeof(T) == sizeof(float) ? (T)fmaf((float)(a), (float)(b), (float)(c)) \
                                                   : (T)fma((double)(a), (double)(b), (double)(c)))

/* Bilinear taps along one dim: out position o reads i0[o] and i1[o] with
 * weights l0[o], l1[o]. Arithmetic in T, as PyTorch's opmath for float and
 * double. out == in copies (PyTorch checks that before any scale, so a
 * scale_factor that rounds back to the input size is the identity). */
static void K(linear_taps)(int64_t in, int64_t out, int align_corners, double scale_factor,
                           int64_t *i0, int64_t *i1, T *l0, T *l1)
{
    T scale;
    if (align_corners) scale = out > 1 ? (T)(in - 1) / (T)(out - 1) : (T)0;
    else scale = scale_factor > 0 ? (T)(1.0 / scale_factor) : (T)in / (T)out;
    for (int64_t o = 0; o < out; o++) {
        if (out == in) { i0[o] = i1[o] = o; l0[o] = 1; l1[o] = 0; continue; }
        T real = align_corners ? scale * (T)o : K_FMA(scale, (T)o + (T)0.5, (T)-0.5);
        if (!align_corners && real < 0) real = 0;
        int64_t i = (int64_t)floorf((float)real);   /* floorf even for double, as PyTorch */
        if (i > in - 1) i = in - 1;
        T lam = real - (T)i;
        lam = lam < 0 ? (T)0 : lam > 1 ? (T)1 : lam;
        i0[o] = i;
        i1[o] = i + (i < in - 1 ? 1 : 0);
        l0[o] = (T)1 - lam;
        l1[o] = lam;
    }
}

/* Scratch layout for bilinear: i0h i1h i0w i1w (int64), then l0h l1h l0w
 * l1w (T). */
static size_t K(bilinear_scratch_bytes)(int64_t OH, int64_t OW)
{
    return (size_t)(OH + OW) * 2 * (sizeof(int64_t) + sizeof(T));
}

static void K(bilinear)(int backward, const T *src, T *dst, int64_t planes, int64_t H, int64_t W,
                        int64_t OH, int64_t OW, int align_corners, const double *sf, void *scratch)
{
    int64_t *i0h = scratch, *i1h = i0h + OH, *i0w = i1h + OH, *i1w = i0w + OW;
    T *l0h = (T *)(i1w + OW), *l1h = l0h + OH, *l0w = l1h + OH, *l1w = l0w + OW;
    K(linear_taps)(H, OH, align_corners, sf[0], i0h, i1h, l0h, l1h);
    K(linear_taps)(W, OW, align_corners, sf[1], i0w, i1w, l0w, l1w);
    ED_PARALLEL_FOR
    for (int64_t p = 0; p < planes; p++) {
        for (int64_t oh = 0; oh < OH; oh++) {
            int64_t r0 = i0h[oh] * W, r1 = i1h[oh] * W;
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t c0 = i0w[ow], c1 = i1w[ow], o = (p * OH + oh) * OW + ow;
                if (!backward) {
                    const T *x = src + p * H * W;
                    dst[o] = l0h[oh] * (l0w[ow] * x[r0 + c0] + l1w[ow] * x[r0 + c1]) +
                             l1h[oh] * (l0w[ow] * x[r1 + c0] + l1w[ow] * x[r1 + c1]);
                } else {
                    T *gx = dst + p * H * W, g = src[o];
                    gx[r0 + c0] = K_FMA(l0h[oh] * l0w[ow], g, gx[r0 + c0]);
                    gx[r0 + c1] = K_FMA(l0h[oh] * l1w[ow], g, gx[r0 + c1]);
                    gx[r1 + c0] = K_FMA(l1h[oh] * l0w[ow], g, gx[r1 + c0]);
                    gx[r1 + c1] = K_FMA(l1h[oh] * l1w[ow], g, gx[r1 + c1]);
                }
            }
        }
    }
}

/* Nearest: ih, iw are the source rows/columns (nearest_src). Forward
 * copies; backward adds each gy into its source. */
static void K(nearest)(int backward, const T *src, T *dst, int64_t planes, int64_t H, int64_t W,
                       int64_t OH, int64_t OW, const int64_t *ih, const int64_t *iw)
{
    ED_PARALLEL_FOR
    for (int64_t p = 0; p < planes; p++)
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t o = (p * OH + oh) * OW + ow, i = p * H * W + ih[oh] * W + iw[ow];
                if (!backward) dst[o] = src[i];
                else dst[i] += src[o];
            }
}

#undef K_FMA
