/* What the oneDNN kernels share: one CPU engine and stream, a cache of
 * ready-to-run primitives keyed by shape and parameters, and grow-only
 * workspaces, so that after the first call of each shape nothing is
 * allocated.
 *
 * A cached entry ("odnn_prim") is one oneDNN primitive plus, for each of its
 * arguments, the user's plain layout (NCHW, OIHW...) and the layout the
 * primitive chose (format_tag any: usually blocked, e.g. nChw16c). Where the
 * two differ, running the entry reorders inputs into a workspace before the
 * primitive and outputs back after it. Outputs marked "accumulate" always go
 * through a workspace and come back through a reorder with a sum post-op,
 * which is how the backward kernels add (+=) into gradients.
 *
 * Threads: Debian's libdnnl uses the OpenMP runtime (libgomp), the same one
 * as the library, so there is one thread pool. oneDNN takes its thread count
 * from omp_get_max_threads(); odnn_run sets it to ed_get_num_threads() for
 * the call and restores it after. Primitives are created under the same
 * setting (oneDNN's JIT blocking depends on it), so the thread count is part
 * of the cache key.
 *
 * Not re-entrant across threads: one mutex serialises every oneDNN call (the
 * workspaces are shared). */
#ifndef ED_BACKEND_ONEDNN_COMMON_H
#define ED_BACKEND_ONEDNN_COMMON_H

#include "core/ed_internal.h"

#include <oneapi/dnnl/dnnl.h>

#define ODNN_MAX_ARGS 10

typedef struct odnn_arg {
    int arg;                      /* DNNL_ARG_SRC, ... */
    bool output;
    bool accumulate;              /* output only: user += result */
    bool cache;                   /* input only: a weight whose reordered copy is kept (see below) */
    int ws;                       /* workspace slot when reordered */
    bool shared_ws;               /* input: reorder into ODNN_WS_SHARED, so the next call can take it (odnn_run_pre) */
    dnnl_memory_desc_t user_md;
    dnnl_memory_desc_t prim_md;
    dnnl_primitive_t reorder;     /* user->prim (input) or prim->user (output); NULL if none */
    dnnl_memory_t user_mem, prim_mem;
    int fast;                     /* ODNN_FAST_*: the reorder runs as layout.c's loop */
    dnnl_memory_t reorder_scratch;   /* a cached weight's reorder's scratchpad (Winograd's transform), or NULL */
    int64_t fn, fc, fhw;          /* its N, C, H*W */
} odnn_arg;

enum { ODNN_FAST_NONE, ODNN_FAST_TO_NHWC_F32, ODNN_FAST_TO_NHWC_BF16, ODNN_FAST_FROM_NHWC, ODNN_FAST_ADD };

/* layout.c: NCHW float32 <-> NHWC ("acdb") activations, see there. */
void odnn_to_nhwc(const float *src, void *dst, int64_t N, int64_t C, int64_t HW, bool bf16);
void odnn_to_nhwc_ld(const float *src, void *dst, int64_t N, int64_t C, int64_t ld, int64_t HW, bool bf16);
void odnn_from_nhwc(const float *src, float *dst, int64_t N, int64_t C, int64_t HW, bool accumulate);
/* dst[i] += src[i], i < n (a same-layout output added into the user's buffer). */
void odnn_add(const float *src, float *dst, int64_t n);

typedef struct odnn_prim {
    dnnl_primitive_t prim;
    int n_args;
    odnn_arg args[ODNN_MAX_ARGS];
    size_t scratch_bytes;
    dnnl_memory_t scratch_mem;
} odnn_prim;

/* Cache key: a plain struct, compared with memcmp, so zero it first. */
#define ODNN_KEY_WORDS 40
typedef struct odnn_key {
    int64_t w[ODNN_KEY_WORDS];
} odnn_key;

/* Builds a primitive for a key: fills p->prim and the args (user_md, prim_md,
 * output, accumulate); odnn_cache_get does the reorders and memories. Returns
 * false when oneDNN cannot do it. */
typedef bool (*odnn_build_fn)(const odnn_key *key, dnnl_engine_t eng, odnn_prim *p);

/* The cached entry for key (built on first use), or NULL when the build
 * failed (then the reference kernel runs). Call with the lock held. */
odnn_prim *odnn_cache_get(const odnn_key *key, odnn_build_fn build);
/* Runs an entry; data[i] is the user buffer of args[i] (NULL skips an
 * optional argument only if the entry was built without it). */
ed_status odnn_run(odnn_prim *p, void *const *data, const char *op);
/* The same; pre[i] (pre may be NULL), when not NULL, is input i already in
 * the entry's layout (args[i].prim_md): its reorder is skipped; for an
 * output that is not accumulated, the primitive writes there in its layout
 * and nothing is written to data[i]. */
ed_status odnn_run_pre(odnn_prim *p, void *const *data, void *const *pre, const char *op);
/* The same for a convolution whose cached weight (the one input marked
 * "cache", O rows) is to be used folded, ed__conv_scale_weight(w, s): the
 * fold is made with the reorder on a cache miss, and s joins the
 * fingerprint, so a call costs no more than an unfolded one. */
ed_status odnn_run_scaled(odnn_prim *p, void *const *data, const double *s, int64_t O, const char *op);
/* Both: pre as odnn_run_pre, s (may be NULL) as odnn_run_scaled. */
ed_status odnn_run_pre_scaled(odnn_prim *p, void *const *data, void *const *pre, const double *s, int64_t O,
                              const char *op);
/* Input i of p (an input that p reorders, not a cached weight) reordered
 * from user into dst (dnnl_memory_desc_get_size(&p->args[i].prim_md)
 * bytes) as a run would; false if i is not such an input or it failed.
 * The copy can be passed to a later odnn_run_pre as pre[i]. */
bool odnn_input_to(odnn_prim *p, int i, const void *user, void *dst);
/* Input i of p's last run as reordered into the shared slot (args[i]
 * built with shared_ws), valid until the next run that writes that slot;
 * NULL when it was not reordered. */
void *odnn_shared_input(const odnn_prim *p, int i);

void odnn_lock(void);
void odnn_unlock(void);
dnnl_engine_t odnn_engine(void);   /* NULL if oneDNN failed to start */

/* Helpers for builders. odnn_md is float32; odnn_md_dt any data type. */
void odnn_md(dnnl_memory_desc_t *md, int ndims, const int64_t *dims, dnnl_format_tag_t tag);
void odnn_md_dt(dnnl_memory_desc_t *md, int ndims, const int64_t *dims, dnnl_data_type_t dt, dnnl_format_tag_t tag);
/* A primitive attribute with user scratchpad mode (the caller destroys it). */
dnnl_primitive_attr_t odnn_attr(void);
/* Records the scratchpad a primitive descriptor asks for. */
bool odnn_set_scratch(odnn_prim *p, const_dnnl_primitive_desc_t pd);

/* The weight cache. An input argument marked "cache" (convolution weights)
 * keeps its reordered (blocked, maybe bf16) copy between calls, so weights
 * are reordered once per optimizer step, not once per call. An entry is
 * keyed by (user data pointer, primitive memory descriptor: dims, data type,
 * format) and is reused only when a fingerprint of the user's bytes, taken
 * at every call, equals the one taken when the copy was made. So a weight
 * changed by anything (ed_optim_step, ed_params_load, ed_model_init, a write
 * through ed_tensor_data, a freed tensor whose address is reused) is
 * reordered again: no generation counter to forget to bump. The fingerprint
 * is 32 lanes of a 64-bit multiply-xorshift chain over 8-byte words (AVX-512
 * where present, same values without), each step a bijection, so changing
 * any single word always changes it; the lanes are folded into 4 words by
 * xor, and other changes escape only if those collide (about 2^-256 for
 * unrelated data). It costs one read of the weights at memory speed, in
 * parallel pieces (about 30 MB a forward pass for unet32), far less than a
 * reorder. A folded weight (odnn_run_scaled) has its scales fingerprinted
 * too. Two shortcuts skip the weight's read where the tensor says enough
 * (odnn_weight_tensor): a version the optimizer moved means stale (the copy
 * is remade; its fingerprint is then unknown, so the next undecided use
 * fingerprints and remakes), and a frozen model's weight checked once under
 * its freeze is trusted. Neither can serve a stale copy for a change the
 * fingerprint would have seen, except a write through ed_tensor_data into a
 * frozen model, which freezing forbids.
 * Bounded: 256 entries and 512 MiB, then emptied. */
void odnn_weight_cache_clear(void);
/* The weight tensor behind the next runs' cached weight (NULL: none), so
 * the cache can use what it says of itself: a frozen weight (ed_tensor.
 * frozen) checked under that freeze is not fingerprinted again; a weight
 * whose version (ed_tensor.version) moved since its copy was made is stale
 * for sure and reordered without being fingerprinted first. Every other
 * case is decided by the fingerprint, as without it. Call with the lock
 * held; NULL when the runs are done. */
void odnn_weight_tensor(const ed_tensor *w);
/* Since the last clear: hits served without a fingerprint of the weight
 * (frozen), and misses decided without one (version moved). */
int64_t odnn_weight_cache_trusted_hits(void);
int64_t odnn_weight_cache_moved_misses(void);
/* Counters since the last clear, for tests. */
void odnn_weight_cache_stats(int64_t *hits, int64_t *misses);

/* Kernel registration, one per source file; called once at load. */
void ed__onednn_register_conv(void);
void ed__onednn_register_bn(void);
/* The batch_norm kernels, which are not registered (batch_norm.c says why). */
const ed_kernel *odnn_bn_kernel(ed_pass pass);
void ed__onednn_register_eltwise(void);
void ed__onednn_register_cbr(void);     /* conv_bn_relu.c */
void ed__onednn_register_chain(void);   /* conv_chain.c */
void ed__onednn_register_graph(void);   /* infer_graph.c */
void ed__onednn_register_up2(void);     /* deconv_up2.c */
void ed__onednn_register_cat_feed(void);   /* cat_feed.c */

#endif
