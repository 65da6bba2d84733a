/* The background batch loader.
 *
 * Batches are numbered g = epoch * nb + step (nb batches per epoch). Batch
 * g holds the samples perm_e[step * B ...] where perm_e is the identity or
 * a Fisher-Yates shuffle keyed by (seed, e); sample i of it is read, handed
 * to the hook with the stream ed_loader_sample_rng(seed, e, i), and the
 * samples are stacked in order. So a batch is a pure function of (seed, g):
 * which worker builds it, and when, changes nothing.
 *
 * Threads: `workers` pthreads claim batch numbers in order and build them
 * into a ring of `depth` slots (slot g % depth); a worker claims g only
 * while g < taken + depth, so it never overwrites a batch not yet taken.
 * ed_loader_next waits for slot g to be ready. Epoch permutations are made
 * once, under the lock, by the first worker needing them, and dropped when
 * the consumer has moved past their epoch. A failed batch carries its
 * status and message (ed_last_error is per thread) to ed_loader_next. */
#include "data/dataset_internal.h"

#include <stdio.h>
#include <stdlib.h>

#define MSG 1024

typedef struct {
    int64_t g;
    int ready;
    ed_status st;
    char msg[MSG];
    ed_batch b;
} slot;

typedef struct perm {
    int64_t epoch;
    int *v;
    struct perm *next;
} perm;

struct ed_loader {
    const ed_dataset *ds;
    int B, shuffle, workers, depth;
    uint64_t seed;
    ed_sample_fn hook;
    const void *params;
    int64_t nb;                 /* batches per epoch */
    int64_t epoch, step;        /* the consumer's next batch */
    pthread_mutex_t lock;
    pthread_cond_t work, done;
    int64_t claimed, taken;     /* batches claimed by workers / taken */
    int stop;
    slot *slots;
    perm *perms;
    pthread_t *threads;
    int n_threads;
};

void ed_loader_sample_rng(uint64_t seed, int64_t epoch, int64_t index, ed_rng *rng)
{
    ds__rng(seed, 0x53414d50u /* "SAMP" */, (uint64_t)epoch, (uint64_t)index, rng);
}

void ed_batch_free(ed_batch *b)
{
    if (!b) return;
    ed_tensor_free(b->images);
    ed_tensor_free(b->targets);
    ed_tensor_free(b->labels);
    if (b->samples)
        for (int i = 0; i < b->n; i++) ed_sample_free(&b->samples[i]);
    free(b->samples);
    free(b->indices);
    memset(b, 0, sizeof *b);
}

/* The permutation of epoch e (under the lock). */
static ed_status epoch_perm(ed_loader *ld, int64_t e, const int **out)
{
    for (perm *p = ld->perms; p; p = p->next)
        if (p->epoch == e) { *out = p->v; return ED_OK; }
    const int n = ed_dataset_size(ld->ds);
    perm *p = malloc(sizeof *p);
    int *v = malloc((size_t)n * sizeof *v);
    if (!p || !v) {
        free(p), free(v);
        return ed__err(ED_E_NOMEM, "loader: out of memory");
    }
    for (int i = 0; i < n; i++) v[i] = i;
    if (ld->shuffle) {
        ed_rng r;
        ds__rng(ld->seed, 0x53484646u /* "SHFF" */, (uint64_t)e, 0, &r);
        ds__shuffle(v, n, &r);
    }
    p->epoch = e;
    p->v = v;
    p->next = ld->perms;
    ld->perms = p;
    *out = v;
    return ED_OK;
}

static void drop_perms_before(ed_loader *ld, int64_t e)
{
    for (perm **pp = &ld->perms; *pp;) {
        perm *p = *pp;
        if (p->epoch < e) {
            *pp = p->next;
            free(p->v);
            free(p);
        } else {
            pp = &p->next;
        }
    }
}

/* Stacks samples[0..n-1]'s field (image, target or labels) into one tensor. */
static ed_status stack(ed_tensor *const *parts, const ed_sample *s, int n, const char *what, ed_tensor **out)
{
    const ed_tensor *t0 = parts[0];
    char a[ED_SHAPE_BUF], b[ED_SHAPE_BUF];
    for (int i = 1; i < n; i++) {
        const ed_tensor *t = parts[i];
        if (!t || t->dtype != t0->dtype || t->ndim != t0->ndim || memcmp(t->shape, t0->shape, (size_t)t0->ndim * 8))
            return ed__err(ED_E_SHAPE,
                           "loader: sample %s has %s %s but sample %s has %s; the samples of a batch must share one "
                           "size (crop or resize them in the sample hook, or use batch size 1)",
                           s[i].path, what, ed__shape_str(t, a), s[0].path, ed__shape_str(t0, b));
    }
    int64_t shape[ED_MAX_DIMS + 1];
    shape[0] = n;
    for (int d = 0; d < t0->ndim; d++) shape[d + 1] = t0->shape[d];
    ED_TRY(ed_tensor_new(t0->dtype, t0->ndim + 1, shape, out));
    const size_t bytes = (size_t)t0->numel * ed_dtype_size(t0->dtype);
    for (int i = 0; i < n; i++) memcpy((char *)ed_tensor_data(*out) + i * bytes, ed_tensor_cdata(parts[i]), bytes);
    return ED_OK;
}

/* Builds batch (e, step) from the positions idx[0..n-1]. */
static ed_status build(const ed_loader *ld, int64_t e, int64_t step, const int *idx, int n, ed_batch *b)
{
    memset(b, 0, sizeof *b);
    b->epoch = e;
    b->step = step;
    ed_sample *s = calloc((size_t)n, sizeof *s);
    ed_tensor **parts = calloc((size_t)n, sizeof *parts);
    b->indices = malloc((size_t)n * sizeof *b->indices);
    ed_status st = s && parts && b->indices ? ED_OK : ed__err(ED_E_NOMEM, "loader: out of memory");
    int got = 0;
    for (; st == ED_OK && got < n; got++) {
        b->indices[got] = idx[got];
        st = ed_dataset_get(ld->ds, idx[got], &s[got]);
        if (st == ED_OK && ld->hook) {
            ed_rng r;
            ed_loader_sample_rng(ld->seed, e, idx[got], &r);
            st = ld->hook(&s[got], ld->params, &r);
            if (st != ED_OK && !strstr(ed_last_error(), s[got].path))    /* name the file */
                st = ed__err(st, "%s (sample %s)", ed_last_error(), s[got].path);
        }
    }
    if (st == ED_OK) {
        for (int i = 0; i < n; i++) parts[i] = s[i].image;
        st = stack(parts, s, n, "image", &b->images);
    }
    if (st == ED_OK && s[0].target) {
        for (int i = 0; i < n; i++) parts[i] = s[i].target;
        st = stack(parts, s, n, "target", &b->targets);
    }
    if (st == ED_OK && s[0].labels) {
        for (int i = 0; i < n; i++) parts[i] = s[i].labels;
        st = stack(parts, s, n, "labels", &b->labels);
    } else if (st == ED_OK && s[0].label >= 0) {
        st = ed_tensor_new(ED_I64, 1, (int64_t[]){ n }, &b->labels);
        for (int i = 0; st == ED_OK && i < n; i++) ((int64_t *)ed_tensor_data(b->labels))[i] = s[i].label;
    }
    const bool inst = st == ED_OK && s[0].ids;
    for (int i = 0; i < got; i++) {
        if (inst) {   /* keep masks and boxes; the image and map live in the stacks */
            ed_tensor_free(s[i].image), ed_tensor_free(s[i].labels), ed_tensor_free(s[i].target);
            s[i].image = s[i].labels = s[i].target = NULL;
        } else {
            ed_sample_free(&s[i]);
        }
    }
    free(parts);
    b->n = n;
    if (inst) b->samples = s;
    else free(s);
    if (st != ED_OK) ed_batch_free(b);
    return st;
}

/* Batch g: its positions from the epoch's permutation (perm given). */
static ed_status build_g(const ed_loader *ld, int64_t g, const int *pm, ed_batch *b)
{
    const int64_t e = g / ld->nb, step = g % ld->nb, n_all = ed_dataset_size(ld->ds);
    const int64_t lo = step * ld->B, hi = lo + ld->B < n_all ? lo + ld->B : n_all;
    ed_arena_begin(NULL);      /* batches live on the heap, whatever the caller's arena */
    ed_status st = build(ld, e, step, pm + lo, (int)(hi - lo), b);
    ed_arena_end();
    return st;
}

static void *worker(void *arg)
{
    ed_loader *ld = arg;
    pthread_mutex_lock(&ld->lock);
    for (;;) {
        while (!ld->stop && ld->claimed >= ld->taken + ld->depth) pthread_cond_wait(&ld->work, &ld->lock);
        if (ld->stop) break;
        const int64_t g = ld->claimed++;
        slot *sl = &ld->slots[g % ld->depth];
        const int *pm = NULL;
        ed_status st = epoch_perm(ld, g / ld->nb, &pm);
        pthread_mutex_unlock(&ld->lock);
        ed_batch b = { 0 };
        /* The permutation stays alive until the consumer passes its epoch,
         * which needs this batch first. */
        if (st == ED_OK) st = build_g(ld, g, pm, &b);
        pthread_mutex_lock(&ld->lock);
        sl->g = g;
        sl->st = st;
        if (st != ED_OK) snprintf(sl->msg, MSG, "%s", ed_last_error());
        sl->b = b;
        sl->ready = 1;
        pthread_cond_broadcast(&ld->done);
    }
    pthread_mutex_unlock(&ld->lock);
    return NULL;
}

int64_t ed_loader_num_batches(const ed_loader *ld) { return ld ? ld->nb : 0; }

void ed_loader_free(ed_loader *ld)
{
    if (!ld) return;
    pthread_mutex_lock(&ld->lock);
    ld->stop = 1;
    pthread_cond_broadcast(&ld->work);
    pthread_mutex_unlock(&ld->lock);
    for (int i = 0; i < ld->n_threads; i++) pthread_join(ld->threads[i], NULL);
    if (ld->slots)
        for (int i = 0; i < ld->depth; i++) ed_batch_free(&ld->slots[i].b);
    drop_perms_before(ld, INT64_MAX);
    pthread_cond_destroy(&ld->work);
    pthread_cond_destroy(&ld->done);
    pthread_mutex_destroy(&ld->lock);
    free(ld->slots);
    free(ld->threads);
    free(ld);
}

ed_status ed_loader_new(const ed_dataset *ds, int batch_size, int shuffle, uint64_t seed, int workers,
                        ed_sample_fn hook, const void *params, int flags, ed_loader **out)
{
    if (!out) return ed__err(ED_E_ARG, "loader_new: out is NULL");
    *out = NULL;
    if (!ds) return ed__err(ED_E_ARG, "loader_new: data set is NULL");
    if (batch_size < 1) return ed__err(ED_E_ARG, "loader_new: batch_size must be >= 1, got %d", batch_size);
    if (workers < 0 || workers > 256) return ed__err(ED_E_ARG, "loader_new: workers must be 0..256, got %d", workers);
    if (flags & ~ED_LOADER_DROP_LAST) return ed__err(ED_E_ARG, "loader_new: unknown flags 0x%x", flags);
    const int n = ed_dataset_size(ds);
    const int64_t nb = (flags & ED_LOADER_DROP_LAST) ? n / batch_size : (n + batch_size - 1) / batch_size;
    if (nb == 0)
        return ed__err(ED_E_ARG, "loader_new: %d samples make no batch of %d%s", n, batch_size,
                       (flags & ED_LOADER_DROP_LAST) ? " with drop_last" : "");
    ed_loader *ld = calloc(1, sizeof *ld);
    if (!ld) return ed__err(ED_E_NOMEM, "loader_new: out of memory");
    ld->ds = ds, ld->B = batch_size, ld->shuffle = shuffle, ld->seed = seed, ld->workers = workers;
    ld->hook = hook, ld->params = params, ld->nb = nb;
    ld->depth = workers ? 2 * workers : 1;
    pthread_mutex_init(&ld->lock, NULL);
    pthread_cond_init(&ld->work, NULL);
    pthread_cond_init(&ld->done, NULL);
    ld->slots = calloc((size_t)ld->depth, sizeof *ld->slots);
    ld->threads = workers ? calloc((size_t)workers, sizeof *ld->threads) : NULL;
    if (!ld->slots || (workers && !ld->threads)) {
        ed_loader_free(ld);
        return ed__err(ED_E_NOMEM, "loader_new: out of memory");
    }
    for (int i = 0; i < workers; i++) {
        if (pthread_create(&ld->threads[i], NULL, worker, ld) != 0) {
            ed_loader_free(ld);
            return ed__err(ED_E_NOMEM, "loader_new: cannot start worker thread %d of %d", i + 1, workers);
        }
        ld->n_threads++;
    }
    *out = ld;
    return ED_OK;
}

ed_status ed_loader_next(ed_loader *ld, ed_batch *batch)
{
    if (!batch) return ed__err(ED_E_ARG, "loader_next: batch is NULL");
    memset(batch, 0, sizeof *batch);
    if (!ld) return ed__err(ED_E_ARG, "loader_next: loader is NULL");
    if (ld->step == ld->nb) {      /* the end-of-epoch marker */
        batch->epoch = ld->epoch;
        batch->step = ld->nb;
        ld->epoch++;
        ld->step = 0;
        return ED_OK;
    }
    const int64_t g = ld->epoch * ld->nb + ld->step;
    ed_status st;
    char msg[MSG] = "";
    if (!ld->workers) {
        const int *pm = NULL;
        st = epoch_perm(ld, ld->epoch, &pm);
        if (st == ED_OK) st = build_g(ld, g, pm, batch);
        if (st != ED_OK) snprintf(msg, MSG, "%s", ed_last_error());
        ld->taken++;
        drop_perms_before(ld, ld->epoch);
    } else {
        pthread_mutex_lock(&ld->lock);
        slot *sl = &ld->slots[g % ld->depth];
        while (!(sl->ready && sl->g == g)) pthread_cond_wait(&ld->done, &ld->lock);
        st = sl->st;
        snprintf(msg, MSG, "%s", sl->msg);
        *batch = sl->b;
        memset(sl, 0, sizeof *sl);
        ld->taken++;
        drop_perms_before(ld, ld->epoch);
        pthread_cond_broadcast(&ld->work);
        pthread_mutex_unlock(&ld->lock);
    }
    ld->step++;
    if (st != ED_OK)
        return ed__err(st, "loader: epoch %lld, batch %lld: %s", (long long)(g / ld->nb), (long long)(g % ld->nb), msg);
    return ED_OK;
}
