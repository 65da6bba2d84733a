/* The dense CRF object: its energies and pairwise terms, as pydensecrf's
 * DenseCRF / DenseCRF2D (Krähenbühl and Koltun, "Efficient Inference in
 * Fully Connected CRFs with Gaussian Edge Potentials", NIPS 2011; Krähenbühl's
 * densecrf.cpp, pairwise.cpp, labelcompatibility.cpp). Inference is in
 * meanfield.c.
 *
 * A pairwise term k filters Q with the Gaussian kernel K_k of its features
 * (self included, by the permutohedral lattice; permutohedral.c), normalised
 * (NORMALIZE_SYMMETRIC: N K N with N = 1/sqrt(K 1); BEFORE: K N; AFTER: N K
 * with N = 1/(K 1); none: K), and maps labels by its compatibility: Potts(w)
 * -w x, diagonal w .* x, matrix (M + M^T)/2 x. The normalisations are
 * folded into the lattice's weights and the Potts/diagonal compatibilities
 * into a per-lane factor applied while slicing. Shapes at the API: U and Q
 * (labels, pixels); inside, pixel-major rows of lp >= labels lanes. */
#include "crf/crf_internal.h"

#include <math.h>
#include <stdlib.h>

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
    if (labels < 1 || labels > ED__CRF_MAX_LABELS)
        return ed__err(ED_E_ARG, "%s: labels must be 1 to %d, got %d", op, ED__CRF_MAX_LABELS, labels);
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
    ed__aligned_free(crf->q0);
    free(crf);
}

int64_t ed_densecrf_pixels(const ed_densecrf *crf) { return crf ? crf->n : 0; }
int ed_densecrf_labels(const ed_densecrf *crf) { return crf ? crf->labels : 0; }
int ed_densecrf_terms(const ed_densecrf *crf) { return crf ? crf->n_terms : 0; }

/* t must be f32 with shape (labels, ...) holding labels x pixels values. */
ed_status ed__crf_check_q(const ed_densecrf *crf, const ed_tensor *t, const char *op, const char *what)
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
    ED_TRY(ed__crf_check_q(crf, unary, op, "unary"));
    return ed__crf_fill_unary(crf, ed__cf32(unary), 0, 0.0, op);
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
    if (crf->n_terms == ED__CRF_MAX_TERMS)
        return ed__err(ED_E_ARG, "%s: a CRF takes at most %d pairwise terms", op, ED__CRF_MAX_TERMS);
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
        int parts = ed_get_num_threads() < ed__lattice_max_parts(&term.lat) ? ed_get_num_threads()
                                                                        : ed__lattice_max_parts(&term.lat);
        if (!norm || ed__lattice_filter_ones(&term.lat, parts, norm)) {
            st = ed__err(ED_E_NOMEM, "%s: out of memory", op);
            goto fail;
        }
        const int sym = p->normalization == ED_CRF_NORMALIZE_SYMMETRIC;
        const int64_t nch = (n + ED__CRF_CHUNK - 1) / ED__CRF_CHUNK;
        ED_PARALLEL_FOR
        for (int64_t c = 0; c < nch; c++) {
            int64_t i1 = (c + 1) * ED__CRF_CHUNK < n ? (c + 1) * ED__CRF_CHUNK : n;
            for (int64_t i = c * ED__CRF_CHUNK; i < i1; i++) {
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
