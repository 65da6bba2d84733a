/* The oneDNN backend's shared machinery: engine, primitive cache,
 * workspaces, execution with reorders at the edges. See onednn_common.h.
 *
 * Registration: src/backend/registry.c calls ed__onednn_register() once,
 * on the first backend lookup, before the faster special-case kernels of
 * src/backend/fast/ (which therefore take precedence). The engine is
 * created lazily on the first supports() call, so loading the library
 * costs nothing. */
#include "backend/onednn/onednn_common.h"
#include "ops/conv_common.h"

#include <pthread.h>
#include <stdlib.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

#define CACHE_SIZE 1024          /* power of two */
#define N_WS (ODNN_MAX_ARGS + 2) /* one per argument position + the shared slot + scratchpad */
#define WS_SHARED (N_WS - 2)

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;
static dnnl_engine_t engine;
static dnnl_stream_t stream;

typedef struct {
    bool used, failed;
    odnn_key key;
    odnn_prim *p;
} slot;
static slot cache[CACHE_SIZE];

/* Grow-only workspaces shared by all entries: calls are serialised. */
static void *ws_buf[N_WS];
static size_t ws_size[N_WS];

void odnn_lock(void) { pthread_mutex_lock(&mu); }
void odnn_unlock(void) { pthread_mutex_unlock(&mu); }

static void engine_init(void)
{
    if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) {
        engine = NULL;
        return;
    }
    if (dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) != dnnl_success) {
        dnnl_engine_destroy(engine);
        engine = NULL;
    }
}

dnnl_engine_t odnn_engine(void)
{
    pthread_once(&engine_once, engine_init);
    return engine;
}

void odnn_md_dt(dnnl_memory_desc_t *md, int ndims, const int64_t *dims, dnnl_data_type_t dt, dnnl_format_tag_t tag)
{
    dnnl_dims_t d;
    for (int i = 0; i < ndims; i++) d[i] = dims[i];
    if (dnnl_memory_desc_init_by_tag(md, ndims, d, dt, tag) != dnnl_success) memset(md, 0, sizeof *md);
}

void odnn_md(dnnl_memory_desc_t *md, int ndims, const int64_t *dims, dnnl_format_tag_t tag)
{
    odnn_md_dt(md, ndims, dims, dnnl_f32, tag);
}

dnnl_primitive_attr_t odnn_attr(void)
{
    dnnl_primitive_attr_t a = NULL;
    if (dnnl_primitive_attr_create(&a) != dnnl_success) return NULL;
    dnnl_primitive_attr_set_scratchpad_mode(a, dnnl_scratchpad_mode_user);
    return a;
}

static void *ws_get(int i, size_t bytes)
{
    if (bytes == 0) bytes = 64;
    if (ws_size[i] < bytes) {
        ed__aligned_free(ws_buf[i]);
        ws_buf[i] = ed__aligned_alloc(bytes);
        ws_size[i] = ws_buf[i] ? bytes : 0;
    }
    return ws_buf[i];
}

static void prim_free(odnn_prim *p)
{
    if (!p) return;
    for (int i = 0; i < p->n_args; i++) {
        odnn_arg *a = &p->args[i];
        if (a->reorder) dnnl_primitive_destroy(a->reorder);
        if (a->user_mem) dnnl_memory_destroy(a->user_mem);
        if (a->prim_mem) dnnl_memory_destroy(a->prim_mem);
        if (a->reorder_scratch) dnnl_memory_destroy(a->reorder_scratch);
    }
    if (p->scratch_mem) dnnl_memory_destroy(p->scratch_mem);
    if (p->prim) dnnl_primitive_destroy(p->prim);
    free(p);
}

/* Reorders here are simple enough to need no scratchpad, except a cached
 * weight's (the Winograd weight transform needs one): for such a weight
 * (scratch not NULL) the scratchpad's memory object is made here and the
 * workspace behind it lent at each run (weight_get), so nothing is
 * allocated per call either way. */
static dnnl_primitive_t make_reorder(const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to, bool sum,
                                     dnnl_memory_t *scratch)
{
    dnnl_primitive_attr_t attr = odnn_attr();
    dnnl_post_ops_t po = NULL;
    if (!attr) return NULL;
    if (sum && dnnl_post_ops_create(&po) == dnnl_success) {
        dnnl_post_ops_append_sum(po, 1.0f);
        dnnl_primitive_attr_set_post_ops(attr, po);
        dnnl_post_ops_destroy(po);
    }
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t r = NULL;
    if (dnnl_reorder_primitive_desc_create(&pd, from, engine, to, engine, attr) == dnnl_success) {
        const dnnl_memory_desc_t *s = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
        const bool needs = s && dnnl_memory_desc_get_size(s) != 0;
        if ((!needs || (scratch && dnnl_memory_create(scratch, s, engine, DNNL_MEMORY_NONE) == dnnl_success)) &&
            dnnl_primitive_create(&r, pd) != dnnl_success)
            r = NULL;
        dnnl_primitive_desc_destroy(pd);
    }
    dnnl_primitive_attr_destroy(attr);
    return r;
}

/* Whether a's reorder is NCHW f32 <-> NHWC (f32, or bf16 inwards), or an
 * nChw16c f32 output added into a plain tensor, which layout.c does faster
 * than oneDNN's jit:uni reorder; records the kind and the sizes. (Other
 * nChw16c reorders stay with oneDNN's jit:blk, which was as fast or faster:
 * 30.6 vs 32.1 ms for a conv2d forward on 8x64x128x128, 2 threads, quiet
 * machine.) */
static void fast_kind(odnn_arg *a)
{
    const dnnl_memory_desc_t *u = &a->user_md, *q = &a->prim_md;
    if (u->ndims != 4 || u->data_type != dnnl_f32) return;
    dnnl_memory_desc_t plain, nhwc;
    odnn_md(&plain, 4, u->dims, dnnl_abcd);
    if (!dnnl_memory_desc_equal(u, &plain)) return;
    dnnl_data_type_t dt = q->data_type;
    if (dt != dnnl_f32 && !(dt == dnnl_bf16 && !a->output)) return;
    odnn_md_dt(&nhwc, 4, u->dims, dt, dnnl_acdb);
    int64_t N = u->dims[0], C = u->dims[1];
    dnnl_memory_desc_t blk16;
    odnn_md_dt(&blk16, 4, u->dims, dnnl_f32, dnnl_aBcd16b);
    if (dnnl_memory_desc_equal(q, &nhwc)) {
        a->fn = N;
        a->fc = C;
    } else if (a->output && a->accumulate && C % 16 == 0 && dnnl_memory_desc_equal(q, &blk16)) {
        /* The gradient added into a plain tensor: oneDNN's reorder with a
         * sum post-op is its slow jit:uni one (11 ms for 8x32x128x128, 1
         * thread, against 2 ms without the sum). nChw16c is NHWC of
         * (N * C / 16, 16, H, W). */
        a->fn = N * C / 16;
        a->fc = 16;
    } else {
        return;
    }
    a->fast = a->output ? ODNN_FAST_FROM_NHWC : dt == dnnl_bf16 ? ODNN_FAST_TO_NHWC_BF16 : ODNN_FAST_TO_NHWC_F32;
    a->fhw = u->dims[2] * u->dims[3];
}

/* Memories, reorders and the scratchpad for a freshly built entry. */
static bool prim_finish(odnn_prim *p)
{
    for (int i = 0; i < p->n_args; i++) {
        odnn_arg *a = &p->args[i];
        a->ws = a->shared_ws && !a->output ? WS_SHARED : i;
        bool same = dnnl_memory_desc_equal(&a->user_md, &a->prim_md);
        if (dnnl_memory_create(&a->user_mem, &a->user_md, engine, DNNL_MEMORY_NONE) != dnnl_success) return false;
        if (dnnl_memory_create(&a->prim_mem, &a->prim_md, engine, DNNL_MEMORY_NONE) != dnnl_success) return false;
        if (!same || (a->output && a->accumulate)) {
            a->reorder = a->output ? make_reorder(&a->prim_md, &a->user_md, a->accumulate, NULL)
                                   : make_reorder(&a->user_md, &a->prim_md, false, a->cache ? &a->reorder_scratch : NULL);
            if (!a->reorder) return false;
            if (same && a->prim_md.data_type == dnnl_f32) a->fast = ODNN_FAST_ADD;   /* user += result: a plain add */
            else if (!a->cache) fast_kind(a);
        }
    }
    return true;
}

static uint64_t key_hash(const odnn_key *k)
{
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < ODNN_KEY_WORDS; i++) {
        h ^= (uint64_t)k->w[i];
        h *= 1099511628211ull;
        h ^= h >> 29;
    }
    return h;
}

static int threads_now(void) { return ed_get_num_threads(); }

odnn_prim *odnn_cache_get(const odnn_key *key, odnn_build_fn build)
{
    if (!odnn_engine()) return NULL;
    uint64_t h = key_hash(key);
    for (int probe = 0; probe < CACHE_SIZE; probe++) {
        slot *s = &cache[(h + (uint64_t)probe) & (CACHE_SIZE - 1)];
        if (s->used) {
            if (memcmp(&s->key, key, sizeof *key) == 0) return s->failed ? NULL : s->p;
            continue;
        }
        odnn_prim *p = calloc(1, sizeof *p);
        bool ok = false;
        if (p) {
#ifdef _OPENMP
            int old = omp_get_max_threads();
            omp_set_num_threads(threads_now());
#endif
            ok = build(key, engine, p) && prim_finish(p);
#ifdef _OPENMP
            omp_set_num_threads(old);
#endif
        }
        if (!ok) {
            prim_free(p);
            p = NULL;
        }
        s->used = true;
        s->failed = !ok;
        s->key = *key;
        s->p = p;
        return p;
    }
    return NULL;   /* cache full: the reference kernel runs */
}

/* ---- weight cache (see onednn_common.h) ---------------------------------- */

#define WC_SLOTS 256
#define WC_MAX_BYTES ((size_t)512 << 20)

typedef struct {
    bool used, valid;
    const void *src;
    dnnl_memory_desc_t md;
    uint64_t fpw[4], fps[4];   /* fingerprints of the weight and of the folded scales (0 for none) */
    bool fpw_known;            /* fpw was taken of the bytes the copy was made from */
    uint64_t verified_gen;     /* the freeze generation under which fpw was last checked (0: none) */
    uint64_t version;          /* the weight tensor's version when the copy was made (0: unknown) */
    void *buf;
    size_t bytes;
} wslot;
static wslot wc[WC_SLOTS];
static size_t wc_bytes;
static int wc_next;
static int64_t wc_hits, wc_misses, wc_trusted, wc_moved;
static const ed_tensor *weight_tensor;

void odnn_weight_tensor(const ed_tensor *w) { weight_tensor = w; }

int64_t odnn_weight_cache_moved_misses(void)
{
    odnn_lock();
    const int64_t n = wc_moved;
    odnn_unlock();
    return n;
}

int64_t odnn_weight_cache_trusted_hits(void)
{
    odnn_lock();
    const int64_t n = wc_trusted;
    odnn_unlock();
    return n;
}

/* FP_LANES independent chains, each step h = (h ^ word) * K, h ^= h >> 31: a
 * bijection of h for a fixed word and of the word for a fixed h, so
 * changing any single 8-byte word changes its lane's final value and so
 * the result. 32 lanes keep the multiplies' latency hidden (4 AVX-512
 * vectors of 8): memory-bound, where 4 scalar lanes ran at about 5 GB/s
 * (12% of a unet32 inference at batch 1). The vector and scalar code give
 * the same values. */
#define FP_LANES 32
#define FP_K 0x9E3779B97F4A7C15ull

static void fingerprint_block(const void *p, size_t n, uint64_t seed, uint64_t out[4])
{
    const unsigned char *b = p;
    uint64_t h[FP_LANES];
    for (int l = 0; l < FP_LANES; l++) h[l] = 0x243F6A8885A308D3ull + (uint64_t)l * 0x13198A2E03707344ull + seed * FP_K;
    size_t i = 0;
#if defined(__AVX512F__) && defined(__AVX512DQ__)
    __m512i v[4], k = _mm512_set1_epi64((long long)FP_K);
    for (int j = 0; j < 4; j++) v[j] = _mm512_loadu_si512(h + 8 * j);
    for (; i + 8 * FP_LANES <= n; i += 8 * FP_LANES)
        for (int j = 0; j < 4; j++) {
            __m512i x = _mm512_mullo_epi64(_mm512_xor_si512(v[j], _mm512_loadu_si512(b + i + 64 * j)), k);
            v[j] = _mm512_xor_si512(x, _mm512_srli_epi64(x, 31));
        }
    for (int j = 0; j < 4; j++) _mm512_storeu_si512(h + 8 * j, v[j]);
#endif
    for (; i + 8 * FP_LANES <= n; i += 8 * FP_LANES)
        for (int l = 0; l < FP_LANES; l++) {
            uint64_t w;
            memcpy(&w, b + i + 8 * l, 8);
            h[l] = (h[l] ^ w) * FP_K;
            h[l] ^= h[l] >> 31;
        }
    /* The tail (under 256 bytes), zero-padded, then the length. */
    uint64_t w[FP_LANES] = { 0 };
    memcpy(w, b + i, n - i);
    for (int l = 0; l < FP_LANES; l++) {
        h[l] = (h[l] ^ w[l] ^ (uint64_t)n) * FP_K;
        h[l] ^= h[l] >> 31;
    }
    /* out[q] = xor of lanes q, q + 4, ...: a change in one lane shows. */
    for (int q = 0; q < 4; q++) {
        out[q] = 0;
        for (int l = q; l < FP_LANES; l += 4) out[q] ^= h[l];
    }
}

/* Above FP_PIECE bytes, pieces of FP_PIECE (more for weights over 256
 * MiB: at most FP_MAX_PIECES) are hashed in parallel, each with its index
 * as seed, and their digests hashed in order: the same value whatever the
 * thread count, and a change in any word still changes its piece's digest
 * and so the result. A unet32 forward fingerprints 31 MB of weights: 4 ms
 * at one thread, a sixth of a batch-1 inference. */
#define FP_PIECE ((size_t)256 << 10)
#define FP_MAX_PIECES 1024

static void fingerprint(const void *p, size_t n, uint64_t out[4])
{
    if (n <= FP_PIECE) {
        fingerprint_block(p, n, 0, out);
        return;
    }
    size_t piece = FP_PIECE;
    if ((n + piece - 1) / piece > FP_MAX_PIECES) piece = (n + FP_MAX_PIECES - 1) / FP_MAX_PIECES;
    const int64_t pieces = (int64_t)((n + piece - 1) / piece);
    uint64_t d[FP_MAX_PIECES][4];
    ED_PARALLEL_FOR
    for (int64_t c = 0; c < pieces; c++) {
        const size_t lo = (size_t)c * piece, len = n - lo < piece ? n - lo : piece;
        fingerprint_block((const unsigned char *)p + lo, len, (uint64_t)c + 1, d[c]);
    }
    fingerprint_block(d, (size_t)pieces * sizeof d[0], (uint64_t)n, out);
}

void odnn_weight_cache_clear(void)
{
    for (int i = 0; i < WC_SLOTS; i++) {
        ed__aligned_free(wc[i].buf);
        memset(&wc[i], 0, sizeof wc[i]);
    }
    wc_bytes = 0;
    wc_next = 0;
    wc_hits = wc_misses = wc_trusted = wc_moved = 0;
}

void odnn_weight_cache_stats(int64_t *hits, int64_t *misses)
{
    odnn_lock();
    *hits = wc_hits;
    *misses = wc_misses;
    odnn_unlock();
}

/* The reordered copy of a's user data, made now unless a valid one exists. */
static void *weight_get(odnn_arg *a, const void *user, const double *scale, int64_t n_scale, bool *ok)
{
    const size_t user_bytes = dnnl_memory_desc_get_size(&a->user_md);
    /* The scales have their own fingerprint (zero without them): an
     * unscaled use of the same weight then differs, and its copy is made
     * again. */
    uint64_t fw[4], fs[4] = { 0 };
    if (scale) fingerprint(scale, (size_t)n_scale * sizeof *scale, fs);
    wslot *s = NULL;
    for (int i = 0; i < WC_SLOTS && !s; i++)
        if (wc[i].used && wc[i].src == user && dnnl_memory_desc_equal(&wc[i].md, &a->prim_md)) s = &wc[i];
    const ed_tensor *wt = weight_tensor && weight_tensor->data == user ? weight_tensor : NULL;
    const uint64_t gen = wt ? wt->frozen : 0, ver = wt ? wt->version : 0;
    if (gen && s && s->valid && s->fpw_known && s->verified_gen == gen && memcmp(s->fps, fs, sizeof fs) == 0) {
        wc_hits++;
        wc_trusted++;   /* frozen since the last check: no read of the weight */
        return s->buf;
    }
    /* Updated by the optimizer since the copy was made: stale for sure,
     * so no fingerprint (each training step's misses read the weights
     * once, for the reorder, instead of twice). */
    const bool moved = ver && s && s->version && s->version != ver;
    if (moved) wc_moved++;
    if (!moved) {
        fingerprint(user, user_bytes, fw);
        if (s && s->valid && s->fpw_known && memcmp(s->fpw, fw, sizeof fw) == 0 &&
            memcmp(s->fps, fs, sizeof fs) == 0) {
            wc_hits++;
            s->verified_gen = gen;
            s->version = ver;
            return s->buf;
        }
    }
    wc_misses++;
    size_t bytes = dnnl_memory_desc_get_size(&a->prim_md);
    if (!s) {
        if (wc_bytes + bytes > WC_MAX_BYTES) odnn_weight_cache_clear();
        for (int i = 0; i < WC_SLOTS && !s; i++)
            if (!wc[i].used) s = &wc[i];
        if (!s) {   /* full: evict round-robin */
            s = &wc[wc_next];
            wc_next = (wc_next + 1) % WC_SLOTS;
            wc_bytes -= s->bytes;
            ed__aligned_free(s->buf);
            memset(s, 0, sizeof *s);
        }
        s->buf = ed__aligned_alloc(bytes ? bytes : 64);
        if (!s->buf) {
            *ok = false;
            return NULL;
        }
        s->bytes = bytes;
        wc_bytes += bytes;
        s->src = user;
        s->md = a->prim_md;
        s->used = true;
    }
    s->valid = false;   /* until the reorder succeeds */
    float *folded = NULL;
    if (scale) {
        folded = ed__aligned_alloc(user_bytes);
        if (!folded) {
            *ok = false;
            return NULL;
        }
        const int64_t numel = (int64_t)(user_bytes / sizeof(float));
        ed__conv_scale_weight(user, scale, n_scale, numel / n_scale, folded);
        dnnl_memory_set_data_handle(a->user_mem, folded);
    }
    dnnl_memory_set_data_handle(a->prim_mem, s->buf);
    dnnl_exec_arg_t r[3] = { { DNNL_ARG_FROM, a->user_mem }, { DNNL_ARG_TO, a->prim_mem }, { DNNL_ARG_SCRATCHPAD, NULL } };
    int nr = 2;
    if (a->reorder_scratch) {   /* the primitive's scratchpad slot: the reorder ends before the primitive runs */
        const dnnl_memory_desc_t *sm = NULL;
        void *w = dnnl_memory_get_memory_desc(a->reorder_scratch, &sm) == dnnl_success
                      ? ws_get(N_WS - 1, dnnl_memory_desc_get_size(sm)) : NULL;
        if (!w) {
            ed__aligned_free(folded);
            *ok = false;
            return NULL;
        }
        dnnl_memory_set_data_handle(a->reorder_scratch, w);
        r[nr++].memory = a->reorder_scratch;
    }
    bool done = dnnl_primitive_execute(a->reorder, stream, nr, r) == dnnl_success &&
                dnnl_stream_wait(stream) == dnnl_success;
    ed__aligned_free(folded);
    if (!done) {
        *ok = false;
        return NULL;
    }
    if (!moved) memcpy(s->fpw, fw, sizeof fw);
    s->fpw_known = !moved;   /* unknown: the next use that cannot tell from the version fingerprints and remakes */
    memcpy(s->fps, fs, sizeof fs);
    s->verified_gen = moved ? 0 : gen;
    s->version = ver;
    s->valid = true;
    return s->buf;
}

static bool exec(dnnl_primitive_t prim, int n, const dnnl_exec_arg_t *args)
{
    return dnnl_primitive_execute(prim, stream, n, args) == dnnl_success;
}

void *odnn_shared_input(const odnn_prim *p, int i)
{
    const odnn_arg *a = &p->args[i];
    if (!a->reorder || a->output || a->cache || a->ws != WS_SHARED) return NULL;
    return ws_buf[WS_SHARED];
}

static ed_status run(odnn_prim *p, void *const *data, void *const *pre, const double *scale, int64_t n_scale,
                     const char *op);

/* Input a (its user_mem set to the user's data) reordered into dst. */
static bool input_to(odnn_arg *a, void *dst)
{
    if (a->fast) {
        void *src = NULL;
        if (dnnl_memory_get_data_handle(a->user_mem, &src) != dnnl_success) return false;
        odnn_to_nhwc(src, dst, a->fn, a->fc, a->fhw, a->fast == ODNN_FAST_TO_NHWC_BF16);
        return true;
    }
    dnnl_memory_set_data_handle(a->prim_mem, dst);
    dnnl_exec_arg_t r[2] = { { DNNL_ARG_FROM, a->user_mem }, { DNNL_ARG_TO, a->prim_mem } };
    return exec(a->reorder, 2, r) && dnnl_stream_wait(stream) == dnnl_success;
}

bool odnn_input_to(odnn_prim *p, int i, const void *user, void *dst)
{
    odnn_arg *a = &p->args[i];
    if (!a->reorder || a->output || a->cache) return false;
#ifdef _OPENMP
    int old = omp_get_max_threads();
    omp_set_num_threads(threads_now());
#endif
    dnnl_memory_set_data_handle(a->user_mem, (void *)user);
    bool ok = input_to(a, dst);
#ifdef _OPENMP
    omp_set_num_threads(old);
#endif
    return ok;
}

ed_status odnn_run(odnn_prim *p, void *const *data, const char *op) { return run(p, data, NULL, NULL, 0, op); }

ed_status odnn_run_pre(odnn_prim *p, void *const *data, void *const *pre, const char *op)
{
    return run(p, data, pre, NULL, 0, op);
}

ed_status odnn_run_scaled(odnn_prim *p, void *const *data, const double *s, int64_t O, const char *op)
{
    return run(p, data, NULL, s, O, op);
}

ed_status odnn_run_pre_scaled(odnn_prim *p, void *const *data, void *const *pre, const double *s, int64_t O,
                              const char *op)
{
    return run(p, data, pre, s, O, op);
}

static ed_status run(odnn_prim *p, void *const *data, void *const *pre, const double *scale, int64_t n_scale,
                     const char *op)
{
#ifdef _OPENMP
    int old = omp_get_max_threads();
    omp_set_num_threads(threads_now());
#endif
    bool ok = true;
    dnnl_exec_arg_t args[ODNN_MAX_ARGS + 1];
    int n = 0;
    for (int i = 0; i < p->n_args && ok; i++) {
        odnn_arg *a = &p->args[i];
        dnnl_memory_set_data_handle(a->user_mem, data[i]);
        if (a->reorder && a->cache && !a->output) {
            void *w = weight_get(a, data[i], scale, n_scale, &ok);
            if (!ok) break;
            dnnl_memory_set_data_handle(a->prim_mem, w);
            args[n++] = (dnnl_exec_arg_t){ a->arg, a->prim_mem };
        } else if (a->reorder && pre && pre[i] && !(a->output && a->accumulate)) {
            /* An input already in the primitive's layout, or an output to
             * be left in it (the caller reads it so). */
            dnnl_memory_set_data_handle(a->prim_mem, pre[i]);
            args[n++] = (dnnl_exec_arg_t){ a->arg, a->prim_mem };
        } else if (a->reorder) {
            void *w = ws_get(a->ws, dnnl_memory_desc_get_size(&a->prim_md));
            if (!w) {
                ok = false;
                break;
            }
            if (!a->output) ok = input_to(a, w);
            dnnl_memory_set_data_handle(a->prim_mem, w);
            args[n++] = (dnnl_exec_arg_t){ a->arg, a->prim_mem };
        } else {
            args[n++] = (dnnl_exec_arg_t){ a->arg, a->user_mem };
        }
    }
    if (ok && p->scratch_bytes) {
        void *w = ws_get(N_WS - 1, p->scratch_bytes);
        if (!w) ok = false;
        else {
            dnnl_memory_set_data_handle(p->scratch_mem, w);
            args[n++] = (dnnl_exec_arg_t){ DNNL_ARG_SCRATCHPAD, p->scratch_mem };
        }
    }
    if (ok) ok = exec(p->prim, n, args);
    for (int i = 0; i < p->n_args && ok; i++) {
        odnn_arg *a = &p->args[i];
        if (!a->output || !a->reorder || (pre && pre[i] && !a->accumulate)) continue;
        if (a->fast) {
            void *src = NULL;
            ok = dnnl_stream_wait(stream) == dnnl_success && dnnl_memory_get_data_handle(a->prim_mem, &src) == dnnl_success;
            if (ok && a->fast == ODNN_FAST_ADD) odnn_add(src, data[i], (int64_t)(dnnl_memory_desc_get_size(&a->user_md) / sizeof(float)));
            else if (ok) odnn_from_nhwc(src, data[i], a->fn, a->fc, a->fhw, a->accumulate);
            continue;
        }
        dnnl_exec_arg_t r[2] = { { DNNL_ARG_FROM, a->prim_mem }, { DNNL_ARG_TO, a->user_mem } };
        ok = exec(a->reorder, 2, r);
    }
    if (ok) ok = dnnl_stream_wait(stream) == dnnl_success;
#ifdef _OPENMP
    omp_set_num_threads(old);
#endif
    if (!ok) return ed__err(ED_E_NOMEM, "%s: the oneDNN kernel failed (out of memory?)", op);
    return ED_OK;
}

bool odnn_set_scratch(odnn_prim *p, const_dnnl_primitive_desc_t pd)
{
    const dnnl_memory_desc_t *s = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    p->scratch_bytes = s ? dnnl_memory_desc_get_size(s) : 0;
    if (!p->scratch_bytes) return true;
    return dnnl_memory_create(&p->scratch_mem, s, engine, DNNL_MEMORY_NONE) == dnnl_success;
}

void ed__onednn_register(void)
{
    static bool done;
    if (done) return;
    done = true;
    ed__onednn_register_conv();
    ed__onednn_register_bn();
    ed__onednn_register_eltwise();
    ed__onednn_register_cbr();
    ed__onednn_register_chain();
    ed__onednn_register_graph();
    ed__onednn_register_up2();   /* after conv.c's: tried before oneDNN's deconvolution */
    ed__onednn_register_cat_feed();
}
