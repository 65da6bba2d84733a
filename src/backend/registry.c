/* Backend kernels: a faster implementation registers itself for an op and
 * a pass, with a supports() check; ops ask ed_backend_find() and fall back
 * to their reference kernel, which stays the oracle in tests. */
#include "core/ed_internal.h"

#include <pthread.h>

#define MAX_KERNELS 128

static const ed_kernel *kernels[MAX_KERNELS];
static int n_kernels;
static bool enabled = true;

/* The library's own backends, registered once on first use, in a fixed
 * order: later ones win where both support a call. Calling them from here
 * (not from constructors) keeps their objects in static links and makes
 * the order independent of link order. */
#ifdef ENCDEC_HAVE_ONEDNN
void ed__onednn_register(void);
#endif
void ed__fast_pool_register(void);
void ed__deconv_s2_register(void);
void ed__conv_head_register(void);

static pthread_once_t builtin_once = PTHREAD_ONCE_INIT;
static _Thread_local bool in_builtin;   /* pthread_once must not be re-entered */

static void register_builtin(void)
{
    in_builtin = true;
#ifdef ENCDEC_HAVE_ONEDNN
    ed__onednn_register();
#endif
    ed__fast_pool_register();
    ed__deconv_s2_register();   /* after oneDNN: tried first where both apply */
    ed__conv_head_register();
    in_builtin = false;
}

static void ensure_builtin(void) { pthread_once(&builtin_once, register_builtin); }

static ed_status register_kernel(const ed_kernel *k)
{
    if (n_kernels >= MAX_KERNELS) return ed__err(ED_E_NOMEM, "backend: kernel table full");
    kernels[n_kernels++] = k;
    return ED_OK;
}

ed_status ed_backend_register(const ed_kernel *k)
{
    /* The built-in backends go first, so a kernel registered by a user or a
     * test is newer and takes precedence. */
    if (!in_builtin) ensure_builtin();
    return register_kernel(k);
}

const ed_kernel *ed_backend_find(ed_op op, ed_pass pass, const void *params, ed_tensor *const *tensors)
{
    ensure_builtin();
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
