/* The .npy reader (npy.h). Layout (numpy's format.py): the magic
 * "\x93NUMPY", major and minor version bytes, the header length (uint16
 * little-endian for version 1, uint32 for 2 and 3), then the header: a
 * Python dict literal such as
 *     {'descr': '<f4', 'fortran_order': False, 'shape': (11, 360, 480), }
 * padded with spaces and a newline, then the data. The dict is parsed by
 * hand - it is always this shape - and every deviation is an error, so a
 * file that is not what it claims never reaches the CRF. */
#include "npy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t errn, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errn, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errn, fmt, ap);
    va_end(ap);
    return -1;
}

/* The value text after 'key': in the header h (NUL-terminated), or NULL. */
static const char *value_of(const char *h, const char *key)
{
    char pat[40];
    snprintf(pat, sizeof pat, "'%s'", key);
    const char *p = strstr(h, pat);
    if (!p) {
        snprintf(pat, sizeof pat, "\"%s\"", key);
        p = strstr(h, pat);
    }
    if (!p) return NULL;
    p += strlen(pat);
    while (*p == ' ') p++;
    if (*p != ':') return NULL;
    p++;
    while (*p == ' ') p++;
    return p;
}

static const char *dtype_words(const char *d)
{
    static const struct { const char *descr, *name; } names[] = {
        { "<f8", "float64" }, { "<f2", "float16" }, { ">f4", "big-endian float32" }, { "<i8", "int64" },
        { "<i4", "int32" }, { "|u1", "uint8" }, { "|b1", "bool" }, { "<u2", "uint16" },
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(d, names[i].descr)) return names[i].name;
    return "not float32";
}

int npy_parse_f32(const unsigned char *buf, size_t len, const char *name, ed_tensor **out, char *err, size_t errn)
{
    *out = NULL;
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6))
        return fail(err, errn, "%s is not a .npy file (no \\x93NUMPY signature; save it with np.save)", name);
    int major = buf[6];
    size_t hlen, hstart;
    if (major == 1) {
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
        hstart = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12) return fail(err, errn, "%s is truncated in its header", name);
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
        hstart = 12;
    } else {
        return fail(err, errn, "%s has .npy format version %d.%d; versions 1 to 3 are read", name, major, buf[7]);
    }
    if (hlen > len - hstart || hlen > (1u << 20)) return fail(err, errn, "%s is truncated in its header", name);
    char *h = malloc(hlen + 1);
    if (!h) return fail(err, errn, "%s: out of memory", name);
    memcpy(h, buf + hstart, hlen);
    h[hlen] = '\0';
    if (strlen(h) != hlen || h[0] != '{' || !strchr(h, '}')) {
        free(h);
        return fail(err, errn, "%s has a corrupt .npy header", name);
    }

    int rc = -1;
    /* descr */
    const char *v = value_of(h, "descr");
    char descr[32] = "";
    if (v && (*v == '\'' || *v == '"')) {
        const char *e = strchr(v + 1, *v);
        if (e && (size_t)(e - v - 1) < sizeof descr) {
            memcpy(descr, v + 1, (size_t)(e - v - 1));
            descr[e - v - 1] = '\0';
        }
    }
    if (!descr[0]) {
        fail(err, errn, "%s has a corrupt .npy header (no 'descr' string; a structured dtype?)", name);
        goto out;
    }
    if (strcmp(descr, "<f4")) {
        fail(err, errn, "%s holds dtype '%s' (%s); float32 ('<f4') is needed: save np.asarray(p, np.float32)", name,
             descr, dtype_words(descr));
        goto out;
    }
    /* fortran_order */
    v = value_of(h, "fortran_order");
    if (!v || (strncmp(v, "False", 5) && strncmp(v, "True", 4))) {
        fail(err, errn, "%s has a corrupt .npy header (no 'fortran_order')", name);
        goto out;
    }
    if (!strncmp(v, "True", 4)) {
        fail(err, errn, "%s is in Fortran order; save np.ascontiguousarray(p) instead", name);
        goto out;
    }
    /* shape: a tuple of non-negative integers, "()" for a scalar */
    v = value_of(h, "shape");
    if (!v || *v != '(') {
        fail(err, errn, "%s has a corrupt .npy header (no 'shape' tuple)", name);
        goto out;
    }
    int64_t shape[NPY_MAX_DIMS];
    int ndim = 0;
    int64_t numel = 1;
    const char *p = v + 1;
    for (;;) {
        while (*p == ' ') p++;
        if (*p == ')') break;
        if (*p < '0' || *p > '9') {
            fail(err, errn, "%s has a corrupt .npy header (bad 'shape')", name);
            goto out;
        }
        char *end;
        errno = 0;
        long long d = strtoll(p, &end, 10);
        if (errno || d < 0 || d > INT32_MAX) {
            fail(err, errn, "%s has a corrupt .npy header (dimension out of range)", name);
            goto out;
        }
        if (ndim == NPY_MAX_DIMS) {
            fail(err, errn, "%s has more than %d dimensions", name, NPY_MAX_DIMS);
            goto out;
        }
        shape[ndim++] = d;
        if (d && numel > INT64_MAX / 4 / d) {
            fail(err, errn, "%s is too large", name);
            goto out;
        }
        numel *= d;
        p = end;
        while (*p == ' ') p++;
        if (*p == ',') p++;
        else if (*p != ')') {
            fail(err, errn, "%s has a corrupt .npy header (bad 'shape')", name);
            goto out;
        }
    }
    size_t data = hstart + hlen, want = (size_t)numel * 4;
    if (len - data < want) {
        fail(err, errn, "%s is truncated: its header promises %lld floats (%zu bytes) but %zu bytes follow", name,
             (long long)numel, want, len - data);
        goto out;
    }
    if (len - data > want) {
        fail(err, errn, "%s has %zu bytes after its %lld floats; it is not one .npy array", name, len - data - want,
             (long long)numel);
        goto out;
    }
    if (ed_tensor_from_data(ED_F32, ndim, shape, buf + data, out) != ED_OK) {
        fail(err, errn, "%s: %s", name, ed_last_error());
        goto out;
    }
    rc = 0;
out:
    free(h);
    return rc;
}

int npy_load_f32(const char *path, ed_tensor **out, char *err, size_t errn)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return fail(err, errn, "cannot open %s: %s", path, strerror(errno));
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? 2 * cap : 1 << 16;
            unsigned char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return fail(err, errn, "%s: out of memory", path);
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    int rc = bad ? fail(err, errn, "cannot read %s", path) : npy_parse_f32(buf, len, path, out, err, errn);
    free(buf);
    return rc;
}
