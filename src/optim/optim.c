/* Optimizers: SGD (momentum, dampening, Nesterov, weight decay), Adam and
 * AdamW, equal to torch.optim's single-tensor (foreach=False) step in float32.
 *
 * The parameters must be packed (ed_params_pack): data and gradients sit in
 * two blocks of one layout, and the optimizer keeps its moments (SGD's
 * momentum buffer; Adam's exp_avg and exp_avg_sq) in blocks of the same
 * layout, so an update is one elementwise loop over [begin, end) of the
 * blocks. Elementwise means the result does not depend on threads.
 *
 * torch keeps per-parameter state: a parameter whose grad is None is skipped
 * and its step count (Adam's bias correction, SGD's "first step copies the
 * gradient into the momentum buffer") does not advance. So each trainable
 * tensor has its own step count, and one step runs the loop once per run of
 * neighbouring tensors that have a gradient and equal step counts - once in
 * the usual case. The zero padding between slices stays zero under every
 * update, so runs may span it.
 *
 * Operation order, scalars rounded to float as torch does; fma() where
 * torch's vectorised CPU kernels use fmadd (add with alpha, lerp, addcmul),
 * which makes the results equal to torch's bit for bit on an AVX2/AVX-512
 * machine (tests/test_optim.c holds them to 1e-5 all the same):
 *   SGD:   g = g + wd*p;  buf = first ? g : buf*momentum + (1-dampening)*g;
 *          g = nesterov ? g + momentum*buf : buf;  p = p + (-lr)*g
 *   Adam:  AdamW: p = p * (1 - lr*wd);  Adam: g = g + wd*p
 *          m = lerp(m, g, 1-beta1);  v = v*beta2 + ((1-beta2)*g)*g
 *          bc1 = 1 - beta1^t, bc2 = 1 - beta2^t (double)
 *          p = p + ((-lr/bc1) * m) / (sqrt(v)/sqrt(bc2) + eps)              */
#include "core/ed_internal.h"

#include <stdatomic.h>

#include <math.h>
#include <stdlib.h>


typedef struct slot {
    ed_tensor *t;
    const char *name;
    int64_t off, numel;
    int64_t steps;        /* updates applied to this tensor */
} slot;

struct ed_optim {
    ed_params *p;
    ed_optim_args a;
    float *data, *grad;
    int64_t block_numel;
    float *m1, *m2;       /* SGD: momentum buffer; Adam: exp_avg, exp_avg_sq */
    int n;
    slot *s;
    int64_t steps;
};

void ed_optim_args_default(ed_optim_args *a, ed_optim_kind kind)
{
    if (!a) return;
    memset(a, 0, sizeof *a);
    a->kind = kind;
    a->lr = kind == ED_OPTIM_SGD ? 0.01 : 1e-3;
    a->beta1 = 0.9;
    a->beta2 = 0.999;
    a->eps = 1e-8;
    a->weight_decay = kind == ED_OPTIM_ADAMW ? 1e-2 : 0.0;
}

static ed_status check_args(const ed_optim_args *a)
{
    if (a->kind != ED_OPTIM_SGD && a->kind != ED_OPTIM_ADAM && a->kind != ED_OPTIM_ADAMW)
        return ed__err(ED_E_ARG, "optim: unknown optimizer kind %d", (int)a->kind);
    if (!(a->lr >= 0) || !isfinite(a->lr)) return ed__err(ED_E_ARG, "optim: invalid learning rate: %g", a->lr);
    if (!(a->weight_decay >= 0) || !isfinite(a->weight_decay))
        return ed__err(ED_E_ARG, "optim: invalid weight_decay value: %g", a->weight_decay);
    if (a->kind == ED_OPTIM_SGD) {
        if (!(a->momentum >= 0) || !isfinite(a->momentum)) return ed__err(ED_E_ARG, "optim: invalid momentum value: %g", a->momentum);
        if (!isfinite(a->dampening)) return ed__err(ED_E_ARG, "optim: invalid dampening value: %g", a->dampening);
        if (a->nesterov && (a->momentum <= 0 || a->dampening != 0))
            return ed__err(ED_E_ARG, "optim: Nesterov momentum requires a momentum and zero dampening (momentum %g, dampening %g)",
                           a->momentum, a->dampening);
    } else {
        if (!(a->eps >= 0) || !isfinite(a->eps)) return ed__err(ED_E_ARG, "optim: invalid epsilon value: %g", a->eps);
        if (!(a->beta1 >= 0 && a->beta1 < 1)) return ed__err(ED_E_ARG, "optim: invalid beta parameter at index 0: %g", a->beta1);
        if (!(a->beta2 >= 0 && a->beta2 < 1)) return ed__err(ED_E_ARG, "optim: invalid beta parameter at index 1: %g", a->beta2);
    }
    return ED_OK;
}

static float *zeros_block(int64_t n)
{
    size_t bytes = (size_t)(n > 0 ? n : 16) * sizeof(float);
    float *b = ed__aligned_alloc(bytes);
    if (b) memset(b, 0, bytes);
    return b;
}

ed_status ed_optim_new(ed_params *p, const ed_optim_args *a, ed_optim **out)
{
    if (out) *out = NULL;
    if (!p || !a || !out) return ed__err(ED_E_ARG, "optim_new: params, args or out is NULL");
    ED_TRY(check_args(a));
    float *data, *grad;
    int64_t numel;
    if (!ed__params_blocks(p, &data, &grad, &numel))
        return ed__err(ED_E_STATE, "optim_new: the parameters are not packed; call ed_params_pack first");
    ed_optim *o = calloc(1, sizeof *o);
    if (!o) return ed__err(ED_E_NOMEM, "optim_new: out of memory");
    o->p = p;
    o->a = *a;
    o->data = data;
    o->grad = grad;
    o->block_numel = numel;
    int count = ed_params_count(p);
    o->s = calloc((size_t)(count > 0 ? count : 1), sizeof *o->s);
    bool need_m1 = a->kind != ED_OPTIM_SGD || a->momentum != 0, need_m2 = a->kind != ED_OPTIM_SGD;
    if (need_m1) o->m1 = zeros_block(numel);
    if (need_m2) o->m2 = zeros_block(numel);
    if (!o->s || (need_m1 && !o->m1) || (need_m2 && !o->m2)) {
        ed_optim_free(o);
        return ed__err(ED_E_NOMEM, "optim_new: cannot allocate the optimizer state (%lld floats per moment)", (long long)numel);
    }
    for (int i = 0; i < count; i++) {
        if (!ed_params_trainable(p, i)) continue;
        ed_tensor *t = ed_params_tensor(p, i);
        o->s[o->n++] = (slot){ .t = t, .name = ed_params_name(p, i), .off = (float *)t->data - data, .numel = t->numel };
    }
    *out = o;
    return ED_OK;
}

void ed_optim_free(ed_optim *o)
{
    if (!o) return;
    ed__aligned_free(o->m1);
    ed__aligned_free(o->m2);
    free(o->s);
    free(o);
}

void ed_optim_set_lr(ed_optim *o, double lr) { if (o) o->a.lr = lr; }
double ed_optim_get_lr(const ed_optim *o) { return o ? o->a.lr : 0.0; }
int64_t ed_optim_steps(const ed_optim *o) { return o ? o->steps : 0; }

/* ---- kernels over [0, n) of block pointers ----------------------------------- */

static void sgd_run(const ed_optim_args *a, float *restrict p, const float *restrict g, float *restrict buf,
                    int64_t n, bool first)
{
    const float wd = (float)a->weight_decay, mom = (float)a->momentum, omd = (float)(1.0 - a->dampening);
    const float neg_lr = (float)(-a->lr);
    const bool use_wd = a->weight_decay != 0, use_mom = a->momentum != 0, nesterov = a->nesterov != 0;
    ED_PARALLEL_FOR_IF(n > 32768)
    for (int64_t i = 0; i < n; i++) {
        float d = g[i];
        if (use_wd) d = fmaf(wd, p[i], d);
        if (use_mom) {
            float b = first ? d : fmaf(omd, d, buf[i] * mom);
            buf[i] = b;
            d = nesterov ? fmaf(mom, b, d) : b;
        }
        p[i] = fmaf(neg_lr, d, p[i]);
    }
}

static void adam_run(const ed_optim_args *a, float *restrict p, const float *restrict g, float *restrict m,
                     float *restrict v, int64_t n, int64_t step)
{
    const bool decoupled = a->kind == ED_OPTIM_ADAMW, use_wd = a->weight_decay != 0;
    const float wd = (float)a->weight_decay, decay = (float)(1.0 - a->lr * a->weight_decay);
    const float w1 = (float)(1.0 - a->beta1), b2 = (float)a->beta2, omb2 = (float)(1.0 - a->beta2);
    const double bc1 = 1.0 - pow(a->beta1, (double)step), bc2 = 1.0 - pow(a->beta2, (double)step);
    const float neg_step = (float)(-(a->lr / bc1)), bc2_sqrt = (float)sqrt(bc2), eps = (float)a->eps;
    const bool small_w = fabsf(w1) < 0.5f;
    ED_PARALLEL_FOR_IF(n > 32768)
    for (int64_t i = 0; i < n; i++) {
        float pi = p[i], gi = g[i];
        if (use_wd) {
            if (decoupled) pi = pi * decay;
            else gi = fmaf(wd, pi, gi);
        }
        float mi = m[i];
        /* torch's lerp: the formula depends on the weight's size */
        mi = small_w ? fmaf(w1, gi - mi, mi) : fmaf(w1 - 1.0f, gi - mi, gi);
        float vi = fmaf(omb2 * gi, gi, v[i] * b2);
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        p[i] = pi + neg_step * mi / denom;
    }
}

static void run_range(ed_optim *o, int64_t begin, int64_t end, int64_t steps_before)
{
    int64_t n = end - begin;
    if (o->a.kind == ED_OPTIM_SGD)
        sgd_run(&o->a, o->data + begin, o->grad + begin, o->m1 ? o->m1 + begin : NULL, n, steps_before == 0);
    else
        adam_run(&o->a, o->data + begin, o->grad + begin, o->m1 + begin, o->m2 + begin, n, steps_before + 1);
}

static _Atomic uint64_t param_versions;

ed_status ed_optim_step(ed_optim *o)
{
    if (!o) return ed__err(ED_E_ARG, "optim_step: optimizer is NULL");
    /* The packed layout must be intact: a tensor whose data or gradient was
     * replaced would be updated in memory nobody reads. */
    for (int i = 0; i < o->n; i++) {
        slot *s = &o->s[i];
        if ((float *)s->t->data != o->data + s->off || (s->t->grad && (float *)s->t->grad->data != o->grad + s->off))
            return ed__err(ED_E_STATE, "optim_step: '%s' no longer lives in the packed parameter block", s->name);
        if (s->t->frozen)
            return ed__err(ED_E_STATE, "optim_step: '%s' is frozen (ed_model_freeze(m, 0) first)", s->name);
    }
    int i = 0;
    while (i < o->n) {
        if (!ed_tensor_grad(o->s[i].t)) { i++; continue; }
        int j = i + 1;
        while (j < o->n && ed_tensor_grad(o->s[j].t) && o->s[j].steps == o->s[i].steps) j++;
        run_range(o, o->s[i].off, o->s[j - 1].off + o->s[j - 1].numel, o->s[i].steps);
        for (int k = i; k < j; k++) {
            o->s[k].steps++;
            o->s[k].t->version = atomic_fetch_add(&param_versions, 1) + 1;   /* changed: see ed_tensor.version */
        }
        i = j;
    }
    o->steps++;
    return ED_OK;
}
