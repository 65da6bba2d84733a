/* Shared by the image-quality metrics (metrics.c, ssim.c). */
#ifndef ED_EVAL_INTERNAL_H
#define ED_EVAL_INTERNAL_H

#include "core/ed_internal.h"

/* Checks the arguments of ed_psnr/ed_ssim (op names the caller), crops
 * crop_border pixels from each border, converts to BT.601 Y when asked, and
 * returns both images as double channel planes (*oc x *oh x *ow, malloc'd,
 * free both with free()) on the scale *range (data_range, or 255 for Y). */
ed_status ed__iq_prepare(const char *op, const float *a, const float *b, int h, int w, int c, double data_range,
                         int y_channel, int crop_border, double **pa, double **pb, int *oh, int *ow, int *oc,
                         double *range);

#endif
