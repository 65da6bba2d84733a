/* Elementwise ops.
 *   add, sub, mul: a, b broadcast to a common shape (PyTorch rules: align
 *     trailing dims; a dim of size 1 stretches). Backward sums the gradient
 *     over the stretched dims.
 *   scale(a, s) = a * s; relu; leaky_relu(negative_slope); sigmoid; tanh.
 *     relu'(0) = 0 and leaky_relu'(0) = negative_slope, as PyTorch.
 * Float32 and float64; both operands of a binary op have the same dtype.
 *
 * Backends (ED_OP_ELTWISE), relu only; params = the op's name (const char *,
 * "relu"):
 *   forward  tensors[] = { x, y }        y = relu(x), same shape and dtype
 *   backward tensors[] = { x, gy, gx }   gx += gy where x > 0 (accumulate) */
#include "core/ed_internal.h"
#include "ops/typed.h"

#include <math.h>

enum { UN_RELU, UN_LEAKY, UN_SIGMOID, UN_TANH, UN_SCALE };

#define T float
#define K(n) n##_f32
#include "elementwise_kern.h"
#undef T
#undef K
#define T double
#define K(n) n##_f64
#include "elementwise_kern.h"
#undef T
#undef K

/* ---- broadcasting ---------------------------------------------------------- */

static const char *binary_names[3] = { "add", "sub", "mul" };

typedef struct { int op; } binary_ctx;

static ed_status broadcast_shape(const ed_tensor *a, const ed_tensor *b, const char *op, int *ndim, int64_t *shape)
{
    int n = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int i = 0; i < n; i++) {
        int ia = a->ndim - n + i, ib = b->ndim - n + i;
        int64_t sa = ia >= 0 ? a->shape[ia] : 1, sb = ib >= 0 ? b->shape[ib] : 1;
        if (sa != sb && sa != 1 && sb != 1) {
            char s1[ED_SHAPE_BUF], s2[ED_SHAPE_BUF];
            return ed__err(ED_E_SHAPE, "%s: shapes %s and %s do not broadcast (dimension %d: %lld vs %lld)", op,
                           ed__shape_str(a, s1), ed__shape_str(b, s2), i, (long long)sa, (long long)sb);
        }
        shape[i] = sa == 1 ? sb : sa;
    }
    *ndim = n;
    return ED_OK;
}

/* Offset into t of output element i (row-major over out's shape). */
static int64_t bcast_offset(const ed_tensor *t, int ndim, const int64_t *shape, int64_t i)
{
    int64_t off = 0, stride = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        int64_t idx = i % shape[d];
        i /= shape[d];
        int td = t->ndim - ndim + d;
        if (td >= 0) {
            if (t->shape[td] != 1) off += idx * stride;
            stride *= t->shape[td];
        }
    }
    return off;
}

static bool same_shape(const ed_tensor *a, const ed_tensor *b)
{
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

static ed_status binary_backward(ed_node *n)
{
    const binary_ctx *c = n->ctx;
    ed_tensor *y = n->out, *gy = y->grad;
    for (int k = 0; k < 2; k++) {
        ed_tensor *g;
        ED_TRY(ed__grad_of(n, k, &g));
        if (!g) continue;
        const ed_tensor *other = n->in[1 - k];
        if (same_shape(g, y) && same_shape(other, y)) {
            ED_DISPATCH_FLOAT(y->dtype, binary_same_bwd, c->op, k, gy->data, other->data, g->data, y->numel);
            continue;
        }
        for (int64_t i = 0; i < y->numel; i++) {
            double v = ed__get(gy, i);
            if (c->op == 1 && k == 1) v = -v;
            if (c->op == 2) v *= ed__get(other, bcast_offset(other, y->ndim, y->shape, i));
            int64_t o = bcast_offset(g, y->ndim, y->shape, i);
            ed__set(g, o, ed__get(g, o) + v);
        }
    }
    return ED_OK;
}

static ed_status binary(int op, const ed_tensor *a, const ed_tensor *b, ed_tensor **out)
{
    const char *name = binary_names[op];
    if (!out) return ed__err(ED_E_ARG, "%s: out is NULL", name);
    *out = NULL;
    ED_TRY(ed__check_float(a, name, "input"));
    ED_TRY(ed__check_float(b, name, "other"));
    ED_TRY(ed__check_same_dtype(a, b, name));
    int ndim = 0;
    int64_t shape[ED_MAX_DIMS] = { 0 };
    ED_TRY(broadcast_shape(a, b, name, &ndim, shape));
    ed_tensor *y;
    ED_TRY(ed__alloc(a->dtype, ndim, shape, &y));
    if (same_shape(a, b)) {
        ED_DISPATCH_FLOAT(a->dtype, binary_same, op, a->data, b->data, y->data, y->numel);
    } else {
        for (int64_t i = 0; i < y->numel; i++) {
            double va = ed__get(a, bcast_offset(a, ndim, shape, i));
            double vb = ed__get(b, bcast_offset(b, ndim, shape, i));
            ed__set(y, i, op == 0 ? va + vb : op == 1 ? va - vb : va * vb);
        }
    }
    binary_ctx c = { op };
    const ed_tensor *in[2] = { a, b };
    ed_node *node;
    ed_status st = ed__record(y, name, binary_backward, 2, in, &c, sizeof c, &node);
    if (st != ED_OK) { ed_tensor_free(y); return st; }
    *out = y;
    return ED_OK;
}

ed_status ed_add(const ed_tensor *a, const ed_tensor *b, ed_tensor **out) { return binary(0, a, b, out); }
ed_status ed_sub(const ed_tensor *a, const ed_tensor *b, ed_tensor **out) { return binary(1, a, b, out); }
ed_status ed_mul(const ed_tensor *a, const ed_tensor *b, ed_tensor **out) { return binary(2, a, b, out); }

/* ---- unary ------------------------------------------------------------------ */

typedef struct { int op; double alpha; } unary_ctx;

static ed_status unary_backward(ed_node *n)
{
    const unary_ctx *c = n->ctx;
    ed_tensor *gx;
    ED_TRY(ed__grad_of(n, 0, &gx));
    if (!gx) return ED_OK;
    const ed_tensor *x = n->in[0], *y = n->out;
    if (c->op == UN_RELU) {
        ed_tensor *ts[3] = { (ed_tensor *)x, y->grad, gx };
        const ed_kernel *k = ed_backend_find(ED_OP_ELTWISE, ED_BACKWARD, "relu", ts);
        if (k) return k->run("relu", ts);
    }
    ED_DISPATCH_FLOAT(x->dtype, unary_bwd, c->op, c->alpha, x->data, y->data, y->grad->data, gx->data, x->numel);
    return ED_OK;
}

static ed_status unary(int op, const char *name, double alpha, const ed_tensor *x, ed_tensor **out)
{
    if (!out) return ed__err(ED_E_ARG, "%s: out is NULL", name);
    *out = NULL;
    ED_TRY(ed__check_float(x, name, "input"));
    ed_tensor *y;
    ED_TRY(ed__alloc(x->dtype, x->ndim, x->shape, &y));
    const ed_kernel *k = NULL;
    ed_tensor *ts[2] = { (ed_tensor *)x, y };
    if (op == UN_RELU) k = ed_backend_find(ED_OP_ELTWISE, ED_FORWARD, "relu", ts);
    if (k) {
        ed_status st = k->run("relu", ts);
        if (st != ED_OK) { ed_tensor_free(y); return st; }
    } else {
        ED_DISPATCH_FLOAT(x->dtype, unary_fwd, op, alpha, x->data, y->data, x->numel);
    }
    unary_ctx c = { op, alpha };
    ed_node *node;
    ed_status st = ed__record(y, name, unary_backward, 1, &x, &c, sizeof c, &node);
    if (st != ED_OK) { ed_tensor_free(y); return st; }
    *out = y;
    return ED_OK;
}

ed_status ed_relu(const ed_tensor *x, ed_tensor **out) { return unary(UN_RELU, "relu", 0, x, out); }
ed_status ed_leaky_relu(const ed_tensor *x, double s, ed_tensor **out) { return unary(UN_LEAKY, "leaky_relu", s, x, out); }
ed_status ed_sigmoid(const ed_tensor *x, ed_tensor **out) { return unary(UN_SIGMOID, "sigmoid", 0, x, out); }
ed_status ed_tanh(const ed_tensor *x, ed_tensor **out) { return unary(UN_TANH, "tanh", 0, x, out); }
ed_status ed_scale(const ed_tensor *x, double s, ed_tensor **out) { return unary(UN_SCALE, "scale", s, x, out); }
