/* Max and average pooling over the last two dims, as torch.nn.functional.
 *
 *   x (N, C, H, W) or (C, H, W), float32/float64 -> y (N, C, OH, OW) / (C, OH, OW)
 *   OH = floor((H + 2*pad - dilation*(k-1) - 1 + (ceil_mode ? stride-1 : 0)) / stride) + 1,
 *   and in ceil mode one less when the last window would start at or past
 *   H + pad (PyTorch's rule: every window starts inside the input or the
 *   left padding). Likewise for W. stride 0 means stride = kernel_size
 *   (PyTorch's stride=None). padding must be <= kernel_size / 2 (PyTorch
 *   refuses more, whatever the dilation).
 *
 * max_pool2d: padding acts as -inf. indices (I64, shape of y) hold the
 *   position h*W + w of each maximum in its (n, c) plane of x; the first
 *   maximum in scan order wins ties and NaN counts as the maximum, as in
 *   PyTorch. Backward scatters gy through the indices (+=, so overlapping
 *   windows add up).
 * avg_pool2d (no dilation): the divisor is divisor_override when non-zero,
 *   else the window's size clipped to the padded input (count_include_pad)
 *   or to the input itself. A ceil-mode window that runs past the right
 *   padding is clipped first, as PyTorch's kernel does.
 *
 * Backends (ed_backend_find) get params = the ed_pool2d_args with stride
 * resolved (never 0) and tensors[]:
 *   ED_OP_MAX_POOL2D forward  {x, y, indices}  (indices may be NULL: not needed)
 *   ED_OP_MAX_POOL2D backward {gy, indices, gx}
 *   ED_OP_AVG_POOL2D forward  {x, y}
 *   ED_OP_AVG_POOL2D backward {gy, gx}
 * A backward kernel accumulates into gx (+=). */
#include "core/ed_internal.h"
#include "ops/typed.h"

#include <math.h>

#define T float
#define K(n) n##_f32
#include "pool_kern.h"
#undef T
#undef K
#define T double
#define K(n) n##_f64
#include "pool_kern.h"
#undef T
#undef K

void ed_pool2d_args_default(ed_pool2d_args *a, int k)
{
    if (!a) return;
    memset(a, 0, sizeof *a);
    a->kernel_size[0] = a->kernel_size[1] = k;
    a->dilation[0] = a->dilation[1] = 1;
    a->count_include_pad = 1;
}

/* floor(a / b) for b > 0, also for negative a. */
static int64_t div_floor(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

static int64_t pool_out_size(int64_t in, int k, int pad, int stride, int dil, int ceil_mode)
{
    int64_t o = div_floor(in + 2 * (int64_t)pad - (int64_t)dil * (k - 1) - 1 + (ceil_mode ? stride - 1 : 0), stride) + 1;
    if (ceil_mode && (o - 1) * stride >= in + pad) o--;
    return o;
}

/* Shapes of one pooling call: planes = N*C, and the output's shape. */
typedef struct {
    int64_t planes, H, W, OH, OW;
    int ndim;
    int64_t shape[4];
} pool_geom;

static ed_status pool_setup(const char *op, bool is_max, const ed_tensor *x, const ed_pool2d_args *args,
                            ed_pool2d_args *r, pool_geom *g)
{
    ED_TRY(ed__check_float(x, op, "input"));
    char b[ED_SHAPE_BUF];
    if (x->ndim != 3 && x->ndim != 4)
        return ed__err(ED_E_SHAPE, "%s: input must be 3-D (C, H, W) or 4-D (N, C, H, W), got shape %s", op,
                       ed__shape_str(x, b));
    for (int d = x->ndim == 4 ? 1 : 0; d < x->ndim; d++)
        if (x->shape[d] == 0)
            return ed__err(ED_E_SHAPE, "%s: input has an empty dimension %d, got shape %s", op, d, ed__shape_str(x, b));
    if (!args) return ed__err(ED_E_ARG, "%s: args is NULL (kernel_size has no default; see ed_pool2d_args_default)", op);
    *r = *args;
    if (!is_max) r->dilation[0] = r->dilation[1] = 1;
    r->ceil_mode = !!r->ceil_mode;
    r->count_include_pad = !!r->count_include_pad;
    for (int i = 0; i < 2; i++) {
        if (r->kernel_size[i] <= 0)
            return ed__err(ED_E_ARG, "%s: kernel_size must be positive, got (%d, %d)", op, args->kernel_size[0], args->kernel_size[1]);
        if (r->stride[i] < 0)
            return ed__err(ED_E_ARG, "%s: stride must be positive (or 0 for kernel_size), got (%d, %d)", op, args->stride[0], args->stride[1]);
        if (r->stride[i] == 0) r->stride[i] = r->kernel_size[i];
        if (r->dilation[i] <= 0)
            return ed__err(ED_E_ARG, "%s: dilation must be positive, got (%d, %d)", op, args->dilation[0], args->dilation[1]);
        if (r->padding[i] < 0)
            return ed__err(ED_E_ARG, "%s: padding must be non-negative, got (%d, %d)", op, args->padding[0], args->padding[1]);
        if (r->padding[i] > r->kernel_size[i] / 2)
            return ed__err(ED_E_ARG, "%s: pad should be at most half of kernel size, got padding=(%d, %d) and kernel_size=(%d, %d)",
                           op, r->padding[0], r->padding[1], r->kernel_size[0], r->kernel_size[1]);
    }
    g->ndim = x->ndim;
    g->H = x->shape[x->ndim - 2];
    g->W = x->shape[x->ndim - 1];
    g->planes = x->numel / (g->H * g->W);
    g->OH = pool_out_size(g->H, r->kernel_size[0], r->padding[0], r->stride[0], r->dilation[0], r->ceil_mode);
    g->OW = pool_out_size(g->W, r->kernel_size[1], r->padding[1], r->stride[1], r->dilation[1], r->ceil_mode);
    if (g->OH < 1 || g->OW < 1)
        return ed__err(ED_E_SHAPE, "%s: output size is too small: input %s gives (%lld, %lld) for kernel_size=(%d, %d), "
                       "stride=(%d, %d), padding=(%d, %d), dilation=(%d, %d)", op, ed__shape_str(x, b), (long long)g->OH,
                       (long long)g->OW, r->kernel_size[0], r->kernel_size[1], r->stride[0], r->stride[1],
                       r->padding[0], r->padding[1], r->dilation[0], r->dilation[1]);
    for (int d = 0; d < x->ndim - 2; d++) g->shape[d] = x->shape[d];
    g->shape[x->ndim - 2] = g->OH;
    g->shape[x->ndim - 1] = g->OW;
    return ED_OK;
}

/* ---- max_pool2d --------------------------------------------------------------- */

static ed_status max_pool_backward(ed_node *n)
{
    ed_tensor *gx;
    ED_TRY(ed__grad_of(n, 0, &gx));
    if (!gx) return ED_OK;
    const ed_pool2d_args *r = n->ctx;
    ed_tensor *y = n->out, *t[3] = { y->grad, n->saved[0], gx };
    const ed_kernel *k = ed_backend_find(ED_OP_MAX_POOL2D, ED_BACKWARD, r, t);
    if (k) return k->run(r, t);
    int64_t OHW = y->shape[y->ndim - 2] * y->shape[y->ndim - 1];
    int64_t HW = gx->shape[gx->ndim - 2] * gx->shape[gx->ndim - 1];
    int64_t planes = OHW ? y->numel / OHW : 0;
    ED_DISPATCH_FLOAT(gx->dtype, max_pool_bwd, y->grad->data, ed__ci64(n->saved[0]), gx->data, planes, HW, OHW);
    return ED_OK;
}

ed_status ed_max_pool2d(const ed_tensor *x, const ed_pool2d_args *args, ed_tensor **out, ed_tensor **indices)
{
    if (!out) return ed__err(ED_E_ARG, "max_pool2d: out is NULL");
    *out = NULL;
    if (indices) *indices = NULL;
    ed_pool2d_args r;
    pool_geom g;
    ED_TRY(pool_setup("max_pool2d", true, x, args, &r, &g));
    ed_tensor *y = NULL, *idx = NULL;
    ED_TRY(ed__alloc(x->dtype, g.ndim, g.shape, &y));
    ed_status st = ED_OK;
    if (indices || ed__needs_grad(x)) st = ed__alloc(ED_I64, g.ndim, g.shape, &idx);
    if (st == ED_OK) {
        ed_tensor *t[3] = { (ed_tensor *)x, y, idx };
        const ed_kernel *k = ed_backend_find(ED_OP_MAX_POOL2D, ED_FORWARD, &r, t);
        if (k) st = k->run(&r, t);
        else ED_DISPATCH_FLOAT(x->dtype, max_pool_fwd, x->data, y->data, idx ? ed__i64(idx) : NULL, g.planes, g.H, g.W,
                               g.OH, g.OW, &r);
    }
    ed_node *node = NULL;
    if (st == ED_OK) st = ed__record(y, "max_pool2d", max_pool_backward, 1, &x, &r, sizeof r, &node);
    if (st == ED_OK && node) st = ed__node_save(node, idx);
    if (st != ED_OK) {
        ed_tensor_free(y);
        ed_tensor_free(idx);
        return st;
    }
    *out = y;
    if (indices) *indices = idx;
    else ed_tensor_free(idx);   /* the node keeps its own reference */
    return ED_OK;
}

/* ---- avg_pool2d --------------------------------------------------------------- */

static ed_status avg_pool_backward(ed_node *n)
{
    ed_tensor *gx;
    ED_TRY(ed__grad_of(n, 0, &gx));
    if (!gx) return ED_OK;
    const ed_pool2d_args *r = n->ctx;
    ed_tensor *y = n->out, *t[2] = { y->grad, gx };
    const ed_kernel *k = ed_backend_find(ED_OP_AVG_POOL2D, ED_BACKWARD, r, t);
    if (k) return k->run(r, t);
    int64_t OH = y->shape[y->ndim - 2], OW = y->shape[y->ndim - 1];
    int64_t H = gx->shape[gx->ndim - 2], W = gx->shape[gx->ndim - 1];
    ED_DISPATCH_FLOAT(gx->dtype, avg_pool_bwd, y->grad->data, gx->data, gx->numel / (H * W), H, W, OH, OW, r);
    return ED_OK;
}

ed_status ed_avg_pool2d(const ed_tensor *x, const ed_pool2d_args *args, ed_tensor **out)
{
    if (!out) return ed__err(ED_E_ARG, "avg_pool2d: out is NULL");
    *out = NULL;
    ed_pool2d_args r;
    pool_geom g;
    ED_TRY(pool_setup("avg_pool2d", false, x, args, &r, &g));
    ed_tensor *y = NULL;
    ED_TRY(ed__alloc(x->dtype, g.ndim, g.shape, &y));
    ed_tensor *t[2] = { (ed_tensor *)x, y };
    ed_status st = ED_OK;
    const ed_kernel *k = ed_backend_find(ED_OP_AVG_POOL2D, ED_FORWARD, &r, t);
    if (k) st = k->run(&r, t);
    else ED_DISPATCH_FLOAT(x->dtype, avg_pool_fwd, x->data, y->data, g.planes, g.H, g.W, g.OH, g.OW, &r);
    ed_node *node = NULL;
    if (st == ED_OK) st = ed__record(y, "avg_pool2d", avg_pool_backward, 1, &x, &r, sizeof r, &node);
    if (st != ED_OK) { ed_tensor_free(y); return st; }
    *out = y;
    return ED_OK;
}
