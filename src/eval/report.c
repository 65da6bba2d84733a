/* The HTML report: one page gathering a run's numbers and pictures, which a
 * browser opens with nothing else installed. Blocks (metrics tables, string
 * tables, paragraphs, pictures) appear in the order they were added;
 * consecutive pictures share one wrapping row. Pictures are linked by paths
 * relative to the page's folder, or with ED_REPORT_EMBED inlined as base64
 * data URIs, so the one file can be mailed or attached to an issue.
 * Also here: the growing string buffer and the atomic file write that the
 * SVG plot shares. */
#include "eval/picture_internal.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- buffer and file helpers -------------------------------------------------- */

void ed__buf_put(ed__buf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->s = p, b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

void ed__buf_printf(ed__buf *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof small) {
        ed__buf_put(b, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    ed__buf_put(b, big, (size_t)n);
    free(big);
}

void ed__buf_escape(ed__buf *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': ed__buf_put(b, "&amp;", 5); break;
        case '<': ed__buf_put(b, "&lt;", 4); break;
        case '>': ed__buf_put(b, "&gt;", 4); break;
        case '"': ed__buf_put(b, "&quot;", 6); break;
        case '\'': ed__buf_put(b, "&#39;", 5); break;
        default: ed__buf_put(b, s, 1);
        }
    }
}

void ed__buf_free(ed__buf *b)
{
    free(b->s);
    memset(b, 0, sizeof *b);
}

ed_status ed__write_file_atomic(const char *op, const char *path, const void *data, size_t len)
{
    if (!path || !*path) return ed__err(ED_E_ARG, "%s: path is NULL or empty", op);
    size_t n = strlen(path);
    char *tmp = malloc(n + 5);
    if (!tmp) return ed__err(ED_E_NOMEM, "%s: out of memory", op);
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmp", 5);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        ed_status s = ed__err(ED_E_IO, "%s: %s: cannot create: %s", op, tmp, strerror(errno));
        free(tmp);
        return s;
    }
    int ok = fwrite(data, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;
    ed_status s = ED_OK;
    if (!ok) s = ed__err(ED_E_IO, "%s: %s: write failed: %s", op, tmp, strerror(errno));
    else if (rename(tmp, path) != 0)
        s = ed__err(ED_E_IO, "%s: cannot rename %s to %s: %s", op, tmp, path, strerror(errno));
    if (s != ED_OK) remove(tmp);
    free(tmp);
    return s;
}

/* ---- the report ------------------------------------------------------------------ */

enum { BLOCK_METRICS, BLOCK_TABLE, BLOCK_TEXT, BLOCK_PICTURE };

typedef struct block {
    int kind;
    char *caption;          /* table caption, picture caption, paragraph text */
    char *path;             /* picture: relative to the report's folder */
    int rows, cols;         /* tables; metrics have 2 columns and no header */
    char **cells;
} block;

struct ed_report {
    char *html_path, *dir, *title;
    block *blocks;
    int n, cap;
};

static char *dup_str(const char *s)
{
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

ed_status ed_report_new(const char *html_path, const char *title, ed_report **out)
{
    if (!out) return ed__err(ED_E_ARG, "report_new: out is NULL");
    *out = NULL;
    if (!html_path || !*html_path) return ed__err(ED_E_ARG, "report_new: html_path is NULL or empty");
    ed_report *r = calloc(1, sizeof *r);
    if (!r) return ed__err(ED_E_NOMEM, "report_new: out of memory");
    r->html_path = dup_str(html_path);
    r->title = dup_str(title ? title : "encdec report");
    r->dir = dup_str(html_path);
    if (!r->html_path || !r->title || !r->dir) {
        ed_report_free(r);
        return ed__err(ED_E_NOMEM, "report_new: out of memory");
    }
    char *slash = strrchr(r->dir, '/');
    if (slash) slash[slash == r->dir ? 1 : 0] = 0;   /* "/x.html" keeps "/" */
    else strcpy(r->dir, ".");
    *out = r;
    return ED_OK;
}

static void free_block(block *b)
{
    for (int i = 0; b->cells && i < b->rows * b->cols; i++) free(b->cells[i]);
    free(b->cells);
    free(b->caption);
    free(b->path);
}

void ed_report_free(ed_report *r)
{
    if (!r) return;
    for (int i = 0; i < r->n; i++) free_block(&r->blocks[i]);
    free(r->blocks);
    free(r->html_path);
    free(r->dir);
    free(r->title);
    free(r);
}

static block *new_block(ed_report *r, int kind)
{
    if (r->n == r->cap) {
        int cap = r->cap ? 2 * r->cap : 8;
        block *b = realloc(r->blocks, (size_t)cap * sizeof *b);
        if (!b) return NULL;
        r->blocks = b, r->cap = cap;
    }
    block *b = &r->blocks[r->n++];
    memset(b, 0, sizeof *b);
    b->kind = kind;
    return b;
}

/* Integers as integers; everyday magnitudes with 4 decimals; the rest in
 * 4 significant digits, so 1e-6 does not read as 0.0000. */
static void format_value(double v, char *buf, size_t n)
{
    if (isnan(v)) snprintf(buf, n, "n/a");
    else if (isinf(v)) snprintf(buf, n, v > 0 ? "inf" : "-inf");
    else if (v == floor(v) && fabs(v) < 1e15) snprintf(buf, n, "%.0f", v);
    else if (fabs(v) >= 1e-2 && fabs(v) < 1e6) snprintf(buf, n, "%.4f", v);
    else snprintf(buf, n, "%.4g", v);
}

ed_status ed_report_add_metric(ed_report *r, const char *name, double value)
{
    if (!r || !name) return ed__err(ED_E_ARG, "report_add_metric: report or name is NULL");
    block *b = r->n ? &r->blocks[r->n - 1] : NULL;
    if (!b || b->kind != BLOCK_METRICS) {
        if (!(b = new_block(r, BLOCK_METRICS))) return ed__err(ED_E_NOMEM, "report_add_metric: out of memory");
        b->cols = 2;
    }
    char **cells = realloc(b->cells, (size_t)(b->rows + 1) * 2 * sizeof *cells);
    if (!cells) return ed__err(ED_E_NOMEM, "report_add_metric: out of memory");
    b->cells = cells;
    char v[64];
    format_value(value, v, sizeof v);
    cells[2 * b->rows] = dup_str(name);
    cells[2 * b->rows + 1] = dup_str(v);
    b->rows++;
    if (!cells[2 * b->rows - 2] || !cells[2 * b->rows - 1]) return ed__err(ED_E_NOMEM, "report_add_metric: out of memory");
    return ED_OK;
}

ed_status ed_report_add_table(ed_report *r, const char *caption, int rows, int cols, const char *const *cells)
{
    if (!r || !cells) return ed__err(ED_E_ARG, "report_add_table: report or cells is NULL");
    if (rows < 1 || cols < 1 || rows > 100000 || cols > 1000)
        return ed__err(ED_E_ARG, "report_add_table: needs 1..100000 rows and 1..1000 columns, got %d x %d", rows, cols);
    for (int i = 0; i < rows * cols; i++)
        if (!cells[i]) return ed__err(ED_E_ARG, "report_add_table: cell %d (row %d, column %d) is NULL", i, i / cols, i % cols);
    block *b = new_block(r, BLOCK_TABLE);
    if (!b) return ed__err(ED_E_NOMEM, "report_add_table: out of memory");
    b->cells = calloc((size_t)rows * cols, sizeof *b->cells);
    b->caption = dup_str(caption);
    if (b->cells) b->rows = rows, b->cols = cols;
    int ok = b->cells && (!caption || b->caption);
    for (int i = 0; ok && i < rows * cols; i++) ok = (b->cells[i] = dup_str(cells[i])) != NULL;
    return ok ? ED_OK : ed__err(ED_E_NOMEM, "report_add_table: out of memory");
}

ed_status ed_report_add_text(ed_report *r, const char *text)
{
    if (!r || !text) return ed__err(ED_E_ARG, "report_add_text: report or text is NULL");
    block *b = new_block(r, BLOCK_TEXT);
    if (!b || !(b->caption = dup_str(text))) return ed__err(ED_E_NOMEM, "report_add_text: out of memory");
    return ED_OK;
}

static const char *mime_of(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (!dot || strchr(dot, '/')) return NULL;
    if (!strcasecmp(dot, ".png")) return "image/png";
    if (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg")) return "image/jpeg";
    if (!strcasecmp(dot, ".svg")) return "image/svg+xml";
    return NULL;
}

/* A path under the report's folder: relative, no ".." component. */
static int safe_rel(const char *p)
{
    if (!*p || *p == '/') return 0;
    for (const char *s = p; *s;) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 0 || (n == 2 && s[0] == '.' && s[1] == '.')) return 0;
        s += n + (e ? 1 : 0);
        if (e && !*s) return 0;
    }
    return 1;
}

static char *join(const char *dir, const char *rel)
{
    size_t a = strlen(dir), b = strlen(rel);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, rel, b + 1);
    return p;
}

static ed_status add_picture(ed_report *r, const char *op, const char *rel, const char *caption)
{
    block *b = new_block(r, BLOCK_PICTURE);
    if (!b) return ed__err(ED_E_NOMEM, "%s: out of memory", op);
    b->path = dup_str(rel);
    b->caption = dup_str(caption);
    if (!b->path || (caption && !b->caption)) return ed__err(ED_E_NOMEM, "%s: out of memory", op);
    return ED_OK;
}

ed_status ed_report_add_file(ed_report *r, const char *rel_path, const char *caption)
{
    if (!r || !rel_path) return ed__err(ED_E_ARG, "report_add_file: report or rel_path is NULL");
    if (!safe_rel(rel_path))
        return ed__err(ED_E_ARG, "report_add_file: '%s' must be a relative path inside the report's folder (no leading "
                                 "'/', no '..')", rel_path);
    if (!mime_of(rel_path))
        return ed__err(ED_E_ARG, "report_add_file: '%s' is not a .png, .jpg, .jpeg or .svg file", rel_path);
    return add_picture(r, "report_add_file", rel_path, caption);
}

ed_status ed_report_add_image(ed_report *r, const ed_image *img, const char *file_name, const char *caption)
{
    if (!r || !img || !file_name) return ed__err(ED_E_ARG, "report_add_image: report, image or file_name is NULL");
    if (!*file_name || strchr(file_name, '/') || !strcmp(file_name, ".") || !strcmp(file_name, ".."))
        return ed__err(ED_E_ARG, "report_add_image: file_name must be a plain file name, got '%s'", file_name);
    const char *mime = mime_of(file_name);
    if (!mime || strcmp(mime, "image/png"))
        return ed__err(ED_E_ARG, "report_add_image: file_name must end in .png, got '%s'", file_name);
    char *path = join(r->dir, file_name);
    if (!path) return ed__err(ED_E_NOMEM, "report_add_image: out of memory");
    ed_status s = ed_image_save_png(path, img);
    free(path);
    ED_TRY(s);
    return add_picture(r, "report_add_image", file_name, caption);
}

/* A relative path as a URL: bytes other than letters, digits, - . _ ~ /
 * are percent-encoded, so '#', '?' and spaces in names keep working. */
static void put_url(ed__buf *out, const char *path)
{
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-._~/", *p))
            ed__buf_put(out, (const char *)p, 1);
        else
            ed__buf_printf(out, "%%%02X", *p);
    }
}

static void put_base64(ed__buf *out, const uint8_t *d, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char q[4];
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0) | (i + 2 < n ? d[i + 2] : 0);
        q[0] = tab[v >> 18 & 63], q[1] = tab[v >> 12 & 63];
        q[2] = i + 1 < n ? tab[v >> 6 & 63] : '=';
        q[3] = i + 2 < n ? tab[v & 63] : '=';
        ed__buf_put(out, q, 4);
    }
}

static ed_status read_all(const char *path, uint8_t **data, size_t *len)
{
    *data = NULL, *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return ed__err(ED_E_IO, "report_write: picture %s cannot be read: %s", path, strerror(errno));
    ed__buf b = {0};
    char chunk[65536];
    size_t k;
    while ((k = fread(chunk, 1, sizeof chunk, f)) > 0) ed__buf_put(&b, chunk, k);
    int err = ferror(f);
    fclose(f);
    if (b.oom || err) {
        ed__buf_free(&b);
        return err ? ed__err(ED_E_IO, "report_write: picture %s: read failed", path)
                   : ed__err(ED_E_NOMEM, "report_write: out of memory reading %s", path);
    }
    *data = (uint8_t *)b.s, *len = b.len;
    return ED_OK;
}

static int is_number(const char *s)
{
    char *end;
    if (!*s) return 0;
    strtod(s, &end);
    return *end == 0 || !strcmp(s, "n/a");
}

static void put_table(ed__buf *h, const block *b)
{
    int header = b->kind == BLOCK_TABLE;
    ed__buf_printf(h, "<table class=\"%s\">\n", header ? "data" : "metrics");
    if (b->caption) {
        ed__buf_printf(h, "<caption>");
        ed__buf_escape(h, b->caption);
        ed__buf_printf(h, "</caption>\n");
    }
    for (int i = 0; i < b->rows; i++) {
        ed__buf_printf(h, "<tr>");
        for (int j = 0; j < b->cols; j++) {
            const char *c = b->cells[i * b->cols + j];
            int th = (header && i == 0) || (!header && j == 0);
            ed__buf_printf(h, "<%s%s>", th ? "th" : "td", !th && is_number(c) ? " class=\"num\"" : "");
            ed__buf_escape(h, c);
            ed__buf_printf(h, "</%s>", th ? "th" : "td");
        }
        ed__buf_printf(h, "</tr>\n");
    }
    ed__buf_printf(h, "</table>\n");
}

static const char *style =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;color:#222;"
    "background:#fff;max-width:1200px;margin:1.5em auto;padding:0 1.2em;line-height:1.45}\n"
    "h1{font-size:1.7em;margin:0 0 .8em;padding-bottom:.3em;border-bottom:2px solid #e3e3e3}\n"
    "table{border-collapse:collapse;margin:1em 0 1.5em}\n"
    "th,td{border:1px solid #d0d0d0;padding:.3em .9em;text-align:left}\n"
    "th{background:#f4f4f4;font-weight:600}\n"
    "td.num{text-align:right;font-family:ui-monospace,Menlo,Consolas,monospace}\n"
    "caption{caption-side:top;text-align:left;font-weight:600;padding:.2em 0 .4em}\n"
    ".pictures{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start;margin:1em 0 1.5em}\n"
    "figure{margin:0;max-width:100%}\n"
    "figure img{display:block;max-width:100%;height:auto;border:1px solid #e3e3e3}\n"
    "figcaption{color:#555;font-size:.92em;margin-top:.35em}\n"
    "footer{color:#999;font-size:.8em;margin-top:2em;border-top:1px solid #eee;padding-top:.5em}\n";

ed_status ed_report_write(ed_report *r, int flags)
{
    if (!r) return ed__err(ED_E_ARG, "report_write: report is NULL");
    if (flags & ~ED_REPORT_EMBED) return ed__err(ED_E_ARG, "report_write: unknown flags 0x%x", (unsigned)flags);
    ed__buf h = {0};
    ed_status s = ED_OK;
    ed__buf_printf(&h, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
    ed__buf_escape(&h, r->title);
    ed__buf_printf(&h, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>", style);
    ed__buf_escape(&h, r->title);
    ed__buf_printf(&h, "</h1>\n");
    for (int i = 0; i < r->n && s == ED_OK; i++) {
        const block *b = &r->blocks[i];
        if (b->kind == BLOCK_METRICS || b->kind == BLOCK_TABLE) {
            put_table(&h, b);
        } else if (b->kind == BLOCK_TEXT) {
            ed__buf_printf(&h, "<p>");
            ed__buf_escape(&h, b->caption);
            ed__buf_printf(&h, "</p>\n");
        } else {
            int first = i == 0 || r->blocks[i - 1].kind != BLOCK_PICTURE;
            int last = i == r->n - 1 || r->blocks[i + 1].kind != BLOCK_PICTURE;
            if (first) ed__buf_printf(&h, "<div class=\"pictures\">\n");
            char *full = join(r->dir, b->path);
            uint8_t *data = NULL;
            size_t len = 0;
            if (!full) s = ed__err(ED_E_NOMEM, "report_write: out of memory");
            else s = read_all(full, &data, &len);   /* also proves a link is not dangling */
            free(full);
            if (s != ED_OK) break;
            ed__buf_printf(&h, "<figure><img src=\"");
            if (flags & ED_REPORT_EMBED) {
                ed__buf_printf(&h, "data:%s;base64,", mime_of(b->path));
                put_base64(&h, data, len);
            } else {
                put_url(&h, b->path);
            }
            free(data);
            ed__buf_printf(&h, "\" alt=\"");
            ed__buf_escape(&h, b->caption ? b->caption : b->path);
            ed__buf_printf(&h, "\">");
            if (b->caption) {
                ed__buf_printf(&h, "<figcaption>");
                ed__buf_escape(&h, b->caption);
                ed__buf_printf(&h, "</figcaption>");
            }
            ed__buf_printf(&h, "</figure>\n");
            if (last) ed__buf_printf(&h, "</div>\n");
        }
    }
    ed__buf_printf(&h, "<footer>Made by encdec %s</footer>\n</body>\n</html>\n", ED_VERSION);
    if (s == ED_OK && h.oom) s = ed__err(ED_E_NOMEM, "report_write: out of memory");
    if (s == ED_OK) s = ed__write_file_atomic("report_write", r->html_path, h.s, h.len);
    ed__buf_free(&h);
    return s;
}
