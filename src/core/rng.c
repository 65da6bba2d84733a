/* Counter-based random numbers: Philox-4x32-10 (Salmon et al., "Parallel
 * random numbers: as easy as 1, 2, 3", SC 2011). Element i of a stream is a
 * pure function of (seed, counter + i), so results never depend on how the
 * work is split between threads. */
#include "ed_internal.h"

#include <math.h>

void ed__philox(uint64_t seed, uint64_t counter, uint32_t out[4])
{
    uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32), c2 = 0x2545F491u, c3 = 0x9E3779B9u;
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

static double u32_to_unit(uint32_t a, uint32_t b)
{
    /* 53 random bits -> [0, 1) */
    uint64_t v = ((uint64_t)a << 21) ^ (uint64_t)(b >> 11);
    return (double)(v & ((UINT64_C(1) << 53) - 1)) * (1.0 / 9007199254740992.0);
}

double ed__rng_uniform_at(uint64_t seed, uint64_t base, uint64_t i)
{
    uint32_t o[4];
    ed__philox(seed, base + i, o);
    return u32_to_unit(o[0], o[1]);
}

double ed__rng_normal_at(uint64_t seed, uint64_t base, uint64_t i)
{
    uint32_t o[4];
    ed__philox(seed, base + i, o);
    double u1 = u32_to_unit(o[0], o[1]), u2 = u32_to_unit(o[2], o[3]);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void ed_rng_init(ed_rng *r, uint64_t seed) { r->seed = seed; r->counter = 0; }

uint32_t ed_rng_u32(ed_rng *r)
{
    uint32_t o[4];
    ed__philox(r->seed, r->counter++, o);
    return o[0];
}

double ed_rng_uniform(ed_rng *r) { return ed__rng_uniform_at(r->seed, r->counter++, 0); }
double ed_rng_normal(ed_rng *r) { return ed__rng_normal_at(r->seed, r->counter++, 0); }

ed_status ed_rng_fill_uniform(ed_rng *r, ed_tensor *t, double lo, double hi)
{
    ED_TRY(ed__check_float(t, "rng_fill_uniform", "tensor"));
    if (t->frozen) return ed__err(ED_E_STATE, "rng_fill_uniform: the tensor is frozen (ed_model_freeze)");
    uint64_t seed = r->seed, base = r->counter;
    int64_t n = t->numel;
    ED_PARALLEL_FOR_IF(n > 65536)
    for (int64_t i = 0; i < n; i++) ed__set(t, i, lo + (hi - lo) * ed__rng_uniform_at(seed, base, (uint64_t)i));
    r->counter += (uint64_t)n;
    return ED_OK;
}

ed_status ed_rng_fill_normal(ed_rng *r, ed_tensor *t, double mean, double std)
{
    ED_TRY(ed__check_float(t, "rng_fill_normal", "tensor"));
    if (t->frozen) return ed__err(ED_E_STATE, "rng_fill_normal: the tensor is frozen (ed_model_freeze)");
    uint64_t seed = r->seed, base = r->counter;
    int64_t n = t->numel;
    ED_PARALLEL_FOR_IF(n > 65536)
    for (int64_t i = 0; i < n; i++) ed__set(t, i, mean + std * ed__rng_normal_at(seed, base, (uint64_t)i));
    r->counter += (uint64_t)n;
    return ED_OK;
}

/* ---- global stream (dropout) and threads ---------------------------------- */
static uint64_t global_seed = 0x5EEDu;
static uint64_t global_counter;

void ed_manual_seed(uint64_t seed) { global_seed = seed; global_counter = 0; }
uint64_t ed_get_seed(void) { return global_seed; }

uint64_t ed__global_rng_take(uint64_t n, uint64_t *seed)
{
    uint64_t c = global_counter;
    global_counter += n;
    *seed = global_seed;
    return c;
}
