/* Test helpers: assertions that count and report instead of aborting, a
 * finite-difference gradient check in float64, and golden-file access.
 * A test's main() ends with `return check_done();`, which prints
 * "N passed, M failed" and returns non-zero on any failure. */
#ifndef ED_CHECK_H
#define ED_CHECK_H

#include "encdec.h"
#include <cjson/cJSON.h>
#include <stdio.h>

extern int check_passed, check_failed;

int check_report(int ok, const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
#define CHECK(cond) check_report(!!(cond), __FILE__, __LINE__, "%s", #cond)
#define CHECK_MSG(cond, ...) check_report(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
/* expr must return ED_OK; on failure the library's message is printed. */
#define CHECK_OK(expr) check_ok((expr), __FILE__, __LINE__, #expr)
/* expr must fail with status st and a message containing substr (or NULL). */
#define CHECK_ERR(expr, st, substr) check_err((expr), (st), (substr), __FILE__, __LINE__, #expr)
int check_ok(ed_status s, const char *file, int line, const char *what);
int check_err(ed_status s, ed_status want, const char *substr, const char *file, int line, const char *what);
int check_done(void);

/* Max relative error |a-b| / max(|b|, atol_floor) over all elements; shapes
 * must agree (else +inf). */
double check_max_rel_err(const ed_tensor *actual, const ed_tensor *expected, double floor);
/* The largest |actual - expected| over all elements, and in *scale (may
 * be NULL) the largest |expected|: for errors judged against a tensor's
 * scale. +inf when either is NULL or the shapes differ; NaN when one side
 * alone is NaN somewhere (which fails any <= comparison). */
double check_max_abs_err(const ed_tensor *actual, const ed_tensor *expected, double *scale);
/* Passes when check_max_rel_err <= rtol; prints the name and the error. */
#define CHECK_CLOSE(name, actual, expected, rtol) check_close((name), (actual), (expected), (rtol), __FILE__, __LINE__)
int check_close(const char *name, const ed_tensor *a, const ed_tensor *e, double rtol, const char *file, int line);

/* A fast kernel's outputs (y and the gradients) against the reference's:
 * for i < n, got[i] within tol of the largest |want[i]| (check_max_rel_err
 * with that floor), reported as "<name> <what[i]>"; both NULL passes, one
 * NULL fails. CHECK_IDENTICAL: the same for bit-identical outputs (a
 * thread count that must not change a bit). */
#define CHECK_OUTPUTS(name, got, want, what, n, tol) check_outputs((name), (got), (want), (what), (n), (tol), __FILE__, __LINE__)
void check_outputs(const char *name, ed_tensor *const *got, ed_tensor *const *want, const char *const *what, int n,
                   double tol, const char *file, int line);
#define CHECK_IDENTICAL(name, a, b, what, n) check_identical((name), (a), (b), (what), (n), __FILE__, __LINE__)
void check_identical(const char *name, ed_tensor *const *a, ed_tensor *const *b, const char *const *what, int n,
                     const char *file, int line);
/* run (ctx, out[0..n)) once with 1 thread and once with 2: every output
 * must be bit-identical (a kernel whose sums do not depend on the thread
 * count); the outputs are freed. */
typedef ed_status (*check_run_fn)(const void *ctx, ed_tensor **out);
#define CHECK_THREADS_IDENTICAL(run, ctx, what, n) check_threads_identical((run), (ctx), (what), (n), __FILE__, __LINE__)
void check_threads_identical(check_run_fn run, const void *ctx, const char *const *what, int n, const char *file,
                             int line);

/* The kernel of the "fast" backend (src/backend/fast/) that
 * ed_backend_find picks for op (ed_op) and pass (ed_pass) on these
 * tensors, or NULL when it picks another backend's or none. */
struct ed_kernel;
const struct ed_kernel *check_fast_kernel(int op, int pass, const void *params, ed_tensor *const *t);

/* check_max_rel_err with the largest |expected| (at least 1e-12) as floor. */
double check_err_of_scale(const ed_tensor *actual, const ed_tensor *expected);

/* Convenience constructors (heap tensors; free with ed_tensor_free). */
ed_tensor *check_randn(ed_dtype dt, int ndim, const int64_t *shape, uint64_t seed);
ed_tensor *check_rand(ed_dtype dt, int ndim, const int64_t *shape, double lo, double hi, uint64_t seed);
#define SHAPE(...) (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__}

/* Gradient check. fn computes one output from n inputs (all float64 leaves
 * that require grad, except those listed with no_grad[i] = 1). The check
 * draws a fixed random weight tensor R, backpropagates sum(out * R), and
 * compares every input's gradient with central differences
 * (f(x+h) - f(x-h)) / 2h. Returns the largest relative error. */
typedef ed_status (*check_fn)(ed_tensor *const *inputs, void *ctx, ed_tensor **out);
double check_gradcheck(const char *name, check_fn fn, void *ctx, int n, ed_tensor *const *inputs,
                       const int *no_grad, double h, double tol);

/* Golden files: tests/golden/<name>.safetensors, written by
 * tests/golden/make_golden.py. Case k's tensors are named "<k>.<what>" and
 * its arguments are the JSON object in metadata key "<k>". */
typedef struct golden golden;
golden *golden_open(const char *name);     /* NULL (and a failed check) if missing */
void golden_close(golden *g);
int golden_cases(const golden *g);
cJSON *golden_args(golden *g, int k);      /* borrowed JSON object */
ed_tensor *golden_tensor(golden *g, int k, const char *what); /* borrowed; NULL if absent */
/* Helpers on args: int, double, bool, string, int pair (an int or a list). */
int golden_int(const cJSON *args, const char *key, int def);
double golden_double(const cJSON *args, const char *key, double def);
const char *golden_str(const cJSON *args, const char *key, const char *def);
void golden_pair(const cJSON *args, const char *key, int def, int out[2]);

#endif
