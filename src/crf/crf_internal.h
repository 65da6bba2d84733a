/* Shared inside src/crf: the dense CRF object (densecrf.c builds it,
 * meanfield.c runs it, refine.c is the one-call path) and the unary
 * helpers' arithmetic (unary.c). */
#ifndef ED_CRF_INTERNAL_H
#define ED_CRF_INTERNAL_H

#include "crf/permutohedral.h"

/* e[j] = -log(clip(p[j], clip, 1)) for j < count, in float32 as numpy does
 * on a float32 array (no clipping when clip < 0). Returns the index of the
 * first NaN energy (NaN input, or negative input without clip), else -1. */
int64_t ed__crf_energies(const float *p, int64_t count, double clip, float *e);


#define ED__CRF_CHUNK 1024   /* pixels per parallel work item */
#define ED__CRF_MAX_LABELS 65536
#define ED__CRF_MAX_TERMS 64       /* pairwise terms of one CRF */

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
    float *q0;            /* n x lp: softmax(-unary), where inference starts */
    crf_term *terms;
    int n_terms, cap_terms;
};

/* t must be f32 (labels, ...) holding labels x pixels values; what names it. */
ed_status ed__crf_check_q(const ed_densecrf *crf, const ed_tensor *t, const char *op, const char *what);

/* Sets the energies (and Q0) from src (labels, n): energies, or with
 * from_probs, probabilities made energies -log(clip(p)) (meanfield.c). */
ed_status ed__crf_fill_unary(ed_densecrf *crf, const float *src, int from_probs, double clip, const char *op);

/* Q after iters mean-field steps from Q0, pixel-major (n x lp), in a new
 * buffer for ed__aligned_free. */
ed_status ed__crf_infer(ed_densecrf *crf, int iters, const char *op, float **qi);

/* Pixel-major Q (n x lp) to the API's (labels, n). */
void ed__crf_to_api(const ed_densecrf *crf, const float *qi, float *q);

#endif
