/* Per-step arenas: bump allocation in 64-byte-aligned blocks, released all
 * at once by ed_arena_reset. A growing arena keeps its blocks across resets
 * (merged into one after a reset), so a training loop stops allocating after
 * its first step. */
#include "ed_internal.h"

#include <stdlib.h>

#define ARENA_ALIGN 64
#define ARENA_MIN_BLOCK ((size_t)4 << 20)
#define ARENA_MAX_NEST 16

typedef struct arena_block {
    struct arena_block *next;
    size_t size, used;
    unsigned char *mem;
} arena_block;

struct ed_arena {
    size_t capacity;        /* 0 = grow */
    arena_block *head;      /* current block first */
    size_t used, peak, total;
};

static _Thread_local ed_arena *arena_stack[ARENA_MAX_NEST];
static _Thread_local int arena_depth;

void *ed__aligned_alloc(size_t bytes)
{
    size_t n = (bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    if (n == 0) n = ARENA_ALIGN;
    return aligned_alloc(ARENA_ALIGN, n);
}

void ed__aligned_free(void *p) { free(p); }

static arena_block *block_new(size_t size)
{
    arena_block *b = malloc(sizeof *b);
    if (!b) return NULL;
    b->mem = ed__aligned_alloc(size);
    if (!b->mem) { free(b); return NULL; }
    b->size = size;
    b->used = 0;
    b->next = NULL;
    return b;
}

ed_status ed_arena_new(size_t capacity, ed_arena **out)
{
    if (!out) return ed__err(ED_E_ARG, "ed_arena_new: out is NULL");
    *out = NULL;
    ed_arena *a = calloc(1, sizeof *a);
    if (!a) return ed__err(ED_E_NOMEM, "ed_arena_new: out of memory");
    a->capacity = capacity;
    if (capacity) {
        a->head = block_new(capacity);
        if (!a->head) { free(a); return ed__err(ED_E_NOMEM, "ed_arena_new: cannot allocate %zu bytes", capacity); }
        a->total = capacity;
    }
    *out = a;
    return ED_OK;
}

void ed_arena_free(ed_arena *a)
{
    if (!a) return;
    for (arena_block *b = a->head, *n; b; b = n) {
        n = b->next;
        ed__aligned_free(b->mem);
        free(b);
    }
    free(a);
}

void ed_arena_reset(ed_arena *a)
{
    if (!a) return;
    if (a->head && a->head->next) {
        /* Several blocks: replace them with one that holds the peak. */
        size_t want = a->total;
        for (arena_block *b = a->head, *n; b; b = n) {
            n = b->next;
            ed__aligned_free(b->mem);
            free(b);
        }
        a->head = block_new(want);
        a->total = a->head ? want : 0;
    }
    if (a->head) a->head->used = 0;
    a->used = 0;
}

size_t ed_arena_used(const ed_arena *a) { return a ? a->used : 0; }
size_t ed_arena_peak(const ed_arena *a) { return a ? a->peak : 0; }

void *ed__arena_alloc(ed_arena *a, size_t bytes)
{
    size_t n = (bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    if (n == 0) n = ARENA_ALIGN;
    arena_block *b = a->head;
    if (!b || b->size - b->used < n) {
        if (a->capacity) return NULL;
        size_t size = n > ARENA_MIN_BLOCK ? n : ARENA_MIN_BLOCK;
        if (size < a->total / 2) size = a->total / 2;
        arena_block *nb = block_new(size);
        if (!nb) return NULL;
        nb->next = a->head;
        a->head = nb;
        a->total += size;
        b = nb;
    }
    void *p = b->mem + b->used;
    b->used += n;
    a->used += n;
    if (a->used > a->peak) a->peak = a->used;
    return p;
}

void ed_arena_begin(ed_arena *a)
{
    if (arena_depth < ARENA_MAX_NEST) arena_stack[arena_depth] = a;
    arena_depth++;
}

void ed_arena_end(void)
{
    if (arena_depth > 0) arena_depth--;
}

ed_arena *ed__active_arena(void)
{
    if (arena_depth <= 0 || arena_depth > ARENA_MAX_NEST) return NULL;
    return arena_stack[arena_depth - 1];
}

void *ed__scratch(size_t bytes)
{
    ed_arena *a = ed__active_arena();
    if (a) return ed__arena_alloc(a, bytes);
    return ed__aligned_alloc(bytes);
}

void ed__scratch_free(void *p)
{
    if (!p) return;
    ed_arena *a = ed__active_arena();
    if (a) {
        for (arena_block *b = a->head; b; b = b->next)
            if ((unsigned char *)p >= b->mem && (unsigned char *)p < b->mem + b->size) return;
    }
    ed__aligned_free(p);
}
