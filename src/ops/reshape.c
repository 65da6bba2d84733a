/* reshape: same elements, new shape (numel must match; one -1 infers). */
#include "core/ed_internal.h"

static ed_status reshape_backward(ed_node *n)
{
    ed_tensor *gx;
    ED_TRY(ed__grad_of(n, 0, &gx));
    if (!gx) return ED_OK;
    const ed_tensor *gy = n->out->grad;
    for (int64_t i = 0; i < gx->numel; i++) ed__set(gx, i, ed__get(gx, i) + ed__get(gy, i));
    return ED_OK;
}

ed_status ed_reshape(const ed_tensor *x, int ndim, const int64_t *shape, ed_tensor **out)
{
    if (!out) return ed__err(ED_E_ARG, "reshape: out is NULL");
    *out = NULL;
    ED_TRY(ed__check_tensor(x, "reshape", "input"));
    if (ndim < 0 || ndim > ED_MAX_DIMS) return ed__err(ED_E_ARG, "reshape: %d dimensions (0..%d allowed)", ndim, ED_MAX_DIMS);
    int64_t s[ED_MAX_DIMS], known = 1;
    int infer = -1;
    for (int i = 0; i < ndim; i++) {
        s[i] = shape[i];
        if (s[i] == -1) {
            if (infer >= 0) return ed__err(ED_E_ARG, "reshape: only one dimension can be -1");
            infer = i;
        } else if (s[i] < 0) {
            return ed__err(ED_E_ARG, "reshape: invalid size %lld in dimension %d", (long long)s[i], i);
        } else {
            known *= s[i];
        }
    }
    if (infer >= 0) {
        if (known == 0 || x->numel % known)
            return ed__err(ED_E_SHAPE, "reshape: cannot infer dimension %d for %lld elements", infer, (long long)x->numel);
        s[infer] = x->numel / known;
        known *= s[infer];
    }
    if (known != x->numel) {
        char b[ED_SHAPE_BUF];
        return ed__err(ED_E_SHAPE, "reshape: shape with %lld elements is invalid for input %s (%lld elements)",
                       (long long)known, ed__shape_str(x, b), (long long)x->numel);
    }
    ed_tensor *y;
    ED_TRY(ed__alloc(x->dtype, ndim, s, &y));
    memcpy(y->data, x->data, (size_t)x->numel * ed_dtype_size(x->dtype));
    ed_node *node;
    ed_status st = ed__record(y, "reshape", reshape_backward, 1, &x, NULL, 0, &node);
    if (st != ED_OK) { ed_tensor_free(y); return st; }
    *out = y;
    return ED_OK;
}
