/* Mean-field inference of the dense CRF (Krähenbühl and Koltun, NIPS 2011,
 * Algorithm 1):
 *
 *   Q0 = softmax(-U);  Q_{t+1} = softmax(-U - sum_k pairwise_k(Q_t))
 *
 * per pixel over labels, pairwise_k as in densecrf.c. A step is one pass
 * over the pixels, in parts (one per thread): for each pixel it slices every
 * term's blurred lattice values, adds the unary, takes the softmax, with the
 * pixel's rows in vector registers, and right away splats the new row onto
 * every term's lattice (into the part's buffer) for the next step; then each
 * lattice adds its parts and blurs. Only the last step writes Q. Q0 comes
 * with the energies (ed__crf_fill_unary). The splat's parts make results
 * depend on the thread count, by rounding only, and on nothing else. */
#include "crf/crf_internal.h"

#include <math.h>
#include <stdlib.h>

#define BLOCK ED__BLOCK

/* Vectors of ED__VW floats, as the lattice's. */
typedef ed__vf vf;
typedef ed__vi vi;

/* exp(x) for x <= 0 (the softmax's shifted logits), a vector at a time, as
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
    float t[ED__VW];   /* lane max and sum by halving, which compilers turn into shuffles */
    memcpy(t, &m, sizeof t);
    for (int w = ED__VW / 2; w > 0; w /= 2)
        for (int k = 0; k < w; k++) t[k] = t[k + w] > t[k] ? t[k + w] : t[k];
    const float mx = t[0];
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
    memcpy(t, &sum, sizeof t);
    for (int w = ED__VW / 2; w > 0; w /= 2)
        for (int k = 0; k < w; k++) t[k] += t[k + w];
    const float inv = 1.0f / t[0];
    if (G <= BLOCK)
        for (int g = 0; g < G; g++) o[g] = e[g] * inv;
    else
        for (int g = 0; g < G; g++) o[g] *= inv;
}

typedef struct {
    int parts;            /* the splat's parts, fixed for a run */
    float **work;         /* per term: its lattice's splat parts and blur buffers */
    const float **vals;   /* per term: the blurred values (inside work) */
    vf *rows;             /* per part: three rows of lp, for rows too wide for registers */
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
    b->parts = ed_get_num_threads();
    for (int k = 0; k < crf->n_terms; k++) {
        int mp = ed__lattice_max_parts(&crf->terms[k].lat);
        b->parts = mp < b->parts ? mp : b->parts;
    }
    b->work = calloc((size_t)crf->n_terms + 1, sizeof *b->work);
    b->vals = calloc((size_t)crf->n_terms + 1, sizeof *b->vals);
    b->rows = ed__aligned_alloc((size_t)b->parts * 3 * crf->lp * sizeof(float));
    int ok = b->work && b->vals && b->rows;
    for (int k = 0; ok && k < crf->n_terms; k++) {
        b->work[k] = ed__aligned_alloc(ed__lattice_work_floats(&crf->terms[k].lat, crf->lp, b->parts) * sizeof(float));
        ok = b->work[k] != NULL;
        if (ok) ed__lattice_blur_zero_rows(&crf->terms[k].lat, crf->lp, b->parts, b->work[k]);
    }
    if (!ok) {
        buffers_free(crf, b);
        return ed__err(ED_E_NOMEM, "%s: out of memory for %lld pixels x %d labels", op, (long long)crf->n, crf->labels);
    }
    return ED_OK;
}

/* Pixels i0 .. i1 - 1 of a mean-field pass (see mf_pass), part p. With
 * G <= BLOCK and G constant, a pixel's rows stay in registers; wider rows
 * go through mem (3 G vectors), as does the matrix compatibility. */
ED__ALWAYS_INLINE void mf_pixels(const ed_densecrf *crf, const crf_buffers *b, const vf *nu, vf *out, int n_terms,
                                 int softmax, int scatter, int p, const int G, int64_t i0, int64_t i1, vf *mem,
                                 vi lastmask)
{
    const int L = crf->labels, lp = crf->lp;
    vf accl[BLOCK], sl[BLOCK], ql[BLOCK];
    vf *acc = G <= BLOCK ? accl : mem, *s = G <= BLOCK ? sl : mem + G, *qr = G <= BLOCK ? ql : mem + 2 * G;
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
        if (!softmax) {
            for (int g = 0; g < G; g++) out[i * G + g] = acc[g];
            continue;
        }
        softmax_row(acc, qr, G, lastmask);
        if (out)
            for (int g = 0; g < G; g++) out[i * G + g] = qr[g];
        if (scatter)   /* the next step's splat, while the row is at hand */
            for (int k = 0; k < crf->n_terms; k++)
                ed__lattice_scatter_point(&crf->terms[k].lat, qr, G, i, ed__lattice_part(&crf->terms[k].lat, lp, b->work[k], p));
    }
}

static void blur_all(const ed_densecrf *crf, crf_buffers *b);

/* The lanes of a row's last vector that hold labels (by pointer: vectors
 * as values upset some ABIs). */
static void last_mask(const ed_densecrf *crf, vi *m)
{
    const int G = crf->lp / ED__VW;
    for (int k = 0; k < ED__VW; k++) (*m)[k] = (G - 1) * ED__VW + k < crf->labels ? -1 : 0;
}

/* One pass over the pixels, in the splat's parts: x = (with_unary ? -U : 0)
 * - sum_k pairwise_k, slicing every term's blurred values b->vals. Writes
 * softmax(x) (softmax) or x to out unless out is NULL; with scatter, splats
 * softmax(x) onto every term's lattice as it goes and blurs, making b->vals
 * those of the next step. */
static void mf_pass(const ed_densecrf *crf, crf_buffers *b, int with_unary, int softmax, float *out, int scatter)
{
    const int64_t n = crf->n;
    const int G = crf->lp / ED__VW, parts = b->parts;
    vi lastmask;
    last_mask(crf, &lastmask);
    const vf *nu = with_unary ? (const vf *)crf->neg_unary : NULL;
    vf *ov = (vf *)out;
    ED_PARALLEL_FOR
    for (int p = 0; p < parts; p++) {
        const int64_t i0 = n * p / parts, i1 = n * (p + 1) / parts;
        vf *mem = b->rows + (int64_t)p * 3 * G;
        if (scatter)
            for (int k = 0; k < crf->n_terms; k++) ed__lattice_part_zero(&crf->terms[k].lat, crf->lp, b->work[k], p);
#define CALL(g) mf_pixels(crf, b, nu, ov, crf->n_terms, softmax, scatter, p, g, i0, i1, mem, lastmask)
        ED__DISPATCH_G(G, CALL)
#undef CALL
    }
    if (scatter) blur_all(crf, b);
}

/* Blurs every term's splat into b->vals: pass j of all lattices at once,
 * so a step waits for its threads max(d) + 1 times, not sum(d + 1). */
static void blur_all(const ed_densecrf *crf, crf_buffers *b)
{
    enum { VCHUNK = 512 };
    int64_t total = 0, start[ED__CRF_MAX_TERMS + 1];
    int dmax = 0;
    for (int k = 0; k < crf->n_terms; k++) {
        start[k] = total;
        total += ((int64_t)crf->terms[k].lat.m + VCHUNK - 1) / VCHUNK;
        dmax = crf->terms[k].lat.d > dmax ? crf->terms[k].lat.d : dmax;
    }
    start[crf->n_terms] = total;
    for (int j = 0; j <= dmax; j++) {
        ED_PARALLEL_FOR
        for (int64_t c = 0; c < total; c++) {
            int k = 0;
            while (c >= start[k + 1]) k++;
            const ed__lattice *lat = &crf->terms[k].lat;
            const int64_t v0 = (c - start[k]) * VCHUNK, v1 = v0 + VCHUNK < lat->m ? v0 + VCHUNK : lat->m;
            if (j <= lat->d) ed__lattice_blur_pass(lat, crf->lp, b->parts, b->work[k], j, v0, v1);
        }
    }
    for (int k = 0; k < crf->n_terms; k++)
        b->vals[k] = ed__lattice_blurred(&crf->terms[k].lat, crf->lp, b->parts, b->work[k]);
}

/* Splats and blurs q (n x lp) on every term's lattice into b->vals. */
static void splat_all(const ed_densecrf *crf, const float *q, crf_buffers *b)
{
    for (int k = 0; k < crf->n_terms; k++) ed__lattice_splat(&crf->terms[k].lat, q, crf->lp, b->parts, b->work[k]);
    blur_all(crf, b);
}

/* Internal Q (n x lp) <-> the API's (labels, n). */
static void to_internal(const ed_densecrf *crf, const float *q, float *qi)
{
    const int64_t n = crf->n, nch = (n + ED__CRF_CHUNK - 1) / ED__CRF_CHUNK;
    const int L = crf->labels, lp = crf->lp;
    ED_PARALLEL_FOR
    for (int64_t c = 0; c < nch; c++) {
        int64_t i1 = (c + 1) * ED__CRF_CHUNK < n ? (c + 1) * ED__CRF_CHUNK : n;
        for (int64_t i = c * ED__CRF_CHUNK; i < i1; i++) {
            for (int l = 0; l < L; l++) qi[i * lp + l] = q[(int64_t)l * n + i];
            for (int l = L; l < lp; l++) qi[i * lp + l] = 0.0f;
        }
    }
}

void ed__crf_to_api(const ed_densecrf *crf, const float *qi, float *q)
{
    const int64_t n = crf->n, nch = (n + ED__CRF_CHUNK - 1) / ED__CRF_CHUNK;
    const int L = crf->labels, lp = crf->lp;
    ED_PARALLEL_FOR
    for (int64_t c = 0; c < nch; c++) {
        int64_t i1 = (c + 1) * ED__CRF_CHUNK < n ? (c + 1) * ED__CRF_CHUNK : n;
        for (int l = 0; l < L; l++)
            for (int64_t i = c * ED__CRF_CHUNK; i < i1; i++) q[(int64_t)l * n + i] = qi[i * lp + l];
    }
}

/* Sets the energies (and Q0 = their softmax) from src (labels, n): the
 * energies themselves, or with from_probs, probabilities turned into
 * energies -log(clip(p)) on the way (ed__crf_energies, as
 * ed_crf_unary_from_softmax). Transposes to pixel-major chunk by chunk,
 * checks, and takes the softmax while the rows are in cache. */
ed_status ed__crf_fill_unary(ed_densecrf *crf, const float *src, int from_probs, double clip, const char *op)
{
    const int64_t n = crf->n, nch = (n + ED__CRF_CHUNK - 1) / ED__CRF_CHUNK;
    const int L = crf->labels, lp = crf->lp, G = lp / ED__VW;
    float *nu = ed__aligned_alloc((size_t)n * lp * sizeof *nu);
    float *q0 = ed__aligned_alloc((size_t)n * lp * sizeof *q0);
    float *tmp = from_probs ? malloc((size_t)nch * ED__CRF_CHUNK * sizeof *tmp) : NULL;
    vf *rows = ed__aligned_alloc((size_t)nch * 3 * lp * sizeof(float));
    int64_t *bad = malloc((size_t)nch * 2 * sizeof *bad);   /* per chunk: (kind, where) */
    if (!nu || !q0 || !rows || !bad || (from_probs && !tmp)) {
        ed__aligned_free(nu);
        ed__aligned_free(q0);
        ed__aligned_free(rows);
        free(tmp);
        free(bad);
        return ed__err(ED_E_NOMEM, "%s: out of memory", op);
    }
    vi lastmask;
    last_mask(crf, &lastmask);
    ED_PARALLEL_FOR
    for (int64_t c = 0; c < nch; c++) {
        const int64_t i0 = c * ED__CRF_CHUNK, i1 = (c + 1) * ED__CRF_CHUNK < n ? (c + 1) * ED__CRF_CHUNK : n;
        int64_t *bc = bad + 2 * c;
        bc[0] = 0;
        for (int64_t i = i0; i < i1; i++)
            for (int l = L; l < lp; l++) nu[i * lp + l] = 0.0f;
        for (int l = 0; l < L; l++) {
            const float *row = src + (int64_t)l * n + i0;
            if (from_probs) {
                float *e = tmp + c * ED__CRF_CHUNK;
                int64_t b = ed__crf_energies(row, i1 - i0, clip, e);
                if (b >= 0 && !bc[0]) bc[0] = 1, bc[1] = (int64_t)l * n + i0 + b;
                row = e;
            }
            for (int64_t i = i0; i < i1; i++) nu[i * lp + l] = -row[i - i0];
        }
        for (int64_t i = i0; i < i1 && !bc[0]; i++) {
            int finite = 0, wrong = 0;
            for (int l = 0; l < L; l++) {
                float v = nu[i * lp + l];
                finite |= isfinite(v);
                wrong |= isnan(v) || v == INFINITY;
            }
            if (wrong || !finite) bc[0] = 2, bc[1] = i;
        }
        if (bc[0]) continue;
        vf *mem = rows + c * 3 * G;
#define CALL(g) mf_pixels(crf, NULL, (const vf *)nu, (vf *)q0, 0, 1, 0, 0, g, i0, i1, mem, lastmask)
        ED__DISPATCH_G(G, CALL)
#undef CALL
    }
    ed__aligned_free(rows);
    free(tmp);
    for (int64_t c = 0; c < nch; c++) {
        if (!bad[2 * c]) continue;
        int64_t kind = bad[2 * c], j = bad[2 * c + 1];
        free(bad);
        ed__aligned_free(nu);
        ed__aligned_free(q0);
        if (kind == 1)
            return ed__err(ED_E_NAN, "%s: probs[%lld, %lld] = %g gives no energy (NaN, or negative without clip)", op,
                           (long long)(j / n), (long long)(j % n), (double)src[j]);
        for (int l = 0; l < L; l++) {
            float v = src[(int64_t)l * n + j];
            if (isnan(v) || v == -INFINITY)
                return ed__err(ED_E_NAN, "%s: unary[%d, %lld] is %s (energies must be finite or +inf)", op, l,
                               (long long)j, isnan(v) ? "NaN" : "-inf");
        }
        return ed__err(ED_E_NAN, "%s: pixel %lld has energy +inf for every label", op, (long long)j);
    }
    free(bad);
    ed__aligned_free(crf->neg_unary);
    ed__aligned_free(crf->q0);
    crf->neg_unary = nu;
    crf->q0 = q0;
    return ED_OK;
}

/* Without a unary, Q0 is uniform. */
static ed_status ensure_q0(ed_densecrf *crf, const char *op)
{
    if (crf->q0) return ED_OK;
    const int64_t n = crf->n;
    const int L = crf->labels, lp = crf->lp;
    float *q0 = ed__aligned_alloc((size_t)n * lp * sizeof *q0);
    if (!q0) return ed__err(ED_E_NOMEM, "%s: out of memory", op);
    for (int64_t i = 0; i < n; i++)
        for (int l = 0; l < lp; l++) q0[i * lp + l] = l < L ? 1.0f / (float)L : 0.0f;
    crf->q0 = q0;
    return ED_OK;
}

/* iters mean-field steps into qi (n x lp): from Q0 when start, else from
 * qi itself. Each step's pass splats the next step's input as it goes. */
static ed_status run(ed_densecrf *crf, float *qi, int start, int iters, const char *op)
{
    if (start) ED_TRY(ensure_q0(crf, op));
    if (iters == 0) {
        if (start) memcpy(qi, crf->q0, (size_t)crf->n * crf->lp * sizeof *qi);
        return ED_OK;
    }
    crf_buffers b;
    ED_TRY(buffers_new(crf, &b, op));
    splat_all(crf, start ? crf->q0 : qi, &b);
    for (int it = 0; it < iters; it++) {
        const int last = it == iters - 1;
        mf_pass(crf, &b, 1, 1, last ? qi : NULL, !last);
    }
    buffers_free(crf, &b);
    return ED_OK;
}

ed_status ed__crf_infer(ed_densecrf *crf, int iters, const char *op, float **qi_out)
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
    ed__crf_to_api(crf, qi, ed__f32(*q));
    return ED_OK;
}

ed_status ed_densecrf_inference(ed_densecrf *crf, int n_iterations, ed_tensor **q)
{
    if (!q) return ed__err(ED_E_ARG, "densecrf_inference: q is NULL");
    *q = NULL;
    float *qi;
    ED_TRY(ed__crf_infer(crf, n_iterations, "densecrf_inference", &qi));
    ed_status s = new_q(crf, qi, q);
    ed__aligned_free(qi);
    return s;
}

ed_status ed_densecrf_start_inference(ed_densecrf *crf, ed_tensor **q)
{
    if (!q) return ed__err(ED_E_ARG, "densecrf_start_inference: q is NULL");
    *q = NULL;
    float *qi;
    ED_TRY(ed__crf_infer(crf, 0, "densecrf_start_inference", &qi));
    ed_status s = new_q(crf, qi, q);
    ed__aligned_free(qi);
    return s;
}

ed_status ed_densecrf_map(ed_densecrf *crf, int n_iterations, ed_tensor **labels)
{
    if (!labels) return ed__err(ED_E_ARG, "densecrf_map: labels is NULL");
    *labels = NULL;
    float *qi;
    ED_TRY(ed__crf_infer(crf, n_iterations, "densecrf_map", &qi));
    ed_status s = ed__alloc(ED_I64, 1, (int64_t[]){ crf->n }, labels);
    if (!s) {
        int64_t *out = ed__i64(*labels);
        const int L = crf->labels, lp = crf->lp;
        const int64_t n = crf->n, nch = (n + ED__CRF_CHUNK - 1) / ED__CRF_CHUNK;
        ED_PARALLEL_FOR
        for (int64_t c = 0; c < nch; c++) {
            int64_t i1 = (c + 1) * ED__CRF_CHUNK < n ? (c + 1) * ED__CRF_CHUNK : n;
            for (int64_t i = c * ED__CRF_CHUNK; i < i1; i++) {
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
    ED_TRY(ed__crf_check_q(crf, q, op, "q"));
    float *qi = ed__aligned_alloc((size_t)crf->n * crf->lp * sizeof *qi);
    if (!qi) return ed__err(ED_E_NOMEM, "%s: out of memory", op);
    to_internal(crf, ed__cf32(q), qi);
    ed_status s = run(crf, qi, 0, 1, op);
    if (!s) ed__crf_to_api(crf, qi, ed__f32(q));
    ed__aligned_free(qi);
    return s;
}

ed_status ed_densecrf_kl_divergence(ed_densecrf *crf, const ed_tensor *q, double *kl)
{
    const char *op = "densecrf_kl_divergence";
    if (!crf) return ed__err(ED_E_ARG, "%s: crf is NULL", op);
    if (!kl) return ed__err(ED_E_ARG, "%s: kl is NULL", op);
    ED_TRY(ed__crf_check_q(crf, q, op, "q"));
    const int64_t n = crf->n, nch = (n + ED__CRF_CHUNK - 1) / ED__CRF_CHUNK;
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
    splat_all(crf, qi, &b);
    mf_pass(crf, &b, 0, 0, accb, 0);   /* -sum_k pairwise_k(q) */
    const float *nu = crf->neg_unary, *acc = accb;
    ED_PARALLEL_FOR
    for (int64_t c = 0; c < nch; c++) {
        int64_t i1 = (c + 1) * ED__CRF_CHUNK < n ? (c + 1) * ED__CRF_CHUNK : n;
        double sum = 0.0;
        for (int64_t i = c * ED__CRF_CHUNK; i < i1; i++)
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
