/* The inference chain of convolutions (ops/conv_chain.c documents the op and
 * its tensors[]): each convolution but the last writes its output in its
 * own layout and in the convolution's type (params.dst_lo: bf16 under
 * --precision bf16; the next convolution would round its input to bf16
 * anyway, with the same rounding), and the next one takes that buffer as
 * its source. Only x is converted in and y out. Folded BatchNorms go
 * through the weight cache as in conv2d (odnn_run_pre_scaled).
 *
 * Supported when every convolution runs on oneDNN and each one's source
 * layout is exactly the previous one's output layout (checked when asked:
 * with format_tag any on both sides oneDNN has picked the same so far:
 * nChw16c in float32, NHWC in bfloat16). */
#include "backend/onednn/conv_internal.h"
#include "ops/conv_chain_params.h"

static ed__conv_params conv_params(const ed__chain_params *p, int i, bool scaled)
{
    ed__conv_params c;
    memset(&c, 0, sizeof c);
    c.stride[0] = c.stride[1] = 1;
    c.dilation[0] = c.dilation[1] = 1;
    c.pad_lo[0] = c.pad_lo[1] = c.pad_hi[0] = c.pad_hi[1] = p->pad;
    c.groups = 1;
    c.relu = p->relu[i];
    c.wscale = scaled;
    c.dst_lo = i < p->n - 1;
    return c;
}

/* Entry i and the shapes around it; x_i is described by a header-only
 * tensor (the entry's key reads shapes only). */
static odnn_prim *entry_of(const ed__chain_params *p, ed_tensor *const *t, int i)
{
    const ed_tensor *x = t[0], *w = t[2 + 3 * i];
    ed_tensor xi = { .dtype = ED_F32, .ndim = 4, .shape = { x->shape[0], w->shape[1], x->shape[2], x->shape[3] } };
    const int64_t y[4] = { x->shape[0], w->shape[0], x->shape[2], x->shape[3] };
    ed__conv_params c = conv_params(p, i, t[4 + 3 * i] != NULL);
    return odnn_conv_entry(CONV_FWD, &c, &xi, w, y, t[3 + 3 * i] != NULL);
}

static bool chain_supports(const void *params, ed_tensor *const *t)
{
    const ed__chain_params *p = params;
    if (p->n < 2 || p->n > ED_CHAIN_MAX || !t[0] || !t[1]) return false;
    bool ok = true;
    odnn_lock();
    odnn_prim *prev = NULL;
    for (int i = 0; i < p->n && ok; i++) {
        odnn_prim *e = entry_of(p, t, i);
        ok = e && (!t[4 + 3 * i] || (e->args[1].reorder && e->args[1].cache));
        if (ok && prev) ok = dnnl_memory_desc_equal(&e->args[0].prim_md, &prev->args[prev->n_args - 1].prim_md);
        prev = e;
    }
    odnn_unlock();
    return ok;
}

static ed_status chain_run(const void *params, ed_tensor *const *t)
{
    const ed__chain_params *p = params;
    ed_status st = ED_OK;
    odnn_lock();
    /* The entries, and two buffers each as large as the largest output
     * between the ends. */
    odnn_prim *es[ED_CHAIN_MAX];
    size_t bytes = 64;
    for (int i = 0; i < p->n; i++) {
        es[i] = entry_of(p, t, i);
        if (!es[i]) {
            odnn_unlock();
            return ed__err(ED_E_UNSUPPORTED, "conv chain: oneDNN kernel unavailable for these arguments");
        }
        const size_t b = dnnl_memory_desc_get_size(&es[i]->args[es[i]->n_args - 1].prim_md);
        if (i < p->n - 1 && b > bytes) bytes = b;
    }
    void *buf[2] = { ed__scratch(bytes), ed__scratch(bytes) };
    if (!buf[0] || !buf[1]) st = ed__err(ED_E_NOMEM, "conv chain: out of memory for the activations between convolutions");
    for (int i = 0; i < p->n && st == ED_OK; i++) {
        odnn_prim *e = es[i];
        const ed_tensor *w = t[2 + 3 * i], *b = t[3 + 3 * i], *s = t[4 + 3 * i];
        const bool last = i == p->n - 1;
        void *src = i ? buf[(i - 1) % 2] : NULL, *dst = last ? NULL : buf[i % 2];
        void *data[4], *pre[4];
        int k = 0;
        data[k] = i ? src : t[0]->data, pre[k++] = src;
        data[k] = w->data, pre[k++] = NULL;
        if (b) data[k] = b->data, pre[k++] = NULL;
        data[k] = last ? t[1]->data : dst, pre[k++] = dst;
        odnn_weight_tensor(w);
        st = odnn_run_pre_scaled(e, data, pre, s ? ed__cf64(s) : NULL, s ? s->numel : 0, "conv chain");
        odnn_weight_tensor(NULL);
    }
    odnn_unlock();
    ed__scratch_free(buf[1]);
    ed__scratch_free(buf[0]);
    return st;
}

static const ed_kernel kernels[] = {
    { ED_OP_CONV_CHAIN, ED_FORWARD, "onednn", chain_supports, chain_run },
};

void ed__onednn_register_chain(void)
{
    for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++) ed_backend_register(&kernels[i]);
}
