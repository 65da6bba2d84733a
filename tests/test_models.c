/* The enhancement architectures (dncnn, drunet, rednet, fsrcnn, edsr): output
 * shapes, PyTorch state_dict names, a few Adam steps lower the loss, a
 * save/load round trip gives identical outputs, and bad configurations are
 * rejected with the key named. Small widths so it runs in a second. */
#include "check.h"
#include "core/ed_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct arch_case {
    const char *arch, *config, *task;
    int c, h, w, oh, ow;           /* input (1..) and expected output size */
    const char *names[4];          /* a few parameter names that must exist */
    int n_params;                  /* tensors in the state_dict */
} arch_case;

static const arch_case cases[] = {
    { "dncnn", "{\"width\":8,\"depth\":5}", "denoise", 1, 12, 10, 12, 10,
      { "dncnn.0.weight", "dncnn.0.bias", "dncnn.3.running_var", "dncnn.11.weight" }, 2 + 3 * 6 + 1 },
    { "dncnn", "{\"channels\":3,\"width\":8,\"depth\":3}", "denoise", 3, 9, 9, 9, 9,
      { "dncnn.2.weight", "dncnn.3.num_batches_tracked", "dncnn.5.weight", NULL }, 2 + 6 + 1 },
    { "drunet", "{\"width\":4,\"levels\":2,\"blocks\":1}", "denoise", 1, 8, 12, 8, 12,
      { "m_head.weight", "m_down2.1.weight", "m_up1.1.res.2.weight", "m_tail.weight" }, 16 },
    { "drunet", "{\"channels\":3,\"width\":2,\"levels\":3,\"blocks\":2,\"residual\":0}", "denoise", 3, 16, 8, 16, 8,
      { "m_down3.2.weight", "m_body.1.res.0.weight", "m_up3.0.weight", "m_up2.2.res.2.weight" }, 1 + 3 * 5 + 4 + 3 * 5 + 1 },
    { "rednet", "{\"width\":8,\"depth\":6}", "denoise", 1, 13, 11, 13, 11,
      { "encoder.0.weight", "encoder.2.bias", "decoder.0.weight", "decoder.2.bias" }, 12 },
    { "fsrcnn", "{\"scale\":3,\"d\":8,\"s\":4,\"m\":2}", "sr", 1, 7, 5, 21, 15,
      { "first_part.0.weight", "first_part.1.weight", "mid_part.7.weight", "last_part.weight" }, 3 + 4 * 3 + 2 },
    { "fsrcnn", "{\"scale\":2,\"d\":8,\"s\":4,\"m\":1}", "sr", 1, 6, 6, 12, 12,
      { "mid_part.4.weight", "mid_part.5.weight", "last_part.bias", NULL }, 3 + 3 * 3 + 2 },
    { "edsr", "{\"scale\":4,\"width\":8,\"blocks\":2}", "sr", 1, 6, 5, 24, 20,
      { "head.0.weight", "body.1.body.2.bias", "body.2.weight", "tail.0.2.weight" }, 2 + 8 + 2 + 4 + 2 },
    { "edsr", "{\"scale\":3,\"width\":8,\"blocks\":1,\"residual\":0,\"res_scale\":0.1}", "sr", 1, 5, 6, 15, 18,
      { "tail.0.0.weight", "tail.1.weight", "body.1.bias", NULL }, 2 + 4 + 2 + 2 + 2 },
};

static ed_status run(ed_model *m, const ed_tensor *x, int training, ed_tensor **y)
{
    return ed_model_forward(m, x, training, y);
}

static void check_arch(const arch_case *a, int k)
{
    ed_model *m = NULL;
    if (!CHECK_OK(ed_model_create(a->arch, a->config, &m))) return;
    CHECK(!strcmp(ed_model_task(m), a->task));
    CHECK(ed_model_in_channels(m) == a->c && ed_model_out_channels(m) == a->c);
    ed_params *p = ed_model_params(m);
    CHECK_MSG(ed_params_count(p) == a->n_params, "%s: %d parameter tensors, wanted %d", a->arch, ed_params_count(p), a->n_params);
    for (int i = 0; i < 4 && a->names[i]; i++) CHECK_MSG(ed_params_find(p, a->names[i]) != NULL, "%s: no parameter %s", a->arch, a->names[i]);
    ed_rng r;
    ed_rng_init(&r, 7 + (uint64_t)k);
    CHECK_OK(ed_model_init(m, &r));

    /* Shapes, and a few steps towards a fixed target lower the loss. */
    ed_tensor *x = check_rand(ED_F32, 4, (int64_t[]){ 2, a->c, a->h, a->w }, 0, 1, 100 + (uint64_t)k);
    ed_tensor *t = check_rand(ED_F32, 4, (int64_t[]){ 2, a->c, a->oh, a->ow }, 0, 1, 200 + (uint64_t)k);
    ed_optim_args oa;
    ed_optim_args_default(&oa, ED_OPTIM_ADAM);
    oa.lr = 3e-3;
    ed_optim *opt = NULL;
    CHECK_OK(ed_optim_new(p, &oa, &opt));
    ed_arena *ar = NULL;
    CHECK_OK(ed_arena_new(0, &ar));
    double first = NAN, last = NAN;
    for (int s = 0; s < 12; s++) {
        ed_arena_begin(ar);
        ed_tensor *y = NULL, *loss = NULL;
        int ok = CHECK_OK(run(m, x, 1, &y));
        if (ok && s == 0) {
            const int64_t *sh = ed_tensor_shape(y);
            CHECK_MSG(sh[0] == 2 && sh[1] == a->c && sh[2] == a->oh && sh[3] == a->ow, "%s: output %lldx%lldx%lldx%lld", a->arch,
                      (long long)sh[0], (long long)sh[1], (long long)sh[2], (long long)sh[3]);
        }
        if (ok) ok = CHECK_OK(ed_mse_loss(y, t, NULL, &loss)) && CHECK_OK(ed_backward(loss, NULL));
        if (ok) { last = ed_tensor_item(loss); if (s == 0) first = last; }
        ed_arena_end();
        ed_arena_reset(ar);
        if (ok) CHECK_OK(ed_optim_step(opt));
        ed_params_zero_grad(p);
    }
    CHECK_MSG(last < 0.9 * first, "%s: loss %g -> %g after 12 steps", a->arch, first, last);
    ed_arena_free(ar);
    ed_optim_free(opt);

    /* Round trip: identical outputs in inference mode; metadata intact. */
    char path[64];
    snprintf(path, sizeof path, "test_models_%d_%d.safetensors", (int)getpid(), k);
    CHECK_OK(ed_model_save(m, path, 0, NULL, NULL));
    ed_model *m2 = NULL;
    if (CHECK_OK(ed_model_load(path, &m2))) {
        CHECK(!strcmp(ed_model_arch(m2), a->arch) && !strcmp(ed_model_config(m2), ed_model_config(m)));
        ed_tensor *y1 = NULL, *y2 = NULL;
        ed_no_grad_begin();
        CHECK_OK(run(m, x, 0, &y1));
        CHECK_OK(run(m2, x, 0, &y2));
        ed_no_grad_end();
        if (y1 && y2) CHECK_MSG(!memcmp(ed_tensor_cdata(y1), ed_tensor_cdata(y2), (size_t)ed_tensor_numel(y1) * 4), "%s: reloaded output differs", a->arch);
        ed_tensor_free(y1);
        ed_tensor_free(y2);
        ed_model_free(m2);
    }
    unlink(path);

    /* Wrong channel count. */
    ed_tensor *bad = check_rand(ED_F32, 4, (int64_t[]){ 1, a->c + 1, a->h, a->w }, 0, 1, 1), *y = NULL;
    CHECK_ERR(ed_model_forward(m, bad, 0, &y), ED_E_SHAPE, "input channels");
    ed_tensor_free(bad);
    ed_tensor_free(x);
    ed_tensor_free(t);
    ed_model_free(m);
}

static void check_bad_configs(void)
{
    ed_model *m = NULL;
    CHECK_ERR(ed_model_create("dncnn", "{\"channels\":2}", &m), ED_E_ARG, "channels");
    CHECK_ERR(ed_model_create("dncnn", "{\"depth\":2}", &m), ED_E_ARG, "depth");
    CHECK_ERR(ed_model_create("dncnn", "{\"scale\":2}", &m), ED_E_ARG, "unknown configuration key 'scale'");
    CHECK_ERR(ed_model_create("rednet", "{\"depth\":7}", &m), ED_E_ARG, "even");
    CHECK_ERR(ed_model_create("rednet", "{\"width\":0}", &m), ED_E_ARG, "width");
    CHECK_ERR(ed_model_create("fsrcnn", "{\"scale\":5}", &m), ED_E_ARG, "scale");
    CHECK_ERR(ed_model_create("fsrcnn", "{\"scale\":2.5}", &m), ED_E_ARG, "integer");
    CHECK_ERR(ed_model_create("edsr", "{\"blocks\":0}", &m), ED_E_ARG, "blocks");
    CHECK_ERR(ed_model_create("edsr", "{\"res_scale\":-1}", &m), ED_E_ARG, "res_scale");
    CHECK_ERR(ed_model_create("edsr", "[1]", &m), ED_E_ARG, "not a JSON object");
    CHECK(m == NULL);
    /* rednet's unpadded encoder needs room. */
    if (CHECK_OK(ed_model_create("rednet", "{\"width\":4,\"depth\":4}", &m))) {
        ed_tensor *x = check_rand(ED_F32, 4, (int64_t[]){ 1, 1, 4, 9 }, 0, 1, 3), *y = NULL;
        CHECK_ERR(ed_model_forward(m, x, 0, &y), ED_E_SHAPE, "at least 5x5");
        ed_tensor_free(x);
        ed_model_free(m);
    }
    CHECK_ERR(ed_model_create("drunet", "{\"levels\":6}", &m), ED_E_ARG, "levels");
    CHECK_ERR(ed_model_create("drunet", "{\"channels\":2}", &m), ED_E_ARG, "channels");
    /* drunet halves the size levels times. */
    if (CHECK_OK(ed_model_create("drunet", "{\"width\":2,\"levels\":2,\"blocks\":1}", &m))) {
        CHECK(ed_model_size_multiple(m) == 4);
        ed_tensor *x = check_rand(ED_F32, 4, (int64_t[]){ 1, 1, 8, 10 }, 0, 1, 3), *y = NULL;
        CHECK_ERR(ed_model_forward(m, x, 0, &y), ED_E_SHAPE, "multiples of 4");
        ed_tensor_free(x);
        ed_model_free(m);
    }
    const char *const *names = ed_model_archs();
    int found = 0;
    for (int i = 0; names[i]; i++)
        found += !strcmp(names[i], "dncnn") + !strcmp(names[i], "drunet") + !strcmp(names[i], "rednet") + !strcmp(names[i], "fsrcnn") +
                 !strcmp(names[i], "edsr");
    CHECK(found == 5);
}

int main(void)
{
    ed_set_num_threads(2);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) check_arch(&cases[k], (int)k);
    check_bad_configs();
    return check_done();
}
