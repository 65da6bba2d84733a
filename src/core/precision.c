/* The conv precision setting (include/encdec/precision.h). Only the oneDNN
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
