/* Shared by the COCO files (coco_rle.c, coco_json.c, coco_eval.c). */
#ifndef ED_COCO_INTERNAL_H
#define ED_COCO_INTERNAL_H

#include "core/ed_internal.h"

/* Checks that r is usable: size 1..ED_COCO_MAX_SIDE, counts present, their
 * sum equal to h * w. what names r in the message. */
ed_status ed__coco_rle_check(const ed_coco_rle *r, const char *what);
/* A deep copy. */
ed_status ed__coco_rle_copy(const ed_coco_rle *src, ed_coco_rle *dst);
/* The mask of a's segmentation at size h x w (annToRLE without the image
 * lookup); what names a in messages. */
ed_status ed__coco_segm_to_rle(const ed_coco_ann *a, int h, int w, const char *what, ed_coco_rle *out);
/* Index of the image / category with this id, -1 when absent (linear). */
int ed__coco_find_image(const ed_coco *c, int64_t id);

#endif
