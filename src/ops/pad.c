/* pad: F.pad(x, pad, mode, value).
 *   pad holds npad = 2k values, (before, after) pairs for the last dim, then
 *   the one before it, and so on: k <= ndim padded dims; npad = 0 copies.
 *   Output size of a padded dim: in + before + after.
 *   constant: the new border holds value; negative pads crop (an output
 *     size below 0 is an error, 0 is fine). Any dtype (value converted).
 *   reflect: mirror without repeating the edge (x[1] x[0] | x[0] x[1]...);
 *     each pad must be < the input size in its dim, as torch checks.
 *   replicate: repeat the edge element.
 *   reflect and replicate pad the last 1 or 2 dims (npad 2 or 4) of float
 *   tensors of any ndim >= k (torch also requires 2-3 or 3-4 dims; encdec
 *   accepts any number of leading dims), need non-empty padded dims and an
 *   output of size >= 1 in them; negative pads crop as in torch.
 *   Backward: gx[i] += the sum of gy over the outputs that read x[i].
 *
 * Each padded dim gets a map from output index to input index (-1 for
 * constant fill); forward gathers and backward scatters through the maps. */
#include "core/ed_internal.h"
#include "ops/typed.h"

#include <math.h>

typedef struct {
    int k;                                 /* padded dims (1 virtual one when npad is 0) */
    int64_t in[ED_MAX_DIMS], out[ED_MAX_DIMS], in_stride[ED_MAX_DIMS];
    const int64_t *map[ED_MAX_DIMS];       /* per padded dim: out index -> in index or -1 */
    int64_t planes, in_plane, rows_per_plane;
} pad_geom;

typedef struct {
    ed_pad_mode mode;
    int npad;
    int64_t pad[2 * ED_MAX_DIMS];
} pad_ctx;

/* Input offset of output row r (all padded coordinates but the last);
 * false when the row lies in an outer dim's constant padding. */
static inline bool pad_row(const pad_geom *g, int64_t r, int64_t *off)
{
    int64_t q = r % g->rows_per_plane, o = (r / g->rows_per_plane) * g->in_plane;
    for (int d = g->k - 2; d >= 0; d--) {
        int64_t m = g->map[d][q % g->out[d]];
        if (m < 0) return false;
        o += m * g->in_stride[d];
        q /= g->out[d];
    }
    *off = o;
    return true;
}

#define T float
#define K(n) n##_f32
#include "pad_kern.h"
#undef T
#undef K
#define T double
#define K(n) n##_f64
#include "pad_kern.h"
#undef T
#undef K
#define T uint8_t
#define K(n) n##_u8
#include "pad_kern.h"
#undef T
#undef K
#define T uint16_t
#define K(n) n##_u16
#include "pad_kern.h"
#undef T
#undef K
#define T uint32_t
#define K(n) n##_u32
#include "pad_kern.h"
#undef T
#undef K
#define T uint64_t
#define K(n) n##_u64
#include "pad_kern.h"
#undef T
#undef K

static const char *mode_name(ed_pad_mode m)
{
    return m == ED_PAD_CONSTANT ? "constant" : m == ED_PAD_REFLECT ? "reflect" : "replicate";
}

/* Checks sizes against torch's conditions, fills g (all but the maps) and
 * the output shape; *map_len is how many int64 the maps need. */
static ed_status pad_geometry(const ed_tensor *x, const pad_ctx *c, pad_geom *g, int64_t *shape, int64_t *map_len)
{
    memset(g, 0, sizeof *g);
    const int k = c->npad / 2;
    const int lead = x->ndim - k;
    for (int d = 0; d < x->ndim; d++) shape[d] = x->shape[d];
    g->k = k > 0 ? k : 1;
    g->planes = 1;
    for (int d = 0; d < lead; d++) g->planes *= x->shape[d];
    if (k == 0) {
        /* nothing padded: one virtual dim of size 1 behind the last */
        g->in[0] = g->out[0] = 1;
    }
    *map_len = 0;
    for (int j = 0; j < k; j++) {
        const int d = lead + j;                       /* input dim */
        const int64_t before = c->pad[2 * (k - 1 - j)], after = c->pad[2 * (k - 1 - j) + 1];
        const int64_t in = x->shape[d], out = in + before + after;
        char b[ED_SHAPE_BUF];
        if (c->mode == ED_PAD_CONSTANT) {
            if (out < 0)
                return ed__err(ED_E_SHAPE, "pad: padding (%lld, %lld) of dimension %d of size %lld gives a negative size %lld "
                               "(input %s)", (long long)before, (long long)after, d, (long long)in, (long long)out,
                               ed__shape_str(x, b));
        } else {
            if (in < 1)
                return ed__err(ED_E_SHAPE, "pad: %s padding needs a non-empty dimension %d, got input %s", mode_name(c->mode),
                               d, ed__shape_str(x, b));
            if (c->mode == ED_PAD_REFLECT && (before >= in || after >= in))
                return ed__err(ED_E_ARG, "pad: reflect padding size should be less than the corresponding input dimension, "
                               "but got padding (%lld, %lld) at dimension %d of input %s", (long long)before,
                               (long long)after, d, ed__shape_str(x, b));
            if (out < 1)
                return ed__err(ED_E_SHAPE, "pad: input %s is too small for padding (%lld, %lld) in dimension %d: output size %lld",
                               ed__shape_str(x, b), (long long)before, (long long)after, d, (long long)out);
        }
        g->in[j] = in;
        g->out[j] = out;
        shape[d] = out;
        *map_len += out;
    }
    if (*map_len == 0) *map_len = 1;
    int64_t s = 1;
    for (int j = g->k - 1; j >= 0; j--) {
        g->in_stride[j] = s;
        s *= g->in[j];
    }
    g->in_plane = s;
    g->rows_per_plane = 1;
    for (int j = 0; j < g->k - 1; j++) g->rows_per_plane *= g->out[j];
    return ED_OK;
}

/* Fills the maps. With every pad below the input size a reflected index
 * always lands inside; the range check is a guard, not a torch condition. */
static ed_status pad_maps(const ed_tensor *x, const pad_ctx *c, pad_geom *g, int64_t *maps)
{
    const int k = c->npad / 2;
    if (k == 0) { maps[0] = 0; g->map[0] = maps; return ED_OK; }
    int64_t *m = maps;
    for (int j = 0; j < k; j++) {
        const int64_t before = c->pad[2 * (k - 1 - j)], in = g->in[j];
        for (int64_t o = 0; o < g->out[j]; o++) {
            int64_t i = o - before;
            if (c->mode == ED_PAD_CONSTANT) {
                m[o] = i >= 0 && i < in ? i : -1;
                continue;
            }
            if (c->mode == ED_PAD_REPLICATE) {
                m[o] = i < 0 ? 0 : i >= in ? in - 1 : i;
                continue;
            }
            if (i < 0) i = -i;
            if (i >= in) i = 2 * (in - 1) - i;
            if (i < 0 || i >= in) {
                char b[ED_SHAPE_BUF];
                return ed__err(ED_E_ARG, "pad: reflect padding (%lld, %lld) reaches outside dimension %d of input %s",
                               (long long)before, (long long)c->pad[2 * (k - 1 - j) + 1], x->ndim - k + j,
                               ed__shape_str(x, b));
            }
            m[o] = i;
        }
        g->map[j] = m;
        m += g->out[j];
    }
    return ED_OK;
}

static ed_status pad_backward(ed_node *n)
{
    const pad_ctx *c = n->ctx;
    ed_tensor *gx;
    ED_TRY(ed__grad_of(n, 0, &gx));
    if (!gx) return ED_OK;
    const ed_tensor *x = n->in[0];
    pad_geom g;
    int64_t shape[ED_MAX_DIMS], len;
    ED_TRY(pad_geometry(x, c, &g, shape, &len));
    int64_t *maps = ed__scratch((size_t)len * sizeof *maps);
    if (!maps) return ed__err(ED_E_NOMEM, "pad: cannot allocate index maps");
    ed_status st = pad_maps(x, c, &g, maps);
    if (st == ED_OK && x->numel > 0 && g.rows_per_plane > 0) {
        const int64_t per_group = c->mode == ED_PAD_CONSTANT ? 1 : g.rows_per_plane;
        ED_DISPATCH_FLOAT(x->dtype, pad_scatter, &g, n->out->grad->data, gx->data, per_group);
    }
    ed__scratch_free(maps);
    return st;
}

ed_status ed_pad(const ed_tensor *x, const int64_t *pad, int npad, ed_pad_mode mode, double value, ed_tensor **out)
{
    if (!out) return ed__err(ED_E_ARG, "pad: out is NULL");
    *out = NULL;
    ED_TRY(ed__check_tensor(x, "pad", "input"));
    if (mode != ED_PAD_CONSTANT && mode != ED_PAD_REFLECT && mode != ED_PAD_REPLICATE)
        return ed__err(ED_E_ARG, "pad: unknown mode %d (constant, reflect or replicate)", (int)mode);
    if (npad < 0 || npad % 2)
        return ed__err(ED_E_ARG, "pad: padding length must be divisible by 2, got %d", npad);
    if (npad > 0 && !pad) return ed__err(ED_E_ARG, "pad: pad is NULL but npad is %d", npad);
    if (npad / 2 > x->ndim)
        return ed__err(ED_E_ARG, "pad: padding length should be less than or equal to two times the input dimension "
                       "but got padding length %d and input of dimension %d", npad, x->ndim);
    if (mode != ED_PAD_CONSTANT) {
        ED_TRY(ed__check_float(x, "pad", "input"));
        if (npad != 2 && npad != 4)
            return ed__err(ED_E_UNSUPPORTED, "pad: %s padding supports the last 1 or 2 dims (padding length 2 or 4), got %d",
                           mode_name(mode), npad);
    } else if (x->dtype != ED_F32 && x->dtype != ED_F64 && x->dtype != ED_BF16 && !isfinite(value)) {
        return ed__err(ED_E_ARG, "pad: value %g cannot be stored in a %s tensor", value, ed_dtype_name(x->dtype));
    }
    pad_ctx c;
    memset(&c, 0, sizeof c);
    c.mode = mode;
    c.npad = npad;
    for (int i = 0; i < npad; i++) c.pad[i] = pad[i];

    pad_geom g;
    int64_t shape[ED_MAX_DIMS], len;
    ED_TRY(pad_geometry(x, &c, &g, shape, &len));
    int64_t *maps = ed__scratch((size_t)len * sizeof *maps);
    if (!maps) return ed__err(ED_E_NOMEM, "pad: cannot allocate index maps");
    ed_status st = pad_maps(x, &c, &g, maps);
    if (st != ED_OK) { ed__scratch_free(maps); return st; }
    ed_tensor *y;
    st = ed__alloc(x->dtype, x->ndim, shape, &y);
    if (st != ED_OK) { ed__scratch_free(maps); return st; }

    /* the fill value's bit pattern in x's dtype */
    uint64_t fill_bits = 0;
    ed_tensor fill;
    memset(&fill, 0, sizeof fill);
    fill.dtype = x->dtype;
    fill.numel = 1;
    fill.data = &fill_bits;
    ed__set(&fill, 0, value);
    switch (ed_dtype_size(x->dtype)) {
    case 1: pad_gather_u8(&g, x->data, y->data, *(uint8_t *)fill.data); break;
    case 2: { uint16_t v; memcpy(&v, &fill_bits, 2); pad_gather_u16(&g, x->data, y->data, v); break; }
    case 4: { uint32_t v; memcpy(&v, &fill_bits, 4); pad_gather_u32(&g, x->data, y->data, v); break; }
    default: pad_gather_u64(&g, x->data, y->data, fill_bits); break;
    }
    ed__scratch_free(maps);
    ed_node *node;
    st = ed__record(y, "pad", pad_backward, 1, &x, &c, sizeof c, &node);
    if (st != ED_OK) { ed_tensor_free(y); return st; }
    *out = y;
    return ED_OK;
}
