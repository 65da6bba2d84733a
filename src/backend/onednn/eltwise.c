/* oneDNN kernels for relu, forward and backward, float32 (tensors as
 * documented in ops/elementwise.c: {x, y} and {x, gy, gx}; params is the op
 * name, only "relu" is taken). The data is viewed as one flat vector: an
 * elementwise op does not care about shape or layout. Backward adds into gx
 * through the shared workspace and a reorder with a sum post-op, like the
 * convolution gradients. */
#include "backend/onednn/onednn_common.h"

enum { ELT_FWD = 101, ELT_BWD = 102 };

static void make_key(odnn_key *k, int kind, int64_t n)
{
    memset(k, 0, sizeof *k);
    k->w[0] = kind;
    k->w[1] = ed_get_num_threads();
    k->w[2] = n;
}

static void add_arg(odnn_prim *p, int arg, bool output, bool acc, const dnnl_memory_desc_t *md)
{
    odnn_arg *a = &p->args[p->n_args++];
    a->arg = arg;
    a->output = output;
    a->accumulate = acc;
    a->user_md = a->prim_md = *md;
}

static dnnl_primitive_desc_t relu_fwd_pd(const dnnl_memory_desc_t *md, dnnl_primitive_attr_t attr, dnnl_engine_t eng)
{
    dnnl_eltwise_desc_t d;
    dnnl_primitive_desc_t pd = NULL;
    if (dnnl_eltwise_forward_desc_init(&d, dnnl_forward_training, dnnl_eltwise_relu, md, 0.f, 0.f) != dnnl_success ||
        dnnl_primitive_desc_create(&pd, &d, attr, eng, NULL) != dnnl_success)
        return NULL;
    return pd;
}

static bool build(const odnn_key *k, dnnl_engine_t eng, odnn_prim *p)
{
    dnnl_memory_desc_t md;
    odnn_md(&md, 1, &k->w[2], dnnl_a);
    dnnl_primitive_attr_t attr = odnn_attr();
    if (!attr) return false;
    dnnl_primitive_desc_t pd = relu_fwd_pd(&md, attr, eng);
    if (pd && k->w[0] == ELT_BWD) {
        dnnl_eltwise_desc_t d;
        dnnl_primitive_desc_t bpd = NULL;
        if (dnnl_eltwise_backward_desc_init(&d, dnnl_eltwise_relu, &md, &md, 0.f, 0.f) != dnnl_success ||
            dnnl_primitive_desc_create(&bpd, &d, attr, eng, pd) != dnnl_success)
            bpd = NULL;
        dnnl_primitive_desc_destroy(pd);
        pd = bpd;
    }
    dnnl_primitive_attr_destroy(attr);
    if (!pd) return false;
    if (k->w[0] == ELT_FWD) {
        add_arg(p, DNNL_ARG_SRC, false, false, &md);
        add_arg(p, DNNL_ARG_DST, true, false, &md);
    } else {
        add_arg(p, DNNL_ARG_SRC, false, false, &md);
        add_arg(p, DNNL_ARG_DIFF_DST, false, false, &md);
        add_arg(p, DNNL_ARG_DIFF_SRC, true, true, &md);
    }
    bool ok = odnn_set_scratch(p, pd) && dnnl_primitive_create(&p->prim, pd) == dnnl_success;
    dnnl_primitive_desc_destroy(pd);
    return ok;
}

static bool ok_tensors(const void *params, ed_tensor *const *t, int n)
{
    if (!params || strcmp(params, "relu") != 0) return false;
    for (int i = 0; i < n; i++)
        if (!t[i] || t[i]->dtype != ED_F32 || t[i]->numel != t[0]->numel) return false;
    return t[0]->numel > 0;
}

static odnn_prim *entry(int kind, int64_t n)
{
    odnn_key k;
    make_key(&k, kind, n);
    return odnn_cache_get(&k, build);
}

static bool supports(int kind, const void *params, ed_tensor *const *t, int n)
{
    if (!ok_tensors(params, t, n)) return false;
    odnn_lock();
    bool ok = entry(kind, t[0]->numel) != NULL;
    odnn_unlock();
    return ok;
}

static ed_status run(int kind, ed_tensor *const *t, int n)
{
    odnn_lock();
    odnn_prim *e = entry(kind, t[0]->numel);
    void *d[3] = { t[0]->data, t[1]->data, n > 2 ? t[2]->data : NULL };
    ed_status st = e ? odnn_run(e, d, "relu") : ed__err(ED_E_UNSUPPORTED, "relu: oneDNN kernel unavailable");
    odnn_unlock();
    return st;
}

static bool fwd_supports(const void *p, ed_tensor *const *t) { return supports(ELT_FWD, p, t, 2); }
static ed_status fwd_run(const void *p, ed_tensor *const *t) { (void)p; return run(ELT_FWD, t, 2); }
static bool bwd_supports(const void *p, ed_tensor *const *t) { return supports(ELT_BWD, p, t, 3); }
static ed_status bwd_run(const void *p, ed_tensor *const *t) { (void)p; return run(ELT_BWD, t, 3); }

static const ed_kernel kernels[] = {
    { ED_OP_ELTWISE, ED_FORWARD, "onednn", fwd_supports, fwd_run },
    { ED_OP_ELTWISE, ED_BACKWARD, "onednn", bwd_supports, bwd_run },
};

void ed__onednn_register_eltwise(void)
{
    for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++) ed_backend_register(&kernels[i]);
}
