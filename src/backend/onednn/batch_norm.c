/* oneDNN kernels for batch_norm (not registered: see the end of the file), forward (training and evaluation) and
 * backward, float32 (tensors and params as documented in ops/batch_norm.c;
 * params = bn_params, x viewed as (N, C, S, 1) in NCHW, which is x's memory
 * whatever its ndim).
 *
 * oneDNN works in float32 where the reference computes statistics in
 * double; the difference (~1e-6 relative for ordinary data) is far inside
 * the 1e-4 the tests hold it to. Mapping:
 *   - weight / bias -> use_scale / use_shift (either may be absent);
 *   - training: oneDNN returns the batch mean and the biased variance (f32);
 *     save_mean / save_invstd (f64) and the running-stat update (unbiased
 *     variance, PyTorch's momentum rule) are done here, per channel;
 *   - evaluation: use_global_stats with the running stats;
 *   - backward: mean and variance are rebuilt from save_mean / save_invstd
 *     (var = 1/invstd^2 - eps); prop backward when gw or gb is wanted, else
 *     backward_data; all three gradients are added (+=) through reorders
 *     with a sum post-op. Declined (reference): no gx wanted, or gb wanted
 *     with a weight whose gradient is not (oneDNN would compute diff_scale
 *     with nowhere to put it). */
#include "backend/onednn/onednn_common.h"
#include "ops/batch_norm_params.h"

#include <math.h>

enum { BN_FWD = 201, BN_BWD = 202 };
/* Key: kind, threads, N, C, S, flags, training, prop (bwd), eps bits. */

static void make_key(odnn_key *k, int kind, const bn_params *p, unsigned flags, int prop)
{
    memset(k, 0, sizeof *k);
    k->w[0] = kind;
    k->w[1] = ed_get_num_threads();
    k->w[2] = p->N;
    k->w[3] = p->C;
    k->w[4] = p->S;
    k->w[5] = flags;
    k->w[6] = prop;
    float e = (float)p->eps;
    memcpy(&k->w[7], &e, sizeof e);
}

static void add_arg(odnn_prim *p, int arg, bool output, bool acc, const dnnl_memory_desc_t *md)
{
    odnn_arg *a = &p->args[p->n_args++];
    a->arg = arg;
    a->output = output;
    a->accumulate = acc;
    a->user_md = a->prim_md = *md;
}

static bool build(const odnn_key *k, dnnl_engine_t eng, odnn_prim *p)
{
    int64_t dims[4] = { k->w[2], k->w[3], k->w[4], 1 }, C = k->w[3];
    dnnl_memory_desc_t md, cmd;
    odnn_md(&md, 4, dims, dnnl_nchw);
    odnn_md(&cmd, 1, &C, dnnl_a);
    unsigned flags = (unsigned)k->w[5];
    float eps;
    memcpy(&eps, &k->w[7], sizeof eps);
    const bool global = flags & dnnl_use_global_stats;
    dnnl_primitive_attr_t attr = odnn_attr();
    if (!attr) return false;
    dnnl_batch_normalization_desc_t d;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_prop_kind_t fprop = k->w[0] == BN_FWD && global ? dnnl_forward_inference : dnnl_forward_training;
    if (dnnl_batch_normalization_forward_desc_init(&d, fprop, &md, eps, flags) != dnnl_success ||
        dnnl_primitive_desc_create(&pd, &d, attr, eng, NULL) != dnnl_success)
        pd = NULL;
    if (pd && k->w[0] == BN_BWD) {
        dnnl_primitive_desc_t bpd = NULL;
        dnnl_prop_kind_t bprop = k->w[6] ? dnnl_backward : dnnl_backward_data;
        if (dnnl_batch_normalization_backward_desc_init(&d, bprop, &md, &md, eps, flags) != dnnl_success ||
            dnnl_primitive_desc_create(&bpd, &d, attr, eng, pd) != dnnl_success)
            bpd = NULL;
        dnnl_primitive_desc_destroy(pd);
        pd = bpd;
    }
    dnnl_primitive_attr_destroy(attr);
    if (!pd) return false;
    const bool scale = flags & dnnl_use_scale, shift = flags & dnnl_use_shift;
    if (k->w[0] == BN_FWD) {
        /* {x, [scale], [shift], y, mean, var} */
        add_arg(p, DNNL_ARG_SRC, false, false, &md);
        if (scale) add_arg(p, DNNL_ARG_SCALE, false, false, &cmd);
        if (shift) add_arg(p, DNNL_ARG_SHIFT, false, false, &cmd);
        add_arg(p, DNNL_ARG_DST, true, false, &md);
        add_arg(p, DNNL_ARG_MEAN, !global, false, &cmd);
        add_arg(p, DNNL_ARG_VARIANCE, !global, false, &cmd);
    } else {
        /* {x, mean, var, gy, [scale], gx, [gw], [gb]} */
        add_arg(p, DNNL_ARG_SRC, false, false, &md);
        add_arg(p, DNNL_ARG_MEAN, false, false, &cmd);
        add_arg(p, DNNL_ARG_VARIANCE, false, false, &cmd);
        add_arg(p, DNNL_ARG_DIFF_DST, false, false, &md);
        if (scale) add_arg(p, DNNL_ARG_SCALE, false, false, &cmd);
        if (shift) add_arg(p, DNNL_ARG_SHIFT, false, false, &cmd);   /* unused by the math, required by oneDNN */
        add_arg(p, DNNL_ARG_DIFF_SRC, true, true, &md);
        if (k->w[6] && scale) add_arg(p, DNNL_ARG_DIFF_SCALE, true, true, &cmd);
        if (k->w[6] && shift) add_arg(p, DNNL_ARG_DIFF_SHIFT, true, true, &cmd);
    }
    bool ok = odnn_set_scratch(p, pd) && dnnl_primitive_create(&p->prim, pd) == dnnl_success;
    dnnl_primitive_desc_destroy(pd);
    return ok;
}

static bool f32_or_null(const ed_tensor *t) { return !t || t->dtype == ED_F32; }

/* Per-channel f32 mean, variance and a zero shift, grow-only (calls are serialised). */
static float *stats_buf(int64_t C)
{
    static float *buf;
    static int64_t cap;
    if (cap < C) {
        ed__aligned_free(buf);
        buf = ed__aligned_alloc(sizeof(float) * 3 * (size_t)C);
        cap = buf ? C : 0;
    }
    return buf;
}

/* ---- forward: { x, weight, bias, running_mean, running_var, y, save_mean, save_invstd } */

static unsigned fwd_flags(const bn_params *p, ed_tensor *const *t)
{
    return (t[1] ? dnnl_use_scale : 0u) | (t[2] ? dnnl_use_shift : 0u) | (p->training ? 0u : dnnl_use_global_stats);
}

static odnn_prim *fwd_entry(const bn_params *p, ed_tensor *const *t)
{
    odnn_key k;
    make_key(&k, BN_FWD, p, fwd_flags(p, t), 0);
    return odnn_cache_get(&k, build);
}

static bool fwd_supports(const void *params, ed_tensor *const *t)
{
    const bn_params *p = params;
    for (int i = 0; i < 6; i++)
        if (!f32_or_null(t[i])) return false;
    if (p->N * p->C * p->S <= 0 || (!p->training && !t[3])) return false;
    odnn_lock();
    bool ok = fwd_entry(p, t) != NULL;
    odnn_unlock();
    return ok;
}

static ed_status fwd_run(const void *params, ed_tensor *const *t)
{
    const bn_params *p = params;
    const int64_t C = p->C;
    ed_tensor *rm = t[3], *rv = t[4];
    double *mu = t[6]->data, *is = t[7]->data;
    odnn_lock();
    odnn_prim *e = fwd_entry(p, t);
    float *st = stats_buf(C);
    ed_status s = ED_OK;
    if (!e || !st) {
        s = ed__err(e ? ED_E_NOMEM : ED_E_UNSUPPORTED, "batch_norm: oneDNN kernel unavailable");
    } else {
        float *mean = p->training ? st : rm->data, *var = p->training ? st + C : rv->data;
        void *d[6];
        int n = 0;
        d[n++] = t[0]->data;
        if (t[1]) d[n++] = t[1]->data;
        if (t[2]) d[n++] = t[2]->data;
        d[n++] = t[5]->data;
        d[n++] = mean;
        d[n++] = var;
        s = odnn_run(e, d, "batch_norm");
        if (s == ED_OK) {
            const double M = (double)(p->N * p->S);
            for (int64_t c = 0; c < C; c++) {
                mu[c] = mean[c];
                is[c] = 1.0 / sqrt((double)var[c] + p->eps);
            }
            if (p->training && rm) {
                float *r_m = rm->data, *r_v = rv->data;
                for (int64_t c = 0; c < C; c++) {
                    r_m[c] = (float)((1 - p->momentum) * (double)r_m[c] + p->momentum * mean[c]);
                    r_v[c] = (float)((1 - p->momentum) * (double)r_v[c] + p->momentum * (double)var[c] * M / (M - 1));
                }
            }
        }
    }
    odnn_unlock();
    return s;
}

/* ---- backward: { x, weight, gy, save_mean, save_invstd, gx, gw, gb } ----- */

static bool bwd_key(const bn_params *p, ed_tensor *const *t, odnn_key *k)
{
    ed_tensor *w = t[1], *gx = t[5], *gw = t[6], *gb = t[7];
    if (!gx || (w && !gw && gb)) return false;
    unsigned flags = (w ? dnnl_use_scale : 0u) | (gb ? dnnl_use_shift : 0u) | (p->training ? 0u : dnnl_use_global_stats);
    make_key(k, BN_BWD, p, flags, gw || gb);
    return true;
}

static bool bwd_supports(const void *params, ed_tensor *const *t)
{
    const bn_params *p = params;
    static const int f32s[] = { 0, 1, 2, 5, 6, 7 };
    for (int i = 0; i < 6; i++)
        if (!f32_or_null(t[f32s[i]])) return false;
    odnn_key k;
    if (p->N * p->C * p->S <= 0 || !bwd_key(p, t, &k)) return false;
    odnn_lock();
    bool ok = odnn_cache_get(&k, build) != NULL;
    odnn_unlock();
    return ok;
}

static ed_status bwd_run(const void *params, ed_tensor *const *t)
{
    const bn_params *p = params;
    const int64_t C = p->C;
    odnn_key k;
    if (!bwd_key(p, t, &k)) return ed__err(ED_E_UNSUPPORTED, "batch_norm: oneDNN kernel unavailable");
    odnn_lock();
    odnn_prim *e = odnn_cache_get(&k, build);
    float *st = stats_buf(C);
    ed_status s;
    if (!e || !st) {
        s = ed__err(e ? ED_E_NOMEM : ED_E_UNSUPPORTED, "batch_norm: oneDNN kernel unavailable");
    } else {
        const double *mu = t[3]->data, *is = t[4]->data;
        for (int64_t c = 0; c < C; c++) {
            st[c] = (float)mu[c];
            st[C + c] = (float)(1.0 / (is[c] * is[c]) - p->eps);
        }
        void *d[10];
        int n = 0;
        d[n++] = t[0]->data;
        d[n++] = st;
        d[n++] = st + C;
        d[n++] = t[2]->data;
        if (t[1]) d[n++] = t[1]->data;
        if (t[7]) {
            memset(st + 2 * C, 0, sizeof(float) * (size_t)C);
            d[n++] = st + 2 * C;
        }
        d[n++] = t[5]->data;
        if (k.w[6] && t[1]) d[n++] = t[6]->data;
        if (k.w[6] && t[7]) d[n++] = t[7]->data;
        s = odnn_run(e, d, "batch_norm");
    }
    odnn_unlock();
    return s;
}

static const ed_kernel kernels[] = {
    { ED_OP_BATCH_NORM, ED_FORWARD, "onednn", fwd_supports, fwd_run },
    { ED_OP_BATCH_NORM, ED_BACKWARD, "onednn", bwd_supports, bwd_run },
};

/* Not registered: tests/test_norm holds float32 batch_norm to 1e-5 of the
 * float64 truth, including a batch of mean 100, and oneDNN's float32
 * statistics and gradient sums miss that by up to 4e-4 (its one-pass f32
 * sums lose the digits the reference keeps by summing in double). The
 * kernels are correct to ~1e-5 on ordinary data (tests/test_onednn.c calls
 * them through odnn_bn_kernel) and can be registered once the library's
 * accuracy contract for float32 normalisation allows it, or once they run
 * on blocked activations where their speed matters (docs/PERFORMANCE.md). */
const ed_kernel *odnn_bn_kernel(ed_pass pass) { return &kernels[pass == ED_BACKWARD]; }

void ed__onednn_register_bn(void) {}
