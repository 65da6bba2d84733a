/* Internal definitions shared by the library's layers: the tensor and node
 * structs, allocation, errors, autograd recording and backend dispatch.
 * Not installed; users see only include/encdec.h. */
#ifndef ED_INTERNAL_H
#define ED_INTERNAL_H

#include "encdec.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

struct ed_node;

struct ed_tensor {
    ed_dtype dtype;
    int ndim;
    int64_t shape[ED_MAX_DIMS];
    int64_t numel;
    void *data;                /* contiguous, row-major, 64-byte aligned */
    int refcount;              /* heap tensors; unused in arenas */
    uint8_t in_arena;          /* struct and data live in an arena */
    uint8_t owns_data;         /* data freed with the struct (heap) */
    uint8_t requires_grad;     /* a leaf that wants .grad */
    uint8_t grad_defined;      /* .grad holds a value since the last zero_grad */
    uint8_t nhwc;              /* ED_GRAD_*: data is not NCHW but NHWC (N, H*W, C), in float32 or
                                  (under bf16, in the first half of the buffer) bfloat16, or
                                  oneDNN's nChw16c (N, C/16, H*W, 16): only a non-leaf's temporary
                                  gradient written by the fused conv_bn_relu backward for a
                                  producer that reads it so (ed_node.takes_nhwc_grad); anything
                                  else gets it back in NCHW first (ed__grad_plain) */
    uint64_t frozen;           /* 0, or the generation of the ed_model_freeze that froze it: the
                                  weight cache then trusts its bytes (onednn_common.c) */
    uint64_t version;          /* 0, or a number ed_optim_step gives it (unique) whenever it updates
                                  it: the weight cache then knows a cached copy is stale without
                                  reading the weight (it still checks every other change) */
    uint8_t deferred;          /* data not written yet: its node's materialise writes it on first
                                  need (ed__materialise). Only a fused block's output that the
                                  model hands to the next fused block alone (conv_bn_relu.c) */
    ed_tensor *grad;           /* accumulated gradient (same shape, f32/f64) */
    struct ed_node *node;      /* the op that made it; NULL for leaves */
};

/* One recorded op. Owned by its output tensor. The backward function reads
 * n->out->grad and accumulates into ed__grad_of(n, i) for each input. */
typedef ed_status (*ed_backward_fn)(struct ed_node *n);

typedef struct ed_node {
    const char *name;          /* op name, for messages */
    ed_backward_fn backward;
    ed_tensor *out;            /* borrowed: out owns the node */
    int n_in;
    ed_tensor **in;            /* retained inputs (NULL entries allowed) */
    int n_saved;
    ed_tensor *saved[4];       /* retained extra tensors (indices, stats) */
    void *ctx;                 /* copy of the op's parameters */
    uint32_t mark;             /* traversal generation */
    uint8_t in_arena;
    uint8_t takes_nhwc_grad;   /* its backward reads out->grad in NHWC or nChw16c as well (ed_tensor.nhwc):
                                  conv_bn_relu, and cat along channels */
    ed_backward_fn materialise;  /* writes out->data when out->deferred, or NULL */
    uint8_t copy_saved;        /* 1 + the index in saved[] of out's copy in a convolution's layout
                                  (a fused block's zcopy, cat_feed's), for the next fused block;
                                  0: none */
} ed_node;

/* x's copy in a convolution's layout, written by the op that made x (a
 * fused block's zcopy, ed__cat_feed's: ed_node.copy_saved), or NULL; a
 * kernel uses it only when it is in the layout it takes. */
ed_tensor *ed__producer_copy(const ed_tensor *x);
/* Writes a deferred tensor's data (ed_tensor.deferred) through its node; a
 * no-op for any other. Whoever reads the data of a tensor that may be
 * deferred calls it first: the public accessors do. */
ed_status ed__materialise(const ed_tensor *t);

/* ---- errors --------------------------------------------------------------
 * ed__err sets the thread's message (printf-style) and returns s, so an op
 * writes: return ed__err(ED_E_SHAPE, "conv2d: ...");  */
ed_status ed__err(ed_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define ED_TRY(expr) do { ed_status ed__s = (expr); if (ed__s != ED_OK) return ed__s; } while (0)

/* "(2, 3, 28, 28)" into buf (at least 96 bytes); returns buf. */
const char *ed__shape_str(const ed_tensor *t, char *buf);
#define ED_SHAPE_BUF 96

/* Checks that set a message naming the op and the argument. */
ed_status ed__check_tensor(const ed_tensor *t, const char *op, const char *what);
ed_status ed__check_float(const ed_tensor *t, const char *op, const char *what);      /* f32 or f64 */
ed_status ed__check_ndim(const ed_tensor *t, int ndim, const char *op, const char *what, const char *layout);
ed_status ed__check_same_dtype(const ed_tensor *a, const ed_tensor *b, const char *op);
ed_status ed__check_same_shape(const ed_tensor *a, const ed_tensor *b, const char *op);
/* An optional per-channel tensor (weight, bias, running stats): NULL, or C
 * elements of x's dtype. */
ed_status ed__check_channel_param(const ed_tensor *t, const ed_tensor *x, int64_t C, const char *op, const char *what);

/* ---- allocation ----------------------------------------------------------
 * ed__alloc: an uninitialised tensor in the active arena, else on the heap.
 * ed__alloc_zeros: the same, zero-filled. ed__alloc_heap*: always heap. */
ed_status ed__alloc(ed_dtype dt, int ndim, const int64_t *shape, ed_tensor **out);
ed_status ed__alloc_zeros(ed_dtype dt, int ndim, const int64_t *shape, ed_tensor **out);
ed_status ed__alloc_like(const ed_tensor *t, ed_tensor **out);          /* zeros */
ed_status ed__alloc_heap_zeros(ed_dtype dt, int ndim, const int64_t *shape, ed_tensor **out);
/* A wrapper over memory it does not own (params blocks, file buffers). */
ed_status ed__tensor_wrap(ed_dtype dt, int ndim, const int64_t *shape, void *data, ed_tensor **out);
/* Scratch memory for a kernel: from the active arena, else heap; free with
 * ed__scratch_free (a no-op for arena memory). 64-byte aligned. */
void *ed__scratch(size_t bytes);
void ed__scratch_free(void *p);
void *ed__aligned_alloc(size_t bytes);
void ed__aligned_free(void *p);
ed_arena *ed__active_arena(void);
void *ed__arena_alloc(ed_arena *a, size_t bytes);  /* NULL when full */

/* ---- autograd recording --------------------------------------------------
 * ed__needs_grad: grad mode is on and t requires grad or has history. */
bool ed__needs_grad(const ed_tensor *t);
bool ed__any_needs_grad(int n, const ed_tensor *const *ts);
/* If grad mode is on and any input needs grad, attach a node to out that
 * retains the inputs and a copy of ctx (ctx_size bytes); *node gets it, else
 * NULL. Save more tensors with ed__node_save. */
ed_status ed__record(ed_tensor *out, const char *name, ed_backward_fn bw, int n_in,
                     const ed_tensor *const *in, const void *ctx, size_t ctx_size, ed_node **node);
ed_status ed__node_save(ed_node *n, ed_tensor *t);
/* In a backward function: the gradient buffer of input i (zeros allocated on
 * first use) or NULL when input i needs no gradient. */
ed_status ed__grad_of(ed_node *n, int i, ed_tensor **g);
/* The same for an op whose backward writes every element of that gradient:
 * when no gradient has reached input i yet (a non-leaf, or a leaf whose
 * buffer zero_grad marked stale), the buffer comes back unfilled with
 * *overwrite = 1 and the op must store (=), not add; otherwise *overwrite
 * = 0 and it adds (+=) as usual. Saves zero-filling each gradient and
 * reading it back. */
ed_status ed__grad_of_overwrite(ed_node *n, int i, ed_tensor **g, int *overwrite);
/* ed_tensor.nhwc's values. */
enum { ED_GRAD_NCHW = 0, ED_GRAD_NHWC = 1, ED_GRAD_NCHW16C = 2, ED_GRAD_NHWC_BF16 = 3 };
/* A gradient held NHWC or nChw16c (ed_tensor.nhwc) put back in NCHW in
 * place; a no-op for any other tensor (autograd/grad_layout.c). */
ed_status ed__grad_plain(ed_tensor *g);
/* Channels [c0, c0 + cn) of such a 4-D float32 gradient written (add:
 * added) into dst, NCHW (N, cn, H*W). */
void ed__grad_channels(const ed_tensor *g, int64_t c0, int64_t cn, float *dst, bool add);

/* relu(ed_batch_norm(...)) fused (ops/batch_norm.c): same values and
 * gradients, without the ReLU's own output and gradient tensors. */
ed_status ed__batch_norm_relu(const ed_tensor *x, ed_tensor *running_mean, ed_tensor *running_var,
                              const ed_tensor *weight, const ed_tensor *bias, int training,
                              double momentum, double eps, ed_tensor **out);

/* ed_cat(xs, n, 1) of 4-D float32 tensors whose result only a fused
 * conv_bn_relu block reads (ops/cat.c): in training a backend kernel writes
 * it straight into that block's convolution's layout and leaves the result
 * itself deferred; elsewhere exactly ed_cat. */
#define ED_CAT_FEED_MAX 8
typedef struct ed__cat_feed_params { int n; } ed__cat_feed_params;
ed_status ed__cat_feed(const ed_tensor *const *xs, int n, ed_tensor **out);

/* relu(batch_norm(conv2d(x, w, b, stride 1, padding pad), training = 1,
 * momentum, eps)) as one op (ops/conv_bn_relu.c): the same values and
 * gradients as the three ops to float rounding, with the convolution's
 * output and the BatchNorm's input gradient kept in the backend's layout.
 * Running stats are updated as ed_batch_norm does. feeds_block: out goes
 * to another such block, which then takes it in its convolution's layout
 * from this one (written with out, instead of converted there); 2: that
 * block is out's only reader, so out itself is left deferred (written
 * only if something else reads it, ed__materialise). */
ed_status ed__conv_bn_relu_train(const ed_tensor *x, const ed_tensor *w, const ed_tensor *b, int pad,
                                 ed_tensor *running_mean, ed_tensor *running_var, const ed_tensor *gamma,
                                 const ed_tensor *beta, double momentum, double eps, int feeds_block, ed_tensor **out);

/* One convolution of ed__conv_chain_infer: weight (Cout, Cin, k, k), bias
 * or NULL, folded BatchNorm scales (float64, Cout, as ed__conv2d_scaled) or
 * NULL, then a ReLU if relu. */
typedef struct ed__conv_step {
    const ed_tensor *w, *b, *s;
    int relu;
} ed__conv_step;
/* The n convolutions applied in turn (stride 1, padding pad), for inference
 * without gradients (ops/conv_chain.c): the activations between them stay
 * in the backend's layout. Same results as ed_conv2d / ed__conv2d_scaled
 * one by one. */
ed_status ed__conv_chain_infer(const ed_tensor *x, int n, const ed__conv_step *convs, int pad, ed_tensor **out);

/* One step of ed__infer_graph. Step i computes value i + 1 from values in
 * (and in2), where value 0 is x:
 *   ED_GSTEP_CONV  as an ed__conv_step (w, b, s, relu), padding pad, stride
 *                  stride (0 means 1);
 *   ED_GSTEP_POOL2 max_pool2d, kernel 2, stride 2 (floor);
 *   ED_GSTEP_UP2   conv_transpose2d, stride 2, weight w (Cin, Cout, 2, 2), bias b;
 *   ED_GSTEP_CAT   cat([in, in2], dim 1);
 *   ED_GSTEP_ADD   in + in2 (same shapes);
 *   ED_GSTEP_SHUFFLE pixel_shuffle(in, factor). */
typedef enum ed__gstep_kind {
    ED_GSTEP_CONV, ED_GSTEP_POOL2, ED_GSTEP_UP2, ED_GSTEP_CAT, ED_GSTEP_ADD, ED_GSTEP_SHUFFLE
} ed__gstep_kind;
typedef struct ed__gstep {
    int kind, in, in2;
    const ed_tensor *w, *b, *s;
    int pad, relu, stride, factor;
} ed__gstep;
/* The n steps for inference without gradients (ops/infer_graph.c): a whole
 * encoder-decoder (U-Net) forward in which the values between the steps
 * stay in the backend's layout; returns value n. Same results as the ops
 * one by one (ed_conv2d, ed__conv2d_scaled, ed_max_pool2d,
 * ed_conv_transpose2d, ed_cat), which also give its errors. */
ed_status ed__infer_graph(const ed_tensor *x, int n, const ed__gstep *steps, ed_tensor **out);

/* conv2d(x, w * s[o] per output channel, b, args) without autograd (ops/
 * conv2d.c): a BatchNorm folded into the convolution for inference. s is
 * float64 (Cout); each folded weight is (float)(w * s[o]), made by the
 * kernel (the oneDNN one folds once, while reordering the weight into its
 * cache), so callers need not fold the weights at every call. Fails if any
 * input needs a gradient. */
ed_status ed__conv2d_scaled(const ed_tensor *x, const ed_tensor *w, const ed_tensor *s, const ed_tensor *b,
                            const ed_conv2d_args *args, ed_tensor **out);

/* ---- threads and determinism ---------------------------------------------
 * Kernels parallelise with OpenMP using ed_get_num_threads() threads. Any
 * reduction splits work into chunks whose bounds do not depend on the
 * thread count and adds the partial results in chunk order. */
#ifdef _OPENMP
#include <omp.h>
#define ED_PRAGMA(x) _Pragma(#x)
#define ED_PARALLEL_FOR ED_PRAGMA(omp parallel for schedule(static) num_threads(ed_get_num_threads()))
#define ED_PARALLEL_FOR_IF(cond) ED_PRAGMA(omp parallel for schedule(static) num_threads(ed_get_num_threads()) if(cond))
#else
#define ED_PARALLEL_FOR
#define ED_PARALLEL_FOR_IF(cond)
#endif
/* The calling thread's number within the current parallel region (0
 * outside one): an index into per-thread scratch. */
static inline int ed__thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* Global RNG stream used by dropout: returns the counter to start at and
 * advances it by n draws. */
uint64_t ed__global_rng_take(uint64_t n, uint64_t *seed);
/* Philox-4x32-10 block: 4 uniform u32 for (seed, counter). */
void ed__philox(uint64_t seed, uint64_t counter, uint32_t out[4]);
/* The i-th uniform in [0,1) / normal of a (seed, base) stream; pure functions,
 * so any thread may compute any element. */
double ed__rng_uniform_at(uint64_t seed, uint64_t base, uint64_t i);
double ed__rng_normal_at(uint64_t seed, uint64_t base, uint64_t i);

/* ---- backends -------------------------------------------------------------
 * Ops dispatch to a registered kernel that supports the call, else to their
 * reference kernel. tensors[] is an op-specific list documented in the op
 * file (e.g. conv2d forward: x, w, b, y). */
typedef enum ed_op {
    ED_OP_CONV2D = 0, ED_OP_CONV_TRANSPOSE2D, ED_OP_MAX_POOL2D, ED_OP_MAX_UNPOOL2D,
    ED_OP_AVG_POOL2D, ED_OP_BATCH_NORM, ED_OP_ELTWISE, ED_OP_BINARY, ED_OP_INTERPOLATE,
    ED_OP_CONV_BN_RELU, ED_OP_CONV_CHAIN, ED_OP_INFER_GRAPH, ED_OP_CAT_FEED,
    ED_OP_COUNT
} ed_op;
typedef enum ed_pass { ED_FORWARD = 0, ED_BACKWARD = 1 } ed_pass;

typedef struct ed_kernel {
    ed_op op;
    ed_pass pass;
    const char *backend;
    bool (*supports)(const void *params, ed_tensor *const *tensors);
    ed_status (*run)(const void *params, ed_tensor *const *tensors);
} ed_kernel;

ed_status ed_backend_register(const ed_kernel *k);
/* The most recently registered kernel that supports the call, or NULL. */
const ed_kernel *ed_backend_find(ed_op op, ed_pass pass, const void *params, ed_tensor *const *tensors);
/* Disable all backends (tests compare them with the reference). */
void ed_backend_set_enabled(bool on);

/* ---- parameters ----------------------------------------------------------
 * The packed blocks of a params set (nn/params.c): all trainable data, their
 * gradients, numel floats each. Returns 0 before ed_params_pack. */
int ed__params_blocks(const ed_params *p, float **data, float **grad, int64_t *numel);

/* ---- small helpers ------------------------------------------------------- */
static inline float *ed__f32(ed_tensor *t) { return (float *)t->data; }
static inline const float *ed__cf32(const ed_tensor *t) { return (const float *)t->data; }
static inline double *ed__f64(ed_tensor *t) { return (double *)t->data; }
static inline const double *ed__cf64(const ed_tensor *t) { return (const double *)t->data; }
static inline int64_t *ed__i64(ed_tensor *t) { return (int64_t *)t->data; }
static inline const int64_t *ed__ci64(const ed_tensor *t) { return (const int64_t *)t->data; }
/* Element i of a float tensor as a double (slow path helpers). */
double ed__get(const ed_tensor *t, int64_t i);
void ed__set(ed_tensor *t, int64_t i, double v);

#endif
