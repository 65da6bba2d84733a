/* encdec: models. Included by encdec.h.
 *
 * A model is an architecture name plus a JSON configuration (its
 * hyper-parameters); its parameters carry PyTorch state_dict names so
 * weights move both ways. A checkpoint is one safetensors file whose
 * metadata holds encdec.arch, encdec.config and encdec.task, so loading it
 * needs nothing else.
 *
 *     ed_model *m;
 *     ed_model_create("dae", "{\"in_channels\":3,\"width\":32}", &m);
 *     ed_rng r; ed_rng_init(&r, 0); ed_model_init(m, &r);
 *     ed_tensor *y; ed_model_forward(m, x, 1, &y);   // training mode
 */
#ifndef ENCDEC_MODELS_H
#define ENCDEC_MODELS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ed_model ed_model;

/* config_json may be NULL or "{}" for the architecture's defaults; unknown
 * keys and bad values are errors naming the key. */
ed_status ed_model_create(const char *arch, const char *config_json, ed_model **out);
void ed_model_free(ed_model *m);
/* PyTorch's default initialisation of every layer, seeded by rng. */
ed_status ed_model_init(ed_model *m, ed_rng *rng);
/* x (N, C, H, W) float32; training selects batch statistics and dropout. */
ed_status ed_model_forward(ed_model *m, const ed_tensor *x, int training, ed_tensor **y);
ed_params *ed_model_params(ed_model *m);
/* on = 1: a promise that the model's parameters do not change until
 * ed_model_freeze(m, 0), for deployment. Convolutions then skip the weight
 * cache's per-call check (a fingerprint read of every weight, about 10% of
 * a batch-1 U-Net inference); the first use after freezing still checks
 * once. While frozen, ed_optim_step, ed_model_init, ed_params_load and
 * ed_init_* refuse the parameters (ED_E_STATE); a training-mode forward
 * still updates BatchNorm running statistics (what inference folds from
 * them is checked at every call anyway); a write through ed_tensor_data
 * breaks the promise and may leave stale results until the model is
 * unfrozen. on = 0 lifts it. `encdec enhance`, `eval` and
 * `bench --infer` freeze the models they run. */
ed_status ed_model_freeze(ed_model *m, int on);
const char *ed_model_arch(const ed_model *m);
/* The full configuration with defaults filled in (JSON). */
const char *ed_model_config(const ed_model *m);
/* "denoise", "sr", "semseg", ... */
const char *ed_model_task(const ed_model *m);
/* Input sizes must be multiples of this (pooling depth); 1 if any size. */
int ed_model_size_multiple(const ed_model *m);
int ed_model_in_channels(const ed_model *m);
int ed_model_out_channels(const ed_model *m);

/* Checkpoints. extra_keys/values add metadata (how it was trained). */
ed_status ed_model_save(const ed_model *m, const char *path, int n_extra,
                        const char *const *extra_keys, const char *const *extra_values);
ed_status ed_model_load(const char *path, ed_model **out);
/* Names of the registered architectures, NULL-terminated. */
const char *const *ed_model_archs(void);

#ifdef __cplusplus
}
#endif
#endif
