/* max_unpool2d: the partial inverse of max_pool2d, as torch.nn.functional.
 *
 *   x (N, C, H, W) or (C, H, W), float32/float64; indices I64 of x's shape,
 *   as max_pool2d returns them (flat h*W + w within each (n, c) plane of
 *   the output) -> y (N, C, OH, OW) / (C, OH, OW), zero except
 *   y[plane][indices[i]] = x[i].
 *   Default OH = (H - 1) * stride - 2 * padding + kernel_size (likewise OW);
 *   stride 0 means kernel_size. An explicit output_size must lie strictly
 *   between default - stride and default + stride, as PyTorch's
 *   _unpool_output_size requires (the range is that wide because pooling
 *   floors: several input sizes pool to the same H). dilation and the
 *   avg-pool fields of ed_pool2d_args are ignored.
 *   An index outside [0, OH*OW) is ED_E_RANGE naming the value, checked
 *   before anything is written. A repeated index (overlapping pool windows)
 *   keeps the last value in scan order, as PyTorch's loop does.
 * Backward gathers: gx[i] += gy[plane][indices[i]] (every input pointing at
 * an output gets its gradient, as PyTorch).
 *
 * Backends (ED_OP_MAX_UNPOOL2D) get params = the ed_pool2d_args with stride
 * resolved and tensors[]: forward {x, indices, y} (y zero-filled, indices
 * already range-checked); backward {gy, indices, gx} (accumulate into gx). */
#include "core/ed_internal.h"
#include "ops/typed.h"

#define T float
#define K(n) n##_f32
#include "unpool_kern.h"
#undef T
#undef K
#define T double
#define K(n) n##_f64
#include "unpool_kern.h"
#undef T
#undef K

static ed_status unpool_backward(ed_node *n)
{
    ed_tensor *gx;
    ED_TRY(ed__grad_of(n, 0, &gx));
    if (!gx) return ED_OK;
    const ed_pool2d_args *r = n->ctx;
    ed_tensor *y = n->out, *ind = n->saved[0], *t[3] = { y->grad, ind, gx };
    const ed_kernel *k = ed_backend_find(ED_OP_MAX_UNPOOL2D, ED_BACKWARD, r, t);
    if (k) return k->run(r, t);
    int64_t HW = gx->shape[gx->ndim - 2] * gx->shape[gx->ndim - 1];
    int64_t OHW = y->shape[y->ndim - 2] * y->shape[y->ndim - 1];
    ED_DISPATCH_FLOAT(gx->dtype, unpool_bwd, y->grad->data, ed__ci64(ind), gx->data, gx->numel / HW, HW, OHW);
    return ED_OK;
}

ed_status ed_max_unpool2d(const ed_tensor *x, const ed_tensor *indices, const ed_pool2d_args *args,
                          const int64_t *output_size, ed_tensor **out)
{
    const char *op = "max_unpool2d";
    if (!out) return ed__err(ED_E_ARG, "%s: out is NULL", op);
    *out = NULL;
    ED_TRY(ed__check_float(x, op, "input"));
    ED_TRY(ed__check_tensor(indices, op, "indices"));
    char b1[ED_SHAPE_BUF], b2[ED_SHAPE_BUF];
    if (x->ndim != 3 && x->ndim != 4)
        return ed__err(ED_E_SHAPE, "%s: input must be 3-D (C, H, W) or 4-D (N, C, H, W), got shape %s", op,
                       ed__shape_str(x, b1));
    for (int d = x->ndim == 4 ? 1 : 0; d < x->ndim; d++)
        if (x->shape[d] == 0)
            return ed__err(ED_E_SHAPE, "%s: input has an empty dimension %d, got shape %s", op, d, ed__shape_str(x, b1));
    if (indices->dtype != ED_I64)
        return ed__err(ED_E_DTYPE, "%s: indices must be int64, got %s", op, ed_dtype_name(indices->dtype));
    if (ed__check_same_shape(x, indices, op) != ED_OK)
        return ed__err(ED_E_SHAPE, "%s: indices must have the input's shape %s, got %s", op, ed__shape_str(x, b1),
                       ed__shape_str(indices, b2));
    if (!args) return ed__err(ED_E_ARG, "%s: args is NULL (kernel_size has no default; see ed_pool2d_args_default)", op);
    ed_pool2d_args r = *args;
    int64_t H = x->shape[x->ndim - 2], W = x->shape[x->ndim - 1], osz[2];
    for (int i = 0; i < 2; i++) {
        if (r.kernel_size[i] <= 0)
            return ed__err(ED_E_ARG, "%s: kernel_size must be positive, got (%d, %d)", op, r.kernel_size[0], r.kernel_size[1]);
        if (r.stride[i] < 0)
            return ed__err(ED_E_ARG, "%s: stride must be positive (or 0 for kernel_size), got (%d, %d)", op, r.stride[0], r.stride[1]);
        if (r.stride[i] == 0) r.stride[i] = r.kernel_size[i];
        if (r.padding[i] < 0)
            return ed__err(ED_E_ARG, "%s: padding must be non-negative, got (%d, %d)", op, r.padding[0], r.padding[1]);
        int64_t def = ((i ? W : H) - 1) * r.stride[i] - 2 * (int64_t)r.padding[i] + r.kernel_size[i];
        osz[i] = def;
        if (output_size) {
            osz[i] = output_size[i];
            if (!(def - r.stride[i] < osz[i] && osz[i] < def + r.stride[i]))
                return ed__err(ED_E_ARG, "%s: invalid output_size (%lld, %lld) (dim %d must be between %lld and %lld, exclusive)",
                               op, (long long)output_size[0], (long long)output_size[1], i,
                               (long long)(def - r.stride[i]), (long long)(def + r.stride[i]));
        }
        if (osz[i] <= 0)
            return ed__err(ED_E_SHAPE, "%s: output size must be positive, got %lld in dim %d for input %s", op,
                           (long long)osz[i], i, ed__shape_str(x, b1));
    }
    int64_t HW = H * W, OHW = osz[0] * osz[1];
    const int64_t *ind = ed__ci64(indices);
    for (int64_t i = 0; i < indices->numel; i++)
        if (ind[i] < 0 || ind[i] >= OHW)
            return ed__err(ED_E_RANGE, "%s: found an invalid max index %lld at position %lld of indices %s "
                           "(output planes are %lldx%lld)", op, (long long)ind[i], (long long)i,
                           ed__shape_str(indices, b2), (long long)osz[0], (long long)osz[1]);
    int64_t shape[4];
    for (int d = 0; d < x->ndim - 2; d++) shape[d] = x->shape[d];
    shape[x->ndim - 2] = osz[0];
    shape[x->ndim - 1] = osz[1];
    ed_tensor *y = NULL;
    ED_TRY(ed__alloc_zeros(x->dtype, x->ndim, shape, &y));
    ed_tensor *t[3] = { (ed_tensor *)x, (ed_tensor *)indices, y };
    ed_status st = ED_OK;
    const ed_kernel *k = ed_backend_find(ED_OP_MAX_UNPOOL2D, ED_FORWARD, &r, t);
    if (k) st = k->run(&r, t);
    else ED_DISPATCH_FLOAT(x->dtype, unpool_fwd, x->data, ind, y->data, x->numel / HW, HW, OHW);
    ed_node *node = NULL;
    if (st == ED_OK) st = ed__record(y, op, unpool_backward, 1, &x, &r, sizeof r, &node);
    if (st == ED_OK && node) st = ed__node_save(node, (ed_tensor *)indices);
    if (st != ED_OK) { ed_tensor_free(y); return st; }
    *out = y;
    return ED_OK;
}
