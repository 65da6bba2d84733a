/* The weight cache's shortcuts. ed_model_freeze: a frozen model gives the
 * same bits as an unfrozen one, its weights are served from the cache
 * without a fingerprint after the first use (oneDNN builds), the library
 * refuses to write its parameters (optimizer, init, load, fill), and
 * unfreezing or re-freezing makes a changed weight seen again. Versions:
 * after optimizer steps the cache remakes copies without fingerprinting
 * first, results stay those of fresh weights, and a write through the
 * data pointer after a step is still seen. */
#include "check.h"
#include "core/ed_internal.h"
#ifdef ENCDEC_HAVE_ONEDNN
#include "backend/onednn/onednn_common.h"
#endif

#include <math.h>
#include <string.h>

static ed_tensor *forward(ed_model *m, const ed_tensor *x)
{
    ed_tensor *y = NULL;
    ed_no_grad_begin();
    CHECK_OK(ed_model_forward(m, x, 0, &y));
    ed_no_grad_end();
    return y;
}

/* One training step: forward, backward of sum(y * y) / 2 (gy = y), optimizer step. */
static void train_step(ed_model *m, const ed_tensor *x, ed_optim *opt)
{
    ed_tensor *y = NULL;
    CHECK_OK(ed_model_forward(m, x, 1, &y));
    if (y) CHECK_OK(ed_backward(y, y));
    CHECK_OK(ed_optim_step(opt));
    ed_params_zero_grad(ed_model_params(m));
    ed_tensor_free(y);
}

static bool same_bits(const ed_tensor *a, const ed_tensor *b)
{
    return a && b && a->numel == b->numel && !memcmp(a->data, b->data, (size_t)a->numel * sizeof(float));
}

static int64_t trusted(void)
{
#ifdef ENCDEC_HAVE_ONEDNN
    return odnn_weight_cache_trusted_hits();
#else
    return 0;
#endif
}

int main(void)
{
    CHECK_ERR(ed_model_freeze(NULL, 1), ED_E_ARG, "NULL");
    ed_model *m = NULL;
    if (!CHECK_OK(ed_model_create("unet", "{\"in_channels\":3,\"num_classes\":4,\"base_width\":16,\"depth\":2}", &m)))
        return check_done();
    ed_rng r;
    ed_rng_init(&r, 5);
    CHECK_OK(ed_model_init(m, &r));
    ed_tensor *x = check_randn(ED_F32, 4, (int64_t[]){ 1, 3, 32, 32 }, 6);
    ed_tensor *ref = forward(m, x);

    /* Frozen: the same bits; after the first (checked) use, trusted hits. */
    CHECK_OK(ed_model_freeze(m, 1));
    const int64_t t0 = trusted();
    ed_tensor *f1 = forward(m, x), *f2 = forward(m, x);
    CHECK_MSG(same_bits(ref, f1) && same_bits(ref, f2), "a frozen model gives other bits");
    (void)t0;
#ifdef ENCDEC_HAVE_ONEDNN
    CHECK_MSG(trusted() > t0, "frozen weights were fingerprinted at every call (trusted hits %lld -> %lld)", (long long)t0,
              (long long)trusted());
#endif

    /* The library refuses to write frozen parameters. */
    ed_params *ps = ed_model_params(m);
    ed_tensor *w0 = ed_params_tensor(ps, 0);
    CHECK_ERR(ed_model_init(m, &r), ED_E_STATE, "frozen");
    CHECK_ERR(ed_init_constant(w0, 0.5), ED_E_STATE, "frozen");
    CHECK_ERR(ed_rng_fill_normal(&r, w0, 0, 1), ED_E_STATE, "frozen");
    ed_optim *opt = NULL;
    ed_optim_args oa;
    ed_optim_args_default(&oa, ED_OPTIM_ADAM);
    if (CHECK_OK(ed_optim_new(ps, &oa, &opt))) {
        ed_tensor *y = NULL;
        CHECK_OK(ed_model_forward(m, x, 1, &y));   /* training forward: gradients for the step */
        if (y) CHECK_OK(ed_backward(y, y));
        CHECK_ERR(ed_optim_step(opt), ED_E_STATE, "frozen");
        ed_params_zero_grad(ps);
        ed_tensor_free(y);
        ed_optim_free(opt);
    }

    /* Unfrozen: a changed weight is seen; frozen again: seen at the first use. */
    CHECK_OK(ed_model_freeze(m, 0));
    float *wd = ed_tensor_data(w0);
    wd[3] += 0.75f;
    ed_tensor *g1 = forward(m, x);
    CHECK_MSG(g1 && !same_bits(ref, g1), "a weight changed after unfreezing is not seen");
    wd[5] -= 0.5f;
    CHECK_OK(ed_model_freeze(m, 1));
    ed_tensor *g2 = forward(m, x);
    CHECK_OK(ed_model_freeze(m, 0));
    ed_tensor *g3 = forward(m, x);
    CHECK_MSG(g2 && !same_bits(g1, g2), "a weight changed before re-freezing is not seen at the first frozen use");
    CHECK_MSG(same_bits(g2, g3), "frozen and unfrozen forwards of the same weights differ");

    /* Optimizer steps: copies remade without a fingerprint, results fresh. */
    int64_t m0 = 0;
#ifdef ENCDEC_HAVE_ONEDNN
    m0 = odnn_weight_cache_moved_misses();
#endif
    ed_optim *o2 = NULL;
    ed_tensor *h1 = NULL, *h2 = NULL, *h3 = NULL;
    if (CHECK_OK(ed_optim_new(ps, &oa, &o2))) {
        for (int step = 0; step < 2; step++) train_step(m, x, o2);
        ed_optim_free(o2);
        h1 = forward(m, x);
        ed_backend_set_enabled(false);
        h2 = forward(m, x);   /* the reference on the weights as they are */
        ed_backend_set_enabled(true);
        double s = 0;
        const double e = check_max_abs_err(h1, h2, &s);
        CHECK_MSG(h1 && h2 && e <= 1e-5 * s, "after optimizer steps: error %.3g of the scale %.3g", e, s);
#ifdef ENCDEC_HAVE_ONEDNN
        CHECK_MSG(odnn_weight_cache_moved_misses() > m0, "optimizer steps did not spare the stale copies' fingerprints");
#endif
        /* a write through the pointer after the steps (no version change) */
        float *w1 = ed_tensor_data(ed_params_tensor(ps, 0));
        w1[7] += 1.0f;
        h3 = forward(m, x);
        CHECK_MSG(h3 && !same_bits(h1, h3), "a weight written after an optimizer step is not seen");
    }
    /* A step, then the weights before it written back through the pointer:
     * the copy made after the step must not pass for theirs. */
    if (CHECK_OK(ed_optim_new(ps, &oa, &o2))) {
        ed_tensor *w = ed_params_tensor(ps, 0), *saved = NULL;
        CHECK_OK(ed_tensor_clone(w, &saved));
        train_step(m, x, o2);
        ed_optim_free(o2);
        ed_tensor_free(forward(m, x));   /* copies of the stepped weights */
        if (saved) memcpy(ed_tensor_data(w), ed_tensor_data(saved), sizeof(float) * (size_t)w->numel);
        ed_tensor *a = forward(m, x);
        ed_backend_set_enabled(false);
        ed_tensor *b = forward(m, x);
        ed_backend_set_enabled(true);
        double s = 0;
        const double e = check_max_abs_err(a, b, &s);
        CHECK_MSG(a && b && e <= 1e-5 * s, "weights written back after a step: error %.3g of the scale %.3g", e, s);
        ed_tensor_free(a);
        ed_tensor_free(b);
        ed_tensor_free(saved);
    }
    (void)m0;

    ed_tensor *list[] = { x, ref, f1, f2, g1, g2, g3, h1, h2, h3 };
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) ed_tensor_free(list[i]);
    ed_model_free(m);
    return check_done();
}
