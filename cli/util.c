/* Helpers shared by the verbs (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "encdec: error: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return CLI_EXIT_INPUT;
}

int cli_lib_error(const char *doing)
{
    return cli_error("%s%s%s", doing ? doing : "", doing ? ": " : "", ed_last_error());
}

int cli_usage(const char *verb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "encdec: error: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'encdec %s --help'.\n", verb);
    va_end(ap);
    return CLI_EXIT_USAGE;
}

void cli_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "encdec: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

bool cli_flag(char **argv, int *i, const char *name)
{
    return !strcmp(argv[*i], name);
}

const char *cli_value(int argc, char **argv, int *i, const char *name, bool *missing)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n)) return NULL;
    if (argv[*i][n] == '=') return argv[*i] + n + 1;
    if (argv[*i][n] != '\0') return NULL;
    if (*i + 1 >= argc) { *missing = true; return NULL; }
    return argv[++*i];
}

bool cli_parse_int(const char *s, long lo, long hi, long *out)
{
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

bool cli_parse_double(const char *s, double lo, double hi, double *out)
{
    if (!s || !*s) return false;
    char *end;
    double v = strtod(s, &end);
    if (*end || !(v >= lo && v <= hi)) return false;
    *out = v;
    return true;
}

int cli_conv_algo(const char *verb, const char *v)
{
    if (!strcmp(v, "direct")) return ed_set_conv_algo(ED_CONV_ALGO_DIRECT) == ED_OK ? 0 : cli_lib_error("--conv-algo");
    if (!strcmp(v, "winograd")) return ed_set_conv_algo(ED_CONV_ALGO_WINOGRAD) == ED_OK ? 0 : cli_lib_error("--conv-algo");
    return cli_usage(verb, "--conv-algo takes direct or winograd, got '%s'", v);
}

bool cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return true;
    return false;
}

static bool is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

const char *cli_data_root(const char *given, char *buf, size_t n)
{
    if (given) { snprintf(buf, n, "%s", given); return buf; }
    const char *env = getenv("ENCDEC_DATA");
    if (env && *env) { snprintf(buf, n, "%s", env); return buf; }
    static const char *const guesses[] = { "../shared/data", "../../shared/data", "shared/data" };
    for (size_t i = 0; i < sizeof guesses / sizeof guesses[0]; i++)
        if (is_dir(guesses[i])) { snprintf(buf, n, "%s", guesses[i]); return buf; }
    /* Beside the executable's source tree: <repo>/build/encdec -> <repo>/../shared/data */
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = '\0';
        for (int up = 0; up < 3; up++) {
            char *slash = strrchr(exe, '/');
            if (!slash) break;
            *slash = '\0';
            snprintf(buf, n, "%s/../shared/data", exe);
            if (is_dir(buf)) return buf;
        }
    }
    return NULL;
}

int cli_mkdirs(const char *dir)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) return cli_error("folder name too long: %s", dir);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || !*p) {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return cli_error("cannot create folder %s: %s", buf, strerror(errno));
            if (!c) return 0;
            *p = c;
        }
    }
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static bool progress_shown;

void cli_progress(const char *what, long done, long total, double elapsed, const char *extra)
{
    if (!isatty(STDERR_FILENO) || total <= 0) return;
    int width = 30, fill = (int)(width * done / total);
    double eta = done > 0 ? elapsed * (double)(total - done) / (double)done : 0;
    fprintf(stderr, "\r%s [", what);
    for (int i = 0; i < width; i++) fputc(i < fill ? '#' : '.', stderr);
    fprintf(stderr, "] %ld/%ld  ETA %02d:%02d  %s\033[K", done, total, (int)eta / 60, (int)eta % 60, extra ? extra : "");
    fflush(stderr);
    progress_shown = true;
}

void cli_progress_end(void)
{
    if (progress_shown) fprintf(stderr, "\r\033[K");
    progress_shown = false;
}
