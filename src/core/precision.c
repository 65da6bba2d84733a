/* The conv precision and algorithm settings (include/encdec/precision.h). Only the oneDNN
 * backend reads it (src/backend/onednn/conv.c); the reference kernels always
 * compute in the tensors' dtype, so a build without oneDNN accepts the
 * setting and stays float32. An atomic, so reading it from kernels running
 * while another thread sets it is defined (the documented rule is still:
 * not while a convolution runs). */
#include "core/ed_internal.h"

#include <stdatomic.h>

static atomic_int precision = ED_PRECISION_F32;

ed_status ed_set_conv_precision(ed_precision p)
{
    if (p != ED_PRECISION_F32 && p != ED_PRECISION_BF16)
        return ed__err(ED_E_ARG, "set_conv_precision: precision must be ED_PRECISION_F32 or ED_PRECISION_BF16, got %d",
                       (int)p);
    atomic_store(&precision, (int)p);
    return ED_OK;
}

ed_precision ed_get_conv_precision(void) { return (ed_precision)atomic_load(&precision); }

static atomic_int algo = ED_CONV_ALGO_DIRECT;

ed_status ed_set_conv_algo(ed_conv_algo a)
{
    if (a != ED_CONV_ALGO_DIRECT && a != ED_CONV_ALGO_WINOGRAD)
        return ed__err(ED_E_ARG, "set_conv_algo: algorithm must be ED_CONV_ALGO_DIRECT or ED_CONV_ALGO_WINOGRAD, got %d",
                       (int)a);
    atomic_store(&algo, (int)a);
    return ED_OK;
}

ed_conv_algo ed_get_conv_algo(void) { return (ed_conv_algo)atomic_load(&algo); }
