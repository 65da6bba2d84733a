/* safetensors files (https://github.com/huggingface/safetensors, format
 * section): an 8-byte little-endian header length N, N bytes of JSON
 * {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {..}},
 * then the raw little-endian data. Every claim of the header is checked
 * against the file before anything is read. */
#include "core/ed_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_HEADER ((uint64_t)100 << 20)

struct ed_safetensors {
    int n;
    char **names;
    ed_tensor **tensors;
    int n_meta;
    char **meta_keys, **meta_values;
};

static const struct { const char *name; ed_dtype dt; } dtypes[] = {
    { "F32", ED_F32 }, { "F64", ED_F64 }, { "I64", ED_I64 }, { "I32", ED_I32 }, { "U8", ED_U8 }, { "BF16", ED_BF16 },
};

static bool dtype_from_name(const char *s, ed_dtype *dt)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (!strcmp(s, dtypes[i].name)) { *dt = dtypes[i].dt; return true; }
    return false;
}

static const char *dtype_to_name(ed_dtype dt)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].dt == dt) return dtypes[i].name;
    return "?";
}

void ed_safetensors_free(ed_safetensors *f)
{
    if (!f) return;
    for (int i = 0; i < f->n; i++) { free(f->names[i]); ed_tensor_free(f->tensors[i]); }
    for (int i = 0; i < f->n_meta; i++) { free(f->meta_keys[i]); free(f->meta_values[i]); }
    free(f->names); free(f->tensors); free(f->meta_keys); free(f->meta_values);
    free(f);
}

typedef struct { uint64_t begin, end; int idx; } span;

static int span_cmp(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

static ed_status parse(const unsigned char *buf, size_t len, const char *where, ed_safetensors *f)
{
    if (len < 8) return ed__err(ED_E_FORMAT, "safetensors: file is truncated: %zu bytes, no header length (%s)", len, where);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | buf[i];
    if (hlen > MAX_HEADER) return ed__err(ED_E_FORMAT, "safetensors: header length %llu is larger than the %llu-byte limit (%s)",
                                          (unsigned long long)hlen, (unsigned long long)MAX_HEADER, where);
    if (hlen > len - 8) return ed__err(ED_E_FORMAT, "safetensors: file is truncated: header claims %llu bytes, file has %zu (%s)",
                                       (unsigned long long)hlen, len - 8, where);
    cJSON *root = cJSON_ParseWithLength((const char *)buf + 8, (size_t)hlen);
    if (!cJSON_IsObject(root)) { cJSON_Delete(root); return ed__err(ED_E_FORMAT, "safetensors: header is not a JSON object (%s)", where); }
    const unsigned char *data = buf + 8 + hlen;
    uint64_t data_len = len - 8 - hlen;
    int count = cJSON_GetArraySize(root);
    f->names = calloc((size_t)count + 1, sizeof *f->names);
    f->tensors = calloc((size_t)count + 1, sizeof *f->tensors);
    span *spans = calloc((size_t)count + 1, sizeof *spans);
    ed_status st = ED_OK;
    int ns = 0;
    if (!f->names || !f->tensors || !spans) { st = ed__err(ED_E_NOMEM, "safetensors: out of memory"); goto done; }
    for (cJSON *e = root->child; e && st == ED_OK; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) {
            if (!cJSON_IsObject(e)) { st = ed__err(ED_E_FORMAT, "safetensors: __metadata__ is not an object (%s)", where); break; }
            int m = cJSON_GetArraySize(e);
            f->meta_keys = calloc((size_t)m + 1, sizeof(char *));
            f->meta_values = calloc((size_t)m + 1, sizeof(char *));
            for (cJSON *kv = e->child; kv; kv = kv->next) {
                if (!cJSON_IsString(kv)) { st = ed__err(ED_E_FORMAT, "safetensors: metadata value of '%s' is not a string (%s)", kv->string, where); break; }
                f->meta_keys[f->n_meta] = strdup(kv->string);
                f->meta_values[f->n_meta] = strdup(kv->valuestring);
                f->n_meta++;
            }
            continue;
        }
        const cJSON *jd = cJSON_GetObjectItemCaseSensitive(e, "dtype");
        const cJSON *js = cJSON_GetObjectItemCaseSensitive(e, "shape");
        const cJSON *jo = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
        ed_dtype dt;
        if (!cJSON_IsString(jd) || !cJSON_IsArray(js) || !cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2) {
            st = ed__err(ED_E_FORMAT, "safetensors: tensor '%s' lacks dtype, shape or data_offsets (%s)", e->string, where);
            break;
        }
        if (!dtype_from_name(jd->valuestring, &dt)) {
            st = ed__err(ED_E_FORMAT, "safetensors: tensor '%s' has unsupported dtype %s (%s)", e->string, jd->valuestring, where);
            break;
        }
        int nd = cJSON_GetArraySize(js);
        if (nd > ED_MAX_DIMS) { st = ed__err(ED_E_FORMAT, "safetensors: tensor '%s' has %d dimensions (%s)", e->string, nd, where); break; }
        int64_t shape[ED_MAX_DIMS];
        double numel = 1;
        for (int i = 0; i < nd; i++) {
            const cJSON *d = cJSON_GetArrayItem(js, i);
            if (!cJSON_IsNumber(d) || d->valuedouble < 0 || d->valuedouble > 1e15) {
                st = ed__err(ED_E_FORMAT, "safetensors: tensor '%s' has an invalid size in dimension %d (%s)", e->string, i, where);
                break;
            }
            shape[i] = (int64_t)d->valuedouble;
            numel *= (double)shape[i];
        }
        if (st != ED_OK) break;
        double b = cJSON_GetArrayItem(jo, 0)->valuedouble, en = cJSON_GetArrayItem(jo, 1)->valuedouble;
        if (!(b >= 0 && en >= b && en <= (double)data_len)) {
            st = ed__err(ED_E_FORMAT, "safetensors: tensor '%s' data [%.0f, %.0f) lies outside the %llu data bytes (truncated file?) (%s)",
                         e->string, b, en, (unsigned long long)data_len, where);
            break;
        }
        if (en - b != numel * (double)ed_dtype_size(dt)) {
            st = ed__err(ED_E_FORMAT, "safetensors: tensor '%s' has %.0f bytes but shape and dtype need %.0f (%s)",
                         e->string, en - b, numel * (double)ed_dtype_size(dt), where);
            break;
        }
        ed_tensor *t;
        st = ed_tensor_from_data(dt, nd, shape, data + (uint64_t)b, &t);
        if (st != ED_OK) break;
        spans[ns] = (span){ (uint64_t)b, (uint64_t)en, ns };
        ns++;
        f->names[f->n] = strdup(e->string);
        f->tensors[f->n++] = t;
    }
    if (st == ED_OK) {
        qsort(spans, (size_t)ns, sizeof *spans, span_cmp);
        for (int i = 1; i < ns; i++)
            if (spans[i].begin < spans[i - 1].end && spans[i].end > spans[i].begin) {
                st = ed__err(ED_E_FORMAT, "safetensors: the data of two tensors overlap (%s)", where);
                break;
            }
    }
done:
    free(spans);
    cJSON_Delete(root);
    return st;
}

ed_status ed_safetensors_load_memory(const void *buf, size_t len, ed_safetensors **out)
{
    if (!out) return ed__err(ED_E_ARG, "safetensors: out is NULL");
    *out = NULL;
    if (!buf && len) return ed__err(ED_E_ARG, "safetensors: buffer is NULL");
    ed_safetensors *f = calloc(1, sizeof *f);
    if (!f) return ed__err(ED_E_NOMEM, "safetensors: out of memory");
    ed_status st = parse(buf, len, "memory", f);
    if (st != ED_OK) { ed_safetensors_free(f); return st; }
    *out = f;
    return ED_OK;
}

ed_status ed_safetensors_load(const char *path, ed_safetensors **out)
{
    if (!out || !path) return ed__err(ED_E_ARG, "safetensors: path or out is NULL");
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) return ed__err(ED_E_IO, "cannot open %s: %s", path, strerror(errno));
    if (fseek(fp, 0, SEEK_END) != 0) { fclose(fp); return ed__err(ED_E_IO, "cannot read %s", path); }
    long len = ftell(fp);
    rewind(fp);
    if (len < 0) { fclose(fp); return ed__err(ED_E_IO, "cannot read %s", path); }
    unsigned char *buf = malloc((size_t)len + 1);
    if (!buf) { fclose(fp); return ed__err(ED_E_NOMEM, "cannot load %s: %ld bytes", path, len); }
    size_t got = fread(buf, 1, (size_t)len, fp);
    fclose(fp);
    if (got != (size_t)len) { free(buf); return ed__err(ED_E_IO, "cannot read %s: short read", path); }
    ed_safetensors *f = calloc(1, sizeof *f);
    ed_status st = f ? parse(buf, (size_t)len, path, f) : ed__err(ED_E_NOMEM, "out of memory");
    free(buf);
    if (st != ED_OK) { ed_safetensors_free(f); return st; }
    *out = f;
    return ED_OK;
}

int ed_safetensors_count(const ed_safetensors *f) { return f ? f->n : 0; }
const char *ed_safetensors_name(const ed_safetensors *f, int i) { return (f && i >= 0 && i < f->n) ? f->names[i] : NULL; }
int ed_safetensors_meta_count(const ed_safetensors *f) { return f ? f->n_meta : 0; }
const char *ed_safetensors_meta_key(const ed_safetensors *f, int i) { return (f && i >= 0 && i < f->n_meta) ? f->meta_keys[i] : NULL; }

ed_tensor *ed_safetensors_get(const ed_safetensors *f, const char *name)
{
    if (!f || !name) { ed__err(ED_E_ARG, "safetensors: NULL file or name"); return NULL; }
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->names[i], name)) return f->tensors[i];
    ed__err(ED_E_FORMAT, "safetensors: no tensor named '%s'", name);
    return NULL;
}

const char *ed_safetensors_meta(const ed_safetensors *f, const char *key)
{
    if (!f || !key) return NULL;
    for (int i = 0; i < f->n_meta; i++)
        if (!strcmp(f->meta_keys[i], key)) return f->meta_values[i];
    return NULL;
}

ed_status ed_safetensors_save(const char *path, int n, const char *const *names, const ed_tensor *const *tensors,
                              int n_meta, const char *const *meta_keys, const char *const *meta_values)
{
    if (!path || n < 0 || (n && (!names || !tensors))) return ed__err(ED_E_ARG, "safetensors save: invalid arguments");
    cJSON *root = cJSON_CreateObject();
    if (n_meta > 0) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        for (int i = 0; i < n_meta; i++) cJSON_AddStringToObject(m, meta_keys[i], meta_values[i]);
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        const ed_tensor *t = tensors[i];
        if (!t || !names[i]) { cJSON_Delete(root); return ed__err(ED_E_ARG, "safetensors save: tensor %d is NULL", i); }
        if (cJSON_GetObjectItemCaseSensitive(root, names[i])) {
            cJSON_Delete(root);
            return ed__err(ED_E_ARG, "safetensors save: duplicate tensor name '%s'", names[i]);
        }
        cJSON *e = cJSON_AddObjectToObject(root, names[i]);
        cJSON_AddStringToObject(e, "dtype", dtype_to_name(t->dtype));
        cJSON *s = cJSON_AddArrayToObject(e, "shape");
        for (int d = 0; d < t->ndim; d++) cJSON_AddItemToArray(s, cJSON_CreateNumber((double)t->shape[d]));
        uint64_t bytes = (uint64_t)t->numel * ed_dtype_size(t->dtype);
        cJSON *o = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)(off + bytes)));
        off += bytes;
    }
    char *js = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!js) return ed__err(ED_E_NOMEM, "safetensors save: out of memory");
    size_t jl = strlen(js), pad = (8 - jl % 8) % 8;   /* data starts 8-aligned */
    uint64_t hlen = jl + pad;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *fp = fopen(tmp, "wb");
    if (!fp) { free(js); return ed__err(ED_E_IO, "cannot write %s: %s", tmp, strerror(errno)); }
    unsigned char h[8];
    for (int i = 0; i < 8; i++) h[i] = (unsigned char)(hlen >> (8 * i));
    bool ok = fwrite(h, 1, 8, fp) == 8 && fwrite(js, 1, jl, fp) == jl;
    for (size_t i = 0; ok && i < pad; i++) ok = fputc(' ', fp) != EOF;
    free(js);
    for (int i = 0; ok && i < n; i++) {
        size_t bytes = (size_t)tensors[i]->numel * ed_dtype_size(tensors[i]->dtype);
        ok = fwrite(tensors[i]->data, 1, bytes, fp) == bytes;
    }
    ok = (fclose(fp) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return ed__err(ED_E_IO, "cannot write %s: %s", path, strerror(errno));
    }
    return ED_OK;
}
