/* Typed ReLU loops shared by the ops that fuse a ReLU (see typed.h; no
 * include guard: included once per element type, from conv_kern.h and
 * batch_norm_kern.h).
 *   relu_inplace: y = max(0, y)
 *   relu_mask:    g = 0 where the ReLU's output y <= 0 (relu'(0) = 0), in
 *                 place: g is the output's temporary gradient, read by
 *                 nothing else, and what is left is what a separate ReLU's
 *                 backward would hand on. */
static inline void K(relu_inplace)(T *y, int64_t n)
{
    ED_PARALLEL_FOR_IF(n > 32768)
    for (int64_t i = 0; i < n; i++) y[i] = y[i] > 0 ? y[i] : (T)0;
}

static inline void K(relu_mask)(const T *y, T *g, int64_t n)
{
    ED_PARALLEL_FOR_IF(n > 32768)
    for (int64_t i = 0; i < n; i++) g[i] = y[i] > 0 ? g[i] : (T)0;
}
