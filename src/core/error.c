/* Status codes and the thread-local last-error message. */
#include "ed_internal.h"

#include <stdio.h>

static _Thread_local char last_error[1024];

const char *ed_last_error(void) { return last_error; }
void ed_clear_error(void) { last_error[0] = '\0'; }

ed_status ed__err(ed_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return s;
}

const char *ed_status_name(ed_status s)
{
    switch (s) {
    case ED_OK: return "ok";
    case ED_E_ARG: return "invalid argument";
    case ED_E_SHAPE: return "shape mismatch";
    case ED_E_DTYPE: return "wrong dtype";
    case ED_E_RANGE: return "value out of range";
    case ED_E_NOMEM: return "out of memory";
    case ED_E_IO: return "i/o error";
    case ED_E_FORMAT: return "bad file format";
    case ED_E_NAN: return "non-finite value";
    case ED_E_STATE: return "invalid state";
    case ED_E_UNSUPPORTED: return "unsupported";
    }
    return "unknown status";
}

const char *ed__shape_str(const ed_tensor *t, char *buf)
{
    if (!t) { snprintf(buf, ED_SHAPE_BUF, "(null)"); return buf; }
    int n = snprintf(buf, ED_SHAPE_BUF, "(");
    for (int i = 0; i < t->ndim && n < ED_SHAPE_BUF - 24; i++)
        n += snprintf(buf + n, (size_t)(ED_SHAPE_BUF - n), i ? ", %lld" : "%lld", (long long)t->shape[i]);
    snprintf(buf + n, (size_t)(ED_SHAPE_BUF - n), t->ndim == 1 ? ",)" : ")");
    return buf;
}

ed_status ed__check_tensor(const ed_tensor *t, const char *op, const char *what)
{
    if (!t) return ed__err(ED_E_ARG, "%s: %s is NULL", op, what);
    return ed__materialise(t);   /* an op about to read a deferred tensor's data */
}

ed_status ed__check_float(const ed_tensor *t, const char *op, const char *what)
{
    ED_TRY(ed__check_tensor(t, op, what));
    if (t->dtype != ED_F32 && t->dtype != ED_F64)
        return ed__err(ED_E_DTYPE, "%s: %s must be float32 or float64, got %s", op, what, ed_dtype_name(t->dtype));
    return ED_OK;
}

ed_status ed__check_ndim(const ed_tensor *t, int ndim, const char *op, const char *what, const char *layout)
{
    ED_TRY(ed__check_tensor(t, op, what));
    if (t->ndim != ndim) {
        char b[ED_SHAPE_BUF];
        return ed__err(ED_E_SHAPE, "%s: %s must be %d-D %s, got shape %s", op, what, ndim, layout, ed__shape_str(t, b));
    }
    return ED_OK;
}

ed_status ed__check_same_dtype(const ed_tensor *a, const ed_tensor *b, const char *op)
{
    if (a->dtype != b->dtype)
        return ed__err(ED_E_DTYPE, "%s: dtypes differ (%s and %s)", op, ed_dtype_name(a->dtype), ed_dtype_name(b->dtype));
    return ED_OK;
}

ed_status ed__check_same_shape(const ed_tensor *a, const ed_tensor *b, const char *op)
{
    bool same = a->ndim == b->ndim;
    for (int i = 0; same && i < a->ndim; i++) same = a->shape[i] == b->shape[i];
    if (!same) {
        char s1[ED_SHAPE_BUF], s2[ED_SHAPE_BUF];
        return ed__err(ED_E_SHAPE, "%s: shapes differ: %s and %s", op, ed__shape_str(a, s1), ed__shape_str(b, s2));
    }
    return ED_OK;
}

ed_status ed__check_channel_param(const ed_tensor *t, const ed_tensor *x, int64_t C, const char *op, const char *what)
{
    if (!t) return ED_OK;
    ED_TRY(ed__check_float(t, op, what));
    if (t->dtype != x->dtype)
        return ed__err(ED_E_DTYPE, "%s: %s must have the input's dtype %s, got %s", op, what, ed_dtype_name(x->dtype),
                       ed_dtype_name(t->dtype));
    if (t->numel != C) {
        char b[ED_SHAPE_BUF];
        return ed__err(ED_E_SHAPE, "%s: %s should contain %lld elements (the channels of the input), got shape %s", op,
                       what, (long long)C, ed__shape_str(t, b));
    }
    return ED_OK;
}
