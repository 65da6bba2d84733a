/* encdec: fully connected CRF (dense CRF) with Gaussian edge potentials.
 * Included by encdec.h.
 *
 * Mean-field inference of Krähenbühl and Koltun, "Efficient Inference in
 * Fully Connected CRFs with Gaussian Edge Potentials" (NIPS 2011), with
 * message passing by high-dimensional filtering on the permutohedral lattice
 * of Adams, Baek and Davis, "Fast High-Dimensional Filtering Using the
 * Permutohedral Lattice" (Eurographics 2010). Names, defaults and numbers are
 * pydensecrf's (DenseCRF, DenseCRF2D, utils.unary_from_softmax/_labels):
 *  - unary energies are float32 (labels, pixels); Q is (labels, pixels);
 *  - Potts compatibility w adds w * (filtered Q) to the logits, so a
 *    positive w favours equal labels; DIAG and MATRIX compatibilities
 *    subtract (diag(w) or (M + M^T) / 2) x (filtered Q), as pydensecrf;
 *  - defaults: DIAG_KERNEL and NORMALIZE_SYMMETRIC;
 *  - 2-D helpers index pixels as y * W + x; the Gaussian's features are
 *    (x / sx, y / sy), the bilateral's add (r / sr, g / sg, b / sb).
 * Work is spread over ed_get_num_threads() threads. Results are the same
 * from run to run for a given thread count; other thread counts add the
 * lattice's sums in other groupings (differences of float rounding, about
 * 1e-7). Memory is linear in pixels x feature dimensions (and labels).
 *
 * Example (pydensecrf's usual recipe on an RGB image):
 *
 *     ed_tensor *u = NULL, *q = NULL;
 *     ed_densecrf *crf = NULL;
 *     ed_crf_pairwise pw;
 *     ed_crf_unary_from_softmax(probs, 0.0, 1e-5, &u);   // probs (L, H, W) f32
 *     ed_densecrf_new_2d(W, H, L, &crf);
 *     ed_densecrf_set_unary(crf, u);
 *     ed_crf_pairwise_default(&pw, 3.0);                 // Potts, compat 3
 *     ed_densecrf_add_gaussian(crf, 3, 3, &pw);
 *     ed_crf_pairwise_default(&pw, 10.0);
 *     ed_densecrf_add_bilateral(crf, 80, 80, 13, 13, 13, rgb, &pw); // rgb (H, W, 3) u8
 *     ed_densecrf_inference(crf, 5, &q);                 // q (L, H*W)
 *     ...
 *     ed_tensor_free(q); ed_tensor_free(u); ed_densecrf_free(crf);
 *
 * (check each ed_status; the CLI's one-call path is ed_crf_refine_image). */
#ifndef ENCDEC_CRF_H
#define ENCDEC_CRF_H

#ifdef __cplusplus
extern "C" {
#endif

/* pydensecrf's enum values. */
typedef enum ed_crf_compat_kind {
    ED_CRF_POTTS = 0,   /* one weight w for every label pair */
    ED_CRF_DIAG,        /* a weight per label: weights (labels) */
    ED_CRF_MATRIX       /* weights (labels, labels), symmetrised */
} ed_crf_compat_kind;

/* The kernel type decides only how kernel_params transform the features;
 * without parameters all three filter the given features unchanged (as
 * pydensecrf, whose parameters start at the identity). */
typedef enum ed_crf_kernel {
    ED_CRF_CONST_KERNEL = 0,   /* no parameters */
    ED_CRF_DIAG_KERNEL,        /* features scaled per dimension: params (d) */
    ED_CRF_FULL_KERNEL         /* features multiplied by a matrix: params (d, d), row-major */
} ed_crf_kernel;

typedef enum ed_crf_norm {
    ED_CRF_NO_NORMALIZATION = 0,
    ED_CRF_NORMALIZE_BEFORE,
    ED_CRF_NORMALIZE_AFTER,
    ED_CRF_NORMALIZE_SYMMETRIC
} ed_crf_norm;

/* One pairwise term's settings. */
typedef struct ed_crf_pairwise {
    ed_crf_compat_kind compat;      /* default POTTS */
    double potts;                   /* POTTS weight (pydensecrf's compat=number) */
    const ed_tensor *weights;       /* DIAG: f32 (labels); MATRIX: f32 (labels, labels) */
    ed_crf_kernel kernel;           /* default DIAG_KERNEL */
    const ed_tensor *kernel_params; /* NULL = identity; DIAG: f32 (d); FULL: f32 (d, d) */
    ed_crf_norm normalization;      /* default NORMALIZE_SYMMETRIC */
} ed_crf_pairwise;
/* Potts with weight w, DIAG_KERNEL, NORMALIZE_SYMMETRIC, no parameters. */
void ed_crf_pairwise_default(ed_crf_pairwise *p, double potts);

typedef struct ed_densecrf ed_densecrf;

/* A CRF over n_pixels variables with `labels` labels (DenseCRF). */
ed_status ed_densecrf_new(int64_t n_pixels, int labels, ed_densecrf **out);
/* A CRF over a W x H image, pixel y * W + x (DenseCRF2D). */
ed_status ed_densecrf_new_2d(int width, int height, int labels, ed_densecrf **out);
void ed_densecrf_free(ed_densecrf *crf);      /* NULL is fine */

/* Unary energies (negative log-probabilities): f32 of shape (labels, pixels)
 * or (labels, d1, d2, ...) with d1 * d2 * ... = pixels. Copied. NaN or -inf
 * is ED_E_NAN; +inf is allowed where some label of the pixel is finite.
 * Without a unary, energies are zero. */
ed_status ed_densecrf_set_unary(ed_densecrf *crf, const ed_tensor *unary);

/* A pairwise term over arbitrary features: f32 (d, pixels), d >= 1
 * (DenseCRF.addPairwiseEnergy). p NULL = ed_crf_pairwise_default(p, 1). */
ed_status ed_densecrf_add_pairwise(ed_densecrf *crf, const ed_tensor *features,
                                   const ed_crf_pairwise *p);
/* 2-D only. Features (x / sx, y / sy) (addPairwiseGaussian). */
ed_status ed_densecrf_add_gaussian(ed_densecrf *crf, double sx, double sy, const ed_crf_pairwise *p);
/* 2-D only. rgb: u8 (H, W, 3). Features (x/sx, y/sy, r/sr, g/sg, b/sb)
 * (addPairwiseBilateral). */
ed_status ed_densecrf_add_bilateral(ed_densecrf *crf, double sx, double sy, double sr, double sg,
                                    double sb, const ed_tensor *rgb, const ed_crf_pairwise *p);

/* n_iterations of mean field from softmax(-unary); *q: new f32 (labels, pixels). */
ed_status ed_densecrf_inference(ed_densecrf *crf, int n_iterations, ed_tensor **q);
/* Argmax of Q after n_iterations (first maximum on ties): new I64 (pixels). */
ed_status ed_densecrf_map(ed_densecrf *crf, int n_iterations, ed_tensor **labels);
/* Step-wise: start gives softmax(-unary) as a new f32 (labels, pixels);
 * step updates q in place by one mean-field iteration; the KL divergence
 * (up to a constant) of q, as pydensecrf's klDivergence:
 * sum q log q + sum unary q + sum_terms sum q * pairwise(q). */
ed_status ed_densecrf_start_inference(ed_densecrf *crf, ed_tensor **q);
ed_status ed_densecrf_step_inference(ed_densecrf *crf, ed_tensor *q);
ed_status ed_densecrf_kl_divergence(ed_densecrf *crf, const ed_tensor *q, double *kl);

int64_t ed_densecrf_pixels(const ed_densecrf *crf);
int ed_densecrf_labels(const ed_densecrf *crf);
int ed_densecrf_terms(const ed_densecrf *crf);

/* ---- unaries (pydensecrf.utils) ------------------------------------------
 * unary_from_softmax: probs f32 (labels, ...) -> f32 (labels, prod(...)) =
 * -log(clip(p', clip, 1)), p' = scale * p + (1 - scale) / labels.
 * scale <= 0 means None (p' = p); clip < 0 means None (no clipping). NaN
 * energies (NaN probabilities, negative ones without clip) are ED_E_NAN. */
ed_status ed_crf_unary_from_softmax(const ed_tensor *probs, double scale, double clip, ed_tensor **unary);
/* labels: integer tensor (u8, i32 or i64) of any shape, flattened. Energies
 * -log(gt_prob) for the given label and -log((1 - gt_prob) / (n_labels - 1))
 * for the others; with zero_unsure, value 0 means "unknown" (uniform energy
 * -log(1 / n_labels)) and values 1..n_labels name labels 0..n_labels-1.
 * Needs 0 < gt_prob < 1 and n_labels >= 2; a value out of range is ED_E_RANGE.
 * Output f32 (n_labels, numel). */
ed_status ed_crf_unary_from_labels(const ed_tensor *labels, int n_labels, double gt_prob,
                                   int zero_unsure, ed_tensor **unary);

/* ---- one call for an image (what `encdec crf` runs) ---------------------- */
typedef struct ed_crf_params {
    double gauss_sx, gauss_sy;      /* 3, 3 */
    double gauss_compat;            /* 3 (Potts); <= 0 leaves the Gaussian out */
    double bilat_sx, bilat_sy;      /* 80, 80 */
    double bilat_srgb;              /* 13 */
    double bilat_compat;            /* 10 (Potts); <= 0 leaves the bilateral out */
    double clip;                    /* unary_from_softmax clip: 1e-5 */
    double scale;                   /* unary_from_softmax scale: 0 = None */
    ed_crf_kernel kernel;           /* DIAG_KERNEL */
    ed_crf_norm normalization;      /* NORMALIZE_SYMMETRIC */
} ed_crf_params;
void ed_crf_params_default(ed_crf_params *p);

/* rgb: w * h * 3 bytes (row-major RGB); probs: labels x (w * h) floats,
 * label-major (label l at probs[l * w * h + y * w + x]); p NULL = defaults.
 * Writes the argmax label of each pixel to labels_out (w * h bytes; needs
 * labels <= 256) and, if q_out is not NULL, Q (labels x w * h floats). */
ed_status ed_crf_refine_image(const uint8_t *rgb, int w, int h, const float *probs, int labels,
                              const ed_crf_params *p, int n_iterations, uint8_t *labels_out,
                              float *q_out);

#ifdef __cplusplus
}
#endif
#endif
