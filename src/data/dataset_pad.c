/* Padding to a size multiple and cropping back, for models whose H and W
 * must be divisible by 2^k (U-Net, SegNet: each pooling halves them).
 *   ed_pad_to_multiple: x (..., H, W) -> (..., H + pb, W + pr), pb, pr the
 *     least with (H + pb) % m == 0 and (W + pr) % m == 0. The pad goes at
 *     the bottom and right only, so output pixel (y, x) of the model still
 *     belongs to input pixel (y, x); a centred pad would shift by half of it.
 *   ed_crop_back: y (..., s (H + pb), s (W + pr)) -> (..., s H, s W), the
 *     top-left window, for one integer scale s >= 1 (s > 1: an upscaling
 *     model). A y of any other size is an error: it would not line up.
 * Both are ed_pad calls (a negative pad crops), so autograd records them. */
#include "data/dataset_internal.h"

ed_status ed_pad_to_multiple(const ed_tensor *x, int multiple, ed_pad_mode mode, ed_tensor **out, ed_pad_info *info)
{
    if (!out || !info) return ed__err(ED_E_ARG, "pad_to_multiple: out or info is NULL");
    *out = NULL;
    memset(info, 0, sizeof *info);
    ED_TRY(ed__check_float(x, "pad_to_multiple", "x"));
    char sb[ED_SHAPE_BUF];
    if (x->ndim < 2)
        return ed__err(ED_E_SHAPE, "pad_to_multiple: x must be (..., H, W), got %s", ed__shape_str(x, sb));
    if (multiple < 1) return ed__err(ED_E_ARG, "pad_to_multiple: multiple must be >= 1, got %d", multiple);
    const int64_t H = x->shape[x->ndim - 2], W = x->shape[x->ndim - 1];
    if (H < 1 || W < 1) return ed__err(ED_E_SHAPE, "pad_to_multiple: x %s is empty", ed__shape_str(x, sb));
    const int64_t pb = (multiple - H % multiple) % multiple, pr = (multiple - W % multiple) % multiple;
    if (mode == ED_PAD_REFLECT && (pb >= H || pr >= W))
        return ed__err(ED_E_ARG,
                       "pad_to_multiple: reflect padding needs each pad < its size, but %lld x %lld (H x W) needs "
                       "%lld rows and %lld columns to reach a multiple of %d; use ED_PAD_REPLICATE",
                       (long long)H, (long long)W, (long long)pb, (long long)pr, multiple);
    ED_TRY(ed_pad(x, (const int64_t[]){ 0, pr, 0, pb }, 4, mode, 0.0, out));
    info->height = H, info->width = W, info->pad_bottom = pb, info->pad_right = pr;
    return ED_OK;
}

ed_status ed_crop_back(const ed_tensor *y, const ed_pad_info *info, ed_tensor **out)
{
    if (!out || !info) return ed__err(ED_E_ARG, "crop_back: out or info is NULL");
    *out = NULL;
    ED_TRY(ed__check_tensor(y, "crop_back", "y"));
    char sb[ED_SHAPE_BUF];
    const int64_t PH = info->height + info->pad_bottom, PW = info->width + info->pad_right;
    if (info->height < 1 || info->width < 1 || info->pad_bottom < 0 || info->pad_right < 0)
        return ed__err(ED_E_ARG, "crop_back: info (%lld x %lld, pads %lld, %lld) is not from ed_pad_to_multiple",
                       (long long)info->height, (long long)info->width, (long long)info->pad_bottom,
                       (long long)info->pad_right);
    if (y->ndim < 2) return ed__err(ED_E_SHAPE, "crop_back: y must be (..., H, W), got %s", ed__shape_str(y, sb));
    const int64_t Y = y->shape[y->ndim - 2], X = y->shape[y->ndim - 1], s = Y / PH;
    if (s < 1 || Y != s * PH || X != s * PW)
        return ed__err(ED_E_SHAPE,
                       "crop_back: y %s is not the padded size %lld x %lld (H x W) times one integer scale; "
                       "cropping it would misalign the pixels",
                       ed__shape_str(y, sb), (long long)PH, (long long)PW);
    return ed_pad(y, (const int64_t[]){ 0, -s * info->pad_right, 0, -s * info->pad_bottom }, 4, ED_PAD_CONSTANT, 0.0,
                  out);
}
