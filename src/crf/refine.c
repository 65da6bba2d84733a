/* The one-call path from an image and class probabilities to labels (what
 * `encdec crf` runs): pydensecrf's usual recipe, unary_from_softmax, a
 * Gaussian and a bilateral Potts term, inference, argmax. */
#include "crf/crf_internal.h"

#include <math.h>
#include <stdlib.h>

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
    if (!s) s = ed_densecrf_new_2d(w, h, labels, &crf);
    if (!s && (p->scale > 0 || isnan(p->clip) || p->clip > 1)) {   /* the general path, and its checks */
        s = ed_crf_unary_from_softmax(pt, p->scale, p->clip, &u);
        if (!s) s = ed_densecrf_set_unary(crf, u);
    } else if (!s) {
        s = ed__crf_fill_unary(crf, probs, 1, p->clip, op);   /* the same energies, without the tensor */
    }
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
    if (!s) s = ed__crf_infer(crf, n_iterations, op, &qi);
    if (!s) {
        const int64_t n = crf->n, nch = (n + ED__CRF_CHUNK - 1) / ED__CRF_CHUNK;
        const int lp = crf->lp;
        ED_PARALLEL_FOR
        for (int64_t c = 0; c < nch; c++) {
            int64_t i1 = (c + 1) * ED__CRF_CHUNK < n ? (c + 1) * ED__CRF_CHUNK : n;
            for (int64_t i = c * ED__CRF_CHUNK; i < i1; i++) {
                const float *r = qi + i * lp;
                float bv = r[0];
                int best = 0;
                for (int l = 1; l < labels; l++) {   /* the first maximum, as numpy's argmax */
                    best = r[l] > bv ? l : best;
                    bv = r[l] > bv ? r[l] : bv;
                }
                labels_out[i] = (uint8_t)best;
            }
        }
        if (q_out) ed__crf_to_api(crf, qi, q_out);
    }
    ed__aligned_free(qi);
    ed_tensor_free(u);
    ed_tensor_free(pt);
    ed_tensor_free(it);
    ed_densecrf_free(crf);
    return s;
}
