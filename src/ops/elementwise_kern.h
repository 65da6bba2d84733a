/* Typed loops for elementwise.c (see typed.h). */

static void K(binary_same)(int op, const T *a, const T *b, T *y, int64_t n)
{
    if (op == 0) { ED_PARALLEL_FOR_IF(n > 32768) for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i]; }
    else if (op == 1) { ED_PARALLEL_FOR_IF(n > 32768) for (int64_t i = 0; i < n; i++) y[i] = a[i] - b[i]; }
    else { ED_PARALLEL_FOR_IF(n > 32768) for (int64_t i = 0; i < n; i++) y[i] = a[i] * b[i]; }
}

/* Backward of a same-shape binary op for operand k: g += d(y)/d(operand k) * gy. */
static void K(binary_same_bwd)(int op, int k, const T *gy, const T *other, T *g, int64_t n)
{
    if (op == 2) { ED_PARALLEL_FOR_IF(n > 32768) for (int64_t i = 0; i < n; i++) g[i] += gy[i] * other[i]; }
    else if (op == 1 && k == 1) { ED_PARALLEL_FOR_IF(n > 32768) for (int64_t i = 0; i < n; i++) g[i] -= gy[i]; }
    else { ED_PARALLEL_FOR_IF(n > 32768) for (int64_t i = 0; i < n; i++) g[i] += gy[i]; }
}

static void K(unary_fwd)(int op, double alpha, const T *x, T *y, int64_t n)
{
    ED_PARALLEL_FOR_IF(n > 32768)
    for (int64_t i = 0; i < n; i++) {
        T v = x[i];
        switch (op) {
        case UN_RELU: y[i] = v > 0 ? v : (T)0; break;
        case UN_LEAKY: y[i] = v > 0 ? v : (T)(v * (T)alpha); break;
        case UN_SIGMOID: y[i] = (T)(1 / (1 + exp(-(double)v))); break;
        case UN_TANH: y[i] = (T)tanh((double)v); break;
        default: y[i] = (T)(v * (T)alpha); break;   /* UN_SCALE */
        }
    }
}

/* gx += gy * f'(x), using y where that is simpler (sigmoid, tanh). */
static void K(unary_bwd)(int op, double alpha, const T *x, const T *y, const T *gy, T *gx, int64_t n)
{
    ED_PARALLEL_FOR_IF(n > 32768)
    for (int64_t i = 0; i < n; i++) {
        switch (op) {
        case UN_RELU: gx[i] += x[i] > 0 ? gy[i] : (T)0; break;
        case UN_LEAKY: gx[i] += x[i] > 0 ? gy[i] : (T)(gy[i] * (T)alpha); break;
        case UN_SIGMOID: gx[i] += gy[i] * y[i] * (1 - y[i]); break;
        case UN_TANH: gx[i] += gy[i] * (1 - y[i] * y[i]); break;
        default: gx[i] += (T)(gy[i] * (T)alpha); break;
        }
    }
}
