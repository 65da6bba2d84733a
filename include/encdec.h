/* encdec: convolutional encoder-decoder networks on images, in C11.
 *
 * The public API. Every name has the prefix ed_. Conventions:
 *  - Calls return ed_status; ED_OK is 0. On failure ed_last_error() gives a
 *    readable message (thread-local). The library never exits or aborts.
 *  - Tensors are dense, row-major (NCHW for images), reference counted.
 *    A tensor made by an op while an arena is active lives in that arena and
 *    is released all at once by ed_arena_reset(); ed_tensor_free() on it is a
 *    no-op. Otherwise ed_tensor_free() drops one reference.
 *  - Ops follow torch.nn.functional: names, argument meaning, defaults and
 *    output shapes. An args pointer of NULL means PyTorch's defaults.
 *  - Autograd is define-by-run: an op whose input requires a gradient records
 *    a node; ed_backward() walks them in reverse and accumulates (+=) into
 *    the .grad of leaf tensors.
 */
#ifndef ENCDEC_H
#define ENCDEC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ED_VERSION "0.1.0"

/* ---- status and errors ------------------------------------------------ */

typedef enum ed_status {
    ED_OK = 0,
    ED_E_ARG,         /* an argument is invalid (negative size, bad mode) */
    ED_E_SHAPE,       /* tensor shapes do not fit together */
    ED_E_DTYPE,       /* wrong element type */
    ED_E_RANGE,       /* a value is out of its range (label, index) */
    ED_E_NOMEM,       /* allocation failed or an arena is full */
    ED_E_IO,          /* a file could not be opened, read or written */
    ED_E_FORMAT,      /* a file is corrupt, truncated or not what it claims */
    ED_E_NAN,         /* a NaN or infinity where a finite value is required */
    ED_E_STATE,       /* the call is not valid now (backward twice, no grad) */
    ED_E_UNSUPPORTED  /* valid, but not implemented for these arguments */
} ed_status;

const char *ed_last_error(void);      /* "" when there is none */
void ed_clear_error(void);
const char *ed_status_name(ed_status s);

/* ---- tensors ------------------------------------------------------------ */

typedef enum ed_dtype {
    ED_F32 = 0,
    ED_F64,   /* reference kernels and gradient checks */
    ED_I64,   /* indices and labels */
    ED_I32,
    ED_U8,    /* images */
    ED_BF16   /* storage only for now */
} ed_dtype;

#define ED_MAX_DIMS 8

typedef struct ed_tensor ed_tensor;

size_t ed_dtype_size(ed_dtype t);
const char *ed_dtype_name(ed_dtype t);

/* A new zero-filled tensor. shape may hold zeros (an empty tensor). */
ed_status ed_tensor_new(ed_dtype dtype, int ndim, const int64_t *shape, ed_tensor **out);
/* A new tensor holding a copy of data (numel * dtype size bytes). */
ed_status ed_tensor_from_data(ed_dtype dtype, int ndim, const int64_t *shape,
                              const void *data, ed_tensor **out);
/* A deep copy of src's data (no autograd history). */
ed_status ed_tensor_clone(const ed_tensor *src, ed_tensor **out);
/* Same data, new shape of equal numel; records autograd (like reshape). */
ed_status ed_reshape(const ed_tensor *x, int ndim, const int64_t *shape, ed_tensor **out);
/* Element type conversion (no autograd). */
ed_status ed_tensor_to(const ed_tensor *x, ed_dtype dtype, ed_tensor **out);

ed_tensor *ed_tensor_retain(ed_tensor *t);
void ed_tensor_free(ed_tensor *t);    /* NULL is fine */

ed_dtype ed_tensor_dtype(const ed_tensor *t);
int ed_tensor_ndim(const ed_tensor *t);
const int64_t *ed_tensor_shape(const ed_tensor *t);
int64_t ed_tensor_numel(const ed_tensor *t);
void *ed_tensor_data(ed_tensor *t);
const void *ed_tensor_cdata(const ed_tensor *t);
/* The scalar value of a one-element float tensor, as a double. */
double ed_tensor_item(const ed_tensor *t);
ed_status ed_tensor_fill(ed_tensor *t, double value);

/* ---- autograd ----------------------------------------------------------- */

ed_status ed_tensor_set_requires_grad(ed_tensor *t, int flag);
int ed_tensor_requires_grad(const ed_tensor *t);
/* The accumulated gradient of a leaf, or NULL before any backward. Borrowed. */
ed_tensor *ed_tensor_grad(const ed_tensor *t);
void ed_tensor_zero_grad(ed_tensor *t);      /* drops the gradient */
/* Detached view-copy: same values, no history. */
ed_status ed_tensor_detach(const ed_tensor *t, ed_tensor **out);

/* Backpropagate from root. grad may be NULL only when root has one element
 * (it is taken as 1). Gradients accumulate into leaves' .grad. */
ed_status ed_backward(ed_tensor *root, const ed_tensor *grad);

/* No-grad scopes nest; inside one, ops record nothing. Per thread. */
void ed_no_grad_begin(void);
void ed_no_grad_end(void);
int ed_grad_enabled(void);

/* ---- memory: per-step arenas -------------------------------------------- */

typedef struct ed_arena ed_arena;
/* capacity 0 lets the arena grow in blocks; otherwise it is a hard limit and
 * running past it is ED_E_NOMEM. */
ed_status ed_arena_new(size_t capacity, ed_arena **out);
/* Heap tensors that ops inside an arena step read (parameters, batches)
 * are borrowed, not retained: keep them alive until ed_arena_reset. */
void ed_arena_free(ed_arena *a);
void ed_arena_reset(ed_arena *a);        /* all its tensors become invalid */
size_t ed_arena_used(const ed_arena *a);
size_t ed_arena_peak(const ed_arena *a);
/* While an arena is active (per thread, nesting), ops allocate from it. */
void ed_arena_begin(ed_arena *a);
void ed_arena_end(void);

/* ---- runtime ------------------------------------------------------------ */

void ed_set_num_threads(int n);          /* 0 = ED_NUM_THREADS or all cores */
int ed_get_num_threads(void);
void ed_manual_seed(uint64_t seed);       /* global seed for dropout, init, data */
uint64_t ed_get_seed(void);

/* Counter-based RNG (Philox-4x32-10): the stream (seed, counter) gives the
 * same numbers whatever the thread count. */
typedef struct ed_rng { uint64_t seed; uint64_t counter; } ed_rng;
void ed_rng_init(ed_rng *r, uint64_t seed);
uint32_t ed_rng_u32(ed_rng *r);
double ed_rng_uniform(ed_rng *r);            /* [0, 1) */
double ed_rng_normal(ed_rng *r);             /* N(0, 1) */
/* Fill t (f32/f64) from the stream: uniform [lo, hi) or normal (mean, std). */
ed_status ed_rng_fill_uniform(ed_rng *r, ed_tensor *t, double lo, double hi);
ed_status ed_rng_fill_normal(ed_rng *r, ed_tensor *t, double mean, double std);

/* ---- ops: arithmetic and activations ----------------------------------- */
/* Binary ops broadcast as PyTorch does (trailing dims, size-1 stretch). */
ed_status ed_add(const ed_tensor *a, const ed_tensor *b, ed_tensor **out);
ed_status ed_sub(const ed_tensor *a, const ed_tensor *b, ed_tensor **out);
ed_status ed_mul(const ed_tensor *a, const ed_tensor *b, ed_tensor **out);
ed_status ed_scale(const ed_tensor *a, double s, ed_tensor **out);   /* a * s */
ed_status ed_relu(const ed_tensor *x, ed_tensor **out);
ed_status ed_leaky_relu(const ed_tensor *x, double negative_slope /*0.01*/, ed_tensor **out);
ed_status ed_sigmoid(const ed_tensor *x, ed_tensor **out);
ed_status ed_tanh(const ed_tensor *x, ed_tensor **out);
ed_status ed_softmax(const ed_tensor *x, int dim, ed_tensor **out);
ed_status ed_log_softmax(const ed_tensor *x, int dim, ed_tensor **out);
/* Dropout draws from the global seed's stream; training=0 is the identity. */
ed_status ed_dropout(const ed_tensor *x, double p /*0.5*/, int training, ed_tensor **out);
ed_status ed_dropout2d(const ed_tensor *x, double p, int training, ed_tensor **out);

/* ---- ops: reductions and shape ------------------------------------------ */
/* dims == NULL / ndims == 0: over all elements (0-d result, numel 1). */
ed_status ed_sum(const ed_tensor *x, const int *dims, int ndims, int keepdim, ed_tensor **out);
ed_status ed_mean(const ed_tensor *x, const int *dims, int ndims, int keepdim, ed_tensor **out);
ed_status ed_cat(const ed_tensor *const *xs, int n, int dim, ed_tensor **out);

typedef enum ed_pad_mode { ED_PAD_CONSTANT = 0, ED_PAD_REFLECT, ED_PAD_REPLICATE } ed_pad_mode;
/* pad lists (before, after) pairs from the last dim backwards, as F.pad. */
ed_status ed_pad(const ed_tensor *x, const int64_t *pad, int npad, ed_pad_mode mode,
                 double value, ed_tensor **out);
/* Crop the last two dims to (h, w) around the centre (torchvision's
 * center_crop for the odd offset: top = (H - h) / 2 rounded to nearest as
 * int(round((H - h) / 2.0))). */
ed_status ed_center_crop(const ed_tensor *x, int64_t h, int64_t w, ed_tensor **out);

/* x (..., in) @ weight(out, in)^T + bias(out) */
ed_status ed_linear(const ed_tensor *x, const ed_tensor *weight, const ed_tensor *bias, ed_tensor **out);
/* 2-D (n,k)@(k,m) or batched (..., n, k)@(..., k, m) with equal batch dims. */
ed_status ed_matmul(const ed_tensor *a, const ed_tensor *b, ed_tensor **out);

/* ---- ops: convolution --------------------------------------------------- */

typedef enum ed_padding_kind { ED_PADDING_EXPLICIT = 0, ED_PADDING_SAME, ED_PADDING_VALID } ed_padding_kind;

typedef struct ed_conv2d_args {
    int stride[2];          /* default 1,1 */
    int padding[2];         /* default 0,0 (used when padding_kind is EXPLICIT) */
    int dilation[2];        /* default 1,1 */
    int groups;             /* default 1 */
    ed_padding_kind padding_kind;
    int relu;               /* default 0; 1: y = relu(conv(x) + bias) in one pass
                               (a oneDNN post-op), differentiable like the pair */
} ed_conv2d_args;
void ed_conv2d_args_default(ed_conv2d_args *a);

/* x (N, Cin, H, W), weight (Cout, Cin/groups, kH, kW), bias (Cout) or NULL. */
ed_status ed_conv2d(const ed_tensor *x, const ed_tensor *weight, const ed_tensor *bias,
                    const ed_conv2d_args *args, ed_tensor **out);

typedef struct ed_conv_transpose2d_args {
    int stride[2];          /* default 1,1 */
    int padding[2];         /* default 0,0 */
    int output_padding[2];  /* default 0,0; must be < stride or < dilation */
    int groups;             /* default 1 */
    int dilation[2];        /* default 1,1 */
} ed_conv_transpose2d_args;
void ed_conv_transpose2d_args_default(ed_conv_transpose2d_args *a);

/* x (N, Cin, H, W), weight (Cin, Cout/groups, kH, kW), bias (Cout) or NULL.
 * Hout = (H-1)*stride - 2*padding + dilation*(kH-1) + output_padding + 1. */
ed_status ed_conv_transpose2d(const ed_tensor *x, const ed_tensor *weight, const ed_tensor *bias,
                              const ed_conv_transpose2d_args *args, ed_tensor **out);

/* ---- ops: pooling and resampling ---------------------------------------- */

typedef struct ed_pool2d_args {
    int kernel_size[2];
    int stride[2];          /* 0,0 means = kernel_size (PyTorch's stride=None) */
    int padding[2];
    int dilation[2];        /* max_pool2d only; default 1,1 */
    int ceil_mode;
    int count_include_pad;  /* avg_pool2d; default 1 */
    int divisor_override;   /* avg_pool2d; 0 = none */
} ed_pool2d_args;
/* kernel k x k, everything else at PyTorch's default. */
void ed_pool2d_args_default(ed_pool2d_args *a, int k);

/* indices may be NULL. Else *indices receives an I64 tensor holding, for
 * each output, the flat position h*W + w of the maximum within its (n, c)
 * plane of the input, as PyTorch. The first maximum wins on ties; NaN wins. */
ed_status ed_max_pool2d(const ed_tensor *x, const ed_pool2d_args *args,
                        ed_tensor **out, ed_tensor **indices);
/* output_size (H, W) or NULL for the default
 * (H_in - 1) * stride - 2 * padding + kernel_size. */
ed_status ed_max_unpool2d(const ed_tensor *x, const ed_tensor *indices, const ed_pool2d_args *args,
                          const int64_t *output_size, ed_tensor **out);
ed_status ed_avg_pool2d(const ed_tensor *x, const ed_pool2d_args *args, ed_tensor **out);
ed_status ed_adaptive_avg_pool2d(const ed_tensor *x, int64_t out_h, int64_t out_w, ed_tensor **out);

typedef enum ed_interp_mode { ED_INTERP_NEAREST = 0, ED_INTERP_BILINEAR } ed_interp_mode;
typedef struct ed_interpolate_args {
    int64_t size[2];        /* output (H, W); 0,0 to use scale_factor */
    double scale_factor[2]; /* used when size is 0,0 */
    ed_interp_mode mode;    /* default NEAREST */
    int align_corners;      /* bilinear only; default 0 */
    /* recompute_scale_factor is None in PyTorch's default: with a
     * scale_factor the given scale (not in/out) maps coordinates. */
} ed_interpolate_args;
ed_status ed_interpolate(const ed_tensor *x, const ed_interpolate_args *args, ed_tensor **out);
ed_status ed_pixel_shuffle(const ed_tensor *x, int upscale_factor, ed_tensor **out);

/* ---- ops: normalisation ------------------------------------------------- */

/* x (N, C, ...). running_mean/var may be NULL. In training, batch statistics
 * are used and the running ones updated in place with momentum and the
 * unbiased variance, as PyTorch. weight/bias (C) may be NULL. */
ed_status ed_batch_norm(const ed_tensor *x, ed_tensor *running_mean, ed_tensor *running_var,
                        const ed_tensor *weight, const ed_tensor *bias, int training,
                        double momentum /*0.1*/, double eps /*1e-5*/, ed_tensor **out);
ed_status ed_group_norm(const ed_tensor *x, int num_groups, const ed_tensor *weight,
                        const ed_tensor *bias, double eps /*1e-5*/, ed_tensor **out);

/* ---- ops: losses -------------------------------------------------------- */

typedef enum ed_reduction { ED_REDUCTION_MEAN = 0, ED_REDUCTION_SUM, ED_REDUCTION_NONE } ed_reduction;

typedef struct ed_loss_args {
    ed_reduction reduction;       /* default MEAN */
    const ed_tensor *weight;      /* cross_entropy: per class (C); bce: per element (broadcast) */
    int64_t ignore_index;         /* cross_entropy; default -100 */
    double label_smoothing;       /* cross_entropy; default 0 */
    const ed_tensor *pos_weight;  /* binary_cross_entropy_with_logits: per class, broadcast */
    double beta;                  /* smooth_l1_loss; default 1.0 */
    double smooth;                /* dice_loss; default 1.0 */
} ed_loss_args;
void ed_loss_args_default(ed_loss_args *a);

/* input (N, C) or (N, C, d1, ...) logits; target I64 (N) or (N, d1, ...).
 * A target value outside 0..C-1 other than ignore_index is ED_E_RANGE. A
 * non-finite loss is ED_E_NAN. With every target ignored, the mean is NaN
 * in PyTorch; encdec returns ED_E_NAN saying so. */
ed_status ed_cross_entropy(const ed_tensor *input, const ed_tensor *target,
                           const ed_loss_args *args, ed_tensor **out);
ed_status ed_binary_cross_entropy_with_logits(const ed_tensor *input, const ed_tensor *target,
                                              const ed_loss_args *args, ed_tensor **out);
ed_status ed_mse_loss(const ed_tensor *input, const ed_tensor *target, const ed_loss_args *args, ed_tensor **out);
ed_status ed_l1_loss(const ed_tensor *input, const ed_tensor *target, const ed_loss_args *args, ed_tensor **out);
ed_status ed_smooth_l1_loss(const ed_tensor *input, const ed_tensor *target, const ed_loss_args *args, ed_tensor **out);
/* Soft Dice: input (N, C, ...) logits, softmax over C (sigmoid when C == 1),
 * target I64 class map (N, ...); per (n, c):
 * 1 - (2 sum(p t) + smooth) / (sum p + sum t + smooth); mean over (n, c).
 * Pixels equal to ignore_index are left out of every sum. */
ed_status ed_dice_loss(const ed_tensor *input, const ed_tensor *target, const ed_loss_args *args, ed_tensor **out);

#ifdef __cplusplus
}
#endif

#include "encdec/nn.h"
#include "encdec/io.h"
#include "encdec/image.h"
#include "encdec/metrics.h"
#include "encdec/models.h"
#include "encdec/data.h"
#include "encdec/crf.h"
#include "encdec/coco.h"
#include "encdec/augment.h"
#include "encdec/dataset.h"
#include "encdec/picture.h"
#include "encdec/precision.h"

#endif
