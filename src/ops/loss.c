/* Loss arguments and the reduction shared by every loss (see loss.h).
 *
 * Defaults are PyTorch's: reduction mean, no class/element weight,
 * ignore_index -100, label_smoothing 0, no pos_weight, beta 1 (smooth L1),
 * smooth 1 (Dice). A loss that comes out NaN or infinite is an error
 * (ED_E_NAN) rather than a value: training on it would silently poison every
 * parameter, and the message can say where the first bad term is. */
#include "ops/loss.h"

#include <math.h>
#include <stdio.h>

void ed_loss_args_default(ed_loss_args *a)
{
    if (!a) return;
    memset(a, 0, sizeof *a);
    a->reduction = ED_REDUCTION_MEAN;
    a->weight = NULL;
    a->ignore_index = -100;
    a->label_smoothing = 0.0;
    a->pos_weight = NULL;
    a->beta = 1.0;
    a->smooth = 1.0;
}

ed_status ed__loss_args(const ed_loss_args *args, const char *op, ed_loss_args *out)
{
    if (args) *out = *args;
    else ed_loss_args_default(out);
    if (out->reduction != ED_REDUCTION_MEAN && out->reduction != ED_REDUCTION_SUM && out->reduction != ED_REDUCTION_NONE)
        return ed__err(ED_E_ARG, "%s: reduction must be mean, sum or none, got %d", op, (int)out->reduction);
    return ED_OK;
}

double ed__loss_sum(const double *v, int64_t n)
{
    int64_t nch = (n + ED_LOSS_CHUNK - 1) / ED_LOSS_CHUNK;
    if (nch <= 1) {
        double s = 0;
        for (int64_t i = 0; i < n; i++) s += v[i];
        return s;
    }
    double *part = ed__scratch((size_t)nch * sizeof(double));
    double s = 0;
    if (!part) {   /* same chunks, one thread: the same bits */
        for (int64_t c = 0; c < nch; c++) {
            double p = 0;
            int64_t e = (c + 1) * ED_LOSS_CHUNK < n ? (c + 1) * ED_LOSS_CHUNK : n;
            for (int64_t i = c * ED_LOSS_CHUNK; i < e; i++) p += v[i];
            s += p;
        }
        return s;
    }
    ED_PARALLEL_FOR_IF(nch > 4)
    for (int64_t c = 0; c < nch; c++) {
        double p = 0;
        int64_t e = (c + 1) * ED_LOSS_CHUNK < n ? (c + 1) * ED_LOSS_CHUNK : n;
        for (int64_t i = c * ED_LOSS_CHUNK; i < e; i++) p += v[i];
        part[c] = p;
    }
    for (int64_t c = 0; c < nch; c++) s += part[c];
    ed__scratch_free(part);
    return s;
}

const char *ed__loss_pos(int64_t i, int ndim, const int64_t *shape, char *buf)
{
    int64_t idx[ED_MAX_DIMS];
    for (int d = ndim - 1; d >= 0; d--) {
        idx[d] = shape[d] > 0 ? i % shape[d] : 0;
        i = shape[d] > 0 ? i / shape[d] : 0;
    }
    int len = snprintf(buf, ED_SHAPE_BUF, "[");
    for (int d = 0; d < ndim && len < ED_SHAPE_BUF; d++)
        len += snprintf(buf + len, (size_t)(ED_SHAPE_BUF - len), "%s%lld", d ? ", " : "", (long long)idx[d]);
    if (len < ED_SHAPE_BUF) snprintf(buf + len, (size_t)(ED_SHAPE_BUF - len), "]");
    return buf;
}

static const char *nan_or_inf(double v) { return isnan(v) ? "NaN" : "infinite"; }

ed_status ed__loss_output(const char *op, ed_dtype dt, ed_reduction red, const double *v, int ndim,
                          const int64_t *shape, double denom, ed_tensor **out)
{
    *out = NULL;
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    char pos[ED_SHAPE_BUF];
    if (red != ED_REDUCTION_NONE) {
        double s = ed__loss_sum(v, n);
        if (red == ED_REDUCTION_MEAN) s /= denom;
        /* the float32 result may overflow where the double did not */
        double r = dt == ED_F32 ? (double)(float)s : s;
        if (!isfinite(r)) {
            for (int64_t i = 0; i < n; i++)
                if (!isfinite(v[i]))
                    return ed__err(ED_E_NAN, "%s: loss is %s: the term at %s is %s (NaN or inf in the input?)", op,
                                   nan_or_inf(r), ed__loss_pos(i, ndim, shape, pos), nan_or_inf(v[i]));
            if (red == ED_REDUCTION_MEAN && n == 0)
                return ed__err(ED_E_NAN, "%s: loss is NaN: the mean of an empty input", op);
            return ed__err(ED_E_NAN, "%s: loss is %s (sum %g over %lld terms, divided by %g)", op, nan_or_inf(r), s,
                           (long long)n, denom);
        }
        ED_TRY(ed__alloc(dt, 0, NULL, out));
        ed__set(*out, 0, r);
        return ED_OK;
    }
    for (int64_t i = 0; i < n; i++) {
        double r = dt == ED_F32 ? (double)(float)v[i] : v[i];
        if (!isfinite(r))
            return ed__err(ED_E_NAN, "%s: loss is %s at %s (NaN or inf in the input?)", op, nan_or_inf(r),
                           ed__loss_pos(i, ndim, shape, pos));
    }
    ed_tensor *y;
    ED_TRY(ed__alloc(dt, ndim, shape, &y));
    if (dt == ED_F32) {
        float *p = ed__f32(y);
        ED_PARALLEL_FOR_IF(n > 32768)
        for (int64_t i = 0; i < n; i++) p[i] = (float)v[i];
    } else {
        memcpy(y->data, v, (size_t)n * sizeof(double));
    }
    *out = y;
    return ED_OK;
}
