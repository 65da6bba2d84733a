/* libFuzzer target for the loaders of untrusted files. The first byte picks
 * the loader, the rest is the file:
 *   'i' (or byte % 5 == 0)  ed_image_load_memory (PNG/JPEG), both flag values
 *   's' (1)  ed_safetensors_load_memory, then every tensor and metadata entry
 *   'c' (2)  ed_coco_load_memory, then written back, every annotation's mask
 *            (decoded when small), and evaluated against itself (bbox, segm)
 *   'r' (3)  ed_coco_load_results_memory, then written back
 *   'l' (4)  ed_coco_rle_from_string (next 2 bytes: h, w), to_string, decode
 * Every call must return a status, never crash, leak or overrun; failures
 * are expected and ignored. Build: fuzz/build.sh; see fuzz/README.md. */
#include "encdec.h"
#include "core/ed_internal.h"

#include <stdlib.h>
#include <string.h>

static void fuzz_image(const uint8_t *d, size_t n)
{
    for (int flags = 0; flags <= ED_IMAGE_KEEP_PALETTE; flags++) {
        ed_image *img = NULL;
        if (ed_image_load_memory(d, n, flags, &img) == ED_OK && img) {
            /* Touch every sample: a short buffer shows up under ASan. */
            size_t bytes = (size_t)img->width * img->height * img->channels * (img->bit_depth / 8);
            volatile uint8_t sum = 0;
            for (size_t i = 0; i < bytes; i++) sum ^= ((const uint8_t *)img->data)[i];
            (void)sum;
        }
        ed_image_free(img);
    }
}

static void fuzz_safetensors(const uint8_t *d, size_t n)
{
    ed_safetensors *f = NULL;
    if (ed_safetensors_load_memory(d, n, &f) != ED_OK) return;
    for (int i = 0; i < ed_safetensors_count(f); i++) {
        const char *name = ed_safetensors_name(f, i);
        ed_tensor *t = name ? ed_safetensors_get(f, name) : NULL;
        if (t && ed_tensor_numel(t) > 0) {
            /* The last element must be readable. */
            volatile double v = ed__get(t, 0) + ed__get(t, ed_tensor_numel(t) - 1);
            (void)v;
        }
    }
    for (int i = 0; i < ed_safetensors_meta_count(f); i++) {
        const char *k = ed_safetensors_meta_key(f, i);
        if (k) (void)ed_safetensors_meta(f, k);
    }
    ed_safetensors_free(f);
}

static void fuzz_coco(const uint8_t *d, size_t n, int results)
{
    ed_coco *c = NULL;
    ed_status st = results ? ed_coco_load_results_memory((const char *)d, n, &c)
                           : ed_coco_load_memory((const char *)d, n, &c);
    if (st != ED_OK) return;
    char *s = NULL;
    if (ed_coco_to_json(c, &s) == ED_OK) {
        ed_coco *c2 = NULL;
        st = results ? ed_coco_load_results_memory(s, strlen(s), &c2) : ed_coco_load_memory(s, strlen(s), &c2);
        ed_coco_free(c2);
    }
    free(s);
    if (!results) {
        for (int i = 0; i < c->n_anns && i < 64; i++) {
            ed_coco_rle r;
            if (ed_coco_ann_to_rle(c, &c->anns[i], &r) != ED_OK) continue;
            double bb[4];
            ed_coco_rle_to_bbox(&r, bb);
            (void)ed_coco_rle_area(&r);
            if ((int64_t)r.h * r.w <= (1 << 20)) {
                uint8_t *m = malloc((size_t)r.h * r.w);
                if (m) ed_coco_rle_decode(&r, m);
                free(m);
            }
            ed_coco_rle_free(&r);
        }
        double stats[12];
        ed_coco_eval_data(c, c, "bbox", stats);
        ed_coco_eval_data(c, c, "segm", stats);
    }
    ed_coco_free(c);
}

static void fuzz_rle_string(const uint8_t *d, size_t n)
{
    if (n < 2) return;
    int h = d[0] % 64 + 1, w = d[1] % 64 + 1;
    char *s = malloc(n - 1);
    if (!s) return;
    memcpy(s, d + 2, n - 2);
    s[n - 2] = 0;
    ed_coco_rle r;
    if (ed_coco_rle_from_string(s, h, w, &r) == ED_OK) {
        char *back = NULL;
        uint8_t m[64 * 64];
        if (ed_coco_rle_to_string(&r, &back) == ED_OK && ed_coco_rle_decode(&r, m) == ED_OK) {
            ed_coco_rle r2;
            if (ed_coco_rle_encode(m, h, w, &r2) == ED_OK) {
                double iou[1];
                uint8_t crowd = d[0] & 1;
                ed_coco_rle_iou(&r, 1, &r2, 1, &crowd, iou);
                ed_coco_rle both[2] = { r, r2 }, u;
                if (ed_coco_rle_merge(both, 2, d[1] & 1, &u) == ED_OK) ed_coco_rle_free(&u);
                ed_coco_rle_free(&r2);
            }
        }
        free(back);
        ed_coco_rle_free(&r);
    }
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int pick;
    switch (data[0]) {
    case 'i': pick = 0; break;
    case 's': pick = 1; break;
    case 'c': pick = 2; break;
    case 'r': pick = 3; break;
    case 'l': pick = 4; break;
    default: pick = data[0] % 5;
    }
    const uint8_t *d = data + 1;
    size_t n = size - 1;
    switch (pick) {
    case 0: fuzz_image(d, n); break;
    case 1: fuzz_safetensors(d, n); break;
    case 2: fuzz_coco(d, n, 0); break;
    case 3: fuzz_coco(d, n, 1); break;
    default: fuzz_rle_string(d, n); break;
    }
    ed_clear_error();
    return 0;
}
