/* Data augmentation applied identically to an image, its label maps and its
 * boxes.
 *
 *   geometric ops act on the last two dims of any tensor (any dtype, so one
 *   code path moves image samples and class labels alike):
 *     crop (top, left, h, w); flip (horizontal: x -> W-1-x, else
 *     y -> H-1-y); rot90 k as torch.rot90(x, k, (-2, -1)); resize: float
 *     bilinear through ed_interpolate (align_corners=False), other dtypes
 *     nearest with PyTorch's index rule.
 *   colour ops on float32 (C, H, W) images, C = 1 or 3, as torchvision's
 *     adjust_brightness / adjust_contrast / adjust_saturation, computed in
 *     float32 like torch's _blend (ratio * a + (1 - ratio) * b, clamped).
 *   ed_augment_sample draws all choices (a fixed ED_AUGMENT_DRAWS uniforms);
 *   ed_augment_apply_draw applies them: scale, pad, crop, hflip, vflip,
 *   rot90 to image, labels and boxes; colour jitter to the image only.
 * Box maps, with (W, H) the size before the step and boxes in pixel-edge
 * coordinates: hflip x -> W - x; vflip y -> H - y; rot90 k=1 (x, y) ->
 * (y, W - x), k=2 (W - x, H - y), k=3 (H - y, x); scale x * OW/W, y * OH/H;
 * crop x - left, y - top, then clipped to the window. */
#include "data/augment_internal.h"

#include <math.h>
#include <stdlib.h>

/* ---- geometric ops ----------------------------------------------------------- */

enum { MAP_CROP, MAP_HFLIP, MAP_VFLIP, MAP_ROT1, MAP_ROT2, MAP_ROT3 };

static ed_status check_planes(const ed_tensor *x, const char *op)
{
    ED_TRY(ed__check_tensor(x, op, "x"));
    char b[ED_SHAPE_BUF];
    if (x->ndim < 2) return ed__err(ED_E_SHAPE, "%s: x must have at least 2 dims (..., H, W), got shape %s", op,
                                    ed__shape_str(x, b));
    if (x->dtype == ED_BF16) return ed__err(ED_E_DTYPE, "%s: bfloat16 is not supported", op);
    return ED_OK;
}

/* y[p][i][j] = x[p][src(i, j)] for one of the maps above; a, b are the
 * crop offsets. Copies elements of any size. */
static void remap(const ed_tensor *x, ed_tensor *y, int map, int64_t a, int64_t b)
{
    int64_t H = x->shape[x->ndim - 2], W = x->shape[x->ndim - 1];
    int64_t OH = y->shape[y->ndim - 2], OW = y->shape[y->ndim - 1];
    int64_t planes = H > 0 && W > 0 ? x->numel / (H * W) : 0;
    size_t es = ed_dtype_size(x->dtype);
    const char *src = x->data;
    char *dst = y->data;
    ED_PARALLEL_FOR_IF(planes * OH * OW > 65536)
    for (int64_t r = 0; r < planes * OH; r++) {
        int64_t p = r / OH, i = r % OH;
        const char *sp = src + (size_t)(p * H * W) * es;
        char *d = dst + (size_t)(r * OW) * es;
        for (int64_t j = 0; j < OW; j++) {
            int64_t si, sj;
            switch (map) {
            case MAP_CROP: si = i + a; sj = j + b; break;
            case MAP_HFLIP: si = i; sj = W - 1 - j; break;
            case MAP_VFLIP: si = H - 1 - i; sj = j; break;
            case MAP_ROT1: si = j; sj = W - 1 - i; break;
            case MAP_ROT2: si = H - 1 - i; sj = W - 1 - j; break;
            default: si = H - 1 - j; sj = i; break;
            }
            memcpy(d + (size_t)j * es, sp + (size_t)(si * W + sj) * es, es);
        }
    }
}

static ed_status remap_new(const ed_tensor *x, int map, int64_t a, int64_t b, int64_t oh, int64_t ow, ed_tensor **out)
{
    int64_t shape[ED_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
    shape[x->ndim - 2] = oh;
    shape[x->ndim - 1] = ow;
    ED_TRY(ed__alloc(x->dtype, x->ndim, shape, out));
    remap(x, *out, map, a, b);
    return ED_OK;
}

ed_status ed_aug_crop(const ed_tensor *x, int64_t top, int64_t left, int64_t h, int64_t w, ed_tensor **out)
{
    if (!out) return ed__err(ED_E_ARG, "aug_crop: out is NULL");
    *out = NULL;
    ED_TRY(check_planes(x, "aug_crop"));
    int64_t H = x->shape[x->ndim - 2], W = x->shape[x->ndim - 1];
    if (h < 1 || w < 1) return ed__err(ED_E_ARG, "aug_crop: crop size must be >= 1, got %lld x %lld", (long long)h,
                                       (long long)w);
    if (top < 0 || left < 0 || top + h > H || left + w > W)
        return ed__err(ED_E_SHAPE, "aug_crop: window (top %lld, left %lld, %lld x %lld) does not fit in the %lld x %lld "
                       "image", (long long)top, (long long)left, (long long)h, (long long)w, (long long)H, (long long)W);
    return remap_new(x, MAP_CROP, top, left, h, w, out);
}

ed_status ed_aug_flip(const ed_tensor *x, int horizontal, ed_tensor **out)
{
    if (!out) return ed__err(ED_E_ARG, "aug_flip: out is NULL");
    *out = NULL;
    ED_TRY(check_planes(x, "aug_flip"));
    return remap_new(x, horizontal ? MAP_HFLIP : MAP_VFLIP, 0, 0, x->shape[x->ndim - 2], x->shape[x->ndim - 1], out);
}

ed_status ed_aug_rot90(const ed_tensor *x, int k, ed_tensor **out)
{
    if (!out) return ed__err(ED_E_ARG, "aug_rot90: out is NULL");
    *out = NULL;
    ED_TRY(check_planes(x, "aug_rot90"));
    k = ((k % 4) + 4) % 4;
    int64_t H = x->shape[x->ndim - 2], W = x->shape[x->ndim - 1];
    if (k == 0) return remap_new(x, MAP_CROP, 0, 0, H, W, out);
    if (k == 2) return remap_new(x, MAP_ROT2, 0, 0, H, W, out);
    return remap_new(x, k == 1 ? MAP_ROT1 : MAP_ROT3, 0, 0, W, H, out);
}

/* PyTorch's nearest_idx (float arithmetic, shortcuts first), as
 * src/ops/interpolate.c, so a label map lines up with a nearest-resized
 * image. */
static int64_t nearest_src(int64_t o, int64_t in, int64_t out)
{
    if (out == in) return o;
    if (out == 2 * in) return o >> 1;
    float scale = (float)in / (float)out;
    int64_t s = (int64_t)floorf((float)o * scale);
    return s < in - 1 ? s : in - 1;
}

ed_status ed_aug_resize(const ed_tensor *x, int64_t h, int64_t w, ed_tensor **out)
{
    if (!out) return ed__err(ED_E_ARG, "aug_resize: out is NULL");
    *out = NULL;
    ED_TRY(check_planes(x, "aug_resize"));
    char b[ED_SHAPE_BUF];
    int64_t H = x->shape[x->ndim - 2], W = x->shape[x->ndim - 1];
    if (h < 1 || w < 1) return ed__err(ED_E_ARG, "aug_resize: size must be >= 1, got %lld x %lld", (long long)h, (long long)w);
    if (x->numel == 0) return ed__err(ED_E_SHAPE, "aug_resize: x is empty, got shape %s", ed__shape_str(x, b));
    int64_t planes = x->numel / (H * W);
    if (x->dtype == ED_F32 || x->dtype == ED_F64) {
        /* ed_interpolate on a (1, planes, H, W) view, outside autograd. */
        ed_tensor *view = NULL, *y = NULL;
        ED_TRY(ed__tensor_wrap(x->dtype, 4, (int64_t[]){ 1, planes, H, W }, x->data, &view));
        ed_interpolate_args a = { .size = { h, w }, .mode = ED_INTERP_BILINEAR, .align_corners = 0 };
        ed_no_grad_begin();
        ed_status st = ed_interpolate(view, &a, &y);
        ed_no_grad_end();
        ed_tensor_free(view);
        ED_TRY(st);
        y->ndim = x->ndim;
        for (int i = 0; i < x->ndim - 2; i++) y->shape[i] = x->shape[i];
        y->shape[x->ndim - 2] = h;
        y->shape[x->ndim - 1] = w;
        *out = y;
        return ED_OK;
    }
    int64_t shape[ED_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
    shape[x->ndim - 2] = h;
    shape[x->ndim - 1] = w;
    ed_tensor *y = NULL;
    ED_TRY(ed__alloc(x->dtype, x->ndim, shape, &y));
    int64_t *iw = malloc((size_t)w * sizeof(int64_t));
    if (!iw) { ed_tensor_free(y); return ed__err(ED_E_NOMEM, "aug_resize: out of memory"); }
    for (int64_t j = 0; j < w; j++) iw[j] = nearest_src(j, W, w);
    size_t es = ed_dtype_size(x->dtype);
    const char *src = x->data;
    char *dst = y->data;
    ED_PARALLEL_FOR_IF(planes * h * w > 65536)
    for (int64_t r = 0; r < planes * h; r++) {
        int64_t p = r / h, si = nearest_src(r % h, H, h);
        const char *row = src + (size_t)((p * H + si) * W) * es;
        for (int64_t j = 0; j < w; j++) memcpy(dst + (size_t)(r * w + j) * es, row + (size_t)iw[j] * es, es);
    }
    free(iw);
    *out = y;
    return ED_OK;
}

/* x padded at the bottom and right to (h, w) with value (any dtype). */
static ed_status pad_br(const ed_tensor *x, int64_t h, int64_t w, double value, ed_tensor **out)
{
    int64_t H = x->shape[x->ndim - 2], W = x->shape[x->ndim - 1], planes = x->numel / (H * W);
    int64_t shape[ED_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
    shape[x->ndim - 2] = h;
    shape[x->ndim - 1] = w;
    ed_tensor *y = NULL;
    ED_TRY(ed__alloc(x->dtype, x->ndim, shape, &y));
    size_t es = ed_dtype_size(x->dtype);
    for (int64_t i = 0; i < y->numel; i++) ed__set(y, i, value);
    for (int64_t p = 0; p < planes; p++)
        for (int64_t i = 0; i < H; i++)
            memcpy((char *)y->data + (size_t)((p * h + i) * w) * es, (const char *)x->data + (size_t)((p * H + i) * W) * es,
                   (size_t)W * es);
    *out = y;
    return ED_OK;
}

/* ---- colour (torchvision) --------------------------------------------------- */

static ed_status colour_check(const ed_tensor *img, double f, const char *op, ed_tensor **out, int64_t *c, int64_t *hw)
{
    if (!out) return ed__err(ED_E_ARG, "%s: out is NULL", op);
    *out = NULL;
    int64_t h = 0, w = 0;
    ED_TRY(ed__check_image(img, op, "img", c, &h, &w));
    if (*c != 1 && *c != 3) return ed__err(ED_E_SHAPE, "%s: img must have 1 or 3 channels, got %lld", op, (long long)*c);
    if (!(f >= 0) || isinf(f)) return ed__err(ED_E_ARG, "%s: factor must be finite and >= 0, got %g", op, f);
    *hw = h * w;
    return ED_OK;
}

static float gray_at(const float *x, int64_t hw, int64_t i)
{
    return 0.2989f * x[i] + 0.587f * x[hw + i] + 0.114f * x[2 * hw + i];
}

static float blend(float ratio, float inv, float a, float b)
{
    float v = ratio * a + inv * b;
    return v < 0 ? 0 : v > 1 ? 1 : v;   /* NaN passes through, as clamp */
}

/* kind 0 brightness (other = 0), 1 contrast (other = mean gray), 2
 * saturation (other = gray per pixel). */
static ed_status adjust(const ed_tensor *img, double f, int kind, const char *op, ed_tensor **out)
{
    int64_t c = 0, hw = 0;
    ED_TRY(colour_check(img, f, op, out, &c, &hw));
    ED_TRY(ed__alloc(ED_F32, img->ndim, img->shape, out));
    const float *x = ed__cf32(img);
    float *y = ed__f32(*out);
    if (kind == 2 && c == 1) {
        memcpy(y, x, (size_t)img->numel * sizeof(float));
        return ED_OK;
    }
    float r = (float)f, inv = (float)(1.0 - f), mean = 0;
    if (kind == 1) {
        double s = 0;
        for (int64_t i = 0; i < hw; i++) s += c == 3 ? gray_at(x, hw, i) : x[i];
        mean = (float)(s / (double)hw);
    }
    for (int64_t ch = 0; ch < c; ch++)
        for (int64_t i = 0; i < hw; i++) {
            float other = kind == 0 ? 0.0f : kind == 1 ? mean : gray_at(x, hw, i);
            y[ch * hw + i] = blend(r, inv, x[ch * hw + i], other);
        }
    return ED_OK;
}

ed_status ed_adjust_brightness(const ed_tensor *img, double f, ed_tensor **out)
{ return adjust(img, f, 0, "adjust_brightness", out); }
ed_status ed_adjust_contrast(const ed_tensor *img, double f, ed_tensor **out)
{ return adjust(img, f, 1, "adjust_contrast", out); }
ed_status ed_adjust_saturation(const ed_tensor *img, double f, ed_tensor **out)
{ return adjust(img, f, 2, "adjust_saturation", out); }

/* ---- random augmentation ----------------------------------------------------- */

void ed_augment_params_default(ed_augment_params *p)
{
    memset(p, 0, sizeof *p);
    p->scale_min = p->scale_max = 1;
    p->label_pad_value = 255;
    p->p_hflip = 0.5;
}

static int prob_ok(double p) { return p >= 0 && p <= 1; }

static ed_status check_params(const ed_augment_params *p)
{
    const char *op = "augment";
    if (!prob_ok(p->p_scale) || !prob_ok(p->p_hflip) || !prob_ok(p->p_vflip) || !prob_ok(p->p_rot90))
        return ed__err(ED_E_ARG, "%s: probabilities must be in [0, 1], got p_scale %g, p_hflip %g, p_vflip %g, p_rot90 %g",
                       op, p->p_scale, p->p_hflip, p->p_vflip, p->p_rot90);
    if (p->p_scale > 0 && !(p->scale_min > 0 && p->scale_min <= p->scale_max && isfinite(p->scale_max)))
        return ed__err(ED_E_ARG, "%s: scale range must be 0 < scale_min <= scale_max, got [%g, %g]", op, p->scale_min,
                       p->scale_max);
    if (p->crop_h < 0 || p->crop_w < 0 || (p->crop_h == 0) != (p->crop_w == 0))
        return ed__err(ED_E_ARG, "%s: crop size must be both > 0 (or both 0 for no crop), got %lld x %lld", op,
                       (long long)p->crop_h, (long long)p->crop_w);
    double j[3] = { p->brightness, p->contrast, p->saturation };
    for (int i = 0; i < 3; i++)
        if (!(j[i] >= 0) || isinf(j[i]))
            return ed__err(ED_E_ARG, "%s: jitter strengths must be finite and >= 0, got brightness %g, contrast %g, "
                           "saturation %g", op, j[0], j[1], j[2]);
    return ED_OK;
}

static double jitter_factor(double v, double u)
{
    if (v == 0) return 1;
    double lo = 1 - v > 0 ? 1 - v : 0, hi = 1 + v;
    return lo + (hi - lo) * u;
}

ed_status ed_augment_sample(const ed_augment_params *p, ed_rng *rng, int64_t h, int64_t w, ed_augment_draw *d)
{
    if (!p || !rng || !d) return ed__err(ED_E_ARG, "augment: %s is NULL", !p ? "params" : !rng ? "rng" : "draw");
    ED_TRY(check_params(p));
    if (h < 1 || w < 1)
        return ed__err(ED_E_SHAPE, "augment: image size must be >= 1, got %lld x %lld", (long long)h, (long long)w);
    double u[ED_AUGMENT_DRAWS];
    for (int i = 0; i < ED_AUGMENT_DRAWS; i++) u[i] = ed_rng_uniform(rng);
    memset(d, 0, sizeof *d);
    d->in_h = h;
    d->in_w = w;
    d->scaled_h = h;
    d->scaled_w = w;
    if (u[0] < p->p_scale) {
        double s = p->scale_min + (p->scale_max - p->scale_min) * u[1];
        double sh = floor((double)h * s + 0.5), sw = floor((double)w * s + 0.5);
        if (sh > ED_IMAGE_MAX_SIDE || sw > ED_IMAGE_MAX_SIDE)
            return ed__err(ED_E_ARG, "augment: scale %g makes %.0f x %.0f, more than %d per side", s, sh, sw,
                           ED_IMAGE_MAX_SIDE);
        d->scaled_h = sh < 1 ? 1 : (int64_t)sh;
        d->scaled_w = sw < 1 ? 1 : (int64_t)sw;
    }
    d->padded_h = d->scaled_h;
    d->padded_w = d->scaled_w;
    d->crop_h = d->scaled_h;
    d->crop_w = d->scaled_w;
    if (p->crop_h > 0) {
        if (p->pad_if_needed) {
            if (d->padded_h < p->crop_h) d->padded_h = p->crop_h;
            if (d->padded_w < p->crop_w) d->padded_w = p->crop_w;
        }
        if (p->crop_h > d->padded_h || p->crop_w > d->padded_w)
            return ed__err(ED_E_SHAPE, "augment: crop %lld x %lld is larger than the image %lld x %lld%s (set "
                           "pad_if_needed to pad it)", (long long)p->crop_h, (long long)p->crop_w,
                           (long long)d->scaled_h, (long long)d->scaled_w,
                           d->scaled_h != h || d->scaled_w != w ? " after scaling" : "");
        d->crop_h = p->crop_h;
        d->crop_w = p->crop_w;
        int64_t nt = d->padded_h - p->crop_h + 1, nl = d->padded_w - p->crop_w + 1;
        d->top = (int64_t)(u[2] * (double)nt);
        d->left = (int64_t)(u[3] * (double)nl);
        if (d->top >= nt) d->top = nt - 1;
        if (d->left >= nl) d->left = nl - 1;
    }
    d->hflip = u[4] < p->p_hflip;
    d->vflip = u[5] < p->p_vflip;
    if (u[6] < p->p_rot90) {
        d->rot90 = 1 + (int)(u[7] * 3);
        if (d->rot90 > 3) d->rot90 = 3;
    }
    d->brightness = jitter_factor(p->brightness, u[8]);
    d->contrast = jitter_factor(p->contrast, u[9]);
    d->saturation = jitter_factor(p->saturation, u[10]);
    int *o = d->jitter_order;
    o[0] = 0; o[1] = 1; o[2] = 2;
    for (int i = 2, k = 11; i >= 1; i--, k++) {   /* Fisher-Yates */
        int j = (int)(u[k] * (i + 1));
        if (j > i) j = i;
        int t = o[i]; o[i] = o[j]; o[j] = t;
    }
    d->image_pad_value = p->image_pad_value;
    d->label_pad_value = p->label_pad_value;
    return ED_OK;
}

/* t = call's result nx_, freeing the old t; on failure frees t and returns. */
#define STEP(t, call)                          \
    do {                                       \
        ed_tensor *nx_ = NULL;                 \
        ed_status s_ = (call);                 \
        if (s_ != ED_OK) { ed_tensor_free(t); return s_; } \
        ed_tensor_free(t);                     \
        (t) = nx_;                             \
    } while (0)

/* The geometric part, on an image or a label map; takes ownership of *t. */
static ed_status apply_geometry(const ed_augment_draw *d, ed_tensor **tp, int is_label)
{
    ed_tensor *t = *tp;
    *tp = NULL;
    if (d->scaled_h != d->in_h || d->scaled_w != d->in_w) STEP(t, ed_aug_resize(t, d->scaled_h, d->scaled_w, &nx_));
    if (d->padded_h != d->scaled_h || d->padded_w != d->scaled_w)
        STEP(t, pad_br(t, d->padded_h, d->padded_w, is_label ? (double)d->label_pad_value : d->image_pad_value, &nx_));
    if (d->crop_h != d->padded_h || d->crop_w != d->padded_w)
        STEP(t, ed_aug_crop(t, d->top, d->left, d->crop_h, d->crop_w, &nx_));
    if (d->hflip) STEP(t, ed_aug_flip(t, 1, &nx_));
    if (d->vflip) STEP(t, ed_aug_flip(t, 0, &nx_));
    if (d->rot90) STEP(t, ed_aug_rot90(t, d->rot90, &nx_));
    *tp = t;
    return ED_OK;
}

static ed_status apply_jitter(const ed_augment_draw *d, ed_tensor **tp)
{
    ed_tensor *t = *tp;
    *tp = NULL;
    for (int i = 0; i < 3; i++) {
        int k = d->jitter_order[i];
        double f = k == 0 ? d->brightness : k == 1 ? d->contrast : d->saturation;
        if (f == 1) continue;
        STEP(t, adjust(t, f, k, k == 0 ? "adjust_brightness" : k == 1 ? "adjust_contrast" : "adjust_saturation", &nx_));
    }
    *tp = t;
    return ED_OK;
}

/* Transforms boxes; returns the number kept. */
static int apply_boxes(const ed_augment_draw *d, const float *in, int n, float *out, int *index)
{
    double sx = (double)d->scaled_w / (double)d->in_w, sy = (double)d->scaled_h / (double)d->in_h;
    double W = (double)d->crop_w, H = (double)d->crop_h;
    int kept = 0;
    for (int i = 0; i < n; i++) {
        double x0 = in[4 * i] * sx - (double)d->left, y0 = in[4 * i + 1] * sy - (double)d->top;
        double x1 = in[4 * i + 2] * sx - (double)d->left, y1 = in[4 * i + 3] * sy - (double)d->top;
        x0 = fmin(fmax(x0, 0), W); x1 = fmin(fmax(x1, 0), W);
        y0 = fmin(fmax(y0, 0), H); y1 = fmin(fmax(y1, 0), H);
        if (!(x1 > x0 && y1 > y0)) continue;
        double t;
        if (d->hflip) { t = x0; x0 = W - x1; x1 = W - t; }
        if (d->vflip) { t = y0; y0 = H - y1; y1 = H - t; }
        double b[4] = { x0, y0, x1, y1 };
        if (d->rot90 == 1) { b[0] = y0; b[1] = W - x1; b[2] = y1; b[3] = W - x0; }
        else if (d->rot90 == 2) { b[0] = W - x1; b[1] = H - y1; b[2] = W - x0; b[3] = H - y0; }
        else if (d->rot90 == 3) { b[0] = H - y1; b[1] = x0; b[2] = H - y0; b[3] = x1; }
        for (int k = 0; k < 4; k++) out[4 * kept + k] = (float)b[k];
        index[kept++] = i;
    }
    return kept;
}

void ed_augment_result_free(ed_augment_result *r)
{
    if (!r) return;
    ed_tensor_free(r->image);
    if (r->labels)
        for (int i = 0; i < r->n_labels; i++) ed_tensor_free(r->labels[i]);
    free(r->labels);
    free(r->boxes);
    free(r->box_index);
    memset(r, 0, sizeof *r);
}

static ed_status check_inputs(const ed_tensor *image, const ed_tensor *const *labels, int n_labels, const float *boxes,
                              int n_boxes, int64_t *h, int64_t *w)
{
    const char *op = "augment";
    ED_TRY(ed__check_image(image, op, "image", NULL, h, w));
    if (n_labels < 0 || (n_labels > 0 && !labels))
        return ed__err(ED_E_ARG, "%s: labels is NULL with n_labels %d", op, n_labels);
    for (int i = 0; i < n_labels; i++) {
        char b1[ED_SHAPE_BUF], b2[ED_SHAPE_BUF];
        const ed_tensor *l = labels[i];
        if (!l) return ed__err(ED_E_ARG, "%s: labels[%d] is NULL", op, i);
        if (l->ndim != 2)
            return ed__err(ED_E_SHAPE, "%s: labels[%d] must be 2-D (H, W), got shape %s", op, i, ed__shape_str(l, b1));
        if (l->dtype == ED_BF16) return ed__err(ED_E_DTYPE, "%s: labels[%d] is bfloat16", op, i);
        if (l->shape[0] != *h || l->shape[1] != *w)
            return ed__err(ED_E_SHAPE, "%s: labels[%d] %s does not match image %s in (H, W)", op, i,
                           ed__shape_str(l, b1), ed__shape_str(image, b2));
    }
    if (n_boxes < 0 || (n_boxes > 0 && !boxes))
        return ed__err(ED_E_ARG, "%s: boxes is NULL with n_boxes %d", op, n_boxes);
    for (int i = 0; i < n_boxes; i++) {
        const float *b = boxes + 4 * i;
        if (!(b[0] <= b[2] && b[1] <= b[3]) || !isfinite(b[0] + b[1] + b[2] + b[3]))
            return ed__err(ED_E_ARG, "%s: box %d (%g, %g, %g, %g) is not (x0, y0, x1, y1) with x0 <= x1, y0 <= y1", op,
                           i, b[0], b[1], b[2], b[3]);
    }
    return ED_OK;
}

/* A copy in the active arena, else on the heap, like every other result. */
static ed_status copy_of(const ed_tensor *x, ed_tensor **out)
{
    ED_TRY(ed__alloc(x->dtype, x->ndim, x->shape, out));
    memcpy((*out)->data, x->data, (size_t)x->numel * ed_dtype_size(x->dtype));
    return ED_OK;
}

ed_status ed_augment_apply_draw(const ed_augment_draw *d, const ed_tensor *image, const ed_tensor *const *labels,
                                int n_labels, const float *boxes, int n_boxes, ed_augment_result *out)
{
    if (!out) return ed__err(ED_E_ARG, "augment: out is NULL");
    memset(out, 0, sizeof *out);
    if (!d) return ed__err(ED_E_ARG, "augment: draw is NULL");
    int64_t h = 0, w = 0;
    ED_TRY(check_inputs(image, labels, n_labels, boxes, n_boxes, &h, &w));
    if (h != d->in_h || w != d->in_w)
        return ed__err(ED_E_SHAPE, "augment: the draw was made for %lld x %lld, the image is %lld x %lld",
                       (long long)d->in_h, (long long)d->in_w, (long long)h, (long long)w);
    ed_augment_result r = { 0 };
    r.draw = *d;
    ed_status st = copy_of(image, &r.image);
    if (st == ED_OK) st = apply_geometry(d, &r.image, 0);
    if (st == ED_OK) st = apply_jitter(d, &r.image);
    if (st == ED_OK && n_labels > 0) {
        r.labels = calloc((size_t)n_labels, sizeof *r.labels);
        if (!r.labels) st = ed__err(ED_E_NOMEM, "augment: out of memory");
        else r.n_labels = n_labels;
        for (int i = 0; st == ED_OK && i < n_labels; i++) {
            st = copy_of(labels[i], &r.labels[i]);
            if (st == ED_OK) st = apply_geometry(d, &r.labels[i], 1);
        }
    }
    if (st == ED_OK && n_boxes > 0) {
        r.boxes = malloc((size_t)n_boxes * 4 * sizeof(float));
        r.box_index = malloc((size_t)n_boxes * sizeof(int));
        if (!r.boxes || !r.box_index) st = ed__err(ED_E_NOMEM, "augment: out of memory");
        else r.n_boxes = apply_boxes(d, boxes, n_boxes, r.boxes, r.box_index);
    }
    if (st != ED_OK) {
        ed_augment_result_free(&r);
        return st;
    }
    *out = r;
    return ED_OK;
}

ed_status ed_augment_apply(const ed_augment_params *p, ed_rng *rng, const ed_tensor *image,
                           const ed_tensor *const *labels, int n_labels, const float *boxes, int n_boxes,
                           ed_augment_result *out)
{
    if (!out) return ed__err(ED_E_ARG, "augment: out is NULL");
    memset(out, 0, sizeof *out);
    int64_t h = 0, w = 0;
    ED_TRY(check_inputs(image, labels, n_labels, boxes, n_boxes, &h, &w));
    ed_augment_draw d;
    ED_TRY(ed_augment_sample(p, rng, h, w, &d));
    return ed_augment_apply_draw(&d, image, labels, n_labels, boxes, n_boxes, out);
}
