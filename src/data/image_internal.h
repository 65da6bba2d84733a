/* Shared by image.c (files, tensors), image_png.c and image_jpeg.c. */
#ifndef ED_IMAGE_INTERNAL_H
#define ED_IMAGE_INTERNAL_H

#include "core/ed_internal.h"

/* name is the path or "<memory>", for messages. Both decoders return
 * ED_E_FORMAT (or ED_E_UNSUPPORTED) with "image_load: <name>: <reason>". */
ed_status ed__png_decode(const uint8_t *buf, size_t len, int flags, const char *name, ed_image **out);
ed_status ed__jpeg_decode(const uint8_t *buf, size_t len, const char *name, ed_image **out);

/* ED_E_FORMAT naming the file when w x h is empty or past the limits. */
ed_status ed__image_check_dims(int64_t w, int64_t h, const char *name);
/* An image with uninitialised (zero ? zeroed : not) samples; dims checked by the caller. */
ed_status ed__image_alloc(int w, int h, int c, int depth, int zero, ed_image **out);

static inline int ed__little_endian(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

#endif
