/* Unary energies for the dense CRF, as pydensecrf.utils:
 *   unary_from_softmax(probs (C, ...), scale, clip) -> f32 (C, prod(...))
 *     = -log(clip(p', clip, 1)), p' = scale * p + (1 - scale) / C when a
 *     scale is given (then in float64, as numpy's promotion does), else p
 *     (float32 arithmetic, as numpy on a float32 array);
 *   unary_from_labels(labels (...), n, gt_prob, zero_unsure) -> f32 (n, numel):
 *     -log(gt_prob) at the given label, -log((1 - gt_prob) / (n - 1))
 *     elsewhere; with zero_unsure, value 0 is "unknown" (-log(1 / n) for
 *     every label) and value v > 0 is label v - 1.
 * The arguments that pydensecrf asserts on are errors here. */
#include "crf/crf_internal.h"

#include <math.h>
#include <stdlib.h>

typedef float v4 __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

/* log(x) for 4 positive normal floats (Cephes' logf: x = m 2^e with m in
 * [sqrt(1/2), sqrt(2)), log(m) by a degree-8 polynomial; about 1 ulp). */
static inline v4 log4(v4 x)
{
    v4i bits = (v4i)x;
    v4i e = ((bits >> 23) & 0xff) - 126;                      /* x = m 2^e, m in [1/2, 1) */
    v4 m = (v4)((bits & 0x007fffff) | 0x3f000000);
    v4i small = m < 0.70710678118654752f;                     /* -1 where m < sqrt(1/2) */
    e += small;                                               /* then m = 2m, e - 1 */
    m = m + (v4)((v4i)m & small) - 1.0f;                      /* f = m - 1 */
    v4 z = m * m;
    v4 y = 7.0376836292e-2f * m - 1.1514610310e-1f;
    y = y * m + 1.1676998740e-1f;
    y = y * m - 1.2420140846e-1f;
    y = y * m + 1.4249322787e-1f;
    y = y * m - 1.6668057665e-1f;
    y = y * m + 2.0000714765e-1f;
    y = y * m - 2.4999993993e-1f;
    y = y * m + 3.3333331174e-1f;
    y = y * m * z;
    v4 ef = __builtin_convertvector(e, v4);
    y += -2.12194440e-4f * ef;
    y += -0.5f * z;
    return m + y + 0.693359375f * ef;
}

int64_t ed__crf_energies(const float *p, int64_t count, double clip, float *e)
{
    const float fclip = clip >= 0 ? (float)clip : 0.0f;
    int64_t j = 0, bad = -1;
    for (; j + 4 <= count; j += 4) {   /* 4 at a time while all are normal */
        v4 x;
        memcpy(&x, p + j, sizeof x);
        v4i notnan = x == x;
        if ((notnan[0] & notnan[1] & notnan[2] & notnan[3]) == 0) break;
        if (clip >= 0) {
            x = (v4)(((v4i)x & (x >= fclip)) | ((v4i)((v4){ 0 } + fclip) & ~(x >= fclip)));
            x = (v4)(((v4i)x & (x <= 1.0f)) | ((v4i)((v4){ 0 } + 1.0f) & ~(x <= 1.0f)));
        }
        v4i normal = (x >= 1.17549435e-38f) & (x <= 3.40282347e38f);
        if ((normal[0] & normal[1] & normal[2] & normal[3]) == 0) break;
        v4 y = -log4(x);
        memcpy(e + j, &y, sizeof y);
    }
    for (; j < count; j++) {
        float q = p[j];
        if (clip >= 0) q = q < fclip ? fclip : q > 1.0f ? 1.0f : q;
        e[j] = -logf(q);
        if (isnan(e[j]) && bad < 0) bad = j;
    }
    return bad;
}

#define U_CHUNK 4096

ed_status ed_crf_unary_from_softmax(const ed_tensor *probs, double scale, double clip, ed_tensor **unary)
{
    const char *op = "crf_unary_from_softmax";
    if (!unary) return ed__err(ED_E_ARG, "%s: unary is NULL", op);
    *unary = NULL;
    if (!probs) return ed__err(ED_E_ARG, "%s: probs is NULL", op);
    char buf[ED_SHAPE_BUF];
    if (probs->dtype != ED_F32)
        return ed__err(ED_E_DTYPE, "%s: probs must be float32, got %s", op, ed_dtype_name(probs->dtype));
    if (probs->ndim < 1 || probs->numel == 0)
        return ed__err(ED_E_SHAPE, "%s: probs must be (labels, ...) with no zero size, got %s", op,
                       ed__shape_str(probs, buf));
    if (isnan(scale) || scale > 1.0)
        return ed__err(ED_E_ARG, "%s: scale must be in (0, 1] (or <= 0 for none), got %g", op, scale);
    if (isnan(clip) || clip > 1.0)
        return ed__err(ED_E_ARG, "%s: clip must be <= 1 (or < 0 for none), got %g", op, clip);
    const int64_t C = probs->shape[0], n = probs->numel / C, total = C * n;
    ED_TRY(ed__alloc(ED_F32, 2, (int64_t[]){ C, n }, unary));
    const float *p = ed__cf32(probs);
    float *u = ed__f32(*unary);
    const int64_t nch = (total + U_CHUNK - 1) / U_CHUNK;
    int64_t *bad = malloc((size_t)nch * sizeof *bad);
    if (!bad) {
        ed_tensor_free(*unary);
        *unary = NULL;
        return ed__err(ED_E_NOMEM, "%s: out of memory", op);
    }
    ED_PARALLEL_FOR
    for (int64_t c = 0; c < nch; c++) {
        const int64_t j0 = c * U_CHUNK, j1 = (c + 1) * U_CHUNK < total ? (c + 1) * U_CHUNK : total;
        if (!(scale > 0)) {
            int64_t b = ed__crf_energies(p + j0, j1 - j0, clip, u + j0);
            bad[c] = b < 0 ? -1 : j0 + b;
            continue;
        }
        bad[c] = -1;   /* with a scale: float64, as numpy's promotion */
        for (int64_t j = j0; j < j1; j++) {
            double q = scale * (double)p[j] + (1.0 - scale) * (1.0 / (double)C);
            if (clip >= 0) q = q < clip ? clip : q > 1.0 ? 1.0 : q;
            u[j] = (float)-log(q);
            if (isnan(u[j]) && bad[c] < 0) bad[c] = j;
        }
    }
    for (int64_t c = 0; c < nch; c++)
        if (bad[c] >= 0) {
            int64_t j = bad[c];
            free(bad);
            ed_tensor_free(*unary);
            *unary = NULL;
            return ed__err(ED_E_NAN, "%s: probs[%lld, %lld] = %g gives no energy (NaN, or negative without clip)", op,
                           (long long)(j / n), (long long)(j % n), (double)p[j]);
        }
    free(bad);
    return ED_OK;
}

static int64_t label_at(const ed_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case ED_U8: return ((const uint8_t *)t->data)[i];
    case ED_I32: return ((const int32_t *)t->data)[i];
    default: return ((const int64_t *)t->data)[i];
    }
}

ed_status ed_crf_unary_from_labels(const ed_tensor *labels, int n_labels, double gt_prob, int zero_unsure,
                                   ed_tensor **unary)
{
    const char *op = "crf_unary_from_labels";
    if (!unary) return ed__err(ED_E_ARG, "%s: unary is NULL", op);
    *unary = NULL;
    if (!labels) return ed__err(ED_E_ARG, "%s: labels is NULL", op);
    if (labels->dtype != ED_U8 && labels->dtype != ED_I32 && labels->dtype != ED_I64)
        return ed__err(ED_E_DTYPE, "%s: labels must be uint8, int32 or int64, got %s", op, ed_dtype_name(labels->dtype));
    if (labels->numel == 0) return ed__err(ED_E_SHAPE, "%s: labels is empty", op);
    if (n_labels < 1) return ed__err(ED_E_ARG, "%s: n_labels must be >= 1, got %d", op, n_labels);
    if (!(gt_prob > 0.0 && gt_prob < 1.0)) return ed__err(ED_E_ARG, "%s: gt_prob must be in (0, 1), got %g", op, gt_prob);
    const int64_t n = labels->numel, hi = zero_unsure ? n_labels : n_labels - 1;
    for (int64_t i = 0; i < n; i++) {
        int64_t v = label_at(labels, i);
        if (v < 0 || v > hi)
            return ed__err(ED_E_RANGE, "%s: label %lld at %lld is outside 0..%lld (n_labels %d%s)", op, (long long)v,
                           (long long)i, (long long)hi, n_labels, zero_unsure ? ", zero_unsure" : "");
    }
    ED_TRY(ed__alloc(ED_F32, 2, (int64_t[]){ n_labels, n }, unary));
    float *u = ed__f32(*unary);
    const float n_energy = n_labels > 1 ? (float)-log((1.0 - gt_prob) / (n_labels - 1)) : 0.0f;
    const float p_energy = (float)-log(gt_prob), unsure = (float)-log(1.0 / n_labels);
    for (int64_t i = 0; i < n; i++) {
        int64_t v = label_at(labels, i);
        int64_t lab = zero_unsure ? v - 1 : v;
        for (int l = 0; l < n_labels; l++)
            u[(int64_t)l * n + i] = zero_unsure && v == 0 ? unsure : l == lab ? p_energy : n_energy;
    }
    return ED_OK;
}
