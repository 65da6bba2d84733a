/* encdec: image degradations (noise, MATLAB bicubic resize, super-resolution
 * pairs, YCbCr) and data augmentation (crop, scale, flip, rot90, colour
 * jitter) applied identically to an image, its label maps and its boxes.
 * Included by encdec.h.
 *
 * Layout.
 *   image:  float32, planar (C, H, W), row-major: sample (c, y, x) at
 *           data[(c * H + y) * W + x]. (1, C, H, W), as ed_image_to_tensor
 *           gives, is accepted wherever an image is and keeps its shape.
 *           Values in [0, 1] unless a function says otherwise.
 *   labels: (H, W) class or instance maps, int64 or uint8 (any dtype is
 *           moved as it is; no arithmetic is done on labels).
 *   boxes:  n x 4 floats (x0, y0, x1, y1) in pixel units, x0 < x1, y0 < y1,
 *           the image spanning [0, W] x [0, H] (pixel x covers [x, x+1)).
 * Results are new tensors (in the active arena, else on the heap).
 *
 * Randomness comes only from the ed_rng passed in (Philox, counter-based):
 * element i of a noise field is drawn from counter (start + i), so results do
 * not depend on the thread count, and each call advances the counter by a
 * documented amount. */
#ifndef ENCDEC_AUGMENT_H
#define ENCDEC_AUGMENT_H

#ifdef __cplusplus
extern "C" {
#endif

/* ---- noise (in place, float32 tensors of any shape) ----------------------
 * Gaussian: x += N(0, (sigma / 255)^2): sigma on the 0..255 scale for an
 *   image in [0, 1] (sigma = 25 -> std 25/255), in floating point. clip = 0
 *   keeps values outside [0, 1] (the denoising convention); clip = 1 clamps
 *   to [0, 1]. Advances rng by numel.
 * Salt and pepper (as skimage.util.random_noise 's&p', per sample): each
 *   value is replaced with probability amount, by 1 (salt) with probability
 *   salt_vs_pepper, else by 0. Advances rng by numel.
 * Poisson: x' = Poisson(x * peak) / peak (x clamped at 0 below first), so
 *   the noise grows with the signal; a larger peak means less noise.
 *   Advances rng by numel. */
ed_status ed_add_gaussian_noise(ed_tensor *t, double sigma, int clip, ed_rng *rng);
ed_status ed_add_salt_pepper_noise(ed_tensor *t, double amount, double salt_vs_pepper, ed_rng *rng);
ed_status ed_add_poisson_noise(ed_tensor *t, double peak, ed_rng *rng);

/* ---- MATLAB imresize, bicubic ---------------------------------------------
 * Resizes the last two dims of x (float32, (..., H, W); each plane alone) as
 * MATLAB's imresize(x, ..., 'bicubic') on a double image:
 *   - the Keys cubic kernel with a = -0.5;
 *   - output pixel i (1-based) samples u = i / s + (1 - 1/s) / 2;
 *   - antialias = 1 and s < 1 (shrinking): the kernel is stretched to
 *     s * cubic(s * d), its width 4 / s;
 *   - weights normalised to sum 1 per output pixel;
 *   - input indices outside 1..n mirror as MATLAB (1, 2, .., n, n, .., 1
 *     repeating: symmetric padding that repeats the edge pixel);
 *   - the dim with the smaller scale is resized first (H first on a tie).
 * Computed in double, stored in float32; no rounding or clamping.
 * Give either (out_h, out_w) > 0 with scale 0: s = out / in per dim; or
 * out_h = out_w = 0 and scale > 0: out = ceil(in * scale) (MATLAB's rule)
 * and s = scale in both dims. */
ed_status ed_imresize_bicubic(const ed_tensor *x, int64_t out_h, int64_t out_w, double scale, int antialias,
                              ed_tensor **out);
/* The same on plain planar arrays: in holds planes x h x w floats, out
 * planes x out_h x out_w; scale_h, scale_w as s above (out / in when 0). */
ed_status ed_imresize_bicubic_f32(const float *in, int64_t planes, int64_t h, int64_t w, float *out,
                                  int64_t out_h, int64_t out_w, double scale_h, double scale_w, int antialias);

/* Super-resolution pair (the convention of SRCNN, EDSR, BasicSR): hr
 * (C, H, W) is cropped to its top-left (H - H % scale, W - W % scale)
 * (*hr_cropped) and *lr = imresize(hr_cropped, 1 / scale, bicubic,
 * antialias). scale >= 1; H and W must be >= scale. */
ed_status ed_sr_pair(const ed_tensor *hr, int scale, ed_tensor **lr, ed_tensor **hr_cropped);

/* ---- colour spaces --------------------------------------------------------
 * BT.601 YCbCr of MATLAB's rgb2ycbcr for double images. RGB in [0, 1]
 * (channel 0 = R), Y in [16, 235] / 255, Cb, Cr in [16, 240] / 255:
 *   Y  = (16  +  65.481 R + 128.553 G +  24.966 B) / 255
 *   Cb = (128 -  37.797 R -  74.203 G + 112.0   B) / 255
 *   Cr = (128 + 112.0   R -  93.786 G -  18.214 B) / 255
 * ycbcr_to_rgb is its exact inverse (MATLAB's ycbcr2rgb), unclamped.
 * x: float32 (3, H, W) or (N, 3, H, W); computed in double. rgb_to_y gives
 * the Y plane only: (1, H, W) or (N, 1, H, W). */
ed_status ed_rgb_to_ycbcr(const ed_tensor *rgb, ed_tensor **out);
ed_status ed_ycbcr_to_rgb(const ed_tensor *ycbcr, ed_tensor **out);
ed_status ed_rgb_to_y(const ed_tensor *rgb, ed_tensor **out);

/* ---- geometric transforms (last two dims, any dtype, ndim >= 2) ---------- */
/* The window rows top..top+h-1, columns left..left+w-1; it must fit. */
ed_status ed_aug_crop(const ed_tensor *x, int64_t top, int64_t left, int64_t h, int64_t w, ed_tensor **out);
/* horizontal = 1 mirrors left-right (x -> W-1-x), 0 mirrors top-bottom. */
ed_status ed_aug_flip(const ed_tensor *x, int horizontal, ed_tensor **out);
/* torch.rot90(x, k, dims=(-2, -1)): k quarter turns counter-clockwise (any
 * integer k, taken mod 4); k odd swaps H and W. For k = 1,
 * out[i][j] = in[j][W-1-i]. */
ed_status ed_aug_rot90(const ed_tensor *x, int k, ed_tensor **out);
/* Resize to (h, w): float32/float64 images bilinearly as F.interpolate(
 * mode='bilinear', align_corners=False); integer dtypes (labels) by nearest
 * neighbour as F.interpolate(mode='nearest'), so classes stay classes. */
ed_status ed_aug_resize(const ed_tensor *x, int64_t h, int64_t w, ed_tensor **out);

/* ---- colour (torchvision.transforms.functional on float [0, 1] tensors) --
 * image float32 (C, H, W), C = 1 or 3; gray = 0.2989 R + 0.587 G + 0.114 B.
 *   brightness: clamp(f * x, 0, 1)
 *   contrast:   clamp(f * x + (1 - f) * mean(gray), 0, 1), the mean over
 *               the whole image (over x itself when C = 1)
 *   saturation: clamp(f * x + (1 - f) * gray, 0, 1) per pixel; C = 1 is
 *               returned unchanged (as torchvision). f >= 0. */
ed_status ed_adjust_brightness(const ed_tensor *img, double f, ed_tensor **out);
ed_status ed_adjust_contrast(const ed_tensor *img, double f, ed_tensor **out);
ed_status ed_adjust_saturation(const ed_tensor *img, double f, ed_tensor **out);

/* ---- random augmentation ---------------------------------------------------
 * ed_augment_apply draws every random choice once (ed_augment_sample) and
 * applies the same choices to the image, each label map and the boxes, in
 * this order:
 *   1. scale: with probability p_scale, a factor s ~ U[scale_min, scale_max];
 *      the size becomes (round(H s), round(W s)) (at least 1): images
 *      bilinear, labels nearest, boxes multiplied by out/in per axis.
 *   2. crop: when crop_h, crop_w > 0, a window of that size at a uniform
 *      position. A window larger than the (scaled) image is an error unless
 *      pad_if_needed: then the image is padded at the bottom/right with
 *      image_pad_value and labels with label_pad_value (e.g. the void class).
 *   3. horizontal flip (p_hflip), 4. vertical flip (p_vflip),
 *   5. rot90: with probability p_rot90, k ~ uniform {1, 2, 3} quarter turns
 *      (ed_aug_rot90's direction),
 *   6. colour jitter (image only), as torchvision's ColorJitter(brightness,
 *      contrast, saturation): each non-zero strength v gives a factor
 *      ~ U[max(0, 1 - v), 1 + v]; the three are applied in a random order.
 * Boxes are transformed with the image, clipped to it, and dropped when
 * their clipped width or height is 0. Exactly ED_AUGMENT_DRAWS uniforms are
 * taken from rng whatever the parameters, so the stream stays aligned. */
#define ED_AUGMENT_DRAWS 13

typedef struct ed_augment_params {
    double p_scale, scale_min, scale_max;     /* default 0, 1, 1 */
    int64_t crop_h, crop_w;                   /* default 0, 0 (no crop) */
    int pad_if_needed;                        /* default 0 */
    double image_pad_value;                   /* default 0 */
    int64_t label_pad_value;                  /* default 255 */
    double p_hflip, p_vflip, p_rot90;         /* default 0.5, 0, 0 */
    double brightness, contrast, saturation;  /* default 0 (off) */
} ed_augment_params;
void ed_augment_params_default(ed_augment_params *p);

/* The choices one call drew; h, w are the image's before augmentation. */
typedef struct ed_augment_draw {
    int64_t in_h, in_w;
    int64_t scaled_h, scaled_w;     /* == in_h, in_w without scaling */
    int64_t padded_h, padded_w;     /* == scaled_h, scaled_w unless padded */
    int64_t top, left, crop_h, crop_w;  /* crop_h = scaled_h etc. without crop */
    int hflip, vflip, rot90;        /* rot90: 0..3 */
    double brightness, contrast, saturation;   /* factors; 1 = unchanged */
    int jitter_order[3];            /* 0 brightness, 1 contrast, 2 saturation */
    double image_pad_value;
    int64_t label_pad_value;
} ed_augment_draw;

/* Checks p and draws the choices for an image of h x w. */
ed_status ed_augment_sample(const ed_augment_params *p, ed_rng *rng, int64_t h, int64_t w, ed_augment_draw *out);

typedef struct ed_augment_result {
    ed_tensor *image;
    ed_tensor **labels;   /* n_labels tensors (NULL when none were given) */
    int n_labels;
    float *boxes;         /* n_boxes x 4 kept boxes (malloc; NULL when none) */
    int *box_index;       /* for each kept box, its index in the input */
    int n_boxes;          /* boxes kept */
    ed_augment_draw draw;
} ed_augment_result;

/* image (C, H, W) float32; labels: n_labels maps of (H, W), or NULL / 0;
 * boxes: n_boxes x 4 floats, or NULL / 0. On failure *out is left empty. */
ed_status ed_augment_apply(const ed_augment_params *p, ed_rng *rng, const ed_tensor *image,
                           const ed_tensor *const *labels, int n_labels, const float *boxes, int n_boxes,
                           ed_augment_result *out);
/* The same with choices drawn earlier (e.g. to repeat them on another pair). */
ed_status ed_augment_apply_draw(const ed_augment_draw *d, const ed_tensor *image,
                                const ed_tensor *const *labels, int n_labels, const float *boxes,
                                int n_boxes, ed_augment_result *out);
void ed_augment_result_free(ed_augment_result *r);   /* frees the contents, not r */

#ifdef __cplusplus
}
#endif
#endif
