/* COCO JSON in and out (cJSON): instances files (images, categories,
 * annotations with polygon or RLE segmentations) and results lists, as
 * pycocotools' COCO() and loadRes() read them. Every field is checked for
 * presence and type before use, and messages name the file, the entry
 * ("annotations[3]") and the field, so a malformed file is an error, never
 * a crash. Ids are integers within +-2^53 (exact in a double, as JSON has
 * them). Results are checked against a dataset only when evaluated. */
#include "eval/coco_internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ID 9007199254740992.0   /* 2^53 */

typedef struct { const char *where; char entry[64]; } ctx;   /* file, entry for messages */

static ed_status bad(const ctx *c, const char *fmt, const char *field, const char *detail)
{
    char what[256];
    snprintf(what, sizeof what, fmt, field, detail);
    return ed__err(ED_E_FORMAT, "coco: %s: %s: %s", c->where, c->entry, what);
}

static const char *type_name(const cJSON *j)
{
    if (cJSON_IsNumber(j)) return "a number";
    if (cJSON_IsString(j)) return "a string";
    if (cJSON_IsArray(j)) return "a list";
    if (cJSON_IsObject(j)) return "an object";
    if (cJSON_IsBool(j)) return "a boolean";
    if (cJSON_IsNull(j)) return "null";
    return "invalid";
}

static ed_status get_id(const ctx *c, const cJSON *o, const char *key, int64_t *out)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!j) return bad(c, "missing \"%s\"%s", key, "");
    if (!cJSON_IsNumber(j)) return bad(c, "\"%s\" must be an integer, got %s", key, type_name(j));
    double v = j->valuedouble;
    if (!(fabs(v) <= MAX_ID) || floor(v) != v) {
        char d[64];
        snprintf(d, sizeof d, "%.17g", v);
        return bad(c, "\"%s\" must be an integer within +-2^53, got %s", key, d);
    }
    *out = (int64_t)v;
    return ED_OK;
}

/* A finite number; *present 0 when absent (required: an error). */
static ed_status get_num(const ctx *c, const cJSON *o, const char *key, int required, double *out, int *present)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (present) *present = j != NULL;
    if (!j) return required ? bad(c, "missing \"%s\"%s", key, "") : ED_OK;
    if (!cJSON_IsNumber(j)) return bad(c, "\"%s\" must be a number, got %s", key, type_name(j));
    if (!isfinite(j->valuedouble)) return bad(c, "\"%s\" must be finite%s", key, "");
    *out = j->valuedouble;
    return ED_OK;
}

static ed_status get_str(const ctx *c, const cJSON *o, const char *key, char **out)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = NULL;
    if (!j || cJSON_IsNull(j)) return ED_OK;
    if (!cJSON_IsString(j)) return bad(c, "\"%s\" must be a string, got %s", key, type_name(j));
    *out = strdup(j->valuestring);
    if (!*out) return ed__err(ED_E_NOMEM, "coco: %s: out of memory", c->where);
    return ED_OK;
}

static ed_status get_side(const ctx *c, const cJSON *o, const char *key, int *out)
{
    double v = 0;
    ED_TRY(get_num(c, o, key, 1, &v, NULL));
    if (floor(v) != v || v < 1 || v > ED_COCO_MAX_SIDE) {
        char d[64];
        snprintf(d, sizeof d, "1..%d, got %.17g", ED_COCO_MAX_SIDE, v);
        return bad(c, "\"%s\" must be an integer in %s", key, d);
    }
    *out = (int)v;
    return ED_OK;
}

static ed_status get_bbox(const ctx *c, const cJSON *j, double bbox[4], int *has)
{
    *has = 0;
    if (!j) return ED_OK;
    if (!cJSON_IsArray(j)) return bad(c, "\"%s\" must be a list of 4 numbers, got %s", "bbox", type_name(j));
    int n = cJSON_GetArraySize(j);
    if (n == 0) return ED_OK;   /* loadRes treats [] as no box */
    if (n != 4) {
        char d[32];
        snprintf(d, sizeof d, "%d", n);
        return bad(c, "\"%s\" must be a list of 4 numbers, got %s numbers", "bbox", d);
    }
    int i = 0;
    for (const cJSON *e = j->child; e; e = e->next, i++) {
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble))
            return bad(c, "\"%s\" must hold finite numbers, got %s", "bbox", type_name(e));
        bbox[i] = e->valuedouble;
    }
    *has = 1;
    return ED_OK;
}

/* {"size": [h, w], "counts": "..." or [...]} */
static ed_status get_rle(const ctx *c, const cJSON *j, ed_coco_ann *a)
{
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(j, "size");
    const cJSON *counts = cJSON_GetObjectItemCaseSensitive(j, "counts");
    if (!size || !counts) return bad(c, "RLE segmentation is missing \"%s\"%s", size ? "counts" : "size", "");
    if (!cJSON_IsArray(size) || cJSON_GetArraySize(size) != 2 || !cJSON_IsNumber(size->child) ||
        !cJSON_IsNumber(size->child->next))
        return bad(c, "RLE \"%s\" must be a list [h, w]%s", "size", "");
    double hd = size->child->valuedouble, wd = size->child->next->valuedouble;
    if (!(hd >= 1 && hd <= ED_COCO_MAX_SIDE && wd >= 1 && wd <= ED_COCO_MAX_SIDE) || floor(hd) != hd ||
        floor(wd) != wd) {
        char d[96];
        snprintf(d, sizeof d, "1..%d, got [%.17g, %.17g]", ED_COCO_MAX_SIDE, hd, wd);
        return bad(c, "RLE \"%s\" must be integers in %s", "size", d);
    }
    int h = (int)hd, w = (int)wd;
    a->segm_kind = ED_COCO_SEGM_RLE;
    if (cJSON_IsString(counts)) {
        a->rle_compressed = 1;
        ed_status st = ed_coco_rle_from_string(counts->valuestring, h, w, &a->rle);
        if (st != ED_OK) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", ed_last_error());
            return bad(c, "segmentation \"%s\": %s", "counts", msg);
        }
        return ED_OK;
    }
    if (!cJSON_IsArray(counts))
        return bad(c, "RLE \"%s\" must be a string or a list of integers, got %s", "counts", type_name(counts));
    int n = cJSON_GetArraySize(counts);
    a->rle.h = h; a->rle.w = w; a->rle.m = n;
    a->rle.counts = malloc(sizeof(uint32_t) * (size_t)(n > 0 ? n : 1));
    if (!a->rle.counts) return ed__err(ED_E_NOMEM, "coco: %s: out of memory", c->where);
    int i = 0;
    for (const cJSON *e = counts->child; e; e = e->next, i++) {
        double v = cJSON_IsNumber(e) ? e->valuedouble : -1;
        if (!(v >= 0 && v <= UINT32_MAX) || floor(v) != v)
            return bad(c, "RLE \"%s\" must hold integers in 0..2^32-1, got %s", "counts", type_name(e));
        a->rle.counts[i] = (uint32_t)v;
    }
    ed_status st = ed__coco_rle_check(&a->rle, "segmentation");
    if (st != ED_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", ed_last_error());
        return bad(c, "%s%s", msg, "");
    }
    return ED_OK;
}

static ed_status get_segm(const ctx *c, const cJSON *j, ed_coco_ann *a)
{
    if (!j) return ED_OK;
    if (cJSON_IsObject(j)) return get_rle(c, j, a);
    if (!cJSON_IsArray(j))
        return bad(c, "\"%s\" must be a list of polygons or an RLE object, got %s", "segmentation", type_name(j));
    int n = cJSON_GetArraySize(j);
    a->segm_kind = ED_COCO_SEGM_POLYGONS;
    a->polygons = calloc((size_t)(n > 0 ? n : 1), sizeof *a->polygons);
    if (!a->polygons) return ed__err(ED_E_NOMEM, "coco: %s: out of memory", c->where);
    int i = 0;
    for (const cJSON *p = j->child; p; p = p->next, i++) {
        if (!cJSON_IsArray(p))
            return bad(c, "\"%s\" polygons must be lists of numbers, got %s", "segmentation", type_name(p));
        int k = cJSON_GetArraySize(p);
        ed_coco_polygon *poly = &a->polygons[a->n_polygons++];
        poly->xy = malloc(sizeof(double) * (size_t)(k > 0 ? k : 1));
        if (!poly->xy) return ed__err(ED_E_NOMEM, "coco: %s: out of memory", c->where);
        for (const cJSON *e = p->child; e; e = e->next) {
            if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble))
                return bad(c, "\"%s\" polygons must hold finite numbers, got %s", "segmentation", type_name(e));
            poly->xy[poly->n++] = e->valuedouble;
        }
    }
    return ED_OK;
}

static ed_status get_iscrowd(const ctx *c, const cJSON *o, int *out)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, "iscrowd");
    *out = 0;
    if (!j) return ED_OK;
    if (cJSON_IsBool(j)) { *out = cJSON_IsTrue(j); return ED_OK; }
    if (!cJSON_IsNumber(j) || (j->valuedouble != 0 && j->valuedouble != 1))
        return bad(c, "\"%s\" must be 0 or 1, got %s", "iscrowd", cJSON_IsNumber(j) ? "another number" : type_name(j));
    *out = j->valuedouble == 1;
    return ED_OK;
}

void ed_coco_free(ed_coco *c)
{
    if (!c) return;
    for (int i = 0; i < c->n_images; i++) free(c->images[i].file_name);
    for (int i = 0; i < c->n_categories; i++) { free(c->categories[i].name); free(c->categories[i].supercategory); }
    for (int i = 0; i < c->n_anns; i++) {
        ed_coco_ann *a = &c->anns[i];
        for (int k = 0; k < a->n_polygons; k++) free(a->polygons[k].xy);
        free(a->polygons);
        ed_coco_rle_free(&a->rle);
    }
    free(c->images); free(c->categories); free(c->anns);
    free(c);
}

/* ---- id lookup: sorted (id, index) pairs ---------------------------------- */

typedef struct { int64_t id; int idx; } id_pair;

static int id_cmp(const void *a, const void *b)
{
    const id_pair *x = a, *y = b;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

/* Sorts the ids of n entries; a repeated id is an error naming both. */
static ed_status index_ids(const char *where, const char *list, const int64_t *ids, size_t stride, int n,
                           id_pair **out)
{
    id_pair *p = malloc(sizeof *p * (size_t)(n > 0 ? n : 1));
    if (!p) return ed__err(ED_E_NOMEM, "coco: %s: out of memory", where);
    for (int i = 0; i < n; i++) {
        p[i].id = *(const int64_t *)((const char *)ids + stride * (size_t)i);
        p[i].idx = i;
    }
    qsort(p, (size_t)n, sizeof *p, id_cmp);
    for (int i = 1; i < n; i++)
        if (p[i].id == p[i - 1].id) {
            ed_status st = ed__err(ED_E_FORMAT, "coco: %s: %s[%d] and %s[%d] have the same id %lld", where, list,
                                   p[i - 1].idx, list, p[i].idx, (long long)p[i].id);
            free(p);
            return st;
        }
    *out = p;
    return ED_OK;
}

static int find_id(const id_pair *p, int n, int64_t id)
{
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (p[mid].id < id) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && p[lo].id == id ? p[lo].idx : -1;
}

/* ---- datasets ------------------------------------------------------------- */

static const cJSON *get_list(const ctx *c, const cJSON *root, const char *key, int required, ed_status *st)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, key);
    *st = ED_OK;
    if (!j) {
        if (required) *st = ed__err(ED_E_FORMAT, "coco: %s: missing \"%s\" (a list)", c->where, key);
        return NULL;
    }
    if (!cJSON_IsArray(j)) *st = ed__err(ED_E_FORMAT, "coco: %s: \"%s\" must be a list, got %s", c->where, key, type_name(j));
    return j;
}

static ed_status parse_ann(ctx *c, const cJSON *o, ed_coco_ann *a, int results)
{
    if (!cJSON_IsObject(o)) return bad(c, "must be an object, got %s%s", type_name(o), "");
    if (!results) ED_TRY(get_id(c, o, "id", &a->id));
    ED_TRY(get_id(c, o, "image_id", &a->image_id));
    ED_TRY(get_id(c, o, "category_id", &a->category_id));
    ED_TRY(get_bbox(c, cJSON_GetObjectItemCaseSensitive(o, "bbox"), a->bbox, &a->has_bbox));
    ED_TRY(get_segm(c, cJSON_GetObjectItemCaseSensitive(o, "segmentation"), a));
    if (results) {
        ED_TRY(get_num(c, o, "score", 1, &a->score, NULL));
        if (!a->has_bbox && a->segm_kind == ED_COCO_SEGM_NONE)
            return bad(c, "a detection needs \"%s\" or \"%s\"", "bbox", "segmentation");
    } else {
        ED_TRY(get_num(c, o, "area", 0, &a->area, &a->has_area));
        ED_TRY(get_iscrowd(c, o, &a->iscrowd));
    }
    return ED_OK;
}

static ed_status parse_dataset(const cJSON *root, ctx *c, ed_coco *out)
{
    ed_status st;
    if (!cJSON_IsObject(root))
        return ed__err(ED_E_FORMAT, "coco: %s: a dataset must be a JSON object, got %s", c->where, type_name(root));
    const cJSON *imgs = get_list(c, root, "images", 1, &st);
    if (st) return st;
    const cJSON *cats = get_list(c, root, "categories", 1, &st);
    if (st) return st;
    const cJSON *anns = get_list(c, root, "annotations", 0, &st);
    if (st) return st;
    int ni = cJSON_GetArraySize(imgs), nc = cJSON_GetArraySize(cats), na = anns ? cJSON_GetArraySize(anns) : 0;
    out->images = calloc((size_t)ni + 1, sizeof *out->images);
    out->categories = calloc((size_t)nc + 1, sizeof *out->categories);
    out->anns = calloc((size_t)na + 1, sizeof *out->anns);
    if (!out->images || !out->categories || !out->anns) return ed__err(ED_E_NOMEM, "coco: %s: out of memory", c->where);

    for (const cJSON *o = imgs->child; o; o = o->next) {
        ed_coco_image *im = &out->images[out->n_images];
        snprintf(c->entry, sizeof c->entry, "images[%d]", out->n_images);
        if (!cJSON_IsObject(o)) return bad(c, "must be an object, got %s%s", type_name(o), "");
        out->n_images++;
        ED_TRY(get_id(c, o, "id", &im->id));
        ED_TRY(get_side(c, o, "width", &im->width));
        ED_TRY(get_side(c, o, "height", &im->height));
        ED_TRY(get_str(c, o, "file_name", &im->file_name));
    }
    for (const cJSON *o = cats->child; o; o = o->next) {
        ed_coco_category *ca = &out->categories[out->n_categories];
        snprintf(c->entry, sizeof c->entry, "categories[%d]", out->n_categories);
        if (!cJSON_IsObject(o)) return bad(c, "must be an object, got %s%s", type_name(o), "");
        out->n_categories++;
        ED_TRY(get_id(c, o, "id", &ca->id));
        ED_TRY(get_str(c, o, "name", &ca->name));
        ED_TRY(get_str(c, o, "supercategory", &ca->supercategory));
    }
    id_pair *ii = NULL, *ci = NULL, *ai = NULL;
    st = index_ids(c->where, "images", &out->images[0].id, sizeof *out->images, out->n_images, &ii);
    if (st == ED_OK) st = index_ids(c->where, "categories", &out->categories[0].id, sizeof *out->categories,
                                    out->n_categories, &ci);
    for (const cJSON *o = anns ? anns->child : NULL; o && st == ED_OK; o = o->next) {
        ed_coco_ann *a = &out->anns[out->n_anns];
        snprintf(c->entry, sizeof c->entry, "annotations[%d]", out->n_anns);
        out->n_anns++;
        st = parse_ann(c, o, a, 0);
        if (st != ED_OK) break;
        int im = find_id(ii, out->n_images, a->image_id);
        if (im < 0) {
            char d[32];
            snprintf(d, sizeof d, "%lld", (long long)a->image_id);
            st = bad(c, "\"%s\" %s is not among the images", "image_id", d);
        } else if (find_id(ci, out->n_categories, a->category_id) < 0) {
            char d[32];
            snprintf(d, sizeof d, "%lld", (long long)a->category_id);
            st = bad(c, "\"%s\" %s is not among the categories", "category_id", d);
        } else if (a->segm_kind == ED_COCO_SEGM_RLE &&
                   (a->rle.h != out->images[im].height || a->rle.w != out->images[im].width)) {
            char d[96];
            snprintf(d, sizeof d, "[%d, %d] differs from image %lld's [%d, %d]", a->rle.h, a->rle.w,
                     (long long)a->image_id, out->images[im].height, out->images[im].width);
            st = bad(c, "RLE \"%s\" %s", "size", d);
        }
    }
    if (st == ED_OK) st = index_ids(c->where, "annotations", &out->anns[0].id, sizeof *out->anns, out->n_anns, &ai);
    free(ii); free(ci); free(ai);
    return st;
}

static ed_status parse_results(const cJSON *root, ctx *c, ed_coco *out)
{
    if (!cJSON_IsArray(root))
        return ed__err(ED_E_FORMAT, "coco: %s: results must be a JSON list of detections, got %s", c->where,
                       type_name(root));
    out->is_results = 1;
    int n = cJSON_GetArraySize(root);
    out->anns = calloc((size_t)n + 1, sizeof *out->anns);
    if (!out->anns) return ed__err(ED_E_NOMEM, "coco: %s: out of memory", c->where);
    for (const cJSON *o = root->child; o; o = o->next) {
        ed_coco_ann *a = &out->anns[out->n_anns];
        snprintf(c->entry, sizeof c->entry, "results[%d]", out->n_anns);
        out->n_anns++;
        a->id = out->n_anns;
        ED_TRY(parse_ann(c, o, a, 1));
    }
    return ED_OK;
}

static ed_status load_buffer(const char *json, size_t len, const char *where, int results, ed_coco **out)
{
    if (!out) return ed__err(ED_E_ARG, "coco_load: out is NULL");
    *out = NULL;
    if (!json) return ed__err(ED_E_ARG, "coco_load: json is NULL");
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) {
        const char *e = cJSON_GetErrorPtr();
        size_t off = e && e >= json && e <= json + len ? (size_t)(e - json) : 0;
        return ed__err(ED_E_FORMAT, "coco: %s: not valid JSON (near byte %zu)", where, off);
    }
    ed_coco *c = calloc(1, sizeof *c);
    if (!c) { cJSON_Delete(root); return ed__err(ED_E_NOMEM, "coco: %s: out of memory", where); }
    ctx cx = { where, "" };
    ed_status st = results ? parse_results(root, &cx, c) : parse_dataset(root, &cx, c);
    cJSON_Delete(root);
    if (st != ED_OK) { ed_coco_free(c); return st; }
    *out = c;
    return ED_OK;
}

static ed_status load_file(const char *path, int results, ed_coco **out)
{
    if (!out) return ed__err(ED_E_ARG, "coco_load: out is NULL");
    *out = NULL;
    if (!path) return ed__err(ED_E_ARG, "coco_load: path is NULL");
    FILE *f = fopen(path, "rb");
    if (!f) return ed__err(ED_E_IO, "coco: cannot open %s", path);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 65536) {
            size_t nc = cap ? cap * 2 : 1 << 20;
            char *nb = realloc(buf, nc);
            if (!nb) { free(buf); fclose(f); return ed__err(ED_E_NOMEM, "coco: %s: out of memory", path); }
            buf = nb; cap = nc;
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (r == 0) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) { free(buf); return ed__err(ED_E_IO, "coco: cannot read %s", path); }
    ed_status st = load_buffer(buf, len, path, results, out);
    free(buf);
    return st;
}

ed_status ed_coco_load(const char *path, ed_coco **out) { return load_file(path, 0, out); }
ed_status ed_coco_load_results(const char *path, ed_coco **out) { return load_file(path, 1, out); }
ed_status ed_coco_load_memory(const char *json, size_t len, ed_coco **out)
{
    return load_buffer(json, len, "<memory>", 0, out);
}
ed_status ed_coco_load_results_memory(const char *json, size_t len, ed_coco **out)
{
    return load_buffer(json, len, "<memory>", 1, out);
}

/* ---- writing --------------------------------------------------------------- */

/* cJSON_CreateDoubleArray refuses NULL even for 0 numbers. */
static cJSON *num_array(const double *v, int n)
{
    return n > 0 ? cJSON_CreateDoubleArray(v, n) : cJSON_CreateArray();
}

static cJSON *segm_json(const ed_coco_ann *a)
{
    if (a->segm_kind == ED_COCO_SEGM_POLYGONS) {
        cJSON *l = cJSON_CreateArray();
        for (int i = 0; l && i < a->n_polygons; i++) {
            cJSON *p = num_array(a->polygons[i].xy, a->polygons[i].n);
            if (!p || !cJSON_AddItemToArray(l, p)) { cJSON_Delete(p); cJSON_Delete(l); return NULL; }
        }
        return l;
    }
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    const double size[2] = { a->rle.h, a->rle.w };
    cJSON *s = cJSON_CreateDoubleArray(size, 2), *counts = NULL;
    if (a->rle_compressed) {
        char *str = NULL;
        if (ed_coco_rle_to_string(&a->rle, &str) == ED_OK) counts = cJSON_CreateString(str);
        free(str);
    } else {
        counts = cJSON_CreateArray();
        for (int64_t i = 0; counts && i < a->rle.m; i++) {
            cJSON *v = cJSON_CreateNumber(a->rle.counts[i]);
            if (!v || !cJSON_AddItemToArray(counts, v)) { cJSON_Delete(v); cJSON_Delete(counts); counts = NULL; }
        }
    }
    if (!s || !counts || !cJSON_AddItemToObject(o, "size", s)) { cJSON_Delete(s); cJSON_Delete(counts); cJSON_Delete(o); return NULL; }
    if (!cJSON_AddItemToObject(o, "counts", counts)) { cJSON_Delete(counts); cJSON_Delete(o); return NULL; }
    return o;
}

/* Adds item to o under key; false (and item freed) on failure. */
static int add(cJSON *o, const char *key, cJSON *item)
{
    if (!item) return 0;
    if (!cJSON_AddItemToObject(o, key, item)) { cJSON_Delete(item); return 0; }
    return 1;
}

static cJSON *ann_json(const ed_coco_ann *a, int results)
{
    cJSON *o = cJSON_CreateObject();
    int ok = o != NULL;
    if (ok && !results) ok = add(o, "id", cJSON_CreateNumber((double)a->id));
    if (ok) ok = add(o, "image_id", cJSON_CreateNumber((double)a->image_id));
    if (ok) ok = add(o, "category_id", cJSON_CreateNumber((double)a->category_id));
    if (ok && a->segm_kind != ED_COCO_SEGM_NONE) ok = add(o, "segmentation", segm_json(a));
    if (ok && a->has_bbox) ok = add(o, "bbox", cJSON_CreateDoubleArray(a->bbox, 4));
    if (ok && results) ok = add(o, "score", cJSON_CreateNumber(a->score));
    if (ok && !results && a->has_area) ok = add(o, "area", cJSON_CreateNumber(a->area));
    if (ok && !results) ok = add(o, "iscrowd", cJSON_CreateNumber(a->iscrowd ? 1 : 0));
    if (!ok) { cJSON_Delete(o); return NULL; }
    return o;
}

static int add_str(cJSON *o, const char *key, const char *s)
{
    return !s || add(o, key, cJSON_CreateString(s));
}

static cJSON *coco_json(const ed_coco *c)
{
    cJSON *anns = cJSON_CreateArray();
    int ok = anns != NULL;
    for (int i = 0; ok && i < c->n_anns; i++) {
        cJSON *a = ann_json(&c->anns[i], c->is_results);
        ok = a && cJSON_AddItemToArray(anns, a);
        if (!ok) cJSON_Delete(a);
    }
    if (!ok) { cJSON_Delete(anns); return NULL; }
    if (c->is_results) return anns;
    cJSON *root = cJSON_CreateObject(), *imgs = cJSON_CreateArray(), *cats = cJSON_CreateArray();
    ok = root && imgs && cats;
    for (int i = 0; ok && i < c->n_images; i++) {
        const ed_coco_image *im = &c->images[i];
        cJSON *o = cJSON_CreateObject();
        ok = o && cJSON_AddItemToArray(imgs, o);
        if (!ok) { cJSON_Delete(o); break; }
        ok = add(o, "id", cJSON_CreateNumber((double)im->id)) && add(o, "width", cJSON_CreateNumber(im->width)) &&
             add(o, "height", cJSON_CreateNumber(im->height)) && add_str(o, "file_name", im->file_name);
    }
    for (int i = 0; ok && i < c->n_categories; i++) {
        const ed_coco_category *ca = &c->categories[i];
        cJSON *o = cJSON_CreateObject();
        ok = o && cJSON_AddItemToArray(cats, o);
        if (!ok) { cJSON_Delete(o); break; }
        ok = add(o, "id", cJSON_CreateNumber((double)ca->id)) && add_str(o, "name", ca->name) &&
             add_str(o, "supercategory", ca->supercategory);
    }
    if (ok) {
        ok = add(root, "images", imgs);
        imgs = NULL;
        ok = ok && add(root, "categories", cats);
        cats = NULL;
        ok = ok && add(root, "annotations", anns);
        anns = NULL;
    }
    cJSON_Delete(imgs); cJSON_Delete(cats); cJSON_Delete(anns);
    if (!ok) { cJSON_Delete(root); return NULL; }
    return root;
}

static ed_status check_writable(const ed_coco *c)
{
    for (int i = 0; i < c->n_anns; i++) {
        const ed_coco_ann *a = &c->anns[i];
        if (a->segm_kind == ED_COCO_SEGM_RLE && (a->rle.m < 0 || (a->rle.m > 0 && !a->rle.counts)))
            return ed__err(ED_E_ARG, "coco_to_json: annotation %d: RLE has no counts", i);
        if (a->segm_kind == ED_COCO_SEGM_POLYGONS && a->n_polygons > 0 && !a->polygons)
            return ed__err(ED_E_ARG, "coco_to_json: annotation %d: polygons is NULL", i);
        for (int k = 0; a->segm_kind == ED_COCO_SEGM_POLYGONS && k < a->n_polygons; k++)
            if (a->polygons[k].n < 0 || (a->polygons[k].n > 0 && !a->polygons[k].xy))
                return ed__err(ED_E_ARG, "coco_to_json: annotation %d: polygon %d has no coordinates", i, k);
    }
    return ED_OK;
}

ed_status ed_coco_to_json(const ed_coco *c, char **out)
{
    if (!c || !out) return ed__err(ED_E_ARG, "coco_to_json: coco or out is NULL");
    ED_TRY(check_writable(c));
    cJSON *root = coco_json(c);
    char *s = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!s) return ed__err(ED_E_NOMEM, "coco_to_json: out of memory");
    *out = malloc(strlen(s) + 1);   /* ours, so the caller frees with free() */
    if (*out) strcpy(*out, s);
    cJSON_free(s);
    return *out ? ED_OK : ed__err(ED_E_NOMEM, "coco_to_json: out of memory");
}

ed_status ed_coco_save(const char *path, const ed_coco *c)
{
    if (!path) return ed__err(ED_E_ARG, "coco_save: path is NULL");
    char *s = NULL;
    ED_TRY(ed_coco_to_json(c, &s));
    size_t n = strlen(path) + 5;
    char *tmp = malloc(n);
    if (!tmp) { free(s); return ed__err(ED_E_NOMEM, "coco_save: out of memory"); }
    snprintf(tmp, n, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    ed_status st = ED_OK;
    if (!f) st = ed__err(ED_E_IO, "coco_save: cannot create %s", tmp);
    else {
        size_t len = strlen(s);
        int bad_write = fwrite(s, 1, len, f) != len;
        if (fclose(f) != 0 || bad_write) st = ed__err(ED_E_IO, "coco_save: cannot write %s", tmp);
        else if (rename(tmp, path) != 0) st = ed__err(ED_E_IO, "coco_save: cannot rename %s to %s", tmp, path);
        if (st != ED_OK) remove(tmp);
    }
    free(tmp); free(s);
    return st;
}
