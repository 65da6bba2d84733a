/* Shared helpers of the encdec command: errors in one format, option
 * parsing, progress lines. Each verb lives in cmd_<verb>.c. */
#ifndef ED_CLI_H
#define ED_CLI_H

#include "encdec.h"

#include <stdbool.h>

/* Exit statuses: 1 for bad input or a failed operation, 2 for bad usage. */
#define CLI_EXIT_INPUT 1
#define CLI_EXIT_USAGE 2

/* "encdec: error: <message>" on stderr; returns CLI_EXIT_INPUT. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The library's last error, prefixed with what was being done. */
int cli_lib_error(const char *doing);
/* "encdec: error: <message>\nTry 'encdec <verb> --help'."; returns CLI_EXIT_USAGE. */
int cli_usage(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Option parsing over argv[1..]: cli_flag() for --name, cli_value() for
 * --name VALUE or --name=VALUE (returns NULL when argv[*i] is not it).
 * Parse loops call cli_unknown() for anything left. */
bool cli_flag(char **argv, int *i, const char *name);
const char *cli_value(int argc, char **argv, int *i, const char *name, bool *missing);
bool cli_parse_int(const char *s, long lo, long hi, long *out);
bool cli_parse_double(const char *s, double lo, double hi, double *out);
bool cli_wants_help(int argc, char **argv);
/* --conv-algo direct|winograd (include/encdec/precision.h): sets the
 * setting; 0, or the usage error's exit status. */
int cli_conv_algo(const char *verb, const char *v);

/* Data folder: --data, else $ENCDEC_DATA, else ../shared/data beside the
 * source tree or the working directory. Returns NULL if none exists. */
const char *cli_data_root(const char *given, char *buf, size_t n);

/* Progress: a bar with ETA on a terminal, nothing otherwise (callers print
 * one plain line per epoch). */
void cli_progress(const char *what, long done, long total, double elapsed_s, const char *extra);
void cli_progress_end(void);
double cli_now(void);
/* mkdir -p: 0, or an exit status after printing the error. */
int cli_mkdirs(const char *dir);

/* One training step in the arena ar: the batch x (xs shape) and target y
 * (ys shape) are copied from host buffers, the model runs in training mode,
 * the loss (MSE, or L1 with l1; la NULL for defaults) is backpropagated,
 * the arena reset, the optimizer stepped (only if all went well) and the
 * gradients zeroed. *loss is its value, NaN on failure. cli/train_step.c */
ed_status cli_train_step(ed_model *m, ed_optim *opt, ed_arena *ar, const float *x, const int64_t xs[4], const float *y,
                         const int64_t ys[4], const ed_loss_args *la, bool l1, double *loss);

/* The verbs. */
int cmd_demo(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_data(int argc, char **argv);
int cmd_enhance(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_crf(int argc, char **argv);
int cmd_eval(int argc, char **argv);

#endif
