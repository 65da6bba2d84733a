/* oneDNN kernels for conv2d and conv_transpose2d, forward and backward, in
 * float32 (float64 and empty tensors go to the reference kernels).
 *
 * Tensors and params are as documented in ops/conv2d.c and
 * ops/conv_transpose2d.c (params = ed__conv_params).
 *
 * Mapping to oneDNN:
 *   - dilation: oneDNN counts the gaps, so oneDNN dilation = torch - 1;
 *   - padding: padding_l = pad_lo, padding_r = pad_hi (asymmetric 'same');
 *     for the transposed convolution oneDNN's output size is
 *     (H-1)*s - pl - pr + (k-1)*d + 1, so output_padding goes into
 *     padding_r = padding - output_padding (may be negative);
 *   - weights: conv2d's (Cout, Cin/g, kh, kw) is oihw, or goihw with dims
 *     (g, Cout/g, Cin/g, kh, kw). oneDNN's deconvolution weights have dims
 *     (Cout, Cin) like a convolution's, while PyTorch stores
 *     (Cin, Cout/g, kh, kw): the same memory read as iohw, or as giohw
 *     (tag acbde) with groups; no flipping, both are the adjoint of conv.
 *   - backward accumulates: gradients are computed into a workspace and
 *     added to the user's buffer by a reorder with a sum post-op (or
 *     layout.c's add); diff_src is stored instead when the op asks
 *     (gx_overwrite: a fresh gradient buffer, see ed__grad_of_overwrite).
 * Activations and weights use the formats oneDNN picks (format_tag any),
 * reordered from/to the plain layouts at the edges of each call. */
#include "backend/onednn/conv_internal.h"
#include "encdec/precision.h"
#include "ops/conv_common.h"

#include <stddef.h>


/* Key layout: kind, threads, x dims, w dims, y dims, params, has_bias,
 * precision (ed_precision), Winograd (odnn_conv_wino). */
enum { K_KIND = 0, K_THR = 1, K_X = 2, K_W = 6, K_Y = 10, K_P = 14, K_BIAS = 34, K_PREC = 35, K_WINO = 36 };
_Static_assert(K_P + sizeof(ed__conv_params) / sizeof(int) <= K_BIAS, "conv params overlap the key's later words");
#define K_RELU (K_P + (int)(offsetof(ed__conv_params, relu) / sizeof(int)))
#define K_OW (K_P + (int)(offsetof(ed__conv_params, gx_overwrite) / sizeof(int)))
#define K_WSCALE (K_P + (int)(offsetof(ed__conv_params, wscale) / sizeof(int)))
#define K_KEEP (K_P + (int)(offsetof(ed__conv_params, keep_src) / sizeof(int)))
#define K_GXLO (K_P + (int)(offsetof(ed__conv_params, gx_lo) / sizeof(int)))
#define K_GWOW (K_P + (int)(offsetof(ed__conv_params, gw_overwrite) / sizeof(int)))

/* Under WINO_MIN_PIXELS positions (N H W) Winograd's tiles are too few to
 * pay for its transforms: measured here at 2 threads, 512 channels at 8x8
 * ran 1.2x (batch 8) to 5x (batch 1) slower than direct, 256 at 16x16 batch
 * 1 twice as slow, while every size from 2048 positions up ran faster
 * (1.2-2.4x). Channel counts are whole 16-blocks: with 3 input channels
 * (padded to 16) oneDNN 2.6's Winograd backward-weights added garbage to
 * the memory after the gradient it was given (seen in a U-Net's packed
 * gradients; tests/test_conv_algo.c's model test), and a first layer has
 * too few channels to gain anyway. */
#define WINO_MIN_PIXELS 2048

bool odnn_conv_wino(int kind, const ed__conv_params *p, const ed_tensor *x, const ed_tensor *w)
{
    return ed_get_conv_algo() == ED_CONV_ALGO_WINOGRAD && ed_get_conv_precision() == ED_PRECISION_F32 &&
           kind <= CONV_BWD_W && !p->nhwc && !p->w_io && p->groups == 1 && w->shape[2] == 3 && w->shape[3] == 3 &&
           p->stride[0] == 1 && p->stride[1] == 1 && p->dilation[0] == 1 && p->dilation[1] == 1 &&
           x->shape[0] * x->shape[2] * x->shape[3] >= WINO_MIN_PIXELS && x->shape[1] % 16 == 0 && w->shape[0] % 16 == 0;
}

static void make_key(odnn_key *k, int kind, const ed__conv_params *p, const ed_tensor *x, const ed_tensor *w,
                     const int64_t *ydims, bool bias)
{
    memset(k, 0, sizeof *k);
    k->w[K_KIND] = kind;
    k->w[K_THR] = ed_get_num_threads();
    for (int i = 0; i < 4; i++) {
        k->w[K_X + i] = x->shape[i];
        k->w[K_W + i] = w->shape[i];
        k->w[K_Y + i] = ydims[i];
    }
    const int *pp = &p->stride[0];
    int np = (int)(sizeof *p / sizeof(int));
    for (int i = 0; i < np; i++) k->w[K_P + i] = pp[i];
    k->w[K_BIAS] = bias;
    k->w[K_PREC] = ed_get_conv_precision();
    if (kind != CONV_FWD) k->w[K_RELU] = 0;   /* backward gets gy masked already: one entry */
    if (kind != CONV_BWD_DATA && kind != DECONV_BWD_DATA) k->w[K_OW] = k->w[K_GXLO] = 0;   /* diff_src's */
    if (ed_get_conv_precision() != ED_PRECISION_BF16) k->w[K_GXLO] = 0;   /* f32 is the compute type */
    if (kind != CONV_BWD_W && kind != DECONV_BWD_W) k->w[K_GWOW] = 0;   /* diff_weights' */
    k->w[K_WSCALE] = 0;   /* a folded weight is the same primitive: the weight cache folds it */
    k->w[K_KEEP] = 0;     /* so is a kept input */
    k->w[K_WINO] = odnn_conv_wino(kind, p, x, w);
}

static bool is_deconv(int kind) { return kind >= DECONV_FWD; }

/* Everything a builder needs, decoded from the key. */
typedef struct {
    ed__conv_params p;
    int64_t x[4], w[4], y[4];
    bool bias;
    dnnl_memory_desc_t src_u, wei_u, dst_u, bias_u;   /* user (plain) */
    dnnl_memory_desc_t src_a, wei_a, dst_a, bias_a;   /* any; src_a, wei_a in the compute type */
    dnnl_memory_desc_t dst_lo, src_f, wei_f;          /* any: dst in the compute type, src/wei in f32 */
    dnnl_dims_t strides, dil, pl, pr;
} geom;

/* bf16: the primitive's src, weights and diff_dst are bf16 (the reorders
 * at the edges convert), its outputs (dst, diff_src, diff_weights,
 * diff_bias) and the bias stay f32: oneDNN accumulates in f32 and writes f32
 * directly, so no precision is lost after the products. */
static void decode(const odnn_key *k, geom *g, bool bf16)
{
    const dnnl_data_type_t lo = bf16 ? dnnl_bf16 : dnnl_f32;
    memset(g, 0, sizeof *g);
    int *pp = &g->p.stride[0];
    int np = (int)(sizeof g->p / sizeof(int));
    for (int i = 0; i < np; i++) pp[i] = (int)k->w[K_P + i];
    for (int i = 0; i < 4; i++) {
        g->x[i] = k->w[K_X + i];
        g->w[i] = k->w[K_W + i];
        g->y[i] = k->w[K_Y + i];
    }
    g->bias = k->w[K_BIAS] != 0;
    const bool de = is_deconv((int)k->w[K_KIND]);
    const int64_t G = g->p.groups, cin = g->x[1], cout = g->y[1];
    odnn_md(&g->src_u, 4, g->x, dnnl_nchw);
    odnn_md(&g->dst_u, 4, g->y, dnnl_nchw);
    const dnnl_format_tag_t act = g->p.nhwc ? dnnl_acdb : dnnl_format_tag_any;
    odnn_md_dt(&g->src_a, 4, g->x, lo, act);
    odnn_md(&g->dst_a, 4, g->y, act);
    odnn_md_dt(&g->dst_lo, 4, g->y, lo, act);
    odnn_md(&g->src_f, 4, g->x, act);
    if (G == 1) {
        int64_t d[4] = { cout, cin, g->w[2], g->w[3] };
        odnn_md(&g->wei_u, 4, d, de || g->p.w_io ? dnnl_iohw : dnnl_oihw);
        odnn_md_dt(&g->wei_a, 4, d, lo, dnnl_format_tag_any);
        odnn_md(&g->wei_f, 4, d, dnnl_format_tag_any);
    } else {
        int64_t d[5] = { G, cout / G, cin / G, g->w[2], g->w[3] };
        odnn_md(&g->wei_u, 5, d, de ? dnnl_acbde : dnnl_goihw);
        odnn_md_dt(&g->wei_a, 5, d, lo, dnnl_format_tag_any);
        odnn_md(&g->wei_f, 5, d, dnnl_format_tag_any);
    }
    odnn_md(&g->bias_u, 1, &cout, dnnl_a);
    odnn_md(&g->bias_a, 1, &cout, dnnl_format_tag_any);
    for (int d = 0; d < 2; d++) {
        g->strides[d] = g->p.stride[d];
        g->dil[d] = g->p.dilation[d] - 1;
        g->pl[d] = g->p.pad_lo[d];
        g->pr[d] = g->p.pad_hi[d] - (de ? g->p.output_padding[d] : 0);
    }
}

static void set_arg(odnn_prim *p, int arg, bool output, bool acc, const dnnl_memory_desc_t *user,
                    const_dnnl_primitive_desc_t pd, dnnl_query_t q, int idx)
{
    odnn_arg *a = &p->args[p->n_args++];
    a->arg = arg;
    a->output = output;
    a->accumulate = acc;
    a->user_md = *user;
    a->prim_md = *dnnl_primitive_desc_query_md(pd, q, idx);
}

/* The forward primitive descriptor (also the hint for backward). */
static dnnl_primitive_desc_t fwd_pd(const geom *g, bool de, const dnnl_memory_desc_t *dst, dnnl_primitive_attr_t attr,
                                    dnnl_engine_t eng, bool wino)
{
    union {
        dnnl_convolution_desc_t c;
        dnnl_deconvolution_desc_t d;
    } desc;
    dnnl_status_t s;
    const dnnl_memory_desc_t *b = g->bias ? &g->bias_a : NULL;
    if (de)
        s = dnnl_dilated_deconvolution_forward_desc_init(&desc.d, dnnl_forward_training, dnnl_deconvolution_direct,
                                                         &g->src_a, &g->wei_a, b, dst, g->strides, g->dil, g->pl,
                                                         g->pr);
    else
        s = dnnl_dilated_convolution_forward_desc_init(&desc.c, dnnl_forward_training,
                                                       wino ? dnnl_convolution_winograd : dnnl_convolution_direct,
                                                       &g->src_a, &g->wei_a, b, dst, g->strides, g->dil, g->pl,
                                                       g->pr);
    dnnl_primitive_desc_t pd = NULL;
    if (s != dnnl_success || dnnl_primitive_desc_create(&pd, &desc, attr, eng, NULL) != dnnl_success) return NULL;
    return pd;
}

static bool finish(odnn_prim *p, dnnl_primitive_desc_t pd)
{
    bool ok = odnn_set_scratch(p, pd) && dnnl_primitive_create(&p->prim, pd) == dnnl_success;
    dnnl_primitive_desc_destroy(pd);
    return ok;
}

/* Forward: args {src, weights, [bias], dst}. */
static bool build_fwd(const odnn_key *k, dnnl_engine_t eng, odnn_prim *p, bool bf16)
{
    geom g;
    decode(k, &g, bf16);
    dnnl_primitive_attr_t attr = odnn_attr();
    if (!attr) return false;
    if (g.p.relu) {   /* y = relu(conv + bias) as an eltwise post-op */
        dnnl_post_ops_t po = NULL;
        bool ok = dnnl_post_ops_create(&po) == dnnl_success &&
                  dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f) == dnnl_success &&
                  dnnl_primitive_attr_set_post_ops(attr, po) == dnnl_success;
        if (po) dnnl_post_ops_destroy(po);
        if (!ok) { dnnl_primitive_attr_destroy(attr); return false; }
    }
    const dnnl_memory_desc_t *dst = g.p.dst_lo ? &g.dst_lo : &g.dst_a;
    const bool de = is_deconv((int)k->w[K_KIND]);
    /* Winograd where asked and oneDNN has it for these arguments, else direct */
    dnnl_primitive_desc_t pd = k->w[K_WINO] ? fwd_pd(&g, de, dst, attr, eng, true) : NULL;
    if (!pd) pd = fwd_pd(&g, de, dst, attr, eng, false);
    dnnl_primitive_attr_destroy(attr);
    if (!pd) return false;
    set_arg(p, DNNL_ARG_SRC, false, false, &g.src_u, pd, dnnl_query_src_md, 0);
    set_arg(p, DNNL_ARG_WEIGHTS, false, false, &g.wei_u, pd, dnnl_query_weights_md, 0);
    p->args[p->n_args - 1].cache = true;
    if (g.bias) set_arg(p, DNNL_ARG_BIAS, false, false, &g.bias_u, pd, dnnl_query_weights_md, 1);
    set_arg(p, DNNL_ARG_DST, true, false, &g.dst_u, pd, dnnl_query_dst_md, 0);
    return finish(p, pd);
}

/* A backward primitive descriptor (backward-weights when weights, else
 * backward-data): Winograd where asked and oneDNN has it, hinted by its
 * forward, else direct. */
static dnnl_primitive_desc_t bwd_pd(const odnn_key *k, const geom *g, bool de, bool weights, dnnl_primitive_attr_t attr,
                                    dnnl_engine_t eng)
{
    dnnl_primitive_desc_t pd = NULL;
    const dnnl_memory_desc_t *b = weights && g->bias ? &g->bias_a : NULL;
    const dnnl_memory_desc_t *diff_src = g->p.gx_lo ? &g->src_a : &g->src_f;   /* compute type, or f32 */
    for (int wino = k->w[K_WINO] ? 1 : 0; wino >= 0 && !pd; wino--) {
        dnnl_primitive_desc_t hint = fwd_pd(g, de, &g->dst_lo, attr, eng, wino);
        const dnnl_alg_kind_t alg = wino ? dnnl_convolution_winograd : dnnl_convolution_direct;
        union {
            dnnl_convolution_desc_t c;
            dnnl_deconvolution_desc_t d;
        } desc;
        dnnl_status_t s;
        if (weights && de)
            s = dnnl_dilated_deconvolution_backward_weights_desc_init(&desc.d, dnnl_deconvolution_direct, &g->src_a,
                                                                      &g->wei_f, b, &g->dst_lo, g->strides, g->dil,
                                                                      g->pl, g->pr);
        else if (weights)
            s = dnnl_dilated_convolution_backward_weights_desc_init(&desc.c, alg, &g->src_a, &g->wei_f, b, &g->dst_lo,
                                                                    g->strides, g->dil, g->pl, g->pr);
        else if (de)
            s = dnnl_dilated_deconvolution_backward_data_desc_init(&desc.d, dnnl_deconvolution_direct, diff_src,
                                                                   &g->wei_a, &g->dst_lo, g->strides, g->dil, g->pl,
                                                                   g->pr);
        else
            s = dnnl_dilated_convolution_backward_data_desc_init(&desc.c, alg, diff_src, &g->wei_a, &g->dst_lo,
                                                                 g->strides, g->dil, g->pl, g->pr);
        if (hint && s == dnnl_success && dnnl_primitive_desc_create(&pd, &desc, attr, eng, hint) != dnnl_success) pd = NULL;
        if (hint) dnnl_primitive_desc_destroy(hint);
    }
    return pd;
}

/* Backward data: args {diff_dst, weights, diff_src (+=)}. */
static bool build_bwd_data(const odnn_key *k, dnnl_engine_t eng, odnn_prim *p, bool bf16)
{
    geom g;
    decode(k, &g, bf16);
    g.bias = false;
    dnnl_primitive_attr_t attr = odnn_attr();
    if (!attr) return false;
    dnnl_primitive_desc_t pd = bwd_pd(k, &g, k->w[K_KIND] == DECONV_BWD_DATA, false, attr, eng);
    dnnl_primitive_attr_destroy(attr);
    if (!pd) return false;
    set_arg(p, DNNL_ARG_DIFF_DST, false, false, &g.dst_u, pd, dnnl_query_diff_dst_md, 0);
    p->args[0].shared_ws = true;   /* backward weights takes the reordered gy from here */
    set_arg(p, DNNL_ARG_WEIGHTS, false, false, &g.wei_u, pd, dnnl_query_weights_md, 0);
    p->args[p->n_args - 1].cache = true;
    set_arg(p, DNNL_ARG_DIFF_SRC, true, !g.p.gx_overwrite, &g.src_u, pd, dnnl_query_diff_src_md, 0);
    return finish(p, pd);
}

/* Backward weights: args {src, diff_dst, diff_weights (+=, or = with
 * gw_overwrite), [diff_bias (the same)]}. */
static bool build_bwd_w(const odnn_key *k, dnnl_engine_t eng, odnn_prim *p, bool bf16)
{
    geom g;
    decode(k, &g, bf16);
    dnnl_primitive_attr_t attr = odnn_attr();
    if (!attr) return false;
    dnnl_primitive_desc_t pd = bwd_pd(k, &g, k->w[K_KIND] == DECONV_BWD_W, true, attr, eng);
    dnnl_primitive_attr_destroy(attr);
    if (!pd) return false;
    set_arg(p, DNNL_ARG_SRC, false, false, &g.src_u, pd, dnnl_query_src_md, 0);
    set_arg(p, DNNL_ARG_DIFF_DST, false, false, &g.dst_u, pd, dnnl_query_diff_dst_md, 0);
    set_arg(p, DNNL_ARG_DIFF_WEIGHTS, true, !g.p.gw_overwrite, &g.wei_u, pd, dnnl_query_diff_weights_md, 0);
    if (g.bias) set_arg(p, DNNL_ARG_DIFF_BIAS, true, !g.p.gw_overwrite, &g.bias_u, pd, dnnl_query_diff_weights_md, 1);
    return finish(p, pd);
}

typedef bool (*build_prec_fn)(const odnn_key *k, dnnl_engine_t eng, odnn_prim *p, bool bf16);

/* bf16 where asked and oneDNN has it, else f32: a declined bf16 build falls
 * back to oneDNN's f32 kernel rather than to the reference. */
static bool build_either(build_prec_fn f, const odnn_key *k, dnnl_engine_t eng, odnn_prim *p)
{
    /* Outputs of under 16 positions stay float32: creating oneDNN 2.6's
     * AMX bf16 convolution for some (2x3, 3x3, 2x4 of 256 channels) reads
     * past the end of a buffer (a crash under AddressSanitizer, one
     * creation in a few), and such tiny convolutions cost nothing. */
    const bool tiny = k->w[K_Y + 2] * k->w[K_Y + 3] < 16;
    if (k->w[K_PREC] == ED_PRECISION_BF16 && !tiny) {
        if (f(k, eng, p, true)) return true;
        if (p->scratch_mem) dnnl_memory_destroy(p->scratch_mem);
        if (p->prim) dnnl_primitive_destroy(p->prim);
        memset(p, 0, sizeof *p);
    }
    return f(k, eng, p, false);
}
static bool build_fwd_any(const odnn_key *k, dnnl_engine_t e, odnn_prim *p) { return build_either(build_fwd, k, e, p); }
static bool build_bwd_data_any(const odnn_key *k, dnnl_engine_t e, odnn_prim *p)
{
    return build_either(build_bwd_data, k, e, p);
}
static bool build_bwd_w_any(const odnn_key *k, dnnl_engine_t e, odnn_prim *p)
{
    return build_either(build_bwd_w, k, e, p);
}

static odnn_build_fn builder(int kind)
{
    switch (kind) {
    case CONV_FWD: case DECONV_FWD: return build_fwd_any;
    case CONV_BWD_DATA: case DECONV_BWD_DATA: return build_bwd_data_any;
    default: return build_bwd_w_any;
    }
}

static bool f32(const ed_tensor *t) { return !t || t->dtype == ED_F32; }

static bool nonempty(const ed_tensor *x, const ed_tensor *w, const int64_t *y)
{
    for (int i = 0; i < 4; i++)
        if (x->shape[i] <= 0 || w->shape[i] <= 0 || y[i] <= 0) return false;
    return x->ndim == 4 && w->ndim == 4;
}

/* Looks up (building on first use) the entry for one kind. */
odnn_prim *odnn_conv_entry(int kind, const ed__conv_params *p, const ed_tensor *x, const ed_tensor *w, const int64_t *y,
                        bool bias)
{
    odnn_key k;
    make_key(&k, kind, p, x, w, y, bias);
    return odnn_cache_get(&k, builder(kind));
}

/* ---- forward: tensors {x, weight, bias, y} (+ s, see wscaled) ------------ */

/* A kept input (params.keep_src, conv_common.h): the holder's header is
 * the copy's size and oneDNN memory descriptor; backward weights uses the
 * copy only if its primitive wants that very descriptor. */
typedef struct {
    uint64_t bytes;
    dnnl_memory_desc_t md;
} keep_header;
_Static_assert(sizeof(keep_header) <= ED_CONV_KEEP_HEADER, "ED_CONV_KEEP_HEADER is too small");

/* Forward (tensors[5] when params.keep_src): x converted into the holder
 * (the source of this run, returned) or NULL when not kept (the run
 * converts as usual). */
void *odnn_conv_keep_src(ed_tensor *holder, odnn_prim *e, const void *x)
{
    if (!holder || holder->dtype != ED_U8) return NULL;
    keep_header h;
    memset(&h, 0, sizeof h);
    memcpy(holder->data, &h.bytes, sizeof h.bytes);
    if (!e->args[0].reorder || e->args[0].cache) return NULL;
    h.md = e->args[0].prim_md;
    h.bytes = dnnl_memory_desc_get_size(&h.md);
    if ((int64_t)h.bytes > holder->numel - ED_CONV_KEEP_HEADER) return NULL;
    unsigned char *data = (unsigned char *)holder->data + ED_CONV_KEEP_HEADER;
    if (!odnn_input_to(e, 0, x, data)) return NULL;
    memcpy(holder->data, &h, sizeof h);
    return data;
}

void *odnn_conv_keep_data(ed_tensor *holder) { return (unsigned char *)holder->data + ED_CONV_KEEP_HEADER; }

void odnn_conv_keep_set(ed_tensor *holder, const dnnl_memory_desc_t *md)
{
    keep_header h;
    memset(&h, 0, sizeof h);
    h.md = *md;
    h.bytes = dnnl_memory_desc_get_size(md);
    memcpy(holder->data, &h, sizeof h);
}

/* Backward weights: the kept copy, if it is what entry e takes as its
 * source (args[0]), else NULL. */
void *odnn_conv_kept_src(const ed_tensor *holder, const odnn_prim *e)
{
    if (!holder || holder->dtype != ED_U8 || !e->args[0].reorder) return NULL;
    keep_header h;
    memcpy(&h, holder->data, sizeof h);
    if (!h.bytes || !dnnl_memory_desc_equal(&h.md, &e->args[0].prim_md)) return NULL;
    return (unsigned char *)holder->data + ED_CONV_KEEP_HEADER;
}

/* A folded weight (conv2d's params.wscale, tensors[4] = s) is folded by the
 * weight cache, so the entry must reorder its weight (args[1]); it always
 * has so far (oneDNN picks a blocked weight format). */
static bool wscaled(int kind, const void *params) { return kind == CONV_FWD && ((const ed__conv_params *)params)->wscale; }

static bool fwd_supports(int kind, const void *params, ed_tensor *const *t)
{
    if (!f32(t[0]) || !f32(t[1]) || !f32(t[2]) || !f32(t[3])) return false;
    if (t[0]->deferred) return false;   /* x's data unwritten: a kernel that reads its producer's copy (deconv_up2.c) */
    if (!nonempty(t[0], t[1], t[3]->shape)) return false;
    if (wscaled(kind, params) && (!t[4] || t[4]->dtype != ED_F64 || t[4]->numel != t[1]->shape[0])) return false;
    odnn_lock();
    odnn_prim *e = odnn_conv_entry(kind, params, t[0], t[1], t[3]->shape, t[2] != NULL);
    odnn_unlock();
    if (e && wscaled(kind, params) && !(e->args[1].reorder && e->args[1].cache)) return false;
    return e != NULL;
}

static ed_status fwd_run(int kind, const void *params, ed_tensor *const *t, const char *op)
{
    odnn_lock();
    odnn_prim *e = odnn_conv_entry(kind, params, t[0], t[1], t[3]->shape, t[2] != NULL);
    ed_status st;
    if (!e) {
        st = ed__err(ED_E_UNSUPPORTED, "%s: oneDNN kernel unavailable for these arguments", op);
    } else {
        void *d[4] = { t[0]->data, t[1]->data, t[2] ? t[2]->data : NULL, t[3]->data };
        void *dd[4];
        int n = 0;
        for (int i = 0; i < 4; i++)
            if (i != 2 || t[2]) dd[n++] = d[i];
        const bool keep = kind == CONV_FWD && ((const ed__conv_params *)params)->keep_src;
        void *pre[4] = { keep ? odnn_conv_keep_src(t[5], e, t[0]->data) : NULL, NULL, NULL, NULL };
        odnn_weight_tensor(t[1]);
        st = wscaled(kind, params) ? odnn_run_scaled(e, dd, ed__cf64(t[4]), t[4]->numel, op)
                                   : odnn_run_pre(e, dd, pre[0] ? pre : NULL, op);
        odnn_weight_tensor(NULL);
    }
    odnn_unlock();
    return st;
}

/* ---- backward: tensors {x, weight, gy, gx, gweight, gbias} --------------- */

static bool bwd_supports(int kind_data, int kind_w, const void *params, ed_tensor *const *t)
{
    for (int i = 0; i < 6; i++)
        if (!f32(t[i])) return false;
    if (t[0]->deferred) return false;   /* as in fwd_supports */
    if (!nonempty(t[0], t[1], t[2]->shape)) return false;
    bool ok = true;
    odnn_lock();
    if (t[3]) ok = odnn_conv_entry(kind_data, params, t[0], t[1], t[2]->shape, false) != NULL;
    if (ok && t[4]) ok = odnn_conv_entry(kind_w, params, t[0], t[1], t[2]->shape, t[5] != NULL) != NULL;
    odnn_unlock();
    return ok;
}

static ed_status bwd_run(int kind_data, int kind_w, const void *params, ed_tensor *const *t, const char *op)
{
    ed_tensor *x = t[0], *w = t[1], *gy = t[2], *gx = t[3], *gw = t[4], *gb = t[5];
    ed_status st = ED_OK;
    odnn_lock();
    odnn_prim *ebd = NULL;
    if (gx) {
        ebd = odnn_conv_entry(kind_data, params, x, w, gy->shape, false);
        odnn_weight_tensor(w);
        st = ebd ? odnn_run(ebd, (void *[]){ gy->data, w->data, gx->data }, op)
                 : ed__err(ED_E_UNSUPPORTED, "%s: oneDNN kernel unavailable for these arguments", op);
        odnn_weight_tensor(NULL);
    }
    /* oneDNN's bf16 deconvolution backward-weights sums the bias gradient
     * in a plain C++ loop over bf16 diff_dst (about 10% of a bf16 unet32
     * step at 1 thread); the library's loop on the float32 gy is faster. */
    const bool own_gb = gb && gw && kind_w == DECONV_BWD_W && ed_get_conv_precision() == ED_PRECISION_BF16;
    if (st == ED_OK && gw) {
        odnn_prim *e = odnn_conv_entry(kind_w, params, x, w, gy->shape, gb != NULL && !own_gb);
        /* gy reordered once: the backward-data call's copy, when both
         * primitives want it in the same layout. */
        void *gy_pre = ebd && e && e->args[1].reorder && dnnl_memory_desc_equal(&ebd->args[0].prim_md, &e->args[1].prim_md)
                           ? odnn_shared_input(ebd, 0) : NULL;
        /* x as the forward converted it, when it kept the copy. */
        const ed__conv_params *cp = params;
        void *x_pre = e && kind_w == CONV_BWD_W && cp->keep_src ? odnn_conv_kept_src(t[6], e) : NULL;
        st = e ? odnn_run_pre(e, (void *[]){ x->data, gy->data, gw->data, gb && !own_gb ? gb->data : NULL },
                              (void *[]){ x_pre, gy_pre, NULL, NULL }, op)
               : ed__err(ED_E_UNSUPPORTED, "%s: oneDNN kernel unavailable for these arguments", op);
    }
    odnn_unlock();
    if (st == ED_OK && gb && (!gw || own_gb))
        ed__conv_bias_grad(ED_F32, gy->shape[0], gy->shape[1], gy->shape[2] * gy->shape[3], gy->data, gb->data);
    return st;
}

static bool conv_fwd_supports(const void *p, ed_tensor *const *t) { return fwd_supports(CONV_FWD, p, t); }
static ed_status conv_fwd_run(const void *p, ed_tensor *const *t) { return fwd_run(CONV_FWD, p, t, "conv2d"); }
static bool conv_bwd_supports(const void *p, ed_tensor *const *t) { return bwd_supports(CONV_BWD_DATA, CONV_BWD_W, p, t); }
static ed_status conv_bwd_run(const void *p, ed_tensor *const *t)
{
    return bwd_run(CONV_BWD_DATA, CONV_BWD_W, p, t, "conv2d");
}
static bool deconv_fwd_supports(const void *p, ed_tensor *const *t) { return fwd_supports(DECONV_FWD, p, t); }
static ed_status deconv_fwd_run(const void *p, ed_tensor *const *t)
{
    return fwd_run(DECONV_FWD, p, t, "conv_transpose2d");
}
static bool deconv_bwd_supports(const void *p, ed_tensor *const *t)
{
    return bwd_supports(DECONV_BWD_DATA, DECONV_BWD_W, p, t);
}
static ed_status deconv_bwd_run(const void *p, ed_tensor *const *t)
{
    return bwd_run(DECONV_BWD_DATA, DECONV_BWD_W, p, t, "conv_transpose2d");
}

static const ed_kernel kernels[] = {
    { ED_OP_CONV2D, ED_FORWARD, "onednn", conv_fwd_supports, conv_fwd_run },
    { ED_OP_CONV2D, ED_BACKWARD, "onednn", conv_bwd_supports, conv_bwd_run },
    { ED_OP_CONV_TRANSPOSE2D, ED_FORWARD, "onednn", deconv_fwd_supports, deconv_fwd_run },
    { ED_OP_CONV_TRANSPOSE2D, ED_BACKWARD, "onednn", deconv_bwd_supports, deconv_bwd_run },
};

void ed__onednn_register_conv(void)
{
    for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++) ed_backend_register(&kernels[i]);
}
