/* cat: join n >= 1 tensors along dim (negative counts from the end).
 *   All inputs have the same dtype and ndim >= 1 and equal sizes in every dim
 *   but dim; the output's size in dim is the sum of theirs. Inputs with 0
 *   in dim are fine. As torch, a 1-D tensor of shape (0,) is skipped
 *   whatever the others' shapes (its legacy "empty" meaning); if every input
 *   is one, the result has shape (0,).
 *   Any dtype is copied; gradients flow for float32/float64 inputs.
 *   Backward: each input's gradient += its slice of the output's gradient
 *   (stored when it is the first to reach a non-leaf input); a 4-D float32
 *   cat along channels takes that gradient in a fused conv_bn_relu's layout
 *   too (ed_tensor.nhwc). */
#include "core/ed_internal.h"
#include "encdec/precision.h"
#include "ops/conv_common.h"

typedef struct { int dim; } cat_ctx;

static bool legacy_empty(const ed_tensor *t) { return t->ndim == 1 && t->shape[0] == 0; }

/* The output viewed as (outer, total, inner) with total the size in dim;
 * input k occupies columns [off, off + size_k) of each outer row. */
static void geometry(const ed_tensor *y, int dim, int64_t *outer, int64_t *inner)
{
    *outer = 1;
    *inner = 1;
    for (int d = 0; d < dim; d++) *outer *= y->shape[d];
    for (int d = dim + 1; d < y->ndim; d++) *inner *= y->shape[d];
}

static void copy_slices(char *dst, int64_t dst_row, const char *src, int64_t src_row, int64_t outer, size_t bytes)
{
    ED_PARALLEL_FOR_IF(outer * (int64_t)bytes > 262144 && outer > 1)
    for (int64_t o = 0; o < outer; o++) memcpy(dst + o * dst_row, src + o * src_row, bytes);
}

static ed_status cat_backward(ed_node *n)
{
    const cat_ctx *c = n->ctx;
    const ed_tensor *y = n->out, *gy = y->grad;
    int64_t outer, inner, off = 0;
    geometry(y, c->dim, &outer, &inner);
    const int64_t total = y->shape[c->dim];
    for (int k = 0; k < n->n_in; k++) {
        const ed_tensor *x = n->in[k];
        if (legacy_empty(x)) continue;
        const int64_t sz = x->shape[c->dim];
        ed_tensor *gx;
        int ow = 0;
        ED_TRY(ed__grad_of_overwrite(n, k, &gx, &ow));
        if (gx && gy->nhwc) {
            /* A fused conv_bn_relu backward left gy in its layout (the node
             * takes that: 4-D float32 along channels). */
            ed__grad_channels(gy, off, sz, ed__f32(gx), !ow);
        } else if (gx) {
            const int64_t w = sz * inner;
            ED_PARALLEL_FOR_IF(outer * w > 32768)
            for (int64_t o = 0; o < outer; o++) {
                const int64_t so = o * total * inner + off * inner, dx = o * w;
                if (gx->dtype == ED_F64) {
                    const double *g = ed__cf64(gy) + so;
                    double *d = ed__f64(gx) + dx;
                    if (ow) memcpy(d, g, sizeof(double) * (size_t)w);
                    else for (int64_t i = 0; i < w; i++) d[i] += g[i];
                } else {
                    const float *g = ed__cf32(gy) + so;
                    float *d = ed__f32(gx) + dx;
                    if (ow) memcpy(d, g, sizeof(float) * (size_t)w);
                    else for (int64_t i = 0; i < w; i++) d[i] += g[i];
                }
            }
        }
        off += sz;
    }
    return ED_OK;
}

/* y = the inputs joined along dim (shapes checked). */
static void write_cat(ed_tensor *y, const ed_tensor *const *xs, int n, int dim)
{
    int64_t outer, inner, off = 0;
    geometry(y, dim, &outer, &inner);
    const size_t es = ed_dtype_size(y->dtype);
    for (int k = 0; k < n && y->numel > 0; k++) {
        const ed_tensor *x = xs[k];
        if (legacy_empty(x)) continue;
        const int64_t sz = x->shape[dim];
        if (sz > 0)
            copy_slices((char *)y->data + (size_t)(off * inner) * es, (int64_t)((size_t)(y->shape[dim] * inner) * es),
                        (const char *)x->data, (int64_t)((size_t)(sz * inner) * es), outer, (size_t)(sz * inner) * es);
        off += sz;
    }
}

ed_status ed_cat(const ed_tensor *const *xs, int n, int dim, ed_tensor **out)
{
    if (!out) return ed__err(ED_E_ARG, "cat: out is NULL");
    *out = NULL;
    if (!xs || n < 1) return ed__err(ED_E_ARG, "cat: expected a non-empty list of tensors, got %d", n);
    const ed_tensor *ref = NULL;   /* the first input that is not a legacy (0,) */
    for (int k = 0; k < n; k++) {
        if (!xs[k]) return ed__err(ED_E_ARG, "cat: tensor %d is NULL", k);
        ED_TRY(ed__materialise(xs[k]));
        if (xs[k]->ndim == 0) return ed__err(ED_E_SHAPE, "cat: zero-dimensional tensor (at position %d) cannot be concatenated", k);
        if (xs[k]->dtype != xs[0]->dtype)
            return ed__err(ED_E_DTYPE, "cat: all tensors must have the same dtype: tensor 0 is %s, tensor %d is %s",
                           ed_dtype_name(xs[0]->dtype), k, ed_dtype_name(xs[k]->dtype));
        if (!ref && !legacy_empty(xs[k])) ref = xs[k];
    }
    if (!ref) { ref = xs[0]; dim = 0; }   /* all (0,): torch returns (0,) whatever dim is */
    const int nd = ref->ndim;
    if (dim < -nd || dim >= nd)
        return ed__err(ED_E_RANGE, "cat: dimension out of range (expected to be in range of [%d, %d], but got %d)",
                       -nd, nd - 1, dim);
    if (dim < 0) dim += nd;
    int64_t shape[ED_MAX_DIMS];
    memcpy(shape, ref->shape, sizeof shape);
    shape[dim] = 0;
    for (int k = 0; k < n; k++) {
        const ed_tensor *x = xs[k];
        if (legacy_empty(x)) continue;
        char s1[ED_SHAPE_BUF], s2[ED_SHAPE_BUF];
        if (x->ndim != nd)
            return ed__err(ED_E_SHAPE, "cat: tensors must have the same number of dimensions: got %s and %s (tensor %d)",
                           ed__shape_str(ref, s1), ed__shape_str(x, s2), k);
        for (int d = 0; d < nd; d++)
            if (d != dim && x->shape[d] != ref->shape[d])
                return ed__err(ED_E_SHAPE, "cat: sizes of tensors must match except in dimension %d: expected size %lld but got "
                               "size %lld in dimension %d for tensor %d (shapes %s and %s)", dim,
                               (long long)ref->shape[d], (long long)x->shape[d], d, k, ed__shape_str(ref, s1),
                               ed__shape_str(x, s2));
        shape[dim] += x->shape[dim];
    }
    ed_tensor *y;
    ED_TRY(ed__alloc(ref->dtype, nd, shape, &y));
    write_cat(y, xs, n, dim);
    cat_ctx c = { dim };
    ed_node *node;
    ed_status st = ed__record(y, "cat", cat_backward, n, xs, &c, sizeof c, &node);
    if (st != ED_OK) { ed_tensor_free(y); return st; }
    /* Along channels, a fused conv_bn_relu consumer may hand the gradient
     * back in its own layout, saving it a pass to NCHW (cat_backward). */
    if (node && y->dtype == ED_F32 && nd == 4 && dim == 1) node->takes_nhwc_grad = 1;
    *out = y;
    return ED_OK;
}

/* ---- ed__cat_feed ------------------------------------------------------------
 * The backend kernel (ED_OP_CAT_FEED, backend/onednn/cat_feed.c) gets
 * params = ed__cat_feed_params and tensors {x_0 .. x_{n-1}, y, copy}: it
 * writes the copy (a uint8 holder of ed__conv_keep_bytes(y), ops/
 * conv_common.h) in the layout the next fused block's convolution takes,
 * and not y. y is then deferred: cat_materialise writes it from the inputs,
 * which the node keeps. */

static ed_status cat_materialise(ed_node *n)
{
    write_cat(n->out, (const ed_tensor *const *)n->in, n->n_in, ((const cat_ctx *)n->ctx)->dim);
    return ED_OK;
}

ed_status ed__cat_feed(const ed_tensor *const *xs, int n, ed_tensor **out)
{
    bool plain = out && xs && n >= 1 && n <= ED_CAT_FEED_MAX && ed_grad_enabled();
    for (int k = 0; plain && k < n; k++)
        plain = xs[k] && xs[k]->dtype == ED_F32 && xs[k]->ndim == 4 && xs[k]->shape[0] == xs[0]->shape[0] &&
                xs[k]->shape[2] == xs[0]->shape[2] && xs[k]->shape[3] == xs[0]->shape[3] && xs[k]->numel > 0 &&
                !xs[k]->deferred && (xs[k]->requires_grad || xs[k]->node);
    if (!plain) return ed_cat(xs, n, 1, out);   /* and every error message */
    int64_t shape[4] = { xs[0]->shape[0], 0, xs[0]->shape[2], xs[0]->shape[3] };
    for (int k = 0; k < n; k++) shape[1] += xs[k]->shape[1];
    ed_tensor *y = NULL, *copy = NULL;
    ED_TRY(ed__alloc(ED_F32, 4, shape, &y));
    const int64_t bytes = ed__conv_keep_bytes(y, ed_get_conv_precision() == ED_PRECISION_BF16);
    ed_status st = ed__alloc(ED_U8, 1, &bytes, &copy);
    ed__cat_feed_params p = { n };
    ed_tensor *t[ED_CAT_FEED_MAX + 2];
    for (int k = 0; k < n; k++) t[k] = (ed_tensor *)xs[k];
    t[n] = y;
    t[n + 1] = copy;
    const ed_kernel *kern = st == ED_OK ? ed_backend_find(ED_OP_CAT_FEED, ED_FORWARD, &p, t) : NULL;
    if (!kern) {
        ed_tensor_free(y);
        ed_tensor_free(copy);
        return st == ED_OK ? ed_cat(xs, n, 1, out) : st;
    }
    st = kern->run(&p, t);
    cat_ctx c = { 1 };
    ed_node *node = NULL;
    if (st == ED_OK) st = ed__record(y, "cat", cat_backward, n, xs, &c, sizeof c, &node);
    if (st == ED_OK && node) st = ed__node_save(node, copy);
    ed_tensor_free(copy);
    if (st != ED_OK || !node) {
        ed_tensor_free(y);
        return st != ED_OK ? st : ed_cat(xs, n, 1, out);
    }
    node->takes_nhwc_grad = 1;
    node->copy_saved = 1;
    node->materialise = cat_materialise;
    y->deferred = 1;
    *out = y;
    return ED_OK;
}
