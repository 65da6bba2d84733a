/* encdec: COCO instances (JSON with polygons and RLE masks) and COCO
 * evaluation (AP/AR as pycocotools' COCOeval). Included by encdec.h.
 *
 * Masks follow pycocotools' maskApi: a binary mask of h x w pixels is kept
 * column-major (pixel (y, x) at x * h + y) and run-length encoded as counts
 * of alternating 0s and 1s, starting with 0s (a mask starting with a 1 has
 * counts[0] == 0); the counts sum to h * w. The compressed form is maskApi's
 * string: each count, minus the count two before it from the fourth on,
 * written as 5-bit groups with a continuation bit, one char ('0' + 6 bits)
 * per group.
 *
 * A dataset (ed_coco_load) is the instances JSON: {"images": [{id, width,
 * height, file_name?}], "categories": [{id, name?, supercategory?}],
 * "annotations": [{id, image_id, category_id, segmentation?, bbox?, area?,
 * iscrowd?}]}. Ids are integers; each image_id and category_id of an
 * annotation must name an image and a category of the file, and ids are
 * unique within images, categories and annotations. A segmentation is a list
 * of polygons [[x0, y0, x1, y1, ...], ...] (when the first polygon has
 * exactly 4 numbers, every entry is taken as a box [x, y, w, h], as
 * pycocotools' frPyObjects intends; 2.0.11 itself fails there; an empty
 * list is an empty mask), or {"size": [h, w], "counts": [...]} (uncompressed) or {"size": [h,
 * w], "counts": "..."} (compressed), whose size must be the image's.
 *
 * A results file (ed_coco_load_results) is a JSON list of detections
 * {image_id, category_id, score, bbox and/or segmentation}; "id", "area" and
 * "iscrowd" in it are ignored, as in pycocotools' loadRes, which numbers the
 * detections 1.. and fills them in when evaluating: when the first
 * detection has a non-empty bbox, every detection needs a bbox, its area is
 * w * h and a missing segmentation is the box's polygon; otherwise every
 * detection needs a segmentation, its area is the mask's and a missing bbox
 * is the mask's bounding box (pycocotools takes compressed RLE only here;
 * encdec also takes polygons and uncompressed RLE).
 *
 * Errors: ED_E_IO when a file cannot be read; ED_E_FORMAT naming the file
 * ("<memory>" for buffers), the entry (e.g. "annotations[3]") and what is
 * wrong (missing or mistyped field, unknown image or category id, duplicate
 * id, counts that do not sum to h * w, ...). */
#ifndef ENCDEC_COCO_H
#define ENCDEC_COCO_H

#ifdef __cplusplus
extern "C" {
#endif

#define ED_COCO_MAX_SIDE 32768   /* images and masks: 1..this pixels per side */

/* ---- run-length encoded masks ------------------------------------------- */

typedef struct ed_coco_rle {
    int h, w;
    int64_t m;            /* number of counts */
    uint32_t *counts;     /* malloc'd; freed by ed_coco_rle_free */
} ed_coco_rle;

void ed_coco_rle_free(ed_coco_rle *r);   /* frees counts, zeroes r; NULL is fine */

/* mask: h x w bytes, column-major, nonzero = 1. */
ed_status ed_coco_rle_encode(const uint8_t *mask, int h, int w, ed_coco_rle *out);
/* mask: h x w bytes, column-major, written as 0/1. The counts must sum to h*w. */
ed_status ed_coco_rle_decode(const ed_coco_rle *r, uint8_t *mask);
/* maskApi's compressed string; *out is malloc'd (free()). */
ed_status ed_coco_rle_to_string(const ed_coco_rle *r, char **out);
/* The counts must sum to h * w and every char be in '0'..'o'. */
ed_status ed_coco_rle_from_string(const char *s, int h, int w, ed_coco_rle *out);
/* A polygon of n_coords / 2 points (x0, y0, x1, y1, ...), rasterised as
 * maskApi's rleFrPoly (pycocotools' frPyObjects): the outline is drawn at 5x
 * resolution and a pixel is in when its centre is inside. Coordinates must
 * be finite and within +-1e6. Fewer than 2 points give an empty mask. */
ed_status ed_coco_rle_from_polygon(const double *xy, int n_coords, int h, int w, ed_coco_rle *out);
/* bbox [x, y, w, h] as the polygon of its corners (rleFrBbox). */
ed_status ed_coco_rle_from_bbox(const double bbox[4], int h, int w, ed_coco_rle *out);
/* Union (intersect = 0) or intersection of n >= 1 masks of one size. */
ed_status ed_coco_rle_merge(const ed_coco_rle *rs, int n, int intersect, ed_coco_rle *out);
/* Pixels set: the sum of the odd counts. */
uint64_t ed_coco_rle_area(const ed_coco_rle *r);
/* Bounding box [x, y, w, h] as maskApi's rleToBbox (all 0 for no counts). */
void ed_coco_rle_to_bbox(const ed_coco_rle *r, double bbox[4]);

/* IoU of m detections with n ground truths, iou[d * n + g], as maskApi's
 * rleIou / bbIou: intersection over union, or over the detection's area
 * alone when iscrowd[g] (iscrowd may be NULL). Masks must have one size. */
ed_status ed_coco_rle_iou(const ed_coco_rle *dt, int m, const ed_coco_rle *gt, int n,
                          const uint8_t *iscrowd, double *iou);
/* Boxes [x, y, w, h], 4 doubles each. */
void ed_coco_bbox_iou(const double *dt, int m, const double *gt, int n, const uint8_t *iscrowd,
                      double *iou);

/* ---- datasets and results ------------------------------------------------ */

typedef struct ed_coco_image {
    int64_t id;
    int width, height;
    char *file_name;      /* NULL when absent */
} ed_coco_image;

typedef struct ed_coco_category {
    int64_t id;
    char *name, *supercategory;   /* NULL when absent */
} ed_coco_category;

typedef enum ed_coco_segm_kind {
    ED_COCO_SEGM_NONE = 0,
    ED_COCO_SEGM_POLYGONS,
    ED_COCO_SEGM_RLE
} ed_coco_segm_kind;

typedef struct ed_coco_polygon {
    int n;                /* number of coordinates: x0, y0, x1, y1, ... */
    double *xy;
} ed_coco_polygon;

typedef struct ed_coco_ann {
    int64_t id;           /* results: 1, 2, ... in file order */
    int64_t image_id, category_id;
    int has_bbox;
    double bbox[4];       /* x, y, w, h */
    int has_area;
    double area;
    int iscrowd;
    double score;         /* results only */
    ed_coco_segm_kind segm_kind;
    int n_polygons;
    ed_coco_polygon *polygons;
    ed_coco_rle rle;
    int rle_compressed;   /* RLE written as a string (1) or a counts list (0) */
} ed_coco_ann;

typedef struct ed_coco {
    int is_results;       /* a results list: anns only, each with a score */
    int n_images;
    ed_coco_image *images;
    int n_categories;
    ed_coco_category *categories;
    int n_anns;
    ed_coco_ann *anns;
} ed_coco;

ed_status ed_coco_load(const char *path, ed_coco **out);
ed_status ed_coco_load_memory(const char *json, size_t len, ed_coco **out);
ed_status ed_coco_load_results(const char *path, ed_coco **out);
ed_status ed_coco_load_results_memory(const char *json, size_t len, ed_coco **out);
void ed_coco_free(ed_coco *c);   /* NULL is fine */

/* A dataset as the instances JSON, or (is_results) a results list. RLE is
 * written as it was read (string or counts list). *out is malloc'd. */
ed_status ed_coco_to_json(const ed_coco *c, char **out);
/* Written to path + ".tmp", then renamed over path. */
ed_status ed_coco_save(const char *path, const ed_coco *c);

/* The annotation's mask as an RLE of its image's size (pycocotools'
 * annToRLE: polygons rasterised and merged). ED_E_FORMAT when it has no
 * segmentation. */
ed_status ed_coco_ann_to_rle(const ed_coco *c, const ed_coco_ann *a, ed_coco_rle *out);

/* ---- evaluation ------------------------------------------------------------
 * pycocotools' COCOeval(gt, gt.loadRes(results), iou_type) with its default
 * parameters, then evaluate(), accumulate(), summarize(): iou_type "bbox" or
 * "segm"; IoU thresholds .50:.05:.95, 101 recall points, maxDets 1, 10, 100,
 * areas all, small (< 32^2), medium, large (> 96^2). stats, in pycocotools'
 * order: AP, AP50, AP75, AP small, medium, large, AR@1, AR@10, AR@100, AR
 * small, medium, large; -1 where no ground truth makes it undefined.
 * Results naming an image or category absent from gt are an error. As in
 * pycocotools, a detection matched to a gt whose id is 0 counts as
 * unmatched. */
ed_status ed_coco_eval(const char *gt_json_path, const char *results_json_path, const char *iou_type,
                       double stats[12]);
ed_status ed_coco_eval_memory(const char *gt_json, size_t gt_len, const char *results_json, size_t results_len,
                              const char *iou_type, double stats[12]);
ed_status ed_coco_eval_data(const ed_coco *gt, const ed_coco *results, const char *iou_type, double stats[12]);

#ifdef __cplusplus
}
#endif
#endif
