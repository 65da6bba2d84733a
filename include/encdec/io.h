/* encdec: checkpoints (safetensors with JSON metadata). Included by encdec.h. */
#ifndef ENCDEC_IO_H
#define ENCDEC_IO_H

#ifdef __cplusplus
extern "C" {
#endif

/* A loaded safetensors file: its tensors (by name) and its __metadata__
 * (string -> string). Files are checked: header length, JSON, dtypes,
 * offsets inside the data, no overlap, sizes equal to shape x dtype. */
typedef struct ed_safetensors ed_safetensors;

ed_status ed_safetensors_load(const char *path, ed_safetensors **out);
ed_status ed_safetensors_load_memory(const void *buf, size_t len, ed_safetensors **out);
void ed_safetensors_free(ed_safetensors *f);
int ed_safetensors_count(const ed_safetensors *f);
const char *ed_safetensors_name(const ed_safetensors *f, int i);
/* Borrowed; NULL (and an error message) when absent. */
ed_tensor *ed_safetensors_get(const ed_safetensors *f, const char *name);
/* Borrowed; NULL when absent. */
const char *ed_safetensors_meta(const ed_safetensors *f, const char *key);
int ed_safetensors_meta_count(const ed_safetensors *f);
const char *ed_safetensors_meta_key(const ed_safetensors *f, int i);

/* Writes to path + ".tmp" then renames, so no half-written file is left.
 * meta_keys/meta_values may be NULL with n_meta 0. */
ed_status ed_safetensors_save(const char *path, int n, const char *const *names,
                              const ed_tensor *const *tensors, int n_meta,
                              const char *const *meta_keys, const char *const *meta_values);

/* Save every tensor of p (trainable and buffers) under its name. */
ed_status ed_params_save(const ed_params *p, const char *path, int n_meta,
                         const char *const *meta_keys, const char *const *meta_values);
/* Copy tensors from a file into p: every name of p must be present with the
 * same shape (f32); names in the file that p lacks are an error when strict. */
ed_status ed_params_load(ed_params *p, const ed_safetensors *f, int strict);

#ifdef __cplusplus
}
#endif
#endif
