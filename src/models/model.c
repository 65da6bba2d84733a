/* Generic model code: the architecture table, configuration parsing,
 * parameter layers, initialisation and checkpoints with self-describing
 * metadata (encdec.arch, encdec.config, encdec.task, encdec.version). */
#include "models/model_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static const ed_arch *const archs[] = { &ed_arch_dae, &ed_arch_unet, &ed_arch_dncnn, &ed_arch_drunet, &ed_arch_rednet, &ed_arch_fsrcnn, &ed_arch_edsr, NULL };
static const char *arch_names[sizeof archs / sizeof archs[0]];

const char *const *ed_model_archs(void)
{
    for (size_t i = 0; archs[i]; i++) arch_names[i] = archs[i]->name;
    return arch_names;
}

static const ed_arch *find_arch(const char *name)
{
    for (size_t i = 0; archs[i]; i++)
        if (!strcmp(archs[i]->name, name)) return archs[i];
    return NULL;
}

ed_status ed__cfg_known(const cJSON *cfg, const char *arch, const char *const *keys)
{
    for (const cJSON *e = cfg->child; e; e = e->next) {
        bool ok = false;
        for (int i = 0; keys[i] && !ok; i++) ok = !strcmp(keys[i], e->string);
        if (!ok) return ed__err(ED_E_ARG, "%s: unknown configuration key '%s'", arch, e->string);
    }
    return ED_OK;
}

ed_status ed__cfg_int(cJSON *cfg, const char *arch, const char *key, int def, int lo, int hi, int *out)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!v) {
        cJSON_AddNumberToObject(cfg, key, def);
        *out = def;
        return ED_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
        return ed__err(ED_E_ARG, "%s: configuration '%s' must be an integer", arch, key);
    if (v->valuedouble < lo || v->valuedouble > hi)
        return ed__err(ED_E_ARG, "%s: configuration '%s' = %g is outside %d..%d", arch, key, v->valuedouble, lo, hi);
    *out = (int)v->valuedouble;
    return ED_OK;
}

ed_status ed__cfg_double(cJSON *cfg, const char *arch, const char *key, double def, double lo, double hi, double *out)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!v) {
        cJSON_AddNumberToObject(cfg, key, def);
        *out = def;
        return ED_OK;
    }
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi))
        return ed__err(ED_E_ARG, "%s: configuration '%s' must be a number in [%g, %g]", arch, key, lo, hi);
    *out = v->valuedouble;
    return ED_OK;
}

static ed_status add_param(ed_model *m, const char *prefix, const char *leaf, int ndim, const int64_t *shape,
                           int trainable, ed_tensor **out)
{
    char name[256];
    snprintf(name, sizeof name, "%s.%s", prefix, leaf);
    return ed_params_add(m->params, name, ndim, shape, trainable, out);
}

ed_status ed__layer_conv(ed_model *m, const char *prefix, int cin, int cout, int k, bool bias, ed_tensor **w, ed_tensor **b)
{
    ED_TRY(add_param(m, prefix, "weight", 4, (int64_t[]){ cout, cin, k, k }, 1, w));
    if (b) *b = NULL;
    if (bias) ED_TRY(add_param(m, prefix, "bias", 1, (int64_t[]){ cout }, 1, b));
    return ED_OK;
}

ed_status ed__layer_conv_transpose(ed_model *m, const char *prefix, int cin, int cout, int k, bool bias, ed_tensor **w, ed_tensor **b)
{
    ED_TRY(add_param(m, prefix, "weight", 4, (int64_t[]){ cin, cout, k, k }, 1, w));
    if (b) *b = NULL;
    if (bias) ED_TRY(add_param(m, prefix, "bias", 1, (int64_t[]){ cout }, 1, b));
    return ED_OK;
}

ed_status ed__layer_bn(ed_model *m, const char *prefix, int c, ed_bn *bn)
{
    int64_t s[1] = { c };
    ED_TRY(add_param(m, prefix, "weight", 1, s, 1, &bn->weight));
    ED_TRY(add_param(m, prefix, "bias", 1, s, 1, &bn->bias));
    ED_TRY(add_param(m, prefix, "running_mean", 1, s, 0, &bn->mean));
    ED_TRY(add_param(m, prefix, "running_var", 1, s, 0, &bn->var));
    ED_TRY(add_param(m, prefix, "num_batches_tracked", 0, s, 0, &bn->count));
    return ED_OK;
}

ed_status ed__bn_forward(const ed_bn *bn, const ed_tensor *x, int training, ed_tensor **y)
{
    ED_TRY(ed_batch_norm(x, bn->mean, bn->var, bn->weight, bn->bias, training, 0.1, 1e-5, y));
    if (training) ed__set(bn->count, 0, ed__get(bn->count, 0) + 1);
    return ED_OK;
}

ed_status ed__bn_relu_forward(const ed_bn *bn, const ed_tensor *x, int training, ed_tensor **y)
{
    ED_TRY(ed__batch_norm_relu(x, bn->mean, bn->var, bn->weight, bn->bias, training, 0.1, 1e-5, y));
    if (training) ed__set(bn->count, 0, ed__get(bn->count, 0) + 1);
    return ED_OK;
}

/* A BatchNorm folded into the convolution before it, for inference:
 * conv(x, w * s) + (b - mean) * s + beta, s = gamma / sqrt(var + eps); *s
 * float64 and *bf float32, C elements each. */
ed_status ed__bn_fold(const ed_bn *bn, const ed_tensor *b, int64_t O, ed_tensor **s, ed_tensor **bf)
{
    *s = *bf = NULL;
    ED_TRY(ed__alloc(ED_F64, 1, &O, s));
    ed_status st = ed__alloc(ED_F32, 1, &O, bf);
    if (st != ED_OK) {
        ed_tensor_free(*s);
        *s = NULL;
        return st;
    }
    const float *g = ed__cf32(bn->weight), *be = ed__cf32(bn->bias), *mu = ed__cf32(bn->mean), *var = ed__cf32(bn->var);
    const float *bv = b ? ed__cf32(b) : NULL;
    double *so = ed__f64(*s);
    float *bo = ed__f32(*bf);
    for (int64_t o = 0; o < O; o++) {
        const double k = (double)g[o] / sqrt((double)var[o] + 1e-5);
        so[o] = k;
        bo[o] = (float)((double)be[o] + ((bv ? (double)bv[o] : 0.0) - (double)mu[o]) * k);
    }
    return ED_OK;
}

ed_status ed__conv_bn_relu(const ed_tensor *x, const ed_tensor *w, const ed_tensor *b, const ed_bn *bn, int pad, int training,
                           int feeds_block, ed_tensor **y)
{
    ed_conv2d_args a;
    ed_conv2d_args_default(&a);
    a.padding[0] = a.padding[1] = pad;
    *y = NULL;
    if (!bn) {
        a.relu = 1;
        return ed_conv2d(x, w, b, &a, y);
    }
    if (training) {
        ED_TRY(ed__conv_bn_relu_train(x, w, b, pad, bn->mean, bn->var, bn->weight, bn->bias, 0.1, 1e-5,
                                      feeds_block ? 2 : 0, y));
        ed__set(bn->count, 0, ed__get(bn->count, 0) + 1);
        return ED_OK;
    }
    if (ed_grad_enabled() || w->dtype != ED_F32) {
        ed_tensor *c = NULL;
        ed_status st = ed_conv2d(x, w, b, &a, &c);
        if (st == ED_OK) st = ed__bn_relu_forward(bn, c, training, y);
        ed_tensor_free(c);
        return st;
    }
    /* Folded: conv(x, w * s) + (b - mean) * s + beta, s = gamma / sqrt(var + eps).
     * The kernel folds w (the oneDNN one once, into its weight cache); the
     * bias is folded here. */
    ed_tensor *sc = NULL, *bf = NULL;
    ED_TRY(ed__bn_fold(bn, b, w->shape[0], &sc, &bf));
    a.relu = 1;
    ed_status st = ed__conv2d_scaled(x, w, sc, bf, &a, y);
    ed_tensor_free(sc);
    ed_tensor_free(bf);
    return st;
}

ed_status ed__conv_bn_relu_chain(const ed_tensor *x, int n, const ed_tensor *const *w, const ed_tensor *const *b,
                                 const ed_bn *const *bn, const int *relu, int pad, ed_tensor **y)
{
    *y = NULL;
    if (n > 64) return ed__err(ED_E_ARG, "model: a chain of %d convolutions is too long", n);
    ed__conv_step steps[64];
    ed_tensor *tmp[128] = { NULL };
    ed_status st = ED_OK;
    for (int i = 0; i < n && st == ED_OK; i++) {
        steps[i] = (ed__conv_step){ .w = w[i], .b = b ? b[i] : NULL, .s = NULL, .relu = relu[i] };
        if (bn && bn[i]) {
            st = ed__bn_fold(bn[i], steps[i].b, w[i]->shape[0], &tmp[2 * i], &tmp[2 * i + 1]);
            steps[i].s = tmp[2 * i];
            steps[i].b = tmp[2 * i + 1];
        }
    }
    if (st == ED_OK) st = ed__conv_chain_infer(x, n, steps, pad, y);
    for (int i = 0; i < 2 * n; i++) ed_tensor_free(tmp[i]);
    return st;
}

ed_tensor *ed__temp(ed_temps *s, ed_tensor *t)
{
    if (s->n < (int)(sizeof s->t / sizeof s->t[0])) s->t[s->n++] = t;
    return t;
}

void ed__temps_free(ed_temps *s)
{
    for (int i = 0; i < s->n; i++) ed_tensor_free(s->t[i]);
    s->n = 0;
}

static ed_status model_new(const ed_arch *a, cJSON *cfg, ed_model **out)
{
    ed_model *m = calloc(1, sizeof *m);
    if (!m) { cJSON_Delete(cfg); return ed__err(ED_E_NOMEM, "model: out of memory"); }
    m->arch = a;
    m->config = cfg;
    m->size_multiple = 1;
    ed_status st = ed_params_new(&m->params);
    if (st == ED_OK) st = a->build(m, cfg);
    if (st == ED_OK) st = ed_params_pack(m->params);
    if (st == ED_OK) {
        m->config_str = cJSON_PrintUnformatted(cfg);
        if (!m->config_str) st = ed__err(ED_E_NOMEM, "model: out of memory");
    }
    if (st != ED_OK) { ed_model_free(m); return st; }
    *out = m;
    return ED_OK;
}

ed_status ed_model_create(const char *arch, const char *config_json, ed_model **out)
{
    if (!out) return ed__err(ED_E_ARG, "model: out is NULL");
    *out = NULL;
    if (!arch) return ed__err(ED_E_ARG, "model: architecture name is NULL");
    const ed_arch *a = find_arch(arch);
    if (!a) {
        char list[256] = "";
        for (size_t i = 0; archs[i]; i++) {
            strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
            strncat(list, archs[i]->name, sizeof list - strlen(list) - 1);
        }
        return ed__err(ED_E_ARG, "model: unknown architecture '%s' (known: %s)", arch, list);
    }
    cJSON *cfg = config_json && *config_json ? cJSON_Parse(config_json) : cJSON_CreateObject();
    if (!cJSON_IsObject(cfg)) {
        cJSON_Delete(cfg);
        return ed__err(ED_E_ARG, "model: configuration of '%s' is not a JSON object: %s", arch, config_json);
    }
    return model_new(a, cfg, out);
}

void ed_model_free(ed_model *m)
{
    if (!m) return;
    if (m->free_state) m->free_state(m->state);
    else free(m->state);
    ed_params_free(m->params);
    cJSON_Delete(m->config);
    free(m->config_str);
    free(m);
}

ed_status ed_model_freeze(ed_model *m, int on)
{
    static _Atomic uint64_t generation;
    if (!m) return ed__err(ED_E_ARG, "model freeze: model is NULL");
    const uint64_t g = on ? ++generation : 0;
    for (int i = 0; i < ed_params_count(m->params); i++) ed_params_tensor(m->params, i)->frozen = g;
    return ED_OK;
}

ed_status ed_model_init(ed_model *m, ed_rng *rng)
{
    if (!m || !rng) return ed__err(ED_E_ARG, "model init: NULL argument");
    for (int i = 0; i < ed_params_count(m->params); i++)
        if (ed_params_tensor(m->params, i)->frozen)
            return ed__err(ED_E_STATE, "model init: the model is frozen (ed_model_freeze(m, 0) first)");
    /* PyTorch's defaults: conv/linear weights with their bias, BatchNorm
     * weight 1 and bias 0, running stats 0 and 1. */
    int n = ed_params_count(m->params);
    for (int i = 0; i < n; i++) {
        const char *name = ed_params_name(m->params, i);
        ed_tensor *t = ed_params_tensor(m->params, i);
        const char *dot = strrchr(name, '.');
        const char *leaf = dot ? dot + 1 : name;
        if (!strcmp(leaf, "weight") && t->ndim >= 2) {
            char bname[256];
            snprintf(bname, sizeof bname, "%.*s.bias", (int)(leaf - name - 1), name);
            ED_TRY(ed_init_torch_default(t, ed_params_find(m->params, bname), rng));
        } else if (!strcmp(leaf, "weight") || !strcmp(leaf, "running_var")) {
            ED_TRY(ed_init_constant(t, 1.0));
        } else if (!strcmp(leaf, "running_mean") || !strcmp(leaf, "num_batches_tracked")) {
            ED_TRY(ed_init_constant(t, 0.0));
        } else if (!strcmp(leaf, "bias") && t->ndim == 1) {
            char wname[256];
            snprintf(wname, sizeof wname, "%.*s.weight", (int)(leaf - name - 1), name);
            ed_tensor *w = ed_params_find(m->params, wname);
            if (!w || w->ndim < 2) ED_TRY(ed_init_constant(t, 0.0));   /* BatchNorm bias */
        }
    }
    return m->arch->init ? m->arch->init(m, rng) : ED_OK;
}

ed_status ed_model_forward(ed_model *m, const ed_tensor *x, int training, ed_tensor **y)
{
    if (!m || !y) return ed__err(ED_E_ARG, "model forward: NULL argument");
    *y = NULL;
    ED_TRY(ed__check_ndim(x, 4, m->arch->name, "input", "(N, C, H, W)"));
    if (x->dtype != ED_F32) return ed__err(ED_E_DTYPE, "%s: input must be float32, got %s", m->arch->name, ed_dtype_name(x->dtype));
    if (x->shape[1] != m->in_channels) {
        char b[ED_SHAPE_BUF];
        return ed__err(ED_E_SHAPE, "%s: the model expects %d input channels, got input of shape %s", m->arch->name,
                       m->in_channels, ed__shape_str(x, b));
    }
    int k = m->size_multiple;
    if (k > 1 && (x->shape[2] % k || x->shape[3] % k))
        return ed__err(ED_E_SHAPE, "%s: height and width must be multiples of %d, got %lldx%lld", m->arch->name, k,
                       (long long)x->shape[2], (long long)x->shape[3]);
    return m->arch->forward(m, x, training, y);
}

ed_params *ed_model_params(ed_model *m) { return m ? m->params : NULL; }
const char *ed_model_arch(const ed_model *m) { return m ? m->arch->name : NULL; }
const char *ed_model_config(const ed_model *m) { return m ? m->config_str : NULL; }
const char *ed_model_task(const ed_model *m) { return m ? m->arch->task : NULL; }
int ed_model_size_multiple(const ed_model *m) { return m ? m->size_multiple : 1; }
int ed_model_in_channels(const ed_model *m) { return m ? m->in_channels : 0; }
int ed_model_out_channels(const ed_model *m) { return m ? m->out_channels : 0; }

ed_status ed_model_save(const ed_model *m, const char *path, int n_extra, const char *const *ek, const char *const *ev)
{
    if (!m || !path) return ed__err(ED_E_ARG, "model save: NULL argument");
    if (n_extra < 0 || n_extra > 60) return ed__err(ED_E_ARG, "model save: %d metadata entries", n_extra);
    const char *keys[64] = { "encdec.arch", "encdec.config", "encdec.task", "encdec.version" };
    const char *vals[64] = { m->arch->name, m->config_str, m->arch->task, ED_VERSION };
    for (int i = 0; i < n_extra; i++) { keys[4 + i] = ek[i]; vals[4 + i] = ev[i]; }
    return ed_params_save(m->params, path, 4 + n_extra, keys, vals);
}

ed_status ed_model_load(const char *path, ed_model **out)
{
    if (!out) return ed__err(ED_E_ARG, "model load: out is NULL");
    *out = NULL;
    ed_safetensors *f;
    ED_TRY(ed_safetensors_load(path, &f));
    const char *arch = ed_safetensors_meta(f, "encdec.arch");
    const char *cfg = ed_safetensors_meta(f, "encdec.config");
    ed_status st = ED_OK;
    if (!arch || !cfg) st = ed__err(ED_E_FORMAT, "%s: not an encdec checkpoint (no encdec.arch/encdec.config metadata)", path);
    ed_model *m = NULL;
    if (st == ED_OK) st = ed_model_create(arch, cfg, &m);
    if (st == ED_OK) st = ed_params_load(m->params, f, 1);
    if (st != ED_OK && m) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", ed_last_error());
        ed__err(st, "%s (%s)", msg, path);
    }
    ed_safetensors_free(f);
    if (st != ED_OK) { ed_model_free(m); return st; }
    *out = m;
    return ED_OK;
}
