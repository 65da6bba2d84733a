/* Checkpoints: a model's parameters as one safetensors file.
 *
 * ed_params_save writes every tensor of p (trainable and buffers) under its
 * state_dict name, in p's order, with the given __metadata__; the file is
 * written to path.tmp and renamed (ed_safetensors_save), so a crash never
 * leaves half a checkpoint.
 * ed_params_load checks everything before it copies anything, so a failed
 * load leaves p as it was: each name of p must be in the file as float32 with
 * the same shape; with strict, a name in the file that p lacks is an error
 * too (torch's load_state_dict(strict=True)). */
#include "core/ed_internal.h"

#include <stdlib.h>

ed_status ed_params_save(const ed_params *p, const char *path, int n_meta, const char *const *meta_keys,
                         const char *const *meta_values)
{
    if (!p || !path) return ed__err(ED_E_ARG, "params_save: params or path is NULL");
    if (n_meta < 0 || (n_meta > 0 && (!meta_keys || !meta_values)))
        return ed__err(ED_E_ARG, "params_save: %d metadata entries but keys or values are NULL", n_meta);
    for (int i = 0; i < n_meta; i++)
        if (!meta_keys[i] || !meta_values[i]) return ed__err(ED_E_ARG, "params_save: metadata entry %d is NULL", i);
    int n = ed_params_count(p);
    const char **names = malloc((size_t)(n > 0 ? n : 1) * sizeof *names);
    const ed_tensor **ts = malloc((size_t)(n > 0 ? n : 1) * sizeof *ts);
    if (!names || !ts) { free(names); free(ts); return ed__err(ED_E_NOMEM, "params_save: out of memory"); }
    for (int i = 0; i < n; i++) {
        names[i] = ed_params_name(p, i);
        ts[i] = ed_params_tensor(p, i);
    }
    ed_status st = ed_safetensors_save(path, n, names, ts, n_meta, meta_keys, meta_values);
    free(names);
    free(ts);
    return st;
}

static bool same_shape(const ed_tensor *a, const ed_tensor *b)
{
    if (a->ndim != b->ndim) return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return false;
    return true;
}

ed_status ed_params_load(ed_params *p, const ed_safetensors *f, int strict)
{
    if (!p || !f) return ed__err(ED_E_ARG, "params_load: params or file is NULL");
    int n = ed_params_count(p);
    for (int i = 0; i < n; i++)
        if (ed_params_tensor(p, i)->frozen)
            return ed__err(ED_E_STATE, "params_load: '%s' is frozen (ed_model_freeze(m, 0) first)", ed_params_name(p, i));
    for (int i = 0; i < n; i++) {
        const char *name = ed_params_name(p, i);
        const ed_tensor *want = ed_params_tensor(p, i), *got = ed_safetensors_get(f, name);
        char s1[ED_SHAPE_BUF], s2[ED_SHAPE_BUF];
        if (!got)
            return ed__err(ED_E_FORMAT, "params_load: tensor '%s' (shape %s) is missing from the checkpoint", name,
                           ed__shape_str(want, s1));
        if (got->dtype != ED_F32)
            return ed__err(ED_E_DTYPE, "params_load: tensor '%s' is %s in the checkpoint, expected float32", name,
                           ed_dtype_name(got->dtype));
        if (!same_shape(got, want))
            return ed__err(ED_E_SHAPE, "params_load: tensor '%s' has shape %s in the checkpoint but %s in the model", name,
                           ed__shape_str(got, s1), ed__shape_str(want, s2));
    }
    if (strict) {
        for (int k = 0; k < ed_safetensors_count(f); k++) {
            const char *name = ed_safetensors_name(f, k);
            bool known = false;
            for (int i = 0; i < n && !known; i++) known = !strcmp(ed_params_name(p, i), name);
            if (!known)
                return ed__err(ED_E_FORMAT, "params_load: unexpected tensor '%s' in the checkpoint (strict load)", name);
        }
    }
    for (int i = 0; i < n; i++) {
        ed_tensor *t = ed_params_tensor(p, i);
        const ed_tensor *src = ed_safetensors_get(f, ed_params_name(p, i));
        memcpy(t->data, src->data, (size_t)t->numel * sizeof(float));
    }
    return ED_OK;
}
