/* The autograd tape. Each op whose inputs need gradients attaches a node to
 * its output (ed__record). ed_backward sorts the nodes reachable from the
 * root topologically and runs their backward functions in reverse order;
 * each accumulates (+=) into its inputs' gradients. Gradients of non-leaf
 * tensors are temporary and released once their node has run, as PyTorch
 * does not retain them either. */
#include "core/ed_internal.h"

#include <stdatomic.h>
#include <stdlib.h>

static _Thread_local int no_grad_depth;
static atomic_uint mark_generation = 1;

void ed_no_grad_begin(void) { no_grad_depth++; }
void ed_no_grad_end(void) { if (no_grad_depth > 0) no_grad_depth--; }
int ed_grad_enabled(void) { return no_grad_depth == 0; }

bool ed__needs_grad(const ed_tensor *t)
{
    return t && no_grad_depth == 0 && (t->requires_grad || t->node);
}

bool ed__any_needs_grad(int n, const ed_tensor *const *ts)
{
    for (int i = 0; i < n; i++)
        if (ed__needs_grad(ts[i])) return true;
    return false;
}

static void *node_alloc(size_t bytes, bool *in_arena)
{
    ed_arena *a = ed__active_arena();
    *in_arena = a != NULL;
    if (a) {
        void *p = ed__arena_alloc(a, bytes);
        if (p) memset(p, 0, bytes);
        return p;
    }
    return calloc(1, bytes);
}

ed_status ed__record(ed_tensor *out, const char *name, ed_backward_fn bw, int n_in,
                     const ed_tensor *const *in, const void *ctx, size_t ctx_size, ed_node **node)
{
    *node = NULL;
    if (!ed__any_needs_grad(n_in, in)) return ED_OK;
    bool arena;
    ed_node *n = node_alloc(sizeof *n, &arena);
    if (!n) return ed__err(ED_E_NOMEM, "%s: cannot allocate an autograd node", name);
    n->in_arena = arena;
    bool a2;
    n->in = node_alloc(sizeof(ed_tensor *) * (size_t)(n_in > 0 ? n_in : 1), &a2);
    n->ctx = ctx_size ? node_alloc(ctx_size, &a2) : NULL;
    if (!n->in || (ctx_size && !n->ctx)) {
        if (!arena) { free(n->in); free(n->ctx); free(n); }
        return ed__err(ED_E_NOMEM, "%s: cannot allocate an autograd node", name);
    }
    if (ctx_size) memcpy(n->ctx, ctx, ctx_size);
    n->name = name;
    n->backward = bw;
    n->out = out;
    n->n_in = n_in;
    /* A heap node keeps its inputs alive. An arena node only borrows them:
     * it is released all at once by ed_arena_reset, never one by one, so it
     * could not give a reference back; tensors used in an arena step must
     * outlive the step (parameters and data batches do). */
    for (int i = 0; i < n_in; i++) n->in[i] = arena ? (ed_tensor *)in[i] : ed_tensor_retain((ed_tensor *)in[i]);
    out->node = n;
    *node = n;
    return ED_OK;
}

ed_status ed__node_save(ed_node *n, ed_tensor *t)
{
    if (n->n_saved >= (int)(sizeof n->saved / sizeof n->saved[0]))
        return ed__err(ED_E_STATE, "%s: too many saved tensors", n->name);
    n->saved[n->n_saved++] = n->in_arena ? t : ed_tensor_retain(t);
    return ED_OK;
}

void ed__node_release(ed_node *n)
{
    if (!n || n->in_arena) return;
    for (int i = 0; i < n->n_in; i++) ed_tensor_free(n->in[i]);
    for (int i = 0; i < n->n_saved; i++) ed_tensor_free(n->saved[i]);
    free(n->in);
    free(n->ctx);
    free(n);
}

ed_tensor *ed__producer_copy(const ed_tensor *x)
{
    const ed_node *n = x ? x->node : NULL;
    if (!n || !n->copy_saved || n->copy_saved > n->n_saved) return NULL;
    ed_tensor *c = n->saved[n->copy_saved - 1];
    return c && ((const uint64_t *)c->data)[0] ? c : NULL;
}

/* Leaf gradients persist: allocated on the heap unless the leaf itself is
 * in an arena. Non-leaf gradients are temporary (arena or heap). A second
 * writer finds an NHWC one (ed_tensor.nhwc) back in NCHW. */
static ed_status grad_buffer(ed_tensor *t, ed_tensor **g)
{
    if (t->grad && t->grad_defined) ED_TRY(ed__grad_plain(t->grad));
    if (!t->grad) {
        ed_dtype dt = t->dtype == ED_F64 ? ED_F64 : ED_F32;
        if (t->node || t->in_arena) ED_TRY(ed__alloc_zeros(dt, t->ndim, t->shape, &t->grad));
        else ED_TRY(ed__alloc_heap_zeros(dt, t->ndim, t->shape, &t->grad));
    } else if (!t->grad_defined) {
        memset(t->grad->data, 0, (size_t)t->grad->numel * ed_dtype_size(t->grad->dtype));
        t->grad->nhwc = 0;
    }
    t->grad_defined = 1;
    *g = t->grad;
    return ED_OK;
}

ed_status ed__grad_of(ed_node *n, int i, ed_tensor **g)
{
    *g = NULL;
    ed_tensor *t = n->in[i];
    if (!t || !(t->requires_grad || t->node)) return ED_OK;
    return grad_buffer(t, g);
}

ed_status ed__grad_of_overwrite(ed_node *n, int i, ed_tensor **g, int *overwrite)
{
    *g = NULL;
    *overwrite = 0;
    ed_tensor *t = n->in[i];
    if (!t || !(t->requires_grad || t->node)) return ED_OK;
    /* A leaf's first gradient (no buffer yet) is zero-filled where it
     * lives (heap or arena); a leaf whose buffer was only marked stale by
     * zero_grad (a parameter's slice of the optimizer's block) is stored. */
    if (t->grad_defined || (!t->node && !t->grad)) return grad_buffer(t, g);
    if (!t->grad) ED_TRY(ed__alloc(t->dtype == ED_F64 ? ED_F64 : ED_F32, t->ndim, t->shape, &t->grad));
    t->grad->nhwc = 0;   /* NCHW unless the writer says otherwise */
    t->grad_defined = 1;
    *overwrite = 1;
    *g = t->grad;
    return ED_OK;
}

static void drop_temp_grad(ed_tensor *t)
{
    if (!t->grad) return;
    t->grad->nhwc = 0;
    ed_tensor_free(t->grad);   /* no-op for arena tensors */
    t->grad = NULL;
    t->grad_defined = 0;
}

ed_status ed_backward(ed_tensor *root, const ed_tensor *grad)
{
    if (!root) return ed__err(ED_E_ARG, "backward: tensor is NULL");
    if (!root->node && !root->requires_grad)
        return ed__err(ED_E_STATE, "backward: the tensor does not require grad and has no grad_fn");
    if (!grad && root->numel != 1) {
        char b[ED_SHAPE_BUF];
        return ed__err(ED_E_ARG, "backward: grad can be implicitly created only for scalar outputs (shape %s); pass a gradient",
                       ed__shape_str(root, b));
    }
    if (grad) {
        ED_TRY(ed__check_float(grad, "backward", "grad"));
        ED_TRY(ed__check_same_shape(root, grad, "backward"));
    }

    /* Topological order by iterative depth-first search. */
    unsigned gen = atomic_fetch_add(&mark_generation, 1u) + 1u;
    size_t cap = 64, n_order = 0, top = 0;
    ed_node **order = malloc(cap * sizeof *order);
    struct frame { ed_node *n; int next; } *stack = malloc(cap * sizeof *stack);
    size_t stack_cap = cap;
    if (!order || !stack) { free(order); free(stack); return ed__err(ED_E_NOMEM, "backward: out of memory"); }
    if (root->node) {
        root->node->mark = gen;
        stack[top++] = (struct frame){ root->node, 0 };
    }
    while (top > 0) {
        struct frame *f = &stack[top - 1];
        if (f->next < f->n->n_in) {
            ed_tensor *t = f->n->in[f->next++];
            if (t && t->node && t->node->mark != gen) {
                t->node->mark = gen;
                if (top == stack_cap) {
                    stack_cap *= 2;
                    struct frame *ns = realloc(stack, stack_cap * sizeof *stack);
                    if (!ns) { free(order); free(stack); return ed__err(ED_E_NOMEM, "backward: out of memory"); }
                    stack = ns;
                }
                stack[top++] = (struct frame){ t->node, 0 };
            }
        } else {
            if (n_order == cap) {
                cap *= 2;
                ed_node **no = realloc(order, cap * sizeof *order);
                if (!no) { free(order); free(stack); return ed__err(ED_E_NOMEM, "backward: out of memory"); }
                order = no;
            }
            order[n_order++] = f->n;
            top--;
        }
    }
    free(stack);

    /* Seed the root's gradient. A non-leaf root without one yet gets it
     * written, not zero-filled and added to (two passes fewer over a
     * gradient as large as the output); a leaf accumulates. */
    ed_tensor *g;
    ed_status st;
    int fresh = 0;
    if (root->node && !root->grad_defined) {
        /* ed__grad_of_overwrite's path for a tensor that is its own node's output. */
        st = root->grad ? ED_OK : ed__alloc(root->dtype == ED_F64 ? ED_F64 : ED_F32, root->ndim, root->shape, &root->grad);
        if (st == ED_OK) {
            root->grad->nhwc = 0;
            root->grad_defined = 1;
            fresh = 1;
        }
        g = root->grad;
    } else {
        st = grad_buffer(root, &g);
    }
    if (st == ED_OK) {
        int64_t n = root->numel;
        if (g->dtype == ED_F32 && (!grad || grad->dtype == ED_F32)) {
            float *gd = g->data;
            const float *sd = grad ? grad->data : NULL;
            if (fresh) {
                ED_PARALLEL_FOR_IF(n > 65536)
                for (int64_t i = 0; i < n; i++) gd[i] = sd ? sd[i] : 1.0f;
            } else {
                ED_PARALLEL_FOR_IF(n > 65536)
                for (int64_t i = 0; i < n; i++) gd[i] += sd ? sd[i] : 1.0f;
            }
        } else if (fresh) {
            for (int64_t i = 0; i < n; i++) ed__set(g, i, grad ? ed__get(grad, i) : 1.0);
        } else {
            for (int64_t i = 0; i < n; i++) ed__set(g, i, ed__get(g, i) + (grad ? ed__get(grad, i) : 1.0));
        }
    }
    for (size_t k = n_order; st == ED_OK && k-- > 0;) {
        ed_node *n = order[k];
        if (!n->out->grad_defined) continue;   /* no gradient reached it */
        if (!n->takes_nhwc_grad) st = ed__grad_plain(n->out->grad);
        if (st == ED_OK) st = n->backward(n);
        if (n->out != root || root->node) drop_temp_grad(n->out);
    }
    free(order);
    return st;
}
