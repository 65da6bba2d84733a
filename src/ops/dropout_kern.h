/* Typed loop for dropout.c (see typed.h): y = a * m, or y += a * m, where
 * each run of c->group consecutive elements shares one mask value. */
static void K(do_apply)(const do_ctx *c, const T *a, T *y, int64_t n, int accumulate)
{
    const T scale = c->mode == 1 ? (T)(1.0 / (1.0 - c->p)) : c->mode == 2 ? (T)0 : (T)1;
    const int64_t G = c->group, ng = n / G;
    ED_PARALLEL_FOR_IF(n > 32768)
    for (int64_t g = 0; g < ng; g++) {
        T m = scale;
        if (c->mode == 1 && ed__rng_uniform_at(c->seed, c->base, (uint64_t)g) < c->p) m = 0;
        const T *ag = a + g * G;
        T *yg = y + g * G;
        if (accumulate) for (int64_t i = 0; i < G; i++) yg[i] += ag[i] * m;
        else for (int64_t i = 0; i < G; i++) yg[i] = ag[i] * m;
    }
}
