/* encdec: image files (PNG, JPEG in; PNG out) and their conversion to and
 * from tensors. Included by encdec.h.
 *
 * Decoding keeps the file's samples as they are: no gamma, colour profile
 * or EXIF orientation is applied (as PIL's Image.open). What a file becomes:
 *   PNG gray 1/2/4-bit      -> 1 channel, 8-bit, scaled to 0..255 (x255, x85, x17)
 *   PNG gray / gray+alpha   -> 1 / 2 channels, 8 or 16-bit
 *   PNG RGB / RGBA          -> 3 / 4 channels, 8 or 16-bit
 *   PNG palette             -> RGB, or RGBA when it has tRNS; with
 *                              ED_IMAGE_KEEP_PALETTE: 1 channel of indices
 *                              (indexed = 1) and the palette in .palette
 *   PNG gray/RGB with tRNS  -> an alpha channel is added (0 where the colour
 *                              matches, else the maximum)
 *   JPEG gray               -> 1 channel, 8-bit
 *   JPEG YCbCr / RGB        -> 3 channels, 8-bit (libjpeg-turbo's default
 *                              islow IDCT and fancy upsampling, as PIL)
 *   JPEG CMYK / YCCK        -> ED_E_UNSUPPORTED ("CMYK JPEG is not supported")
 * Interlaced PNGs and progressive JPEGs are decoded whole.
 *
 * Errors name the file (or "<memory>") and the reason: ED_E_IO when it
 * cannot be read, ED_E_FORMAT when it is corrupt, truncated, has a wrong
 * signature, zero dimensions or dimensions past ED_IMAGE_MAX_SIDE per side
 * or ED_IMAGE_MAX_PIXELS in all. Decoders never print. */
#ifndef ENCDEC_IMAGE_H
#define ENCDEC_IMAGE_H

#ifdef __cplusplus
extern "C" {
#endif

#define ED_IMAGE_MAX_SIDE 32768
#define ED_IMAGE_MAX_PIXELS ((int64_t)1 << 28)

/* ed_image_load flags */
#define ED_IMAGE_KEEP_PALETTE 1   /* palette PNGs: keep the indices (label maps) */

typedef struct ed_image {
    int width, height;
    int channels;        /* 1 gray (or palette indices), 2 gray+alpha, 3 RGB, 4 RGBA */
    int bit_depth;       /* 8 (uint8_t samples) or 16 (uint16_t, native endian) */
    void *data;          /* height x width x channels, interleaved, row-major */
    int indexed;         /* 1: data holds palette indices (channels 1, 8-bit) */
    int palette_size;    /* entries of palette in use, 0..256 */
    uint8_t palette[256][4];   /* RGBA; alpha from tRNS, else 255 */
} ed_image;

/* A zero-filled image; channels 1..4, bit_depth 8 or 16. */
ed_status ed_image_new(int width, int height, int channels, int bit_depth, ed_image **out);
void ed_image_free(ed_image *img);    /* NULL is fine */

/* PNG or JPEG, told apart by the signature, not the name. */
ed_status ed_image_load(const char *path, int flags, ed_image **out);
ed_status ed_image_load_memory(const void *buf, size_t len, int flags, ed_image **out);

/* 8 or 16-bit gray, gray+alpha, RGB, RGBA, or (indexed) a palette PNG.
 * Written to path + ".tmp", then renamed over path. */
ed_status ed_image_save_png(const char *path, const ed_image *img);

/* float32 (1, C, H, W) in [0, 1]: samples / 255 or / 65535. A new heap
 * tensor. Indexed images are refused (use ed_image_to_labels). */
ed_status ed_image_to_tensor(const ed_image *img, ed_tensor **out);
/* int64 (H, W) holding the samples of a one-channel image as they are:
 * class indices of a gray or (ED_IMAGE_KEEP_PALETTE) palette label PNG. */
ed_status ed_image_to_labels(const ed_image *img, ed_tensor **out);
/* t: float32 or float64, (C, H, W) or (1, C, H, W), C in 1..4, values in
 * [0, 1]. Each value is clamped to [0, 1] and becomes the 8-bit sample
 * floor(v * 255 + 0.5) (round half up, computed in double). NaN is ED_E_NAN. */
ed_status ed_tensor_to_image(const ed_tensor *t, ed_image **out);

#ifdef __cplusplus
}
#endif
#endif
