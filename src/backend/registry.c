/* Backend kernels: a faster implementation registers itself for an op and
 * a pass, with a supports() check; ops ask ed_backend_find() and fall back
 * to their reference kernel, which stays the oracle in tests. */
#include "core/ed_internal.h"

#define MAX_KERNELS 128

static const ed_kernel *kernels[MAX_KERNELS];
static int n_kernels;
static bool enabled = true;

ed_status ed_backend_register(const ed_kernel *k)
{
    if (n_kernels >= MAX_KERNELS) return ed__err(ED_E_NOMEM, "backend: kernel table full");
    kernels[n_kernels++] = k;
    return ED_OK;
}

const ed_kernel *ed_backend_find(ed_op op, ed_pass pass, const void *params, ed_tensor *const *tensors)
{
    if (!enabled) return NULL;
    /* Newest first: a kernel registered later (a test's probe, a more
     * specialised backend) takes precedence over earlier ones. */
    for (int i = n_kernels - 1; i >= 0; i--) {
        const ed_kernel *k = kernels[i];
        if (k->op == op && k->pass == pass && (!k->supports || k->supports(params, tensors))) return k;
    }
    return NULL;
}

void ed_backend_set_enabled(bool on) { enabled = on; }
