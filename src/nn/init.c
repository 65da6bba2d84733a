/* Initialisers, as torch.nn.init, drawing from an ed_rng stream (so the
 * values differ from torch's generator; the distributions are the same).
 *
 *   fans (torch.nn.init._calculate_fan_in_and_fan_out): t has >= 2 dims;
 *     receptive = prod(shape[2:]); fan_in = shape[1] * receptive,
 *     fan_out = shape[0] * receptive. The same formula for a transposed
 *     convolution's (Cin, Cout/groups, kH, kW) weight, as torch.
 *   gain (calculate_gain): linear, sigmoid 1; tanh 5/3; relu sqrt(2);
 *     leaky_relu sqrt(2 / (1 + a^2)) with a the negative slope.
 *   kaiming: std = gain / sqrt(fan); uniform bound sqrt(3) * std.
 *   xavier: std = gain * sqrt(2 / (fan_in + fan_out)); uniform bound sqrt(3) * std.
 *   torch default (Conv2d, ConvTranspose2d, Linear reset_parameters): weight
 *     kaiming_uniform with a = sqrt(5) (bound 1/sqrt(fan_in)); bias
 *     U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with the weight's fan_in.
 * An empty tensor is left as it is (torch warns and returns). */
#include "core/ed_internal.h"

#include <math.h>

ed_status ed_init_fans(const ed_tensor *t, int64_t *fan_in, int64_t *fan_out)
{
    ED_TRY(ed__check_tensor(t, "init", "tensor"));
    if (t->ndim < 2) {
        char b[ED_SHAPE_BUF];
        return ed__err(ED_E_SHAPE, "init: fan in and fan out can not be computed for a tensor with fewer than 2 dimensions (shape %s)",
                       ed__shape_str(t, b));
    }
    int64_t receptive = 1;
    for (int d = 2; d < t->ndim; d++) receptive *= t->shape[d];
    if (fan_in) *fan_in = t->shape[1] * receptive;
    if (fan_out) *fan_out = t->shape[0] * receptive;
    return ED_OK;
}

static ed_status gain_of(ed_nonlinearity nl, double a, double *gain)
{
    switch (nl) {
    case ED_NL_LINEAR: case ED_NL_SIGMOID: *gain = 1.0; return ED_OK;
    case ED_NL_TANH: *gain = 5.0 / 3.0; return ED_OK;
    case ED_NL_RELU: *gain = sqrt(2.0); return ED_OK;
    case ED_NL_LEAKY_RELU: *gain = sqrt(2.0 / (1.0 + a * a)); return ED_OK;
    }
    return ed__err(ED_E_ARG, "init: unknown nonlinearity %d", (int)nl);
}

ed_status ed_init_uniform(ed_tensor *t, double lo, double hi, ed_rng *rng)
{
    ED_TRY(ed__check_float(t, "init_uniform", "tensor"));
    if (!rng) return ed__err(ED_E_ARG, "init_uniform: rng is NULL");
    if (!(lo <= hi) || !isfinite(lo) || !isfinite(hi))
        return ed__err(ED_E_ARG, "init_uniform: expects a finite range [lo, hi), got lo=%g, hi=%g", lo, hi);
    return ed_rng_fill_uniform(rng, t, lo, hi);
}

ed_status ed_init_normal(ed_tensor *t, double mean, double std, ed_rng *rng)
{
    ED_TRY(ed__check_float(t, "init_normal", "tensor"));
    if (!rng) return ed__err(ED_E_ARG, "init_normal: rng is NULL");
    if (!(std >= 0) || !isfinite(std) || !isfinite(mean))
        return ed__err(ED_E_ARG, "init_normal: expects a finite mean and std >= 0, got mean=%g, std=%g", mean, std);
    return ed_rng_fill_normal(rng, t, mean, std);
}

ed_status ed_init_constant(ed_tensor *t, double v)
{
    ED_TRY(ed__check_float(t, "init_constant", "tensor"));
    return ed_tensor_fill(t, v);
}

static ed_status kaiming_std(const ed_tensor *t, double a, ed_fan_mode mode, ed_nonlinearity nl, const char *op, double *std)
{
    ED_TRY(ed__check_float(t, op, "tensor"));
    if (mode != ED_FAN_IN && mode != ED_FAN_OUT) return ed__err(ED_E_ARG, "%s: unknown fan mode %d", op, (int)mode);
    int64_t fi, fo;
    ED_TRY(ed_init_fans(t, &fi, &fo));
    double gain = 1.0;
    ED_TRY(gain_of(nl, a, &gain));
    int64_t fan = mode == ED_FAN_IN ? fi : fo;
    *std = fan > 0 ? gain / sqrt((double)fan) : 0.0;
    return ED_OK;
}

ed_status ed_init_kaiming_uniform(ed_tensor *t, double a, ed_fan_mode mode, ed_nonlinearity nl, ed_rng *rng)
{
    double std = 0.0;
    ED_TRY(kaiming_std(t, a, mode, nl, "init_kaiming_uniform", &std));
    if (t->numel == 0) return ED_OK;
    double bound = sqrt(3.0) * std;
    return ed_init_uniform(t, -bound, bound, rng);
}

ed_status ed_init_kaiming_normal(ed_tensor *t, double a, ed_fan_mode mode, ed_nonlinearity nl, ed_rng *rng)
{
    double std = 0.0;
    ED_TRY(kaiming_std(t, a, mode, nl, "init_kaiming_normal", &std));
    if (t->numel == 0) return ED_OK;
    return ed_init_normal(t, 0.0, std, rng);
}

static ed_status xavier_std(const ed_tensor *t, double gain, const char *op, double *std)
{
    ED_TRY(ed__check_float(t, op, "tensor"));
    if (!isfinite(gain)) return ed__err(ED_E_ARG, "%s: gain is %g", op, gain);
    int64_t fi, fo;
    ED_TRY(ed_init_fans(t, &fi, &fo));
    *std = fi + fo > 0 ? gain * sqrt(2.0 / (double)(fi + fo)) : 0.0;
    return ED_OK;
}

ed_status ed_init_xavier_uniform(ed_tensor *t, double gain, ed_rng *rng)
{
    double std = 0.0;
    ED_TRY(xavier_std(t, gain, "init_xavier_uniform", &std));
    if (t->numel == 0) return ED_OK;
    double bound = sqrt(3.0) * fabs(std);
    return ed_init_uniform(t, -bound, bound, rng);
}

ed_status ed_init_xavier_normal(ed_tensor *t, double gain, ed_rng *rng)
{
    double std = 0.0;
    ED_TRY(xavier_std(t, gain, "init_xavier_normal", &std));
    if (t->numel == 0) return ED_OK;
    return ed_init_normal(t, 0.0, fabs(std), rng);
}

ed_status ed_init_torch_default(ed_tensor *weight, ed_tensor *bias, ed_rng *rng)
{
    ED_TRY(ed_init_kaiming_uniform(weight, sqrt(5.0), ED_FAN_IN, ED_NL_LEAKY_RELU, rng));
    if (!bias) return ED_OK;
    ED_TRY(ed__check_float(bias, "init_torch_default", "bias"));
    if (bias->ndim != 1) {
        char b[ED_SHAPE_BUF];
        return ed__err(ED_E_SHAPE, "init_torch_default: bias must be 1-D, got shape %s", ed__shape_str(bias, b));
    }
    int64_t fan_in;
    ED_TRY(ed_init_fans(weight, &fan_in, NULL));
    if (fan_in <= 0) return ED_OK;   /* torch leaves the bias alone */
    double bound = 1.0 / sqrt((double)fan_in);
    return ed_init_uniform(bias, -bound, bound, rng);
}
