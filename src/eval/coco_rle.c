/* COCO run-length encoded masks, as pycocotools' maskApi.c (Dollar and Lin,
 * 2015) so that areas, boxes and IoUs agree bit for bit:
 *   mask h x w, column-major (pixel (y, x) at x * h + y); counts alternate
 *   runs of 0s and 1s starting with 0s, summing to h * w.
 *   rle_from_polygon: maskApi's rleFrPoly. The outline is walked at 5x
 *   resolution, one point per step of the longer axis; each step that moves
 *   in x and lands on a pixel-centre column gives the first row inside the
 *   shape there; sorted, these positions are where runs flip.
 *   IoU: as rleIou, a box test first (bbIou of rleToBbox boxes), then runs
 *   are walked together; for a crowd gt the union is the detection's area.
 * Merge and IoU walk runs skipping empty ones, so they also hold for RLEs
 * with zero counts inside (maskApi's loops may stop early there); on the
 * canonical RLEs that encode/frPoly/merge make they agree with maskApi. */
#include "eval/coco_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLY_MAX_COORD 1e6
#define POLY_MAX_STEPS ((int64_t)1 << 26)   /* outline points at 5x, all edges */

void ed_coco_rle_free(ed_coco_rle *r)
{
    if (!r) return;
    free(r->counts);
    memset(r, 0, sizeof *r);
}

static ed_status check_size(int h, int w, const char *op)
{
    if (h < 1 || w < 1 || h > ED_COCO_MAX_SIDE || w > ED_COCO_MAX_SIDE)
        return ed__err(ED_E_ARG, "%s: mask size must be 1..%d per side, got h %d, w %d", op, ED_COCO_MAX_SIDE, h, w);
    return ED_OK;
}

/* out takes m counts copied from src (src may be NULL: left for the caller). */
static ed_status rle_init(ed_coco_rle *out, int h, int w, int64_t m, const uint32_t *src)
{
    uint32_t *c = malloc(sizeof *c * (size_t)(m > 0 ? m : 1));
    if (!c) return ed__err(ED_E_NOMEM, "coco rle: cannot allocate %lld counts", (long long)m);
    if (src && m > 0) memcpy(c, src, sizeof *c * (size_t)m);
    out->h = h; out->w = w; out->m = m; out->counts = c;
    return ED_OK;
}

ed_status ed__coco_rle_check(const ed_coco_rle *r, const char *what)
{
    if (!r) return ed__err(ED_E_ARG, "%s: rle is NULL", what);
    if (r->h < 1 || r->w < 1 || r->h > ED_COCO_MAX_SIDE || r->w > ED_COCO_MAX_SIDE)
        return ed__err(ED_E_ARG, "%s: mask size must be 1..%d per side, got h %d, w %d", what, ED_COCO_MAX_SIDE,
                       r->h, r->w);
    if (r->m < 1 || !r->counts) return ed__err(ED_E_ARG, "%s: rle has no counts", what);
    uint64_t sum = 0;
    for (int64_t j = 0; j < r->m; j++) sum += r->counts[j];
    uint64_t want = (uint64_t)r->h * (uint64_t)r->w;
    if (sum != want)
        return ed__err(ED_E_FORMAT, "%s: rle counts sum to %llu, not h * w = %d * %d = %llu", what,
                       (unsigned long long)sum, r->h, r->w, (unsigned long long)want);
    return ED_OK;
}

ed_status ed__coco_rle_copy(const ed_coco_rle *src, ed_coco_rle *dst)
{
    return rle_init(dst, src->h, src->w, src->m, src->counts);
}

ed_status ed_coco_rle_encode(const uint8_t *mask, int h, int w, ed_coco_rle *out)
{
    if (!mask || !out) return ed__err(ED_E_ARG, "coco_rle_encode: mask or out is NULL");
    ED_TRY(check_size(h, w, "coco_rle_encode"));
    int64_t a = (int64_t)h * w, m = 1;
    uint8_t p = 0;
    for (int64_t j = 0; j < a; j++) {
        uint8_t v = mask[j] != 0;
        if (v != p) { m++; p = v; }
    }
    ED_TRY(rle_init(out, h, w, m, NULL));
    int64_t k = 0;
    uint32_t c = 0;
    p = 0;
    for (int64_t j = 0; j < a; j++) {
        uint8_t v = mask[j] != 0;
        if (v != p) { out->counts[k++] = c; c = 0; p = v; }
        c++;
    }
    out->counts[k] = c;
    return ED_OK;
}

ed_status ed_coco_rle_decode(const ed_coco_rle *r, uint8_t *mask)
{
    if (!mask) return ed__err(ED_E_ARG, "coco_rle_decode: mask is NULL");
    ED_TRY(ed__coco_rle_check(r, "coco_rle_decode"));
    uint8_t v = 0;
    for (int64_t j = 0; j < r->m; j++) {
        memset(mask, v, r->counts[j]);
        mask += r->counts[j];
        v = !v;
    }
    return ED_OK;
}

/* Each count (minus the one two before, from the fourth on) as 5-bit groups,
 * low first; bit 0x20 says another group follows, and the last group's bit
 * 0x10 is the sign. Chars are '0' + group. */
ed_status ed_coco_rle_to_string(const ed_coco_rle *r, char **out)
{
    if (!r || !out || (r->m > 0 && !r->counts)) return ed__err(ED_E_ARG, "coco_rle_to_string: rle or out is NULL");
    char *s = malloc((size_t)r->m * 7 + 1);   /* 34 bits at most: 7 groups */
    if (!s) return ed__err(ED_E_NOMEM, "coco_rle_to_string: cannot allocate %lld counts", (long long)r->m);
    size_t p = 0;
    for (int64_t i = 0; i < r->m; i++) {
        int64_t x = (int64_t)r->counts[i];
        if (i > 2) x -= (int64_t)r->counts[i - 2];
        int more = 1;
        while (more) {
            int c = (int)(x & 0x1f);
            x >>= 5;   /* arithmetic: negative differences keep their sign */
            more = (c & 0x10) ? x != -1 : x != 0;
            if (more) c |= 0x20;
            s[p++] = (char)(c + 48);
        }
    }
    s[p] = 0;
    *out = s;
    return ED_OK;
}

ed_status ed_coco_rle_from_string(const char *s, int h, int w, ed_coco_rle *out)
{
    if (!s || !out) return ed__err(ED_E_ARG, "coco_rle_from_string: string or out is NULL");
    ED_TRY(check_size(h, w, "coco_rle_from_string"));
    size_t len = strlen(s);
    ED_TRY(rle_init(out, h, w, (int64_t)len, NULL));
    int64_t m = 0;
    size_t p = 0;
    ed_status st = ED_OK;
    while (s[p]) {
        int64_t x = 0;
        int k = 0, more = 1;
        while (more) {
            int c = (unsigned char)s[p] - 48;
            if (!s[p]) { st = ed__err(ED_E_FORMAT, "coco rle string: ends inside a count (char %zu)", p); goto fail; }
            if (c < 0 || c > 63) {
                st = ed__err(ED_E_FORMAT, "coco rle string: char %zu is '%c' (0x%02x), not in '0'..'o'", p,
                             s[p] >= 32 && s[p] < 127 ? s[p] : '?', (unsigned char)s[p]);
                goto fail;
            }
            if (k == 7) { st = ed__err(ED_E_FORMAT, "coco rle string: count %lld is longer than 7 chars", (long long)m); goto fail; }
            x |= (int64_t)(c & 0x1f) << (5 * k);
            more = c & 0x20;
            p++; k++;
            if (!more && (c & 0x10)) x -= (int64_t)1 << (5 * k);   /* sign-extend */
        }
        if (m > 2) x += (int64_t)out->counts[m - 2];
        if (x < 0 || x > (int64_t)UINT32_MAX) {
            st = ed__err(ED_E_FORMAT, "coco rle string: count %lld decodes to %lld", (long long)m, (long long)x);
            goto fail;
        }
        out->counts[m++] = (uint32_t)x;
    }
    out->m = m;
    st = ed__coco_rle_check(out, "coco rle string");
    if (st == ED_OK) return ED_OK;
fail:
    ed_coco_rle_free(out);
    return st;
}

/* ---- polygons ------------------------------------------------------------ */

typedef struct { int *pos; int64_t n, cap; } pos_list;   /* x * h + y where runs flip */

static ed_status pos_push(pos_list *l, int v)
{
    if (l->n == l->cap) {
        int64_t cap = l->cap ? l->cap * 2 : 64;
        int *p = realloc(l->pos, sizeof *p * (size_t)cap);
        if (!p) return ed__err(ED_E_NOMEM, "coco_rle_from_polygon: cannot allocate %lld points", (long long)cap);
        l->pos = p; l->cap = cap;
    }
    l->pos[l->n++] = v;
    return ED_OK;
}

static int int_cmp(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* One outline point (u, v) at 5x after (pu, pv): when u moved, the crossing
 * of a pixel-centre column (if any) gives a boundary position. */
static ed_status crossing(int pu, int pv, int u, int v, int h, int w, pos_list *l)
{
    const double scale = 5;
    if (u == pu) return ED_OK;
    double xd = (double)(u < pu ? u : u - 1);
    xd = (xd + .5) / scale - .5;
    if (floor(xd) != xd || xd < 0 || xd > w - 1) return ED_OK;
    double yd = (double)(v < pv ? v : pv);
    yd = (yd + .5) / scale - .5;
    if (yd < 0) yd = 0;
    else if (yd > h) yd = h;
    yd = ceil(yd);
    return pos_push(l, (int)xd * h + (int)yd);
}

ed_status ed_coco_rle_from_polygon(const double *xy, int n_coords, int h, int w, ed_coco_rle *out)
{
    if (!out || (!xy && n_coords > 0) || n_coords < 0)
        return ed__err(ED_E_ARG, "coco_rle_from_polygon: xy or out is NULL or n_coords < 0");
    ED_TRY(check_size(h, w, "coco_rle_from_polygon"));
    int k = n_coords / 2;
    for (int j = 0; j < 2 * k; j++)
        if (!(fabs(xy[j]) <= POLY_MAX_COORD))
            return ed__err(ED_E_RANGE, "coco_rle_from_polygon: coordinate %d is %g; must be finite, within +-%g", j,
                           xy[j], POLY_MAX_COORD);
    int *x = malloc(sizeof *x * (size_t)(k + 1)), *y = malloc(sizeof *y * (size_t)(k + 1));
    if (!x || !y) { free(x); free(y); return ed__err(ED_E_NOMEM, "coco_rle_from_polygon: %d points", k); }
    /* Vertices at 5x, rounded as maskApi: (int)(5 v + .5), toward zero. */
    int64_t steps = 0;
    for (int j = 0; j < k; j++) { x[j] = (int)(5 * xy[2 * j] + .5); y[j] = (int)(5 * xy[2 * j + 1] + .5); }
    if (k > 0) { x[k] = x[0]; y[k] = y[0]; }
    for (int j = 0; j < k; j++) {
        int dx = abs(x[j] - x[j + 1]), dy = abs(y[j] - y[j + 1]);
        steps += (dx > dy ? dx : dy) + 1;
    }
    if (steps > POLY_MAX_STEPS) {
        free(x); free(y);
        return ed__err(ED_E_RANGE, "coco_rle_from_polygon: outline of %lld points at 5x is longer than %lld",
                       (long long)steps, (long long)POLY_MAX_STEPS);
    }
    pos_list l = { 0 };
    ed_status st = ED_OK;
    int have_prev = 0, pu = 0, pv = 0;
    /* Each edge is walked along its longer axis in the direction of
     * increasing coordinate (then emitted in the edge's own order), so the
     * rounding does not depend on which way the outline runs. */
    for (int j = 0; j < k && st == ED_OK; j++) {
        int xs = x[j], xe = x[j + 1], ys = y[j], ye = y[j + 1];
        int dx = abs(xe - xs), dy = abs(ys - ye), t;
        int flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
        if (flip) { t = xs; xs = xe; xe = t; t = ys; ys = ye; ye = t; }
        int n = dx >= dy ? dx : dy;
        /* dx == dy == 0: one point (maskApi computes 0/0 there; the point's
         * row is never used, as its neighbours share its column). */
        double s = n == 0 ? 0 : dx >= dy ? (double)(ye - ys) / dx : (double)(xe - xs) / dy;
        for (int d = 0; d <= n && st == ED_OK; d++) {
            int u, v;
            t = flip ? n - d : d;
            if (dx >= dy) { u = t + xs; v = (int)(ys + s * t + .5); }
            else { v = t + ys; u = (int)(xs + s * t + .5); }
            if (have_prev) st = crossing(pu, pv, u, v, h, w, &l);
            pu = u; pv = v; have_prev = 1;
        }
    }
    free(x); free(y);
    if (st == ED_OK) st = pos_push(&l, h * w);
    if (st != ED_OK) { free(l.pos); return st; }
    /* Sorted positions -> run lengths; a zero run merges its neighbours. */
    qsort(l.pos, (size_t)l.n, sizeof *l.pos, int_cmp);
    int prev = 0;
    for (int64_t j = 0; j < l.n; j++) { int t = l.pos[j]; l.pos[j] -= prev; prev = t; }
    st = rle_init(out, h, w, l.n, NULL);
    if (st != ED_OK) { free(l.pos); return st; }
    int64_t j = 0, m = 0;
    out->counts[m++] = (uint32_t)l.pos[j++];
    while (j < l.n) {
        if (l.pos[j] > 0) out->counts[m++] = (uint32_t)l.pos[j++];
        else { j++; if (j < l.n) out->counts[m - 1] += (uint32_t)l.pos[j++]; }
    }
    out->m = m;
    free(l.pos);
    return ED_OK;
}

ed_status ed_coco_rle_from_bbox(const double bbox[4], int h, int w, ed_coco_rle *out)
{
    if (!bbox) return ed__err(ED_E_ARG, "coco_rle_from_bbox: bbox is NULL");
    double xs = bbox[0], xe = xs + bbox[2], ys = bbox[1], ye = ys + bbox[3];
    double xy[8] = { xs, ys, xs, ye, xe, ye, xe, ys };
    return ed_coco_rle_from_polygon(xy, 8, h, w, out);
}

/* ---- merge, area, box, IoU ---------------------------------------------- */

/* Walks the runs of one RLE, skipping empty ones: rem pixels left of value v. */
typedef struct { const uint32_t *c; int64_t m, i; uint32_t rem; int v; } run_iter;

static void run_start(run_iter *it, const ed_coco_rle *r)
{
    it->c = r->counts; it->m = r->m; it->i = 0; it->v = 0; it->rem = r->m > 0 ? r->counts[0] : 0;
    while (it->rem == 0 && it->i + 1 < it->m) { it->rem = it->c[++it->i]; it->v = !it->v; }
}

static void run_take(run_iter *it, uint32_t n)
{
    it->rem -= n;
    while (it->rem == 0 && it->i + 1 < it->m) { it->rem = it->c[++it->i]; it->v = !it->v; }
}

static ed_status merge2(const ed_coco_rle *a, const ed_coco_rle *b, int intersect, ed_coco_rle *out)
{
    ED_TRY(rle_init(out, a->h, a->w, a->m + b->m + 1, NULL));
    run_iter ia, ib;
    run_start(&ia, a); run_start(&ib, b);
    int64_t m = 0;
    int cur = 0;
    uint32_t cc = 0;
    while (ia.rem > 0 && ib.rem > 0) {
        uint32_t c = ia.rem < ib.rem ? ia.rem : ib.rem;
        int v = intersect ? (ia.v && ib.v) : (ia.v || ib.v);
        if (v != cur) { out->counts[m++] = cc; cc = 0; cur = v; }
        cc += c;
        run_take(&ia, c); run_take(&ib, c);
    }
    out->counts[m++] = cc;
    out->m = m;
    return ED_OK;
}

ed_status ed_coco_rle_merge(const ed_coco_rle *rs, int n, int intersect, ed_coco_rle *out)
{
    if (!rs || !out || n < 1) return ed__err(ED_E_ARG, "coco_rle_merge: needs n >= 1 masks, got %d", n);
    for (int i = 0; i < n; i++) {
        ED_TRY(ed__coco_rle_check(&rs[i], "coco_rle_merge"));
        if (rs[i].h != rs[0].h || rs[i].w != rs[0].w)
            return ed__err(ED_E_SHAPE, "coco_rle_merge: mask %d is %dx%d, mask 0 is %dx%d", i, rs[i].h, rs[i].w,
                           rs[0].h, rs[0].w);
    }
    ed_coco_rle acc;
    ED_TRY(ed__coco_rle_copy(&rs[0], &acc));
    for (int i = 1; i < n; i++) {
        ed_coco_rle next;
        ed_status st = merge2(&acc, &rs[i], intersect, &next);
        ed_coco_rle_free(&acc);
        if (st != ED_OK) return st;
        acc = next;
    }
    *out = acc;
    return ED_OK;
}

uint64_t ed_coco_rle_area(const ed_coco_rle *r)
{
    uint64_t a = 0;
    if (!r || !r->counts) return 0;
    for (int64_t j = 1; j < r->m; j += 2) a += r->counts[j];
    return a;
}

/* rleToBbox of pycocotools >= 2.0.7, in its unsigned arithmetic (a mask
 * with no pixel set but counts past the first gives its odd wrapped box). */
void ed_coco_rle_to_bbox(const ed_coco_rle *r, double bbox[4])
{
    bbox[0] = bbox[1] = bbox[2] = bbox[3] = 0;
    if (!r || !r->counts || r->h < 1 || r->w < 1) return;
    uint32_t h = (uint32_t)r->h, w = (uint32_t)r->w, xs = w, ys = h, xe = 0, ye = 0, cc = 0;
    int64_t m = (r->m / 2) * 2;
    if (m == 0) return;
    for (int64_t j = 0; j < m; j++) {
        uint32_t start = cc;
        cc += r->counts[j];
        if (j % 2 == 0 || r->counts[j] == 0) continue;
        uint32_t y0 = start % h, x0 = (start - y0) / h;
        uint32_t y1 = (cc - 1) % h, x1 = (cc - 1 - y1) / h;
        if (x0 < xs) xs = x0;
        if (x1 > xe) xe = x1;
        if (x0 < x1) { ys = 0; ye = h - 1; }
        else {
            if (y0 < ys) ys = y0;
            if (y1 > ye) ye = y1;
        }
    }
    bbox[0] = xs; bbox[2] = (uint32_t)(xe - xs + 1);
    bbox[1] = ys; bbox[3] = (uint32_t)(ye - ys + 1);
}

void ed_coco_bbox_iou(const double *dt, int m, const double *gt, int n, const uint8_t *iscrowd, double *iou)
{
    for (int g = 0; g < n; g++) {
        const double *G = gt + 4 * g;
        double ga = G[2] * G[3];
        int crowd = iscrowd && iscrowd[g];
        for (int d = 0; d < m; d++) {
            const double *D = dt + 4 * d;
            double da = D[2] * D[3], o = 0;
            double iw = fmin(D[2] + D[0], G[2] + G[0]) - fmax(D[0], G[0]);
            double ih = fmin(D[3] + D[1], G[3] + G[1]) - fmax(D[1], G[1]);
            if (iw > 0 && ih > 0) {
                double i = iw * ih, u = crowd ? da : da + ga - i;
                o = i / u;
            }
            iou[(int64_t)d * n + g] = o;
        }
    }
}

ed_status ed_coco_rle_iou(const ed_coco_rle *dt, int m, const ed_coco_rle *gt, int n, const uint8_t *iscrowd,
                          double *iou)
{
    if (m < 0 || n < 0 || (m > 0 && !dt) || (n > 0 && !gt) || (m > 0 && n > 0 && !iou))
        return ed__err(ED_E_ARG, "coco_rle_iou: NULL masks or output, or negative counts (m %d, n %d)", m, n);
    for (int d = 0; d < m; d++) ED_TRY(ed__coco_rle_check(&dt[d], "coco_rle_iou: detection"));
    for (int g = 0; g < n; g++) {
        ED_TRY(ed__coco_rle_check(&gt[g], "coco_rle_iou: ground truth"));
        if (m > 0 && (gt[g].h != dt[0].h || gt[g].w != dt[0].w))
            return ed__err(ED_E_SHAPE, "coco_rle_iou: ground truth %d is %dx%d, detection 0 is %dx%d", g, gt[g].h,
                           gt[g].w, dt[0].h, dt[0].w);
    }
    for (int d = 1; d < m; d++)
        if (dt[d].h != dt[0].h || dt[d].w != dt[0].w)
            return ed__err(ED_E_SHAPE, "coco_rle_iou: detection %d is %dx%d, detection 0 is %dx%d", d, dt[d].h,
                           dt[d].w, dt[0].h, dt[0].w);
    double *db = malloc(sizeof(double) * 4 * (size_t)(m + 1)), *gb = malloc(sizeof(double) * 4 * (size_t)(n + 1));
    if (!db || !gb) { free(db); free(gb); return ed__err(ED_E_NOMEM, "coco_rle_iou: %d x %d boxes", m, n); }
    for (int d = 0; d < m; d++) ed_coco_rle_to_bbox(&dt[d], db + 4 * d);
    for (int g = 0; g < n; g++) ed_coco_rle_to_bbox(&gt[g], gb + 4 * g);
    ed_coco_bbox_iou(db, m, gb, n, iscrowd, iou);
    free(db); free(gb);
    for (int g = 0; g < n; g++) {
        int crowd = iscrowd && iscrowd[g];
        for (int d = 0; d < m; d++) {
            double *o = &iou[(int64_t)d * n + g];
            if (!(*o > 0)) continue;
            run_iter a, b;
            run_start(&a, &dt[d]); run_start(&b, &gt[g]);
            uint64_t in = 0, un = 0;
            while (a.rem > 0 && b.rem > 0) {
                uint32_t c = a.rem < b.rem ? a.rem : b.rem;
                if (a.v || b.v) { un += c; if (a.v && b.v) in += c; }
                run_take(&a, c); run_take(&b, c);
            }
            if (in == 0) un = 1;
            else if (crowd) un = ed_coco_rle_area(&dt[d]);
            *o = (double)in / (double)un;
        }
    }
    return ED_OK;
}

/* ---- annotations ---------------------------------------------------------- */

ed_status ed__coco_segm_to_rle(const ed_coco_ann *a, int h, int w, const char *what, ed_coco_rle *out)
{
    memset(out, 0, sizeof *out);
    if (a->segm_kind == ED_COCO_SEGM_RLE) {
        ED_TRY(ed__coco_rle_check(&a->rle, what));
        if (a->rle.h != h || a->rle.w != w)
            return ed__err(ED_E_FORMAT, "%s: segmentation size [%d, %d] differs from its image's [%d, %d]", what,
                           a->rle.h, a->rle.w, h, w);
        return ed__coco_rle_copy(&a->rle, out);
    }
    if (a->segm_kind != ED_COCO_SEGM_POLYGONS) return ed__err(ED_E_FORMAT, "%s: has no segmentation", what);
    ED_TRY(check_size(h, w, what));
    int n = a->n_polygons;
    /* No polygon: an empty mask (pycocotools fails on it). */
    if (n == 0) {
        ED_TRY(rle_init(out, h, w, 1, NULL));
        out->counts[0] = (uint32_t)h * (uint32_t)w;
        return ED_OK;
    }
    /* frPyObjects: a first entry of exactly 4 numbers makes them all boxes. */
    int boxes = a->polygons[0].n == 4;
    if (!boxes && a->polygons[0].n < 4)
        return ed__err(ED_E_FORMAT, "%s: polygon 0 has %d coordinates; a polygon needs more than 4 (4 is a box)",
                       what, a->polygons[0].n);
    ed_coco_rle *rs = calloc((size_t)n, sizeof *rs);
    if (!rs) return ed__err(ED_E_NOMEM, "%s: %d polygons", what, n);
    ed_status st = ED_OK;
    for (int i = 0; i < n && st == ED_OK; i++) {
        const ed_coco_polygon *p = &a->polygons[i];
        if (boxes && p->n != 4)
            st = ed__err(ED_E_FORMAT, "%s: polygon 0 is a box (4 numbers), so every entry must be; entry %d has %d",
                         what, i, p->n);
        else if (boxes) st = ed_coco_rle_from_bbox(p->xy, h, w, &rs[i]);
        else st = ed_coco_rle_from_polygon(p->xy, p->n, h, w, &rs[i]);
    }
    if (st == ED_OK) st = ed_coco_rle_merge(rs, n, 0, out);
    for (int i = 0; i < n; i++) ed_coco_rle_free(&rs[i]);
    free(rs);
    if (st != ED_OK && ed_last_error()[0] && !strstr(ed_last_error(), what)) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", ed_last_error());
        ed__err(st, "%s: %s", what, msg);
    }
    return st;
}

int ed__coco_find_image(const ed_coco *c, int64_t id)
{
    for (int i = 0; i < c->n_images; i++)
        if (c->images[i].id == id) return i;
    return -1;
}

ed_status ed_coco_ann_to_rle(const ed_coco *c, const ed_coco_ann *a, ed_coco_rle *out)
{
    if (!c || !a || !out) return ed__err(ED_E_ARG, "coco_ann_to_rle: NULL argument");
    int i = ed__coco_find_image(c, a->image_id);
    if (i < 0)
        return ed__err(ED_E_FORMAT, "coco_ann_to_rle: annotation %lld: image_id %lld is not among the images",
                       (long long)a->id, (long long)a->image_id);
    char what[96];
    snprintf(what, sizeof what, "coco_ann_to_rle: annotation %lld", (long long)a->id);
    return ed__coco_segm_to_rle(a, c->images[i].height, c->images[i].width, what, out);
}
