/* Internal interface between the generic model code (model.c) and one file
 * per architecture. An architecture validates its JSON configuration, adds
 * its parameters with PyTorch state_dict names and runs its forward pass with
 * the public ops. */
#ifndef ED_MODEL_INTERNAL_H
#define ED_MODEL_INTERNAL_H

#include "core/ed_internal.h"

#include <cjson/cJSON.h>

typedef struct ed_arch {
    const char *name;
    const char *task;
    /* Read cfg (fill defaults into it), add parameters, set the model's
     * channel counts and size multiple. */
    ed_status (*build)(ed_model *m, cJSON *cfg);
    ed_status (*forward)(ed_model *m, const ed_tensor *x, int training, ed_tensor **y);
    /* Initialise beyond PyTorch's defaults (optional). */
    ed_status (*init)(ed_model *m, ed_rng *rng);
} ed_arch;

struct ed_model {
    const ed_arch *arch;
    ed_params *params;
    cJSON *config;
    char *config_str;
    int in_channels, out_channels, size_multiple;
    void *state;             /* the architecture's own tensor pointers */
    void (*free_state)(void *state);
};

/* Configuration values: read key (default def) checking the range; the key
 * is written back so the stored config is complete. */
ed_status ed__cfg_int(cJSON *cfg, const char *arch, const char *key, int def, int lo, int hi, int *out);
ed_status ed__cfg_double(cJSON *cfg, const char *arch, const char *key, double def, double lo, double hi, double *out);
/* Any key of cfg not in the NULL-terminated list is an error. */
ed_status ed__cfg_known(const cJSON *cfg, const char *arch, const char *const *keys);

/* Layers: add "<prefix>.weight" (and "<prefix>.bias") to m's parameters. */
ed_status ed__layer_conv(ed_model *m, const char *prefix, int cin, int cout, int k, bool bias,
                         ed_tensor **w, ed_tensor **b);
ed_status ed__layer_conv_transpose(ed_model *m, const char *prefix, int cin, int cout, int k, bool bias,
                                   ed_tensor **w, ed_tensor **b);
/* BatchNorm2d: weight, bias, running_mean, running_var, num_batches_tracked
 * (the last kept as a buffer for state_dict compatibility). */
typedef struct ed_bn { ed_tensor *weight, *bias, *mean, *var, *count; } ed_bn;
ed_status ed__layer_bn(ed_model *m, const char *prefix, int c, ed_bn *bn);
ed_status ed__bn_forward(const ed_bn *bn, const ed_tensor *x, int training, ed_tensor **y);
/* relu(ed__bn_forward(...)) in one op (ops/batch_norm.c), same bits. */
ed_status ed__bn_relu_forward(const ed_bn *bn, const ed_tensor *x, int training, ed_tensor **y);
/* relu(bn(conv2d(x, w, b, padding pad))); bn may be NULL (then relu(conv),
 * fused into the convolution). Inference without gradients folds the
 * BatchNorm into the convolution (w * s, (b - mean) * s + beta with
 * s = gamma / sqrt(var + eps)) and fuses the ReLU: one pass instead of
 * three; training (and inference with gradients) runs the convolution and
 * a fused BatchNorm + ReLU (ed__bn_relu_forward). feeds_block: y's only
 * consumer is the next ed__conv_bn_relu (training then hands it y already
 * in its convolution's layout and leaves y itself deferred,
 * ed__conv_bn_relu_train with feeds_block 2). */
ed_status ed__conv_bn_relu(const ed_tensor *x, const ed_tensor *w, const ed_tensor *b, const ed_bn *bn, int pad, int training,
                           int feeds_block, ed_tensor **y);

/* A BatchNorm folded into the convolution (bias b or NULL, O outputs)
 * before it, for inference: conv(x, w * s) + bf with s = gamma /
 * sqrt(var + eps) (float64) and bf = (b - mean) s + beta (float32). */
ed_status ed__bn_fold(const ed_bn *bn, const ed_tensor *b, int64_t O, ed_tensor **s, ed_tensor **bf);

/* Inference without gradients, float32: n convolutions in turn (stride 1,
 * padding pad), convolution i with bias b[i] (b or b[i] may be NULL),
 * BatchNorm bn[i] folded in (bn or bn[i] NULL: none) and a ReLU if
 * relu[i]: ed__conv_chain_infer, the activations between them never
 * converted to NCHW. Same values as the blocks one by one. */
ed_status ed__conv_bn_relu_chain(const ed_tensor *x, int n, const ed_tensor *const *w, const ed_tensor *const *b,
                                 const ed_bn *const *bn, const int *relu, int pad, ed_tensor **y);

/* Temporaries of a forward pass: each op output is added and all are
 * released at the end; the graph keeps what backward needs. */
typedef struct ed_temps { ed_tensor *t[64]; int n; } ed_temps;
ed_tensor *ed__temp(ed_temps *s, ed_tensor *t);
void ed__temps_free(ed_temps *s);

extern const ed_arch ed_arch_dae;
extern const ed_arch ed_arch_unet;
extern const ed_arch ed_arch_dncnn;
extern const ed_arch ed_arch_drunet;
extern const ed_arch ed_arch_rednet;
extern const ed_arch ed_arch_fsrcnn;
extern const ed_arch ed_arch_edsr;

#endif
