/* The inference graph (ops/infer_graph.c documents the op and its
 * tensors[]) on oneDNN: every value between x and y stays in the layout
 * and type its producer writes (nChw16c float32, or NHWC bfloat16 under
 * --precision bf16, which the next convolution would round its input to
 * anyway), so only x is converted in and y out.
 *
 *   convolution: the cached conv.c entries, built with dst_lo (output in
 *     the compute type) except for the last step, any stride; folded
 *     BatchNorms through the weight cache (odnn_run_pre_scaled);
 *   max-pool 2x2: a oneDNN pooling (forward inference) on the producer's
 *     layout; the max of bf16-rounded values is the rounded max, so bf16
 *     gives the values of pooling first and rounding after;
 *   concatenation along channels: a copy, for layouts in which each
 *     image's channels are whole blocks (NCHW, nChw8c/16c/32c with channel
 *     counts multiples of the block) or NHWC;
 *   addition: float32 values of one layout (in bf16 the values are
 *     rounded and the ops add in float32, so bf16 graphs with additions
 *     run the ops one by one);
 *   2x2 stride-2 transposed convolution: a 1x1 convolution (below),
 *     unpacked by the concatenations that read it, or at once into
 *     nChw16c float32 when anything else reads it (DRUNet);
 *   pixel shuffle: nChw16c float32 to nChw16c float32 by gathers (EDSR).
 *
 * Supported when each step's source layout is exactly its producer's
 * output layout (checked when asked), every step but a convolution or
 * transposed convolution reads computed values (not x), and the last step
 * is a convolution. Buffers come from the
 * scratch allocator (the arena in a benchmark or a training loop) and go
 * after their last use. */
#include "backend/onednn/conv_internal.h"
#include "core/tile16.h"
#include "ops/infer_graph_params.h"

#include <stdint.h>
#include <stdlib.h>

/* ---- 2x2 max-pool on a given layout -------------------------------------- */

enum { P_THR = 1, P_DIMS = 2, P_DT = 6, P_TAG = 7, P_KIND = 8 };
#define POOL_KIND 0x504f4f4c   /* keys apart from every other builder's */

static bool build_pool(const odnn_key *k, dnnl_engine_t eng, odnn_prim *p)
{
    int64_t src[4], dst[4];
    for (int i = 0; i < 4; i++) src[i] = dst[i] = k->w[P_DIMS + i];
    dst[2] /= 2, dst[3] /= 2;
    dnnl_memory_desc_t s, d;
    odnn_md_dt(&s, 4, src, (dnnl_data_type_t)k->w[P_DT], (dnnl_format_tag_t)k->w[P_TAG]);
    odnn_md_dt(&d, 4, dst, (dnnl_data_type_t)k->w[P_DT], (dnnl_format_tag_t)k->w[P_TAG]);
    const dnnl_dims_t st = { 2, 2 }, ker = { 2, 2 }, pad = { 0, 0 };
    dnnl_pooling_desc_t desc;
    if (dnnl_pooling_forward_desc_init(&desc, dnnl_forward_inference, dnnl_pooling_max, &s, &d, st, ker, pad, pad) !=
        dnnl_success)
        return false;
    dnnl_primitive_attr_t attr = odnn_attr();
    if (!attr) return false;
    dnnl_primitive_desc_t pd = NULL;
    bool ok = dnnl_primitive_desc_create(&pd, &desc, attr, eng, NULL) == dnnl_success;
    dnnl_primitive_attr_destroy(attr);
    if (!ok) return false;
    p->args[0] = (odnn_arg){ .arg = DNNL_ARG_SRC, .user_md = s, .prim_md = s };
    p->args[1] = (odnn_arg){ .arg = DNNL_ARG_DST, .output = true, .user_md = d, .prim_md = d };
    p->n_args = 2;
    ok = odnn_set_scratch(p, pd) && dnnl_primitive_create(&p->prim, pd) == dnnl_success;
    dnnl_primitive_desc_destroy(pd);
    return ok;
}

/* The activation layouts a value may have, and channels per block. */
static const struct { dnnl_format_tag_t tag; int64_t block; } layouts[] = {
    { dnnl_nchw, 1 }, { dnnl_nhwc, 0 }, { dnnl_nChw8c, 8 }, { dnnl_nChw16c, 16 }, { dnnl_aBcd32b, 32 },
};

/* Which of those md is (index), or -1. */
static int layout_of(const dnnl_memory_desc_t *md)
{
    for (size_t i = 0; i < sizeof layouts / sizeof layouts[0]; i++) {
        dnnl_memory_desc_t t;
        odnn_md_dt(&t, 4, md->dims, md->data_type, layouts[i].tag);
        if (dnnl_memory_desc_equal(&t, md)) return (int)i;
    }
    return -1;
}

static odnn_prim *pool_entry(const dnnl_memory_desc_t *src)
{
    const int l = layout_of(src);
    if (l < 0) return NULL;
    odnn_key k;
    memset(&k, 0, sizeof k);
    k.w[0] = POOL_KIND;
    k.w[P_THR] = ed_get_num_threads();
    for (int i = 0; i < 4; i++) k.w[P_DIMS + i] = src->dims[i];
    k.w[P_DT] = src->data_type;
    k.w[P_TAG] = layouts[l].tag;
    k.w[P_KIND] = POOL_KIND;
    return odnn_cache_get(&k, build_pool);
}

/* ---- concatenation along channels, and the up-sampling's unpacking ------ */

/* A 2x2 stride-2 transposed convolution from Cin to Cout channels is a 1x1
 * convolution from Cin to 4 Cout channels, z[co * 4 + a * 2 + b] at (i, j),
 * followed by out[co] at (2i + a, 2j + b) = z[co * 4 + a * 2 + b] + bias[co]
 * (the weight (Cin, Cout, 2, 2) read as (4 Cout, Cin, 1, 1) in iohw: the
 * same memory). oneDNN's direct 1x1 convolution runs near the machine's
 * peak where its transposed convolution ran at a fifth of it; the
 * unpacking is done by the concatenation that reads the up-sampled value
 * anyway, so it costs no pass of its own. z is float32 (the bias is added
 * before any rounding to bf16, as the transposed convolution would), in
 * nChw16c when the concatenation is nChw16c float32, or NHWC when it is
 * NHWC (float32 or bf16). */

/* The concatenation's layout for inputs a and b, each given by its md or,
 * when packed, by its z's md and its channels (false if there is none). */
static bool cat_md(const dnnl_memory_desc_t *a, int64_t ca, bool pa, const dnnl_memory_desc_t *b, int64_t cb, bool pb,
                   dnnl_memory_desc_t *out)
{
    if (pa && pb) return false;
    const dnnl_memory_desc_t *plain = pa ? b : a, *z = pa ? a : (pb ? b : NULL);
    const int l = layout_of(plain);
    if (l < 0) return false;
    const int64_t B = layouts[l].block;
    if (B > 1 && (ca % B || cb % B)) return false;
    if (z) {   /* the unpacking below: 16 channels at a time, from these layouts only */
        const int lz = layout_of(z);
        const bool blocked16 = B == 16 && plain->data_type == dnnl_f32 && lz == l;
        const bool nhwc = B == 0 && lz == l;
        if (z->data_type != dnnl_f32 || (pa ? ca : cb) % 16 || !(blocked16 || nhwc)) return false;
    } else if (a->data_type != b->data_type || layout_of(b) != l) {
        return false;
    }
    const int64_t d[4] = { plain->dims[0], ca + cb, plain->dims[2], plain->dims[3] };
    odnn_md_dt(out, 4, d, plain->data_type, layouts[l].tag);
    return true;
}

/* Part [c0, c0 + C) of out (layout md, C0 channels in all) copied from src
 * (same layout and type, C channels). Blocked: per image, C HW elements;
 * NHWC: per pixel, C elements. In pieces of at most 64 KiB, so that one
 * image still spreads over the threads. */
static void copy_part(const dnnl_memory_desc_t *md, const void *src, int64_t C, int64_t c0, void *out)
{
    const size_t es = md->data_type == dnnl_f32 ? 4 : 2;
    const int64_t N = md->dims[0], Ct = md->dims[1], HW = md->dims[2] * md->dims[3];
    const bool nhwc = layouts[layout_of(md)].block == 0;
    const int64_t rows = nhwc ? N * HW : N;
    const size_t r_in = (size_t)(nhwc ? C : C * HW) * es, r_out = (size_t)(nhwc ? Ct : Ct * HW) * es;
    const size_t off = (size_t)(nhwc ? c0 : c0 * HW) * es, piece = 65536;
    const int64_t per_row = nhwc ? 1 : (int64_t)((r_in + piece - 1) / piece);
    const int64_t rows_per = nhwc ? (int64_t)(piece / r_in + 1) : 1;
    const int64_t tasks = nhwc ? (rows + rows_per - 1) / rows_per : rows * per_row;
    ED_PARALLEL_FOR
    for (int64_t t = 0; t < tasks; t++) {
        const int64_t r0 = nhwc ? t * rows_per : t / per_row;
        const int64_t r1 = nhwc ? (r0 + rows_per < rows ? r0 + rows_per : rows) : r0 + 1;
        const size_t lo = nhwc ? 0 : (size_t)(t % per_row) * piece;
        const size_t hi = nhwc || lo + piece > r_in ? r_in : lo + piece;
        for (int64_t r = r0; r < r1; r++)
            memcpy((unsigned char *)out + (size_t)r * r_out + off + lo, (const unsigned char *)src + (size_t)r * r_in + lo,
                   hi - lo);
    }
}

#if defined(__AVX512F__)
#include <immintrin.h>
/* o[ab][c] = z[c / 4][(c % 4) * 4 + ab], c < 16: 64 consecutive z channels
 * (16 output channels times 4 positions) into one vector per position. */
static inline void unpack16(const float *z0, const float *z1, const float *z2, const float *z3, __m512 o[4])
{
    const __m512 r0 = _mm512_loadu_ps(z0), r1 = _mm512_loadu_ps(z1), r2 = _mm512_loadu_ps(z2), r3 = _mm512_loadu_ps(z3);
    for (int ab = 0; ab < 4; ab++) {
        const __m512i idx = _mm512_setr_epi32(ab, 4 + ab, 8 + ab, 12 + ab, 16 + ab, 20 + ab, 24 + ab, 28 + ab, 0, 0, 0,
                                              0, 0, 0, 0, 0);
        const __m512 lo = _mm512_permutex2var_ps(r0, idx, r1), hi = _mm512_permutex2var_ps(r2, idx, r3);
        o[ab] = _mm512_shuffle_f32x4(lo, hi, 0x44);
    }
}
#endif

static inline void odnn_bf16_row(const float *v, uint16_t *o)
{
#if defined(__AVX512BF16__)
    _mm256_storeu_si256((__m256i *)o, (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(v)));
#else
    for (int c = 0; c < 16; c++) o[c] = ed__bf16_rne(v[c]);
#endif
}

/* Part [c0, c0 + C) of out (layout md: nChw16c float32, or NHWC float32 or
 * bf16; 2H x 2W) unpacked from z (4 C channels at H x W, float32, nChw16c
 * or NHWC as out), plus bias (C, or NULL). */
static void unpack_part(const dnnl_memory_desc_t *md, const float *z, const float *bias, int64_t C, int64_t c0, void *out)
{
    const int64_t N = md->dims[0], Ct = md->dims[1], OH = md->dims[2], OW = md->dims[3], H = OH / 2, W = OW / 2;
    const bool nhwc = layouts[layout_of(md)].block == 0, bf16 = md->data_type == dnnl_bf16;
    const int64_t CB = C / 16;
    /* z element (n, channel q, i, j) and out element (n, channel c, y, x) */
#define Z_AT(n, q, i, j) (nhwc ? (((n) * H + (i)) * W + (j)) * 4 * C + (q) \
                               : ((((n) * 4 * CB + (q) / 16) * H + (i)) * W + (j)) * 16 + (q) % 16)
#define O_AT(n, c, y, x) (nhwc ? (((n) * OH + (y)) * OW + (x)) * Ct + (c) \
                               : ((((n) * Ct + (c) - (c) % 16) * OH + (y) * 16) * OW) + (x) * 16 + (c) % 16)
    ED_PARALLEL_FOR
    for (int64_t t = 0; t < N * H * CB; t++) {
        const int64_t n = t / (H * CB), i = t / CB % H, cb = t % CB;
        for (int64_t j = 0; j < W; j++) {
            float v[4][16];
#if defined(__AVX512F__)
            __m512 o[4];
            const float *zb = z + Z_AT(n, cb * 64, i, j);
            const int64_t zs = nhwc ? 16 : H * W * 16;   /* the next 16 z channels */
            unpack16(zb, zb + zs, zb + 2 * zs, zb + 3 * zs, o);
            const __m512 bv = bias ? _mm512_loadu_ps(bias + cb * 16) : _mm512_setzero_ps();
            for (int ab = 0; ab < 4; ab++) _mm512_storeu_ps(v[ab], _mm512_add_ps(o[ab], bv));
#else
            for (int ab = 0; ab < 4; ab++)
                for (int c = 0; c < 16; c++)
                    v[ab][c] = z[Z_AT(n, (cb * 16 + c) * 4 + ab, i, j)] + (bias ? bias[cb * 16 + c] : 0.0f);
#endif
            for (int ab = 0; ab < 4; ab++) {
                const int64_t o = O_AT(n, c0 + cb * 16, 2 * i + ab / 2, 2 * j + ab % 2);
                if (bf16) odnn_bf16_row(v[ab], (uint16_t *)out + o);
                else memcpy((float *)out + o, v[ab], sizeof v[ab]);
            }
        }
    }
#undef Z_AT
#undef O_AT
}

/* out = a + b, n floats (same layout; a blocked layout's padding is zero in both). */
static void add_run(const float *a, const float *b, float *out, size_t n)
{
    const int64_t pieces = (int64_t)((n + 16383) / 16384);
    ED_PARALLEL_FOR
    for (int64_t q = 0; q < pieces; q++) {
        const size_t lo = (size_t)q * 16384, hi = lo + 16384 < n ? lo + 16384 : n;
        for (size_t k = lo; k < hi; k++) out[k] = a[k] + b[k];
    }
}

/* pixel_shuffle by r from nChw16c float32 to nChw16c float32 (Co = C / r^2
 * output channels, a multiple of 16): out channel c at (h r + i, w r + j)
 * is in channel c r^2 + i r + j at (h, w). Per output pixel and block of 16
 * channels, one gather: the 16 source channels' offsets from the block's
 * first depend on (i, j) only. */
static void shuffle_run(const float *in, float *out, int64_t N, int64_t Co, int64_t H, int64_t W, int r)
{
    const int64_t rr = (int64_t)r * r, HW = H * W, OW = W * r, OHW = HW * rr, CBi = Co * rr / 16, CBo = Co / 16;
    ED_PARALLEL_FOR
    for (int64_t nh = 0; nh < N * H; nh++) {
        const int64_t n = nh / H, h = nh % H;
        for (int i = 0; i < r; i++)
            for (int j = 0; j < r; j++) {
                int32_t rel[16];   /* source channel k r^2 + i r + j of a block, from the block's first */
                for (int k = 0; k < 16; k++) {
                    const int64_t q = k * rr + i * r + j;
                    rel[k] = (int32_t)((q / 16) * HW * 16 + q % 16);
                }
#if defined(__AVX512F__)
                const __m512i idx = _mm512_loadu_si512(rel);
#endif
                for (int64_t cb = 0; cb < CBo; cb++) {
                    /* output block cb takes source channels from cb 16 r^2: block cb r^2 */
                    const float *src = in + ((n * CBi + cb * rr) * HW + h * W) * 16;
                    float *dst = out + ((n * CBo + cb) * OHW + (h * r + i) * OW + j) * 16;
                    for (int64_t w = 0; w < W; w++) {
#if defined(__AVX512F__)
                        _mm512_storeu_ps(dst + w * r * 16, _mm512_i32gather_ps(idx, src + w * 16, 4));
#else
                        for (int k = 0; k < 16; k++) dst[w * r * 16 + k] = src[w * 16 + rel[k]];
#endif
                    }
                }
            }
    }
}

/* ---- the plan: an entry and an output layout per step -------------------- */

typedef struct {
    odnn_prim *e[ED_GRAPH_MAX];                /* conv, up-sampling's 1x1 conv, pool; NULL for cat */
    dnnl_memory_desc_t md[ED_GRAPH_MAX + 1];   /* md[v]: value v's layout (v >= 1); z for an up-sampling */
    bool packed[ED_GRAPH_MAX + 1];             /* value v is an up-sampling's z, unpacked by its concatenations */
    bool unpack[ED_GRAPH_MAX + 1];             /* value v is an up-sampling's output, unpacked at once (md[v]) */
} plan;

static odnn_prim *conv_step(const ed__graph_params *p, int i)
{
    const ed__gstep *g = &p->steps[i];
    const int64_t *in = p->shape[g->in];
    ed_tensor xi = { .dtype = ED_F32, .ndim = 4, .shape = { in[0], in[1], in[2], in[3] } };
    ed__conv_params c;
    memset(&c, 0, sizeof c);
    c.stride[0] = c.stride[1] = 1;
    c.dilation[0] = c.dilation[1] = 1;
    c.groups = 1;
    if (g->kind == ED_GSTEP_UP2) {   /* the 1x1 convolution to z (4 Cout channels, float32) */
        const int64_t co = g->w->shape[1];
        ed_tensor wz = { .dtype = ED_F32, .ndim = 4, .shape = { 4 * co, in[1], 1, 1 } };
        const int64_t z[4] = { in[0], 4 * co, in[2], in[3] };
        c.w_io = 1;
        return odnn_conv_entry(CONV_FWD, &c, &xi, &wz, z, false);
    }
    c.pad_lo[0] = c.pad_lo[1] = c.pad_hi[0] = c.pad_hi[1] = g->pad;
    c.stride[0] = c.stride[1] = g->stride > 1 ? g->stride : 1;
    c.relu = g->relu ? 1 : 0;
    c.wscale = g->s != NULL;
    c.dst_lo = i < p->n - 1;
    odnn_prim *e = odnn_conv_entry(CONV_FWD, &c, &xi, g->w, p->shape[i + 1], g->b != NULL);
    if (e && g->s && !(e->args[1].reorder && e->args[1].cache)) return NULL;   /* no fold without a cached weight */
    return e;
}

/* Whether every step reading value v is a concatenation. */
static bool only_cats_read(const ed__graph_params *p, int v)
{
    for (int i = v; i < p->n; i++) {
        const ed__gstep *g = &p->steps[i];
        const bool reads = g->in == v || ((g->kind == ED_GSTEP_CAT || g->kind == ED_GSTEP_ADD) && g->in2 == v);
        if (reads && g->kind != ED_GSTEP_CAT) return false;
    }
    return true;
}

/* Call with the lock held. */
static bool make_plan(const ed__graph_params *p, plan *pl)
{
    if (p->n < 2 || p->n > ED_GRAPH_MAX) return false;
    for (int i = 0; i < p->n; i++) {
        const ed__gstep *g = &p->steps[i];
        const bool conv = g->kind == ED_GSTEP_CONV || g->kind == ED_GSTEP_UP2;
        const bool two = g->kind == ED_GSTEP_CAT || g->kind == ED_GSTEP_ADD;
        if (!conv && (g->in == 0 || (two && g->in2 == 0))) return false;
        if (i == p->n - 1 && g->kind != ED_GSTEP_CONV) return false;
        /* z is read by concatenations only */
        if ((pl->packed[g->in] || (two && pl->packed[g->in2])) && g->kind != ED_GSTEP_CAT) return false;
        pl->e[i] = NULL;
        pl->packed[i + 1] = pl->unpack[i + 1] = false;
        if (g->kind == ED_GSTEP_CAT) {
            if (!cat_md(&pl->md[g->in], p->shape[g->in][1], pl->packed[g->in], &pl->md[g->in2], p->shape[g->in2][1],
                        pl->packed[g->in2], &pl->md[i + 1]))
                return false;
            continue;
        }
        if (g->kind == ED_GSTEP_SHUFFLE) {   /* nChw16c float32 both sides, whole output blocks */
            const dnnl_memory_desc_t *a = &pl->md[g->in];
            const int64_t *o = p->shape[i + 1];
            const int64_t rr = (int64_t)g->factor * g->factor, HW = p->shape[g->in][2] * p->shape[g->in][3];
            if (a->data_type != dnnl_f32 || layout_of(a) < 0 || layouts[layout_of(a)].block != 16 || o[1] % 16 ||
                rr * HW * 16 >= INT32_MAX)   /* the gather's 32-bit offsets */
                return false;
            odnn_md_dt(&pl->md[i + 1], 4, o, dnnl_f32, dnnl_nChw16c);
            continue;
        }
        if (g->kind == ED_GSTEP_ADD) {
            /* float32 values only: the ops add in float32, and a bf16 value
             * would round the sum once more */
            const dnnl_memory_desc_t *a = &pl->md[g->in];
            if (!dnnl_memory_desc_equal(a, &pl->md[g->in2]) || a->data_type != dnnl_f32 || layout_of(a) < 0 ||
                (layouts[layout_of(a)].block > 1 && a->dims[1] % layouts[layout_of(a)].block))
                return false;
            pl->md[i + 1] = *a;
            continue;
        }
        odnn_prim *e = conv ? conv_step(p, i) : pool_entry(&pl->md[g->in]);
        if (!e) return false;
        if (g->in && !dnnl_memory_desc_equal(&e->args[0].prim_md, &pl->md[g->in])) return false;
        pl->e[i] = e;
        pl->md[i + 1] = e->args[e->n_args - 1].prim_md;
        if (g->kind == ED_GSTEP_UP2) {
            if (only_cats_read(p, i + 1)) {
                pl->packed[i + 1] = true;
            } else {   /* unpacked into nChw16c float32 at once, from z in the same layout */
                const int64_t *o = p->shape[i + 1];
                if (o[1] % 16 || layout_of(&pl->md[i + 1]) < 0 || layouts[layout_of(&pl->md[i + 1])].block != 16 ||
                    pl->md[i + 1].data_type != dnnl_f32)
                    return false;
                odnn_md_dt(&pl->md[i + 1], 4, o, dnnl_f32, dnnl_nChw16c);
                pl->unpack[i + 1] = true;
            }
        }
    }
    return true;
}

static bool graph_supports(const void *params, ed_tensor *const *t)
{
    if (!t[0] || !t[1]) return false;
    plan *pl = calloc(1, sizeof *pl);   /* ~0.6 MB: not on the stack */
    if (!pl) return false;
    odnn_lock();
    bool ok = make_plan(params, pl);
    odnn_unlock();
    free(pl);
    return ok;
}

/* One part of a concatenation: value v into channels [c0, ...) of out. */
static void cat_part(const ed__graph_params *p, const plan *pl, void *const *buf, int v, int64_t c0, const dnnl_memory_desc_t *out_md,
                     void *out)
{
    const int64_t C = p->shape[v][1];
    if (!pl->packed[v]) {
        copy_part(out_md, buf[v], C, c0, out);
        return;
    }
    const ed_tensor *b = p->steps[v - 1].b;
    unpack_part(out_md, buf[v], b ? ed__cf32(b) : NULL, C, c0, out);
}

static ed_status graph_run(const void *params, ed_tensor *const *t)
{
    const ed__graph_params *p = params;
    void *buf[ED_GRAPH_MAX + 1] = { NULL };
    plan *pl = calloc(1, sizeof *pl);   /* ~0.6 MB: not on the stack */
    if (!pl) return ed__err(ED_E_NOMEM, "infer graph: out of memory");
    ed_status st = ED_OK;
    odnn_lock();
    if (!make_plan(p, pl)) st = ed__err(ED_E_UNSUPPORTED, "infer graph: oneDNN kernels unavailable for these steps");
    for (int i = 0; i < p->n && st == ED_OK; i++) {
        const ed__gstep *g = &p->steps[i];
        const bool last = i == p->n - 1;
        if (!last) {
            buf[i + 1] = ed__scratch(dnnl_memory_desc_get_size(&pl->md[i + 1]));
            if (!buf[i + 1]) {
                st = ed__err(ED_E_NOMEM, "infer graph: out of memory for the values between the steps");
                break;
            }
        }
        void *dst = last ? NULL : buf[i + 1];
        odnn_weight_tensor(g->w);
        if (g->kind == ED_GSTEP_CAT) {
            cat_part(p, pl, buf, g->in, 0, &pl->md[i + 1], dst);
            cat_part(p, pl, buf, g->in2, p->shape[g->in][1], &pl->md[i + 1], dst);
        } else if (g->kind == ED_GSTEP_SHUFFLE) {
            const int64_t *o = p->shape[i + 1], *a = p->shape[g->in];
            shuffle_run(buf[g->in], dst, a[0], o[1], a[2], a[3], g->factor);
        } else if (g->kind == ED_GSTEP_ADD) {
            add_run(buf[g->in], buf[g->in2], dst, dnnl_memory_desc_get_size(&pl->md[i + 1]) / sizeof(float));
        } else if (g->kind == ED_GSTEP_POOL2) {
            st = odnn_run(pl->e[i], (void *const[]){ buf[g->in], dst }, "infer graph");
        } else if (pl->unpack[i + 1]) {   /* an up-sampling read by more than concatenations */
            const dnnl_memory_desc_t *zm = &pl->e[i]->args[pl->e[i]->n_args - 1].prim_md;
            float *z = ed__scratch(dnnl_memory_desc_get_size(zm));
            if (!z) st = ed__err(ED_E_NOMEM, "infer graph: out of memory for an up-sampling's products");
            void *src = g->in ? buf[g->in] : t[0]->data;
            if (st == ED_OK)
                st = odnn_run_pre(pl->e[i], (void *[]){ src, g->w->data, z }, (void *[]){ g->in ? src : NULL, NULL, z },
                                  "infer graph");
            if (st == ED_OK)
                unpack_part(&pl->md[i + 1], z, g->b ? ed__cf32(g->b) : NULL, p->shape[i + 1][1], 0, dst);
            ed__scratch_free(z);
        } else {
            void *src = g->in ? buf[g->in] : NULL;
            const bool up = g->kind == ED_GSTEP_UP2;
            void *data[4], *pre[4];
            int k = 0;
            data[k] = src ? src : t[0]->data, pre[k++] = src;
            data[k] = g->w->data, pre[k++] = NULL;
            if (g->b && !up) data[k] = g->b->data, pre[k++] = NULL;
            data[k] = last ? t[1]->data : dst, pre[k++] = dst;
            st = odnn_run_pre_scaled(pl->e[i], data, pre, g->s ? ed__cf64(g->s) : NULL, g->s ? g->s->numel : 0,
                                     "infer graph");
        }
        odnn_weight_tensor(NULL);
        /* Values read for the last time by this step go. */
        for (int v = 1; v <= i; v++)
            if (buf[v] && p->last_use[v] <= i) ed__scratch_free(buf[v]), buf[v] = NULL;
    }
    odnn_unlock();
    for (int v = 1; v <= p->n; v++) ed__scratch_free(buf[v]);
    free(pl);
    return st;
}

static const ed_kernel kernels[] = {
    { ED_OP_INFER_GRAPH, ED_FORWARD, "onednn", graph_supports, graph_run },
};

void ed__onednn_register_graph(void)
{
    for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++) ed_backend_register(&kernels[i]);
}
