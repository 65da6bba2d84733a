/* An inference graph (ed__infer_graph): the steps of an encoder-decoder's
 * forward pass without gradients, given whole, so that a backend can keep
 * every value between the input and the output in its own layout. The
 * U-Net's evaluation forward is one such graph: double convolutions with
 * folded BatchNorms, 2x2 max-pools, 2x2 stride-2 transposed convolutions
 * and skip concatenations; DRUNet's another, with residual additions and
 * strided convolutions; EDSR's, with sub-pixel (pixel-shuffle) up-sampling.
 *
 * A backend kernel (ED_OP_INFER_GRAPH, backend/onednn/infer_graph.c) runs
 * the graph when every step's layout lines up with its producers'. Else,
 * and for every error, the steps run one by one through the public ops,
 * with runs of convolutions as ed__conv_chain_infer; values are freed after
 * their last use. No autograd: refused when an input needs a gradient.
 *
 * Backends get params = ed__graph_params (steps and the checked shapes) and
 * tensors[] = {x, y} (y allocated, float32, value n's shape). */
#include "core/ed_internal.h"
#include "ops/infer_graph_params.h"

#include <stdlib.h>
#include <string.h>

static bool is_f32(const ed_tensor *t, int ndim) { return t && t->dtype == ED_F32 && t->ndim == ndim; }

/* A run of convolutions starting at step i that ed__conv_chain_infer can
 * take: each reads the previous one's value, which nothing else reads;
 * same padding and square kernels of 2 pad + 1. Its length (>= 1). */
static int conv_run(int n, const ed__gstep *s, const int *last_use, int i)
{
    int j = i;
    while (j + 1 < n && s[j + 1].kind == ED_GSTEP_CONV && s[j + 1].in == j + 1 && last_use[j + 1] == j + 1 &&
           s[j + 1].pad == s[i].pad)
        j++;
    for (int k = i; k <= j; k++)
        if (!s[k].w || s[k].w->ndim != 4 || s[k].w->shape[2] != 2 * s[i].pad + 1 ||
            s[k].w->shape[3] != 2 * s[i].pad + 1 || s[k].stride > 1)
            return 1;
    return j - i + 1;
}

static ed_status one_step(const ed__gstep *g, ed_tensor *const *val, ed_tensor **y)
{
    switch (g->kind) {
    case ED_GSTEP_CONV: {
        ed_conv2d_args a;
        ed_conv2d_args_default(&a);
        a.padding[0] = a.padding[1] = g->pad;
        a.stride[0] = a.stride[1] = g->stride > 1 ? g->stride : 1;
        a.relu = g->relu ? 1 : 0;
        return g->s ? ed__conv2d_scaled(val[g->in], g->w, g->s, g->b, &a, y) : ed_conv2d(val[g->in], g->w, g->b, &a, y);
    }
    case ED_GSTEP_POOL2: {
        ed_pool2d_args a;
        ed_pool2d_args_default(&a, 2);
        return ed_max_pool2d(val[g->in], &a, y, NULL);
    }
    case ED_GSTEP_UP2: {
        ed_conv_transpose2d_args a;
        ed_conv_transpose2d_args_default(&a);
        a.stride[0] = a.stride[1] = 2;
        return ed_conv_transpose2d(val[g->in], g->w, g->b, &a, y);
    }
    case ED_GSTEP_ADD:
        return ed_add(val[g->in], val[g->in2], y);
    case ED_GSTEP_SHUFFLE:
        return ed_pixel_shuffle(val[g->in], g->factor, y);
    default: {
        const ed_tensor *pair[2] = { val[g->in], val[g->in2] };
        return ed_cat(pair, 2, 1, y);
    }
    }
}

/* The steps one by one (the reference, and every error). */
static ed_status sequential(const ed_tensor *x, int n, const ed__gstep *s, const int *last_use, ed_tensor **out)
{
    ed_tensor **val = calloc((size_t)n + 1, sizeof *val);
    if (!val) return ed__err(ED_E_NOMEM, "infer graph: out of memory");
    val[0] = (ed_tensor *)x;
    ed_status st = ED_OK;
    for (int i = 0; i < n && st == ED_OK;) {
        int m = s[i].kind == ED_GSTEP_CONV ? conv_run(n, s, last_use, i) : 1;
        if (m >= 2) {
            ed__conv_step c[ED_GRAPH_MAX];
            for (int k = 0; k < m; k++) c[k] = (ed__conv_step){ .w = s[i + k].w, .b = s[i + k].b, .s = s[i + k].s, .relu = s[i + k].relu };
            st = ed__conv_chain_infer(val[s[i].in], m, c, s[i].pad, &val[i + m]);
        } else {
            st = one_step(&s[i], val, &val[i + 1]);
        }
        /* Values read for the last time by these steps go. */
        for (int v = 1; v < i + m; v++)
            if (val[v] && last_use[v] < i + m) ed_tensor_free(val[v]), val[v] = NULL;
        i += m;
    }
    if (st == ED_OK) *out = val[n], val[n] = NULL;
    for (int v = 1; v <= n; v++) ed_tensor_free(val[v]);
    free(val);
    return st;
}

/* Value v + 1's shape from step v's inputs; false when the step does not
 * fit them (the ops then name the error). */
static bool step_shape(const ed__gstep *g, const int64_t (*shape)[4], int64_t *o)
{
    const int64_t *a = shape[g->in];
    memcpy(o, a, 4 * sizeof *o);
    switch (g->kind) {
    case ED_GSTEP_CONV: {
        const ed_tensor *w = g->w;
        if (!is_f32(w, 4) || w->shape[1] != a[1] || g->pad < 0) return false;
        if (g->b && !(is_f32(g->b, 1) && g->b->shape[0] == w->shape[0])) return false;
        if (g->s && !(g->s->dtype == ED_F64 && g->s->ndim == 1 && g->s->shape[0] == w->shape[0])) return false;
        const int64_t st = g->stride > 1 ? g->stride : 1;
        if (g->stride < 0 || a[2] + 2 * g->pad < w->shape[2] || a[3] + 2 * g->pad < w->shape[3]) return false;
        o[1] = w->shape[0];
        o[2] = (a[2] + 2 * g->pad - w->shape[2]) / st + 1;
        o[3] = (a[3] + 2 * g->pad - w->shape[3]) / st + 1;
        return true;
    }
    case ED_GSTEP_POOL2:
        o[2] = a[2] / 2, o[3] = a[3] / 2;
        return o[2] >= 1 && o[3] >= 1;
    case ED_GSTEP_UP2: {
        const ed_tensor *w = g->w;
        if (!is_f32(w, 4) || w->shape[0] != a[1] || w->shape[2] != 2 || w->shape[3] != 2) return false;
        if (g->b && !(is_f32(g->b, 1) && g->b->shape[0] == w->shape[1])) return false;
        o[1] = w->shape[1], o[2] = 2 * a[2], o[3] = 2 * a[3];
        return true;
    }
    case ED_GSTEP_CAT: {
        const int64_t *b = shape[g->in2];
        if (a[0] != b[0] || a[2] != b[2] || a[3] != b[3]) return false;
        o[1] = a[1] + b[1];
        return true;
    }
    case ED_GSTEP_ADD:
        return !memcmp(a, shape[g->in2], 4 * sizeof *a);
    case ED_GSTEP_SHUFFLE: {
        const int64_t r = g->factor;
        if (r < 1 || a[1] % (r * r)) return false;
        o[1] = a[1] / (r * r), o[2] = a[2] * r, o[3] = a[3] * r;
        return true;
    }
    default:
        return false;
    }
}

ed_status ed__infer_graph(const ed_tensor *x, int n, const ed__gstep *steps, ed_tensor **out)
{
    if (!out) return ed__err(ED_E_ARG, "infer graph: out is NULL");
    *out = NULL;
    if (!x || n <= 0 || !steps) return ed__err(ED_E_ARG, "infer graph: no input or no steps");
    for (int i = 0; i < n; i++) {
        const ed__gstep *g = &steps[i];
        if (g->kind < ED_GSTEP_CONV || g->kind > ED_GSTEP_SHUFFLE)
            return ed__err(ED_E_ARG, "infer graph: step %d has an unknown kind %d", i, g->kind);
        const bool two = g->kind == ED_GSTEP_CAT || g->kind == ED_GSTEP_ADD;
        if (g->in < 0 || g->in > i || (two && (g->in2 < 0 || g->in2 > i)))
            return ed__err(ED_E_ARG, "infer graph: step %d reads a value not computed before it", i);
        if ((g->kind == ED_GSTEP_CONV || g->kind == ED_GSTEP_UP2) && !g->w)
            return ed__err(ED_E_ARG, "infer graph: step %d has no weight", i);
        if (ed__any_needs_grad(3, (const ed_tensor *const[]){ g->in ? NULL : x, g->w, g->b }))
            return ed__err(ED_E_ARG, "infer graph: inference only, but an input needs a gradient");
    }
    int *last_use = calloc((size_t)n + 1, sizeof *last_use);
    int64_t (*shape)[4] = calloc((size_t)n + 1, sizeof *shape);
    if (!last_use || !shape) {
        free(last_use);
        free(shape);
        return ed__err(ED_E_NOMEM, "infer graph: out of memory");
    }
    for (int i = 0; i < n; i++) {
        last_use[steps[i].in] = i;
        if (steps[i].kind == ED_GSTEP_CAT || steps[i].kind == ED_GSTEP_ADD) last_use[steps[i].in2] = i;
    }
    last_use[n] = n;
    /* Shapes; any step that does not fit goes to the ops, which say why. */
    bool ok = is_f32(x, 4) && n <= ED_GRAPH_MAX;
    if (ok) memcpy(shape[0], x->shape, sizeof shape[0]);
    for (int i = 0; i < n && ok; i++) ok = step_shape(&steps[i], (const int64_t(*)[4])shape, shape[i + 1]);
    ed_status st = ED_OK;
    const ed_kernel *k = NULL;
    if (ok) {
        ed__graph_params p = { .n = n, .steps = steps, .shape = (const int64_t(*)[4])shape, .last_use = last_use };
        ed_tensor *y = NULL;
        st = ed__alloc(ED_F32, 4, shape[n], &y);
        ed_tensor *t[2] = { (ed_tensor *)x, y };
        if (st == ED_OK) k = ed_backend_find(ED_OP_INFER_GRAPH, ED_FORWARD, &p, t);
        if (k) st = k->run(&p, t);
        if (k && st == ED_OK) *out = y;
        else ed_tensor_free(y);
    }
    if (st == ED_OK && !k) st = sequential(x, n, steps, last_use, out);
    free(last_use);
    free(shape);
    return st;
}
