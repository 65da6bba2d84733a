/* Fully connected CRF: mean-field inference of Krähenbühl and Koltun,
 * "Efficient Inference in Fully Connected CRFs with Gaussian Edge
 * Potentials" (NIPS 2011), Algorithm 1, with the message passing done by
 * Gaussian filtering on the permutohedral lattice (Adams, Baek, Davis 2010;
 * crf/permutohedral.c). Semantics and numbers are pydensecrf's (Krähenbühl's
 * densecrf.cpp, pairwise.cpp, labelcompatibility.cpp):
 *
 *   Q0 = softmax(-U);  Q_{t+1} = softmax(-U - sum_k compat_k(N_k K_k (N'_k Q_t)))
 *
 * per pixel over labels, where K_k is the Gaussian filter of term k's
 * features (self included, lattice approximation), N, N' its normalisation
 * (NORMALIZE_SYMMETRIC: both 1/sqrt(K 1); BEFORE: N' = 1/(K 1); AFTER:
 * N = 1/(K 1); none: identity), and compat Potts(w): -w x, diagonal: w .* x,
 * matrix M: (M + M^T)/2 x. Shapes at the API: U and Q (labels, pixels).
 *
 * Inside, values are pixel-major with the labels of a pixel contiguous and
 * padded to lp lanes (zeros), the layout the lattice filters fastest. The
 * pairwise terms' normalisations are folded into the lattice's weights and
 * the Potts/diagonal compatibilities into the slice, which adds straight into
 * the logits. Every loop writes disjoint outputs and the KL divergence sums
 * fixed chunks in order, so results do not depend on the thread count. */
#include "crf/permutohedral.h"

#include <math.h>
#include <stdlib.h>
#ifdef ED_CRF_PROFILE
#include <time.h>
#endif

#define PIX_CHUNK 1024
#define BLOCK ED__BLOCK
#define MAX_LABELS 65536

typedef struct crf_term {
    ed__lattice lat;
    ed_crf_compat_kind compat;
    float *accm;      /* lp: what the slice adds per lane (Potts +w, diagonal -w) */
    float *matrix;    /* MATRIX: lp x lp, symmetrised, row l = label l's weights */
} crf_term;

struct ed_densecrf {
    int64_t n;
    int labels, lp;
    int width, height;    /* 0 for a CRF made by ed_densecrf_new */
    float *neg_unary;     /* n x lp: -unary, NULL = zeros */
    crf_term *terms;
    int n_terms, cap_terms;
};

static int lanes_for(int labels)
{
    return (labels + ED__VW - 1) / ED__VW * ED__VW;
}

void ed_crf_pairwise_default(ed_crf_pairwise *p, double potts)
{
    memset(p, 0, sizeof *p);
    p->compat = ED_CRF_POTTS;
    p->potts = potts;
    p->kernel = ED_CRF_DIAG_KERNEL;
    p->normalization = ED_CRF_NORMALIZE_SYMMETRIC;
}

static ed_status crf_new(int64_t n, int labels, int w, int h, const char *op, ed_densecrf **out)
{
    if (!out) return ed__err(ED_E_ARG, "%s: out is NULL", op);
    *out = NULL;
    if (labels < 1 || labels > MAX_LABELS)
        return ed__err(ED_E_ARG, "%s: labels must be 1 to %d, got %d", op, MAX_LABELS, labels);
    if (n < 1 || n > INT32_MAX / 2)
        return ed__err(ED_E_ARG, "%s: the number of pixels must be 1 to %d, got %lld", op, INT32_MAX / 2, (long long)n);
    ed_densecrf *c = calloc(1, sizeof *c);
    if (!c) return ed__err(ED_E_NOMEM, "%s: out of memory", op);
    c->n = n;
    c->labels = labels;
    c->lp = lanes_for(labels);
    c->width = w;
    c->height = h;
    *out = c;
    return ED_OK;
}

ed_status ed_densecrf_new(int64_t n_pixels, int labels, ed_densecrf **out)
{
    return crf_new(n_pixels, labels, 0, 0, "densecrf_new", out);
}

ed_status ed_densecrf_new_2d(int width, int height, int labels, ed_densecrf **out)
{
    if (out) *out = NULL;
    if (width < 1 || height < 1)
        return ed__err(ED_E_ARG, "densecrf_new_2d: width and height must be >= 1, got %d x %d", width, height);
    return crf_new((int64_t)width * height, labels, width, height, "densecrf_new_2d", out);
}

void ed_densecrf_free(ed_densecrf *crf)
{
    if (!crf) return;
    for (int k = 0; k < crf->n_terms; k++) {
        ed__lattice_free(&crf->terms[k].lat);
        ed__aligned_free(crf->terms[k].accm);
        ed__aligned_free(crf->terms[k].matrix);
    }
    free(crf->terms);
    ed__aligned_free(crf->neg_unary);
    free(crf);
}

int64_t ed_densecrf_pixels(const ed_densecrf *crf) { return crf ? crf->n : 0; }
int ed_densecrf_labels(const ed_densecrf *crf) { return crf ? crf->labels : 0; }
int ed_densecrf_terms(const ed_densecrf *crf) { return crf ? crf->n_terms : 0; }

/* t must be f32 with shape (labels, ...) holding labels x pixels values. */
static ed_status check_lp_tensor(const ed_densecrf *crf, const ed_tensor *t, const char *op, const char *what)
{
    if (!t) return ed__err(ED_E_ARG, "%s: %s is NULL", op, what);
    char buf[ED_SHAPE_BUF];
    if (t->dtype != ED_F32)
        return ed__err(ED_E_DTYPE, "%s: %s must be float32, got %s", op, what, ed_dtype_name(t->dtype));
    if (t->ndim < 2 || t->shape[0] != crf->labels || t->numel != crf->labels * crf->n)
        return ed__err(ED_E_SHAPE, "%s: %s must be (labels, pixels) = (%d, %lld), got %s", op, what, crf->labels,
                       (long long)crf->n, ed__shape_str(t, buf));
    return ED_OK;
}

ed_status ed_densecrf_set_unary(ed_densecrf *crf, const ed_tensor *unary)
{
    const char *op = "densecrf_set_unary";
    if (!crf) return ed__err(ED_E_ARG, "%s: crf is NULL", op);
    ED_TRY(check_lp_tensor(crf, unary, op, "unary"));
    const int64_t n = crf->n, nch = (n + PIX_CHUNK - 1) / PIX_CHUNK;
    const int L = crf->labels, lp = crf->lp;
    const float *u = ed__cf32(unary);
    float *nu = ed__aligned_alloc((size_t)n * lp * sizeof *nu);
    int64_t *bad = malloc((size_t)nch * sizeof *bad);
    if (!nu || !bad) {
        ed__aligned_free(nu);
        free(bad);
        return ed__err(ED_E_NOMEM, "%s: out of memory", op);
    }
    /* Transpose to pixel-major, negate, and note each chunk's first pixel
     * holding NaN or -inf or nothing finite. */
    ED_PARALLEL_FOR
    for (int64_t c = 0; c < nch; c++) {
        int64_t i0 = c * PIX_CHUNK, i1 = (c + 1) * PIX_CHUNK < n ? (c + 1) * PIX_CHUNK : n;
        bad[c] = -1;
        for (int64_t i = i0; i < i1; i++)
            for (int l = L; l < lp; l++) nu[i * lp + l] = 0.0f;
        for (int l = 0; l < L; l++)
            for (int64_t i = i0; i < i1; i++) nu[i * lp + l] = -u[(int64_t)l * n + i];
        for (int64_t i = i0; i < i1 && bad[c] < 0; i++) {
            int finite = 0, wrong = 0;
            for (int l = 0; l < L; l++) {
                float v = nu[i * lp + l];
                finite |= isfinite(v);
                wrong |= isnan(v) || v == INFINITY;
            }
            if (wrong || !finite) bad[c] = i;
        }
    }
    for (int64_t c = 0; c < nch; c++)
        if (bad[c] >= 0) {
            int64_t i = bad[c];
            free(bad);
            ed__aligned_free(nu);
            for (int l = 0; l < L; l++) {
                float v = u[(int64_t)l * n + i];
                if (isnan(v) || v == -INFINITY)
                    return ed__err(ED_E_NAN, "%s: unary[%d, %lld] is %s (energies must be finite or +inf)", op, l,
                                   (long long)i, isnan(v) ? "NaN" : "-inf");
            }
            return ed__err(ED_E_NAN, "%s: pixel %lld has energy +inf for every label", op, (long long)i);
        }
    free(bad);
    ed__aligned_free(crf->neg_unary);
    crf->neg_unary = nu;
    return ED_OK;
}

/* ---- pairwise terms -------------------------------------------------------- */

static ed_status check_pairwise(const ed_densecrf *crf, const ed_crf_pairwise *p, int d, const char *op)
{
    char buf[ED_SHAPE_BUF];
    const int L = crf->labels;
    switch (p->compat) {
    case ED_CRF_POTTS:
        if (!isfinite(p->potts)) return ed__err(ED_E_ARG, "%s: Potts weight must be finite, got %g", op, p->potts);
        break;
    case ED_CRF_DIAG:
    case ED_CRF_MATRIX: {
        const ed_tensor *w = p->weights;
        int diag = p->compat == ED_CRF_DIAG;
        if (!w) return ed__err(ED_E_ARG, "%s: %s compatibility needs weights", op, diag ? "DIAG" : "MATRIX");
        if (w->dtype != ED_F32)
            return ed__err(ED_E_DTYPE, "%s: compatibility weights must be float32, got %s", op, ed_dtype_name(w->dtype));
        if (diag ? (w->ndim != 1 || w->shape[0] != L) : (w->ndim != 2 || w->shape[0] != L || w->shape[1] != L)) {
            if (diag)
                return ed__err(ED_E_SHAPE, "%s: DIAG compatibility weights must be (labels) = (%d), got %s", op, L,
                               ed__shape_str(w, buf));
            return ed__err(ED_E_SHAPE, "%s: MATRIX compatibility weights must be (labels, labels) = (%d, %d), got %s",
                           op, L, L, ed__shape_str(w, buf));
        }
        for (int64_t i = 0; i < w->numel; i++)
            if (!isfinite(ed__cf32(w)[i]))
                return ed__err(ED_E_NAN, "%s: compatibility weight %lld is not finite", op, (long long)i);
        break;
    }
    default:
        return ed__err(ED_E_ARG, "%s: unknown compatibility kind %d (POTTS, DIAG or MATRIX)", op, (int)p->compat);
    }
    if ((unsigned)p->normalization > ED_CRF_NORMALIZE_SYMMETRIC)
        return ed__err(ED_E_ARG, "%s: unknown normalization %d (NO_NORMALIZATION, BEFORE, AFTER or SYMMETRIC)", op,
                       (int)p->normalization);
    const ed_tensor *kp = p->kernel_params;
    switch (p->kernel) {
    case ED_CRF_CONST_KERNEL:
        if (kp) return ed__err(ED_E_ARG, "%s: CONST_KERNEL takes no kernel_params", op);
        break;
    case ED_CRF_DIAG_KERNEL:
    case ED_CRF_FULL_KERNEL:
        if (!kp) break;
        if (kp->dtype != ED_F32)
            return ed__err(ED_E_DTYPE, "%s: kernel_params must be float32, got %s", op, ed_dtype_name(kp->dtype));
        if (p->kernel == ED_CRF_DIAG_KERNEL && (kp->ndim != 1 || kp->shape[0] != d))
            return ed__err(ED_E_SHAPE, "%s: DIAG_KERNEL kernel_params must be (d) = (%d), got %s", op, d,
                           ed__shape_str(kp, buf));
        if (p->kernel == ED_CRF_FULL_KERNEL && (kp->ndim != 2 || kp->shape[0] != d || kp->shape[1] != d))
            return ed__err(ED_E_SHAPE, "%s: FULL_KERNEL kernel_params must be (d, d) = (%d, %d), got %s", op, d, d,
                           ed__shape_str(kp, buf));
        for (int64_t i = 0; i < kp->numel; i++)
            if (!isfinite(ed__cf32(kp)[i]))
                return ed__err(ED_E_NAN, "%s: kernel_params[%lld] is not finite", op, (long long)i);
        break;
    default:
        return ed__err(ED_E_ARG, "%s: unknown kernel type %d (CONST, DIAG or FULL)", op, (int)p->kernel);
    }
    return ED_OK;
}

/* Adds a term over features f (d, n) (owned by the caller). */
static ed_status add_term(ed_densecrf *crf, const float *f, int d, const ed_crf_pairwise *p, const char *op)
{
    const int64_t n = crf->n;
    const int L = crf->labels, lp = crf->lp;
    ed_crf_pairwise def;
    if (!p) {
        ed_crf_pairwise_default(&def, 1.0);
        p = &def;
    }
    ED_TRY(check_pairwise(crf, p, d, op));
    if (crf->n_terms == crf->cap_terms) {
        int cap = crf->cap_terms ? 2 * crf->cap_terms : 4;
        crf_term *t = realloc(crf->terms, (size_t)cap * sizeof *t);
        if (!t) return ed__err(ED_E_NOMEM, "%s: out of memory", op);
        crf->terms = t;
        crf->cap_terms = cap;
    }
    crf_term term;
    memset(&term, 0, sizeof term);
    term.compat = p->compat;

    /* Kernel parameters transform the features (pairwise.cpp setParameters). */
    float *scaled = NULL;
    const ed_tensor *kp = p->kernel_params;
    if (kp) {
        scaled = malloc((size_t)n * d * sizeof *scaled);
        if (!scaled) return ed__err(ED_E_NOMEM, "%s: out of memory", op);
        const float *pk = ed__cf32(kp);
        for (int r = 0; r < d; r++)
            for (int64_t i = 0; i < n; i++) {
                float s = 0.0f;
                if (p->kernel == ED_CRF_DIAG_KERNEL) s = pk[r] * f[r * n + i];
                else
                    for (int c = 0; c < d; c++) s += pk[r * d + c] * f[c * n + i];
                scaled[r * n + i] = s;
            }
        f = scaled;
    }
    ed_status st = ed__lattice_init(&term.lat, f, d, n, op);
    free(scaled);
    if (st) return st;

    /* Normalisation from the filtered ones (pairwise.cpp initLattice). */
    float *norm = NULL;
    if (p->normalization != ED_CRF_NO_NORMALIZATION) {
        norm = malloc((size_t)n * sizeof *norm);
        if (!norm || ed__lattice_filter_ones(&term.lat, norm)) {
            st = ed__err(ED_E_NOMEM, "%s: out of memory", op);
            goto fail;
        }
        const int sym = p->normalization == ED_CRF_NORMALIZE_SYMMETRIC;
        const int64_t nch = (n + PIX_CHUNK - 1) / PIX_CHUNK;
        ED_PARALLEL_FOR
        for (int64_t c = 0; c < nch; c++) {
            int64_t i1 = (c + 1) * PIX_CHUNK < n ? (c + 1) * PIX_CHUNK : n;
            for (int64_t i = c * PIX_CHUNK; i < i1; i++) {
                double k = (double)norm[i] + 1e-20;
                norm[i] = sym ? (float)(1.0 / sqrt(k)) : (float)(1.0 / k);
            }
        }
        const float *pre = p->normalization == ED_CRF_NORMALIZE_AFTER ? NULL : norm;
        const float *post = p->normalization == ED_CRF_NORMALIZE_BEFORE ? NULL : norm;
        ed__lattice_scale(&term.lat, pre, post);
    }

    term.accm = ed__aligned_alloc((size_t)lp * sizeof *term.accm);
    if (!term.accm) {
        st = ed__err(ED_E_NOMEM, "%s: out of memory", op);
        goto fail;
    }
    for (int l = 0; l < lp; l++) term.accm[l] = 0.0f;
    if (p->compat == ED_CRF_POTTS) {
        for (int l = 0; l < L; l++) term.accm[l] = (float)p->potts;
    } else if (p->compat == ED_CRF_DIAG) {
        for (int l = 0; l < L; l++) term.accm[l] = -ed__cf32(p->weights)[l];
    } else {
        term.matrix = ed__aligned_alloc((size_t)lp * lp * sizeof *term.matrix);
        if (!term.matrix) {
            st = ed__err(ED_E_NOMEM, "%s: out of memory", op);
            goto fail;
        }
        const float *w = ed__cf32(p->weights);
        for (int a = 0; a < lp; a++)
            for (int b = 0; b < lp; b++)
                term.matrix[a * lp + b] = a < L && b < L ? 0.5f * (w[a * L + b] + w[b * L + a]) : 0.0f;
    }
    free(norm);
    crf->terms[crf->n_terms++] = term;
    return ED_OK;
fail:
    free(norm);
    ed__lattice_free(&term.lat);
    ed__aligned_free(term.accm);
    ed__aligned_free(term.matrix);
    return st;
}

ed_status ed_densecrf_add_pairwise(ed_densecrf *crf, const ed_tensor *features, const ed_crf_pairwise *p)
{
    const char *op = "densecrf_add_pairwise";
    if (!crf) return ed__err(ED_E_ARG, "%s: crf is NULL", op);
    if (!features) return ed__err(ED_E_ARG, "%s: features is NULL", op);
    char buf[ED_SHAPE_BUF];
    if (features->dtype != ED_F32)
        return ed__err(ED_E_DTYPE, "%s: features must be float32, got %s", op, ed_dtype_name(features->dtype));
    if (features->ndim != 2 || features->shape[1] != crf->n || features->shape[0] < 1)
        return ed__err(ED_E_SHAPE, "%s: features must be (d, pixels) = (d, %lld) with d >= 1, got %s", op,
                       (long long)crf->n, ed__shape_str(features, buf));
    if (features->shape[0] > ED_LATTICE_MAX_DIMS)
        return ed__err(ED_E_SHAPE, "%s: features have %lld dimensions, at most %d are supported", op,
                       (long long)features->shape[0], ED_LATTICE_MAX_DIMS);
    return add_term(crf, ed__cf32(features), (int)features->shape[0], p, op);
}

static ed_status check_sigma(double s, const char *op, const char *name)
{
    if (!(s > 0) || !isfinite(s)) return ed__err(ED_E_ARG, "%s: %s must be > 0 and finite, got %g", op, name, s);
    return ED_OK;
}

ed_status ed_densecrf_add_gaussian(ed_densecrf *crf, double sx, double sy, const ed_crf_pairwise *p)
{
    const char *op = "densecrf_add_gaussian";
    if (!crf) return ed__err(ED_E_ARG, "%s: crf is NULL", op);
    if (!crf->width) return ed__err(ED_E_STATE, "%s: needs a 2-D CRF (made by ed_densecrf_new_2d)", op);
    ED_TRY(check_sigma(sx, op, "sx"));
    ED_TRY(check_sigma(sy, op, "sy"));
    const int W = crf->width, H = crf->height;
    const int64_t n = crf->n;
    float *f = malloc((size_t)n * 2 * sizeof *f);
    if (!f) return ed__err(ED_E_NOMEM, "%s: out of memory", op);
    const float fx = (float)sx, fy = (float)sy;
    ED_PARALLEL_FOR
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            f[(int64_t)y * W + x] = (float)x / fx;
            f[n + (int64_t)y * W + x] = (float)y / fy;
        }
    ed_status s = add_term(crf, f, 2, p, op);
    free(f);
    return s;
}

ed_status ed_densecrf_add_bilateral(ed_densecrf *crf, double sx, double sy, double sr, double sg, double sb,
                                    const ed_tensor *rgb, const ed_crf_pairwise *p)
{
    const char *op = "densecrf_add_bilateral";
    if (!crf) return ed__err(ED_E_ARG, "%s: crf is NULL", op);
    if (!crf->width) return ed__err(ED_E_STATE, "%s: needs a 2-D CRF (made by ed_densecrf_new_2d)", op);
    ED_TRY(check_sigma(sx, op, "sx"));
    ED_TRY(check_sigma(sy, op, "sy"));
    ED_TRY(check_sigma(sr, op, "sr"));
    ED_TRY(check_sigma(sg, op, "sg"));
    ED_TRY(check_sigma(sb, op, "sb"));
    if (!rgb) return ed__err(ED_E_ARG, "%s: rgb is NULL", op);
    const int W = crf->width, H = crf->height;
    char buf[ED_SHAPE_BUF];
    if (rgb->dtype != ED_U8)
        return ed__err(ED_E_DTYPE, "%s: rgb must be uint8, got %s", op, ed_dtype_name(rgb->dtype));
    if (rgb->ndim != 3 || rgb->shape[0] != H || rgb->shape[1] != W || rgb->shape[2] != 3)
        return ed__err(ED_E_SHAPE, "%s: rgb must be (H, W, 3) = (%d, %d, 3), got %s", op, H, W, ed__shape_str(rgb, buf));
    const uint8_t *im = rgb->data;
    const int64_t n = crf->n;
    float *f = malloc((size_t)n * 5 * sizeof *f);
    if (!f) return ed__err(ED_E_NOMEM, "%s: out of memory", op);
    const float s[5] = { (float)sx, (float)sy, (float)sr, (float)sg, (float)sb };
    ED_PARALLEL_FOR
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int64_t i = (int64_t)y * W + x;
            f[i] = (float)x / s[0];
            f[n + i] = (float)y / s[1];
            for (int c = 0; c < 3; c++) f[(2 + c) * n + i] = (float)im[i * 3 + c] / s[2 + c];
        }
    ed_status st = add_term(crf, f, 5, p, op);
    free(f);
    return st;
}

/* ---- inference ------------------------------------------------------------- */

/* Vectors of ED__VW floats, as the lattice's. */
typedef ed__vf vf;
typedef ed__vi vi;

/* exp(x) for x <= 0 (the softmax's shifted logits), 4 at a time, as
 * Cephes' expf: x = k ln 2 + r with ln 2 in two parts, exp(r) by a degree-7
 * polynomial, times 2^k (about 1 ulp); 0 below -87.3 (and for -inf). */
ED__ALWAYS_INLINE void exp_nonpos(vf *xp)
{
    const vf x = *xp;
    const vf lo = (vf){ 0 } - 87.3f, magic = (vf){ 0 } + 12582912.0f;   /* 1.5 * 2^23 rounds */
    const vi keep = x >= lo;
    vf r = (vf)(((vi)x & keep) | ((vi)lo & ~keep));
    const vf k = (r * 1.44269504088896341f + magic) - magic;
    r = r - k * 0.693359375f - k * -2.12194440e-4f;
    const vf z = r * r;
    vf p = 1.9875691500e-4f * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * z + r + 1.0f;
    const vi bits = (__builtin_convertvector(k, vi) + 127) << 23;
    *xp = (vf)((vi)(p * (vf)bits) & keep);   /* (in place: vectors as values upset some ABIs) */
}

/* o = softmax(x) over the labels of a row of G vectors; lastmask keeps the
 * lanes of the last vector that hold labels (the rest become 0). Vector
 * operations only, so that x can live in registers. */
ED__ALWAYS_INLINE void softmax_row(const vf *x, vf *o, const int G, vi lastmask)
{
    const vf ninf = (vf){ 0 } - INFINITY;
    vf m = (vf)(((vi)x[G - 1] & lastmask) | ((vi)ninf & ~lastmask));
    for (int g = 0; g < G - 1; g++) {
        vi gt = m > x[g];
        m = (vf)(((vi)m & gt) | ((vi)x[g] & ~gt));
    }
    float mx = m[0];
    for (int k = 1; k < ED__VW; k++) mx = m[k] > mx ? m[k] : mx;
    vf e[BLOCK], sum = (vf){ 0 };
    for (int g0 = 0; g0 < G; g0 += BLOCK) {
        const int gw = G - g0 < BLOCK ? G - g0 : BLOCK;
        for (int g = 0; g < gw; g++) {
            e[g] = x[g0 + g] - mx;
            exp_nonpos(&e[g]);
            if (g0 + g == G - 1) e[g] = (vf)((vi)e[g] & lastmask);
            sum += e[g];
        }
        if (G > BLOCK)
            for (int g = 0; g < gw; g++) o[g0 + g] = e[g];
    }
    float tot = 0.0f;
    for (int k = 0; k < ED__VW; k++) tot += sum[k];
    const float inv = 1.0f / tot;
    if (G <= BLOCK)
        for (int g = 0; g < G; g++) o[g] = e[g] * inv;
    else
        for (int g = 0; g < G; g++) o[g] *= inv;
}

typedef struct {
    float **work;         /* per term: its lattice's values */
    const float **vals;   /* per term: the blurred values (inside work) */
    vf *rows;             /* per pixel chunk: two rows of lp */
} crf_buffers;

static void buffers_free(const ed_densecrf *crf, crf_buffers *b)
{
    for (int k = 0; b->work && k < crf->n_terms; k++) ed__aligned_free(b->work[k]);
    free(b->work);
    free(b->vals);
    ed__aligned_free(b->rows);
}

static ed_status buffers_new(const ed_densecrf *crf, crf_buffers *b, const char *op)
{
    memset(b, 0, sizeof *b);
    const int64_t nch = (crf->n + PIX_CHUNK - 1) / PIX_CHUNK;
    int ok = 1;
    b->work = calloc((size_t)crf->n_terms + 1, sizeof *b->work);
    b->vals = calloc((size_t)crf->n_terms + 1, sizeof *b->vals);
    b->rows = ed__aligned_alloc((size_t)nch * 2 * crf->lp * sizeof(float));
    ok = b->work && b->vals && b->rows;
    for (int k = 0; ok && k < crf->n_terms; k++) {
        b->work[k] = ed__aligned_alloc(ed__lattice_work_floats(&crf->terms[k].lat, crf->lp) * sizeof(float));
        ok = b->work[k] != NULL;
    }
    if (!ok) {
        buffers_free(crf, b);
        return ed__err(ED_E_NOMEM, "%s: out of memory for %lld pixels x %d labels", op, (long long)crf->n, crf->labels);
    }
    return ED_OK;
}

/* Pixels i0 .. i1 - 1 of a mean-field pass (see mean_field). With G <=
 * BLOCK and G constant, a pixel's sums stay in registers; wider rows go
 * through mem (2 G vectors), as does the matrix compatibility. */
ED__ALWAYS_INLINE void mf_pixels(const ed_densecrf *crf, const crf_buffers *b, const vf *nu, vf *out, int n_terms,
                                 int softmax, const int G, int64_t i0, int64_t i1, vf *mem, vi lastmask)
{
    const int L = crf->labels, lp = crf->lp;
    vf accl[BLOCK], sl[BLOCK];
    vf *acc = G <= BLOCK ? accl : mem, *s = G <= BLOCK ? sl : mem + G;
    for (int64_t i = i0; i < i1; i++) {
        for (int g = 0; g < G; g++) acc[g] = nu ? nu[i * G + g] : (vf){ 0 };
        for (int k = 0; k < n_terms; k++) {
            const crf_term *t = &crf->terms[k];
            const vf *vals = (const vf *)b->vals[k];
            for (int g0 = 0; g0 < G; g0 += BLOCK) {
                const int gw = G - g0 < BLOCK ? G - g0 : BLOCK;
                ed__lattice_slice_point(&t->lat, vals, G, g0, gw, i, s + (G <= BLOCK ? 0 : g0));
            }
            if (t->compat != ED_CRF_MATRIX) {
                const vf *am = (const vf *)t->accm;
                for (int g = 0; g < G; g++) acc[g] += am[g] * s[g];
                continue;
            }
            /* acc -= M s, through memory. */
            float *mf = (float *)mem, *sf = mf + lp;
            if (G <= BLOCK)
                for (int g = 0; g < G; g++) {
                    mem[g] = acc[g];
                    mem[G + g] = s[g];
                }
            for (int l = 0; l < L; l++) {
                float v = 0.0f;
                for (int j = 0; j < L; j++) v += t->matrix[l * lp + j] * sf[j];
                mf[l] -= v;
            }
            if (G <= BLOCK)
                for (int g = 0; g < G; g++) acc[g] = mem[g];
        }
        if (softmax) softmax_row(acc, out + i * G, G, lastmask);
        else
            for (int g = 0; g < G; g++) out[i * G + g] = acc[g];
    }
}

/* One mean-field pass from q (n x lp). Per pixel,
 *   x = (with_unary ? -unary : 0) - sum over the first n_terms terms of pairwise(q),
 * and out gets softmax(x) (softmax) or x. The terms' splats and blurs all
 * happen first, so out may be q; then one pass over the pixels slices every
 * term, adds, and normalises, with no intermediate image. */
static void mean_field(const ed_densecrf *crf, const float *q, float *out, int with_unary, int n_terms, int softmax,
                       crf_buffers *b)
{
    const int64_t n = crf->n, nch = (n + PIX_CHUNK - 1) / PIX_CHUNK;
    const int L = crf->labels, G = crf->lp / ED__VW;
    for (int k = 0; k < n_terms; k++) b->vals[k] = ed__lattice_splat_blur(&crf->terms[k].lat, q, crf->lp, b->work[k]);
    vi lastmask;
    for (int k = 0; k < ED__VW; k++) lastmask[k] = (G - 1) * ED__VW + k < L ? -1 : 0;
    const vf *nu = with_unary ? (const vf *)crf->neg_unary : NULL;
    vf *ov = (vf *)out;
#ifdef ED_CRF_PROFILE
    extern double ed__crf_prof[10];
    struct timespec t0_, t1_;
    clock_gettime(CLOCK_MONOTONIC, &t0_);
#endif
    ED_PARALLEL_FOR
    for (int64_t c = 0; c < nch; c++) {
        int64_t i0 = c * PIX_CHUNK, i1 = (c + 1) * PIX_CHUNK < n ? (c + 1) * PIX_CHUNK : n;
        vf *mem = b->rows + c * 2 * G;
#define CALL(g) mf_pixels(crf, b, nu, ov, n_terms, softmax, g, i0, i1, mem, lastmask)
        ED__DISPATCH_G(G, CALL)
#undef CALL
    }
#ifdef ED_CRF_PROFILE
    clock_gettime(CLOCK_MONOTONIC, &t1_);
    ed__crf_prof[3] += (t1_.tv_sec - t0_.tv_sec) + 1e-9 * (t1_.tv_nsec - t0_.tv_nsec);
#endif
}

/* Internal Q (n x lp) <-> the API's (labels, n). */
static void to_internal(const ed_densecrf *crf, const float *q, float *qi)
{
    const int64_t n = crf->n, nch = (n + PIX_CHUNK - 1) / PIX_CHUNK;
    const int L = crf->labels, lp = crf->lp;
    ED_PARALLEL_FOR
    for (int64_t c = 0; c < nch; c++) {
        int64_t i1 = (c + 1) * PIX_CHUNK < n ? (c + 1) * PIX_CHUNK : n;
        for (int64_t i = c * PIX_CHUNK; i < i1; i++) {
            for (int l = 0; l < L; l++) qi[i * lp + l] = q[(int64_t)l * n + i];
            for (int l = L; l < lp; l++) qi[i * lp + l] = 0.0f;
        }
    }
}

static void to_api(const ed_densecrf *crf, const float *qi, float *q)
{
    const int64_t n = crf->n, nch = (n + PIX_CHUNK - 1) / PIX_CHUNK;
    const int L = crf->labels, lp = crf->lp;
    ED_PARALLEL_FOR
    for (int64_t c = 0; c < nch; c++) {
        int64_t i1 = (c + 1) * PIX_CHUNK < n ? (c + 1) * PIX_CHUNK : n;
        for (int l = 0; l < L; l++)
            for (int64_t i = c * PIX_CHUNK; i < i1; i++) q[(int64_t)l * n + i] = qi[i * lp + l];
    }
}

/* Runs iters mean-field steps on qi (n x lp) in place, from softmax(-U)
 * when start. */
static ed_status run(const ed_densecrf *crf, float *qi, int start, int iters, const char *op)
{
    crf_buffers b;
    ED_TRY(buffers_new(crf, &b, op));
    if (start) mean_field(crf, qi, qi, 1, 0, 1, &b);
    for (int it = 0; it < iters; it++) mean_field(crf, qi, qi, 1, crf->n_terms, 1, &b);
    buffers_free(crf, &b);
    return ED_OK;
}

static ed_status infer(ed_densecrf *crf, int iters, const char *op, float **qi_out)
{
    *qi_out = NULL;
    if (!crf) return ed__err(ED_E_ARG, "%s: crf is NULL", op);
    if (iters < 0) return ed__err(ED_E_ARG, "%s: n_iterations must be >= 0, got %d", op, iters);
    float *qi = ed__aligned_alloc((size_t)crf->n * crf->lp * sizeof *qi);
    if (!qi) return ed__err(ED_E_NOMEM, "%s: out of memory", op);
    ed_status s = run(crf, qi, 1, iters, op);
    if (s) {
        ed__aligned_free(qi);
        return s;
    }
    *qi_out = qi;
    return ED_OK;
}

static ed_status new_q(const ed_densecrf *crf, const float *qi, ed_tensor **q)
{
    ED_TRY(ed__alloc(ED_F32, 2, (int64_t[]){ crf->labels, crf->n }, q));
    to_api(crf, qi, ed__f32(*q));
    return ED_OK;
}

ed_status ed_densecrf_inference(ed_densecrf *crf, int n_iterations, ed_tensor **q)
{
    if (!q) return ed__err(ED_E_ARG, "densecrf_inference: q is NULL");
    *q = NULL;
    float *qi;
    ED_TRY(infer(crf, n_iterations, "densecrf_inference", &qi));
    ed_status s = new_q(crf, qi, q);
    ed__aligned_free(qi);
    return s;
}

ed_status ed_densecrf_start_inference(ed_densecrf *crf, ed_tensor **q)
{
    if (!q) return ed__err(ED_E_ARG, "densecrf_start_inference: q is NULL");
    *q = NULL;
    float *qi;
    ED_TRY(infer(crf, 0, "densecrf_start_inference", &qi));
    ed_status s = new_q(crf, qi, q);
    ed__aligned_free(qi);
    return s;
}

ed_status ed_densecrf_map(ed_densecrf *crf, int n_iterations, ed_tensor **labels)
{
    if (!labels) return ed__err(ED_E_ARG, "densecrf_map: labels is NULL");
    *labels = NULL;
    float *qi;
    ED_TRY(infer(crf, n_iterations, "densecrf_map", &qi));
    ed_status s = ed__alloc(ED_I64, 1, (int64_t[]){ crf->n }, labels);
    if (!s) {
        int64_t *out = ed__i64(*labels);
        const int L = crf->labels, lp = crf->lp;
        const int64_t n = crf->n, nch = (n + PIX_CHUNK - 1) / PIX_CHUNK;
        ED_PARALLEL_FOR
        for (int64_t c = 0; c < nch; c++) {
            int64_t i1 = (c + 1) * PIX_CHUNK < n ? (c + 1) * PIX_CHUNK : n;
            for (int64_t i = c * PIX_CHUNK; i < i1; i++) {
                const float *r = qi + i * lp;
                int best = 0;
                for (int l = 1; l < L; l++)
                    if (r[l] > r[best]) best = l;
                out[i] = best;
            }
        }
    }
    ed__aligned_free(qi);
    return s;
}

ed_status ed_densecrf_step_inference(ed_densecrf *crf, ed_tensor *q)
{
    const char *op = "densecrf_step_inference";
    if (!crf) return ed__err(ED_E_ARG, "%s: crf is NULL", op);
    ED_TRY(check_lp_tensor(crf, q, op, "q"));
    float *qi = ed__aligned_alloc((size_t)crf->n * crf->lp * sizeof *qi);
    if (!qi) return ed__err(ED_E_NOMEM, "%s: out of memory", op);
    to_internal(crf, ed__cf32(q), qi);
    ed_status s = run(crf, qi, 0, 1, op);
    if (!s) to_api(crf, qi, ed__f32(q));
    ed__aligned_free(qi);
    return s;
}

ed_status ed_densecrf_kl_divergence(ed_densecrf *crf, const ed_tensor *q, double *kl)
{
    const char *op = "densecrf_kl_divergence";
    if (!crf) return ed__err(ED_E_ARG, "%s: crf is NULL", op);
    if (!kl) return ed__err(ED_E_ARG, "%s: kl is NULL", op);
    ED_TRY(check_lp_tensor(crf, q, op, "q"));
    const int64_t n = crf->n, nch = (n + PIX_CHUNK - 1) / PIX_CHUNK;
    const int L = crf->labels, lp = crf->lp;
    float *qi = ed__aligned_alloc((size_t)n * lp * sizeof *qi);
    float *accb = ed__aligned_alloc((size_t)n * lp * sizeof *accb);
    double *part = malloc((size_t)nch * sizeof *part);
    crf_buffers b;
    memset(&b, 0, sizeof b);
    ed_status s = qi && accb && part ? buffers_new(crf, &b, op) : ed__err(ED_E_NOMEM, "%s: out of memory", op);
    if (s) {
        ed__aligned_free(qi);
        ed__aligned_free(accb);
        free(part);
        return s;
    }
    to_internal(crf, ed__cf32(q), qi);
    mean_field(crf, qi, accb, 0, crf->n_terms, 0, &b);   /* -sum_k pairwise_k(q) */
    const float *nu = crf->neg_unary, *acc = accb;
    ED_PARALLEL_FOR
    for (int64_t c = 0; c < nch; c++) {
        int64_t i1 = (c + 1) * PIX_CHUNK < n ? (c + 1) * PIX_CHUNK : n;
        double sum = 0.0;
        for (int64_t i = c * PIX_CHUNK; i < i1; i++)
            for (int l = 0; l < L; l++) {
                double v = qi[i * lp + l];
                if (v == 0.0) continue;    /* 0 log 0 = 0, and 0 x inf energy too */
                sum += v * log(v > 1e-20 ? v : 1e-20);
                if (nu) sum -= (double)nu[i * lp + l] * v;
                sum -= v * acc[i * lp + l];
            }
        part[c] = sum;
    }
    double total = 0.0;
    for (int64_t c = 0; c < nch; c++) total += part[c];
    *kl = total;
    buffers_free(crf, &b);
    ed__aligned_free(qi);
    ed__aligned_free(accb);
    free(part);
    return ED_OK;
}

/* ---- one call for an image ----------------------------------------------------- */

void ed_crf_params_default(ed_crf_params *p)
{
    memset(p, 0, sizeof *p);
    p->gauss_sx = p->gauss_sy = 3.0;
    p->gauss_compat = 3.0;
    p->bilat_sx = p->bilat_sy = 80.0;
    p->bilat_srgb = 13.0;
    p->bilat_compat = 10.0;
    p->clip = 1e-5;
    p->scale = 0.0;
    p->kernel = ED_CRF_DIAG_KERNEL;
    p->normalization = ED_CRF_NORMALIZE_SYMMETRIC;
}

ed_status ed_crf_refine_image(const uint8_t *rgb, int w, int h, const float *probs, int labels,
                              const ed_crf_params *p, int n_iterations, uint8_t *labels_out, float *q_out)
{
    const char *op = "crf_refine_image";
    if (!rgb || !probs || !labels_out)
        return ed__err(ED_E_ARG, "%s: %s is NULL", op, !rgb ? "rgb" : !probs ? "probs" : "labels_out");
    if (w < 1 || h < 1) return ed__err(ED_E_ARG, "%s: image size must be >= 1 x 1, got %d x %d", op, w, h);
    if (labels < 1 || labels > 256)
        return ed__err(ED_E_ARG, "%s: labels must be 1 to 256 (the output is 8-bit), got %d", op, labels);
    if (n_iterations < 0) return ed__err(ED_E_ARG, "%s: n_iterations must be >= 0, got %d", op, n_iterations);
    ed_crf_params def;
    if (!p) {
        ed_crf_params_default(&def);
        p = &def;
    }
    ed_tensor *pt = NULL, *it = NULL, *u = NULL;
    ed_densecrf *crf = NULL;
    ed_crf_pairwise pw;
    ed_status s = ed__tensor_wrap(ED_F32, 2, (int64_t[]){ labels, (int64_t)w * h }, (void *)probs, &pt);
    if (!s) s = ed__tensor_wrap(ED_U8, 3, (int64_t[]){ h, w, 3 }, (void *)rgb, &it);
    if (!s) s = ed_crf_unary_from_softmax(pt, p->scale, p->clip, &u);
    if (!s) s = ed_densecrf_new_2d(w, h, labels, &crf);
    if (!s) s = ed_densecrf_set_unary(crf, u);
    if (!s && p->gauss_compat > 0) {
        ed_crf_pairwise_default(&pw, p->gauss_compat);
        pw.kernel = p->kernel;
        pw.normalization = p->normalization;
        s = ed_densecrf_add_gaussian(crf, p->gauss_sx, p->gauss_sy, &pw);
    }
    if (!s && p->bilat_compat > 0) {
        ed_crf_pairwise_default(&pw, p->bilat_compat);
        pw.kernel = p->kernel;
        pw.normalization = p->normalization;
        s = ed_densecrf_add_bilateral(crf, p->bilat_sx, p->bilat_sy, p->bilat_srgb, p->bilat_srgb, p->bilat_srgb,
                                      it, &pw);
    }
    float *qi = NULL;
    if (!s) s = infer(crf, n_iterations, op, &qi);
    if (!s) {
        const int64_t n = crf->n, nch = (n + PIX_CHUNK - 1) / PIX_CHUNK;
        const int lp = crf->lp;
        ED_PARALLEL_FOR
        for (int64_t c = 0; c < nch; c++) {
            int64_t i1 = (c + 1) * PIX_CHUNK < n ? (c + 1) * PIX_CHUNK : n;
            for (int64_t i = c * PIX_CHUNK; i < i1; i++) {
                const float *r = qi + i * lp;
                int best = 0;
                for (int l = 1; l < labels; l++)
                    if (r[l] > r[best]) best = l;
                labels_out[i] = (uint8_t)best;
            }
        }
        if (q_out) to_api(crf, qi, q_out);
    }
    ed__aligned_free(qi);
    ed_tensor_free(u);
    ed_tensor_free(pt);
    ed_tensor_free(it);
    ed_densecrf_free(crf);
    return s;
}
