/* Helpers shared by src/data/degrade.c and src/data/augment.c. */
#ifndef ED_AUGMENT_INTERNAL_H
#define ED_AUGMENT_INTERNAL_H

#include "core/ed_internal.h"

/* x must be a float32 image (C, H, W) or (1, C, H, W) with C, H, W >= 1;
 * the error names op and what. Any of c, h, w may be NULL. */
ed_status ed__check_image(const ed_tensor *x, const char *op, const char *what, int64_t *c, int64_t *h,
                          int64_t *w);

#endif
